"""The OpenAPI 3.1 document of an App's HTTP front, built from its entities.

Every schema comes from msgspec (``msgspec.json.schema_components``), so the
document says exactly what the decoders accept and the encoders write: field
types, constraints (``Meta(gt=0)``, patterns, lengths), defaults and
docstrings. An entity's schema is named ``{domain}.{entity}``
(``shop.place-order``), unique across the App's domains even where two domains
reuse a class or an entity name; other Structs keep msgspec's names, which
msgspec keeps unique. Each command is an operation whose ``operationId`` is its
full name (``shop:place-order``), unique by construction. Rows of exposed
tables are described from their table schemas (``shop.orders.row``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec

from ..domain.returns import ANY_RESPONSE
from ..query.model import QueryStatement
from ..schema.model import ColumnType
from .problems import MEDIA_TYPE, Problem
from .reads import DEFAULT_LIMIT

if TYPE_CHECKING:
    from ..domain.app import App
    from ..domain.registry import CommandRoute
    from ..schema.model import Column
    from .reads import TableReads

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{name}"
_JSON = "application/json"
_COLUMN_TYPES: dict[ColumnType, dict[str, Any]] = {
    ColumnType.INTEGER: {"type": "integer"},
    ColumnType.FLOAT: {"type": "number"},
    ColumnType.DECIMAL: {"type": "string", "format": "decimal"},
    ColumnType.TEXT: {"type": "string"},
    ColumnType.BOOLEAN: {"type": "boolean"},
    ColumnType.DATETIME: {"type": "string", "format": "date-time"},
    ColumnType.DATE: {"type": "string", "format": "date"},
    ColumnType.UUID: {"type": "string", "format": "uuid"},
    ColumnType.BYTES: {"type": "string", "contentEncoding": "base64"},
    ColumnType.JSON: {},
}


def openapi_document(
    app: App,
    reads: list[TableReads],
    *,
    title: str,
    version: str,
    secured: bool,
    query_permission: str | None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app`` served over HTTP.

    Args:
        app: the App.
        reads: its exposed tables.
        title: the API's title.
        version: the API's version.
        secured: whether an actor resolver reads credentials (documented as a
            Bearer token).
        query_permission: the permission ``POST /query`` needs, or None when
            it is not served.
    """
    routes = [app.registry.commands[name] for name in app.registry.command_names()]
    kinds: list[Any] = [route.command for route in routes]
    for route in routes:
        kinds += [kind for kind in route.returns if kind not in kinds]
    kinds += [Problem, QueryStatement]
    refs, schemas = msgspec.json.schema_components(kinds, ref_template=_REF)
    named = dict(zip(kinds, refs, strict=True))
    schemas, named = _entity_names(app, schemas, named)
    paths: dict[str, Any] = {}
    for route in routes:
        paths[f"/{route.full_name}"] = {"post": _command(route, named, secured)}
    for table in reads:
        row = f"{table.path[1:].replace('/', '.')}.row"
        schemas[row] = _row_schema(table)
        paths[table.path] = {"get": _list(table, row, secured)}
        paths[f"{table.path}/{{key}}"] = {"get": _one(table, row, secured)}
    if query_permission is not None:
        paths["/query"] = {
            "post": _query(named[QueryStatement], query_permission, secured)
        }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    if secured:
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}
        }
    return document


def _entity_names(
    app: App, schemas: dict[str, Any], named: dict[Any, dict[str, str]]
) -> tuple[dict[str, Any], dict[Any, dict[str, str]]]:
    """Rename each entity's schema ``{domain}.{entity}``, and every ref to it."""
    renamed: dict[str, str] = {}
    for full_name, codec in app.registry.codecs.items():
        ref = named.get(codec.entity)
        if ref is not None:
            old = ref["$ref"].rpartition("/")[2]
            renamed.setdefault(old, full_name.replace(":", "."))

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rpartition("/")[2]
                return {"$ref": _REF.format(name=renamed.get(name, name))}
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    return (
        {renamed.get(name, name): walk(schema) for name, schema in schemas.items()},
        {kind: walk(ref) for kind, ref in named.items()},
    )


def _problems(*statuses: int) -> dict[str, Any]:
    problem = {"$ref": _REF.format(name="Problem")}
    return {
        str(status): {
            "description": HTTPStatus(status).phrase,
            "content": {MEDIA_TYPE: {"schema": problem}},
        }
        for status in sorted(statuses)
    }


_REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "An id for logs and tracing; made up when not given, and "
    "returned on the response.",
    "schema": {"type": "string"},
}
_ID_HEADER = {
    "X-Request-ID": {
        "description": "The request's id.",
        "schema": {"type": "string"},
    }
}


def _security(secured: bool, required: bool) -> list[dict[str, list[str]]]:
    if not secured:
        return []
    return [{"bearer": []}] if required else [{}, {"bearer": []}]


