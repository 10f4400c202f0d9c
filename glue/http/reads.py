"""Reads over HTTP: the tables a domain exposes, and ``POST /query``.

A domain opts a table in with ``shop.expose(ORDERS, requires={"orders:read"})``
(no table is readable otherwise). Its rows are then at::

    GET /shop/orders?select=id,status&order=-id&limit=20&offset=40
    GET /shop/orders?status=placed&articles__gte=2
    GET /shop/orders?where={"or": [{"status": "placed"}, {"articles": {"gt": 5}}]}
    GET /shop/orders/7                     one row, with its ETag

- ``select``: the fields to return, comma-separated (every exposed field by
  default).
- ``order``: fields, comma-separated, ``-`` before a field for descending;
  the primary key by default, so pages are stable.
- ``limit`` (50 by default, at most the app's ``max_limit``) and ``offset``.
- Filters: ``field=value`` (equal) or ``field__lookup=value`` with a lookup of
  :class:`glue.FieldLookup` (``in`` takes comma-separated values, ``isnull``
  ``true`` or ``false``); and ``where=``, JSON nested at will: an object's keys
  all hold (``"and"`` and ``"or"`` take lists of such objects, ``"not"`` one);
  a field maps to a value (equal) or to ``{"lookup": value, ...}``. Values are
  converted to the column's type as the query planner does.
- An unknown field or lookup, a field the domain did not expose, or a bad
  number is a 400 naming it; a reader without the table's permissions gets
  403 (401 without credentials). Soft-deleted rows are never read.

A list answers ``{"items": [...], "total": N, "limit": L, "offset": O}``, where
``total`` counts every row the filters match. A single row answers with the
row and its etag as ``ETag`` (``If-None-Match`` gives 304 when it still
matches); a missing row is a 404.

``POST /query`` takes a :class:`glue.QueryStatement` as JSON (as
``msgspec.json.encode(statement)`` writes it) and answers ``{"items": [...]}``;
it reads any table of the app, so only actors with the app's query permission
(``glue:query`` by default) may run it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..domain.policy import Policy
from ..entities.codec import field_error
from ..errors import FieldError, NotFound, QueryError, ValidationError
from ..query.conditions import (
    Condition,
    Conditions,
    Field,
    FieldLookup,
    FieldReference,
    FilterConnector,
    Value,
)
from ..query.model import (
    AggregationQuery,
    Count,
    LimitQuery,
    OrderByQuery,
    OrderDirection,
    QueryStatement,
    SchemaReference,
)
from ..schema.model import DELETED_AT, ETAG

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..domain.app import App
    from ..domain.tables import Exposure

__all__ = ["DEFAULT_LIMIT", "Page", "TableReads", "decode_statement"]

DEFAULT_LIMIT = 50
"""How many rows a list returns when ``limit`` is not given."""

_RESERVED = frozenset({"select", "order", "limit", "offset", "where"})
_LOOKUPS = {lookup.value: lookup for lookup in FieldLookup}
_TRUE = {"true": True, "1": True, "false": False, "0": False}


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One page of rows.

    Attributes:
        items: the rows, each keyed by field name.
        total: how many rows match the filters, on every page.
        limit: the most rows a page holds.
        offset: how many matching rows come before this page.
    """

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