def _command(
    route: CommandRoute, named: dict[Any, dict[str, str]], secured: bool
) -> dict[str, Any]:
    if route.returns == ANY_RESPONSE:
        answer: dict[str, Any] = {
            "type": "object",
            "description": "the command's response",
        }
    elif len(route.returns) == 1:
        answer = named[route.returns[0]]
    else:
        answer = {"oneOf": [named[kind] for kind in route.returns]}
    parameters: list[dict[str, Any]] = [
        _REQUEST_ID,
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Send the command again with the same key and get "
            "the first response, without running it again.",
            "schema": {"type": "string", "maxLength": 255},
        },
    ]
    statuses = {404, 409, 415, 422, 500}
    if route.if_match:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": True,
                "description": "The ETag of the row the command changes, as read.",
                "schema": {"type": "string"},
            }
        )
        statuses |= {412, 428}
    required = route.policy is not None
    if required:
        statuses |= {401, 403}
    elif secured:
        statuses.add(401)
    doc = (route.command.__doc__ or "").strip()
    operation: dict[str, Any] = {
        "operationId": route.full_name,
        "tags": [route.scope.name],
        "summary": doc.splitlines()[0] if doc else route.full_name,
        "parameters": parameters,
        "requestBody": {
            "required": True,
            "content": {_JSON: {"schema": named[route.command]}},
        },
        "responses": {
            "200": {
                "description": "the command ran; its response",
                "headers": _ID_HEADER,
                "content": {_JSON: {"schema": answer}},
            },
            **_problems(*statuses),
        },
    }
    if route.policy is not None:
        needs = ", ".join(sorted(route.policy.requires))
        operation["description"] = f"Needs the permission(s) {needs}."
    security = _security(secured, required)
    if security:
        operation["security"] = security
    return operation


def _column(column: Column) -> dict[str, Any]:
    schema = dict(_COLUMN_TYPES[column.type])
    if column.nullable:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def _row_schema(table: TableReads) -> dict[str, Any]:
    columns = {c.name: c for c in table.schema.all_columns}
    return {
        "title": f"{table.schema.name} row",
        "type": "object",
        "properties": {name: _column(columns[name]) for name in table.fields},
    }


def _list(table: TableReads, row: str, secured: bool) -> dict[str, Any]:
    fields = ", ".join(table.fields)
    parameters: list[dict[str, Any]] = [
        _REQUEST_ID,
        _param("select", f"fields to return, comma-separated ({fields})"),
        _param("order", "fields to order by, comma-separated; -field descends"),
        _param(
            "limit",
            f"the most rows to return ({DEFAULT_LIMIT} by default)",
            {"type": "integer", "minimum": 0, "maximum": table.max_limit},
        ),
        _param("offset", "rows to skip", {"type": "integer", "minimum": 0}),
        _param(
            "where",
            'nested filters as JSON: {"field": value, "field": {"gte": 2}, '
            '"or": [{...}, {...}], "not": {...}}',
        ),
    ]
    parameters += [
        _param(name, f"rows whose {name} equals this (or {name}__lookup=value)")
        for name in table.fields
        if name not in ("select", "order", "limit", "offset", "where")
    ]
    return _read(
        table,
        secured,
        summary=f"List {table.schema.name}",
        parameters=parameters,
        ok={
            "description": "a page of rows, and how many match",
            "headers": _ID_HEADER,
            "content": {
                _JSON: {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "items": {
                                "type": "array",
                                "items": {"$ref": _REF.format(name=row)},
                            },
                            "total": {"type": "integer"},
                            "limit": {"type": "integer"},
                            "offset": {"type": "integer"},
                        },
                        "required": ["items", "total", "limit", "offset"],
                    }
                }
            },
        },
        statuses={400},
    )


def _one(table: TableReads, row: str, secured: bool) -> dict[str, Any]:
    keys = ", ".join(table.schema.primary_key)
    return _read(
        table,
        secured,
        summary=f"One row of {table.schema.name}",
        parameters=[
            _REQUEST_ID,
            {
                "name": "key",
                "in": "path",
                "required": True,
                "description": f"the row's {keys}, comma-separated",
                "schema": {"type": "string"},
            },
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
            },
        ],
        ok={
            "description": "the row; its ETag is what If-Match takes",
            "headers": {
                **_ID_HEADER,
                "ETag": {"description": "the row's etag", "schema": {"type": "string"}},
            },
            "content": {_JSON: {"schema": {"$ref": _REF.format(name=row)}}},
        },
        statuses={400, 404},
        extra={"304": {"description": "Not Modified"}},
    )


def _read(
    table: TableReads,
    secured: bool,
    *,
    summary: str,
    parameters: list[dict[str, Any]],
    ok: dict[str, Any],
    statuses: set[int],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    domain = table.path.split("/")[1]
    required = sorted(table.requires)
    if required:
        statuses = statuses | {401, 403}
    operation: dict[str, Any] = {
        "operationId": f"{domain}.{table.schema.name}.{summary.split()[0].lower()}",
        "tags": [domain],
        "summary": summary,
        "parameters": parameters,
        "responses": {"200": ok, **(extra or {}), **_problems(*statuses, 500)},
    }
    if required:
        operation["description"] = f"Needs the permission(s) {', '.join(required)}."
    security = _security(secured, bool(required))
    if security:
        operation["security"] = security
    return operation


def _param(
    name: str, description: str, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _query(statement: dict[str, str], permission: str, secured: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": "query",
        "tags": ["query"],
        "summary": "Run a query statement",
        "description": f"Reads any table of the app: needs the permission "
        f"{permission}.",
        "parameters": [_REQUEST_ID],
        "requestBody": {"required": True, "content": {_JSON: {"schema": statement}}},
        "responses": {
            "200": {
                "description": "the rows",
                "headers": _ID_HEADER,
                "content": {
                    _JSON: {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": {"type": "object"}}
                            },
                        }
                    }
                },
            },
            **_problems(400, 401, 403, 415, 422, 500, 504),
        },
    }
    security = _security(secured, True)
    if security:
        operation["security"] = security
    return operation