class TableReads:
    """Reads of one exposed table.

    Args:
        app: the App the rows are read through.
        domain: the domain that exposed it.
        exposure: what it exposed, and to whom.
        max_limit: the largest ``limit`` a client may ask for.
    """

    def __init__(
        self, app: App, domain: str, exposure: Exposure, *, max_limit: int
    ) -> None:
        self.app = app
        self.schema = exposure.schema
        self.fields = exposure.fields
        self.path = f"/{domain}/{self.schema.name}"
        self.max_limit = max_limit
        self.requires = exposure.requires
        self._known = frozenset(exposure.fields)
        self.policy = (
            Policy(f"GET {self.path}", exposure.requires) if exposure.requires else None
        )
        self._table = SchemaReference(name=self.schema.name)
        live = self._ref(DELETED_AT) if self.schema.soft_delete else None
        self._live = (
            None
            if live is None
            else Condition(field=live, lookup=FieldLookup.ISNULL, value=Value(True))
        )

    def check(self, actor: Any) -> None:
        """Let ``actor`` read the table, or raise `glue.Forbidden`."""
        if self.policy is not None:
            self.policy.check(actor)

    async def page(self, params: Mapping[str, str]) -> Page:
        """The rows the query parameters ask for, and their total.

        Raises:
            glue.QueryError: an unknown or unexposed field, a bad lookup, a
                bad number or malformed ``where`` JSON.
        """
        selected = self._names(params.get("select"), "select") or list(self.fields)
        order = [
            OrderByQuery(
                field=self._ref(self._field(name.removeprefix("-"), "order")),
                direction=OrderDirection.DESC
                if name.startswith("-")
                else OrderDirection.ASC,
            )
            for name in _split(params.get("order")) or self.schema.primary_key
        ]
        limit = self._number(params, "limit", DEFAULT_LIMIT, self.max_limit)
        offset = self._number(params, "offset", 0, None)
        where = self._where(params)
        rows = await self.app.query(
            QueryStatement(
                table=self._table,
                only=[self._ref(name) for name in selected],
                where=where,
                order_by=order,
                limit=LimitQuery(limit=limit, offset=offset),
            )
        )
        counted = await self.app.query(
            QueryStatement(
                table=self._table,
                where=where,
                aggregations=[AggregationQuery(expression=Count(), alias="total")],
            )
        )
        return Page(
            items=rows, total=int(counted[0]["total"]), limit=limit, offset=offset
        )

    async def row(self, key: str) -> tuple[dict[str, Any], str | None]:
        """The row whose primary key is ``key`` (values comma-separated in key
        order for a composite key), and its etag.

        Raises:
            glue.NotFound: no such row (or it was soft-deleted).
            glue.QueryError: the key has too few or too many parts.
        """
        names = self.schema.primary_key
        values = key.split(",") if len(names) > 1 else [key]
        if len(values) != len(names):
            raise QueryError(
                f"{self.path}/{key}: the key of {self.schema.name} has "
                f"{len(names)} parts ({', '.join(names)}), comma-separated"
            )
        conditions = [
            Condition(field=self._ref(name), value=Value(value))
            for name, value in zip(names, values, strict=True)
        ]
        if self._live is not None:
            conditions.append(self._live)
        versioned = self.schema.versioned
        selected = [*self.fields, ETAG] if versioned else list(self.fields)
        rows = await self.app.query(
            QueryStatement(
                table=self._table,
                only=[self._ref(name) for name in dict.fromkeys(selected)],
                where=Conditions(*conditions),
                limit=LimitQuery(limit=1),
            )
        )
        if not rows:
            raise NotFound(self.schema.name, values[0] if len(values) == 1 else values)
        row = rows[0]
        etag = row[ETAG] if versioned else None
        if ETAG not in self._known:
            row.pop(ETAG, None)
        return row, etag

    # -- parameters --------------------------------------------------------------

    def _ref(self, name: str) -> FieldReference:
        return FieldReference(field=Field.of(name), table_name=self.schema.name)

    def _field(self, name: str, where: str) -> str:
        """``name`` if it is an exposed field (or a path into one)."""
        if name.partition(".")[0] not in self._known:
            raise QueryError(
                f"{where}: {self.path} has no field {name!r} "
                f"(fields: {', '.join(self.fields)})"
            )
        return name

    def _names(self, text: str | None, where: str) -> list[str]:
        return [self._field(name, where) for name in _split(text)]

    @staticmethod
    def _number(
        params: Mapping[str, str], name: str, default: int, most: int | None
    ) -> int:
        text = params.get(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < 0 or (most is not None and value > most):
            bound = f" up to {most}" if most is not None else ""
            raise QueryError(f"{name}: expected a whole number{bound}, got {text!r}")
        return value

    def _where(self, params: Mapping[str, str]) -> Conditions | None:
        """The filters of the query parameters and ``where=``, all of which
        must hold, and the soft-delete filter."""
        conditions: list[Condition | Conditions] = []
        for name, text in params.items():
            if name in _RESERVED:
                continue
            field, _, lookup = name.partition("__")
            found = self._lookup(lookup or "eq", name)
            value: Any = text
            if found is FieldLookup.IN:
                value = text.split(",") if text else []
            elif found is FieldLookup.ISNULL:
                value = _TRUE.get(text.lower())
                if value is None:
                    raise QueryError(f"{name}: expected true or false, got {text!r}")
            conditions.append(
                Condition(
                    field=self._ref(self._field(field, name)),
                    lookup=found,
                    value=Value(value),
                )
            )
        nested = params.get("where")
        if nested:
            try:
                tree = msgspec.json.decode(nested)
            except msgspec.DecodeError as exc:
                raise QueryError(f"where: malformed JSON ({exc})") from None
            conditions.append(self._group(tree, "where"))
        if self._live is not None:
            conditions.append(self._live)
        return Conditions(*conditions) if conditions else None

    def _group(self, tree: object, path: str) -> Conditions:
        """``where`` JSON: an object whose entries all hold."""
        if not isinstance(tree, dict) or not tree:
            raise QueryError(
                f"{path}: expected an object of conditions, such as "
                '{"status": "placed", "articles": {"gte": 2}}'
            )
        children: list[Condition | Conditions] = []
        for key, spec in tree.items():
            at = f"{path}.{key}"
            if key in ("and", "or"):
                if not isinstance(spec, list) or not spec:
                    raise QueryError(f"{at}: expected a list of condition objects")
                connector = FilterConnector.AND if key == "and" else FilterConnector.OR
                parts = [self._group(part, f"{at}[{i}]") for i, part in enumerate(spec)]
                children.append(Conditions(*parts, connector=connector))
            elif key == "not":
                children.append(~self._group(spec, at))
            elif isinstance(spec, dict):
                field = self._ref(self._field(key, path))
                children.extend(
                    Condition(
                        field=field,
                        lookup=self._lookup(lookup, f"{at}.{lookup}"),
                        value=Value(value),
                    )
                    for lookup, value in spec.items()
                )
            else:
                field = self._ref(self._field(key, path))
                children.append(Condition(field=field, value=Value(spec)))
        return Conditions(*children)

    @staticmethod
    def _lookup(name: str, where: str) -> FieldLookup:
        found = _LOOKUPS.get(name)
        if found is None:
            raise QueryError(
                f"{where}: unknown lookup {name!r} (lookups: {', '.join(_LOOKUPS)})"
            )
        return found


def _split(text: str | None) -> list[str]:
    """The names of a comma-separated list."""
    if not text:
        return []
    return [name.strip() for name in text.split(",") if name.strip()]


def decode_statement(body: bytes) -> QueryStatement:
    """Decode the body of ``POST /query``.

    Raises:
        glue.ValidationError: not JSON, or not a query statement; names the
            first bad field by path.
    """
    try:
        return msgspec.json.decode(body, type=QueryStatement)
    except msgspec.ValidationError as exc:
        error = field_error(exc, "$")
    except msgspec.DecodeError as exc:
        error = FieldError("$", f"malformed JSON: {exc}")
    raise ValidationError("query statement", [error])
