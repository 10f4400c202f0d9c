"""DataQueryService and the AMSDAL Glue way: routing (Q02), push-down (Q03),
explain (Q05), streaming, errors before any SQL, results as dicts."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING

import anyio
import pytest

from glue.connections import (
    ConnectionManager,
    Container,
    init_default_containers,
    pool_from_url,
)
from glue.errors import QueryError
from glue.planning.read import QueryPlanner
from glue.planning.tasks import ChainTask, GroupTask, Plan, SqlTask, Task
from glue.query import (
    AnnotationQuery,
    Condition,
    Conditions,
    FieldLookup,
    FieldReference,
    JoinQuery,
    OrderByQuery,
    QueryStatement,
    SchemaReference,
    Value,
    ValueAnnotation,
)
from glue.schema import Column, ColumnType, Schema
from glue.services import reads
from glue.services.reads import (
    AsyncDataQueryService,
    Data,
    DataQueryOperation,
    DataQueryService,
    DataResult,
)
from glue.services.schema import SchemaCommandService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

PEOPLE = Schema(
    name="people",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="name", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
    versioned=False,
)
PETS = Schema(
    name="pets",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="owner_id", type=ColumnType.INTEGER, nullable=True),
        Column(name="kind", type=ColumnType.TEXT),
    ),
    primary_key=("id",),
    versioned=False,
)
PEOPLE_ROWS: list[dict[str, object]] = [
    {"id": n, "name": f"person {n}"} for n in range(1, 1201)
]
PET_ROWS: list[dict[str, object]] = [
    {"id": 1, "owner_id": 1, "kind": "cat"},
    {"id": 2, "owner_id": 1, "kind": "dog"},
    {"id": 3, "owner_id": 2, "kind": "cat"},
    {"id": 4, "owner_id": None, "kind": "fish"},
]
JOINED = QueryStatement(
    table=SchemaReference(name="people", alias="p"),
    only=[FieldReference.of("p", "name"), FieldReference.of("x", "kind")],
    joins=[
        JoinQuery(
            table=SchemaReference(name="pets", alias="x"),
            on=Conditions(
                Condition(
                    field=FieldReference.of("x", "owner_id"),
                    value=FieldReference.of("p", "id"),
                )
            ),
        )
    ],
    order_by=[OrderByQuery(field=FieldReference.of("x", "id"))],
)
EXPECTED = [
    {"name": "person 1", "kind": "cat"},
    {"name": "person 1", "kind": "dog"},
    {"name": "person 2", "kind": "cat"},
]


async def fill(url: str, schema: Schema, rows: list[dict[str, object]]) -> None:
    async with pool_from_url(url) as pool:
        await SchemaCommandService(pool).create_table(schema)
        async with pool.acquire(write=True) as conn:
            await conn.batch(conn.dialect.insert(schema, rows))


@pytest.fixture
async def one(database_url: str) -> AsyncIterator[ConnectionManager]:
    """Both tables in one database (SQLite or PostgreSQL), as the default pool."""
    await fill(database_url, PEOPLE, PEOPLE_ROWS)
    await fill(database_url, PETS, PET_ROWS)
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(database_url))
    async with manager:
        yield manager


@pytest.fixture
async def split(tmp_path: Path, postgres_dsn: str) -> AsyncIterator[ConnectionManager]:
    """People in SQLite (the default pool), pets in PostgreSQL."""
    people = f"sqlite:///{tmp_path / 'people.sqlite'}"
    await fill(people, PEOPLE, PEOPLE_ROWS)
    await fill(postgres_dsn, PETS, PET_ROWS)
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(people, name="people-db"))
    manager.register_connection_pool(
        pool_from_url(postgres_dsn, name="pets-db"), "pets"
    )
    async with manager:
        yield manager


def sql_tasks(task: Task) -> list[SqlTask]:
    if isinstance(task, SqlTask):
        return [task]
    if isinstance(task, ChainTask | GroupTask):
        return [t for child in task.children for t in sql_tasks(child)]
    return []


async def test_rows_are_dicts_keyed_by_output_name(one: ConnectionManager) -> None:
    service = DataQueryService(one, [PEOPLE, PETS])
    assert await service.execute(JOINED) == EXPECTED


async def test_one_database_is_one_statement(one: ConnectionManager) -> None:
    """Q03: every table in the default pool, so the whole query is pushed down."""
    plan = await DataQueryService(one, [PEOPLE, PETS]).plan(JOINED)
    assert isinstance(plan.root, SqlTask)
    assert plan.root.statement == JOINED


async def test_unregistered_names_fall_back_to_the_default(
    split: ConnectionManager,
) -> None:
    """Q02: people has no pool of its own; pets has one."""
    service = DataQueryService(split, [PEOPLE, PETS])
    plan = await service.plan(JOINED)
    assert isinstance(plan.root, ChainTask)
    databases = {task.database for task in sql_tasks(plan.root)}
    assert databases == {"people-db", "pets-db"}
    assert await service.execute(JOINED) == EXPECTED


async def test_explain_shows_where_each_part_runs(split: ConnectionManager) -> None:
    """Q05."""
    text = await DataQueryService(split, [PEOPLE, PETS]).explain(JOINED)
    assert "on 'people-db' (sqlite)" in text
    assert "on 'pets-db' (postgres)" in text
    assert "memory" in text
    assert "inner join" in text
    assert 'FROM "pets"' in text


async def test_unknown_names_fail_before_any_sql(split: ConnectionManager) -> None:
    service = DataQueryService(split, [PEOPLE, PETS])
    typo = QueryStatement(
        table=SchemaReference(name="pets"),
        only=[FieldReference.of("pets", "knd")],
    )
    with pytest.raises(QueryError, match="knd"):
        await service.execute(typo)
    lookup = QueryStatement(
        table=SchemaReference(name="people", alias="p"),
        joins=JOINED.joins,
        where=Conditions(
            Condition(
                field=FieldReference.of("x", "kind"),
                lookup="nearly",  # type: ignore[arg-type]  # a user's typo
                value=Value("cat"),
            )
        ),
    )
    with pytest.raises(QueryError, match="nearly"):
        await service.execute(lookup)
    assert all(p.statistics().checked_out == 0 for p in split.pools.values())


async def test_a_table_in_no_database_is_a_query_error(tmp_path: Path) -> None:
    """Without a default pool, a table no pool is registered for is a bad
    query (HTTP 400), not a configuration fault."""
    people = f"sqlite:///{tmp_path / 'people.sqlite'}"
    await fill(people, PEOPLE, PEOPLE_ROWS)
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(people), "people")
    async with manager:
        service = DataQueryService(manager)
        everyone = QueryStatement(table=SchemaReference(name="people"))
        assert len(await service.execute(everyone)) == len(PEOPLE_ROWS)
        with pytest.raises(QueryError, match=r"unknown table 'pets'.*: people\)"):
            await service.execute(QueryStatement(table=SchemaReference(name="pets")))


async def test_schemas_are_read_from_the_databases(split: ConnectionManager) -> None:
    service = DataQueryService(split)
    assert await service.execute(JOINED) == EXPECTED
    with pytest.raises(QueryError, match="ghosts"):
        await service.execute(QueryStatement(table=SchemaReference(name="ghosts")))


async def test_iterate_streams_one_database(one: ConnectionManager) -> None:
    service = DataQueryService(one, [PEOPLE])
    statement = QueryStatement(
        table=SchemaReference(name="people"),
        order_by=[OrderByQuery(field=FieldReference.of("people", "id"))],
    )
    seen = [row async for row in service.iterate(statement, batch_size=100)]
    assert seen == PEOPLE_ROWS
    rows = service.iterate(statement, batch_size=10)
    async with contextlib.aclosing(rows):
        async for row in rows:
            assert row == PEOPLE_ROWS[0]
            break
    pool = one.get_connection_pool()
    assert pool.statistics().checked_out == 0


async def test_iterate_across_databases(split: ConnectionManager) -> None:
    service = DataQueryService(split, [PEOPLE, PETS])
    assert [row async for row in service.iterate(JOINED)] == EXPECTED


async def test_the_amsdal_glue_way(split: ConnectionManager) -> None:
    init_default_containers()
    Container.managers.register(ConnectionManager, split)
    Container.services.register(AsyncDataQueryService, AsyncDataQueryService())
    service = Container.services.get(AsyncDataQueryService)
    result = await service.execute(query_op=DataQueryOperation(query=JOINED))
    assert result == DataResult(success=True, data=[Data(data=r) for r in EXPECTED])
    failed = await service.execute(
        query_op=DataQueryOperation(
            query=QueryStatement(table=SchemaReference(name="ghosts"))
        )
    )
    assert not failed.success
    assert isinstance(failed.exception, QueryError)
    assert failed.message is not None and "ghosts" in failed.message


async def test_cross_database_filters_and_keys(split: ConnectionManager) -> None:
    """A selective filter on people sends its keys to PostgreSQL; a wide one
    (more keys than max_keys) reads pets whole; both give the same rows."""
    service = DataQueryService(split, [PEOPLE, PETS], max_keys=100)
    for bound in (3, 1000):
        statement = QueryStatement(
            table=JOINED.table,
            only=JOINED.only,
            joins=JOINED.joins,
            where=Conditions(
                Condition(
                    field=FieldReference.of("p", "id"),
                    lookup=FieldLookup.LT,
                    value=Value(bound),
                )
            ),
            order_by=JOINED.order_by,
        )
        assert await service.execute(statement) == EXPECTED


async def test_plans_of_statements_python_holds_equal_stay_apart(
    one: ConnectionManager,
) -> None:
    """1 == True in Python, but a query binding 1 and one binding True differ."""
    service = DataQueryService(one, [PEOPLE, PETS])

    def constant(value: object) -> QueryStatement:
        return QueryStatement(
            table=SchemaReference(name="people"),
            only=[FieldReference.of("people", "id")],
            annotations=[
                AnnotationQuery(value=ValueAnnotation(value=Value(value), alias="k"))
            ],
            where=Conditions(
                Condition(field=FieldReference.of("people", "id"), value=Value(1))
            ),
        )

    assert await service.execute(constant(1)) == [{"id": 1, "k": 1}]
    assert await service.execute(constant(True)) == [{"id": 1, "k": True}]
    # A list inside a value is planned once and reused, like any other.
    listed = QueryStatement(
        table=SchemaReference(name="pets"),
        only=[FieldReference.of("pets", "id")],
        where=Conditions(
            Condition(
                field=FieldReference.of("pets", "kind"),
                lookup=FieldLookup.IN,
                value=Value(["cat", "fish"]),
            )
        ),
        order_by=[OrderByQuery(field=FieldReference.of("pets", "id"))],
    )
    assert await service.plan(listed) == await service.plan(listed)
    assert await service.execute(listed) == [{"id": 1}, {"id": 3}, {"id": 4}]


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[QueryStatement]:
    """The statements the services plan from now on."""
    planned: list[QueryStatement] = []
    plan = QueryPlanner.plan

    def counted(
        self: QueryPlanner, statement: QueryStatement, *, validated: bool = False
    ) -> Plan:
        planned.append(statement)
        return plan(self, statement, validated=validated)

    monkeypatch.setattr(QueryPlanner, "plan", counted)
    return planned


def pets_where(*conditions: Condition) -> QueryStatement:
    return QueryStatement(
        table=SchemaReference(name="pets"),
        only=[FieldReference.of("pets", "id")],
        where=Conditions(*conditions),
        order_by=[OrderByQuery(field=FieldReference.of("pets", "id"))],
    )


def ids(rows: list[dict[str, object]]) -> list[object]:
    return [row["id"] for row in rows]


async def test_new_values_reuse_one_plan(
    one: ConnectionManager, plans: list[QueryStatement]
) -> None:
    """Point and range queries with new values each time plan once, and bind."""
    service = DataQueryService(one, [PEOPLE, PETS])
    for key in (5, 700, 1200, 9999):
        point = QueryStatement(
            table=SchemaReference(name="people"),
            where=Condition(field=FieldReference.of("people", "id"), value=Value(key)),
        )
        expected = [{"id": key, "name": f"person {key}"}] if key <= 1200 else []
        assert await service.execute(point) == expected
    assert len(plans) == 1
    for low in (1, 250, 1150):
        ranged = QueryStatement(
            table=SchemaReference(name="people"),
            only=[FieldReference.of("people", "id")],
            where=Conditions(
                Condition(
                    field=FieldReference.of("people", "id"),
                    lookup=FieldLookup.GTE,
                    value=Value(low),
                ),
                Condition(
                    field=FieldReference.of("people", "id"),
                    lookup=FieldLookup.LT,
                    value=Value(low + 100),
                ),
            ),
            order_by=[OrderByQuery(field=FieldReference.of("people", "id"))],
        )
        expected_ids = list(range(low, min(low + 100, 1201)))
        assert ids(await service.execute(ranged)) == expected_ids
    assert len(plans) == 2
    for kind, expected_ids in (("cat", [1, 3]), ("fish", [4]), ("cow", [])):
        kinds = pets_where(
            Condition(field=FieldReference.of("pets", "kind"), value=Value(kind))
        )
        assert ids(await service.execute(kinds)) == expected_ids
    assert len(plans) == 3


async def test_a_template_runs_alone_or_planned_alike(
    one: ConnectionManager, plans: list[QueryStatement]
) -> None:
    """`execute` runs a template's statement without binding a plan when
    nothing is timed; timed, it runs the bound plan: the same rows either way,
    and the plan `plan` returns holds the statement it was asked for."""
    service = DataQueryService(one, [PEOPLE, PETS])
    timed = DataQueryService(one, [PEOPLE, PETS], timeout=30)
    for kind, expected_ids in (("cat", [1, 3]), ("dog", [2]), ("cow", [])):
        kinds = pets_where(
            Condition(field=FieldReference.of("pets", "kind"), value=Value(kind))
        )
        assert ids(await service.execute(kinds)) == expected_ids
        assert ids(await service.execute(kinds, timeout=30)) == expected_ids
        deadline = anyio.current_time() + 30
        assert ids(await service.execute(kinds, deadline=deadline)) == expected_ids
        assert ids(await timed.execute(kinds)) == expected_ids
        plan = await service.plan(kinds)
        assert isinstance(plan.root, SqlTask)
        assert plan.root.statement == kinds
    assert len(plans) == 2  # a shape, once per service
    # A parameter of the shape's own (a pattern) bound before a slot's value.
    for start, expected_ids in ((1, [1, 3]), (2, [3]), (4, [])):
        cats = pets_where(
            Condition(
                field=FieldReference.of("pets", "kind"),
                lookup=FieldLookup.CONTAINS,
                value=Value("a"),
            ),
            Condition(
                field=FieldReference.of("pets", "id"),
                lookup=FieldLookup.GTE,
                value=Value(start),
            ),
        )
        assert ids(await service.execute(cats)) == expected_ids
        assert ids(await timed.execute(cats)) == expected_ids
    assert len(plans) == 4


async def test_a_template_run_alone_converts_its_columns(database_url: str) -> None:
    """Rows of a template run alone are converted as a planned run's are: an
    SQLite boolean is a bool, a timestamp a datetime."""
    events = Schema(
        name="events",
        columns=(
            Column(name="id", type=ColumnType.INTEGER),
            Column(name="done", type=ColumnType.BOOLEAN),
            Column(name="at", type=ColumnType.DATETIME),
        ),
        primary_key=("id",),
        versioned=False,
    )
    at = dt.datetime(2026, 12, 7, 23, 0, tzinfo=dt.UTC)
    rows: list[dict[str, object]] = [
        {"id": n, "done": n % 2 == 0, "at": at + dt.timedelta(hours=n)} for n in (1, 2)
    ]
    await fill(database_url, events, rows)
    manager = ConnectionManager()
    manager.register_connection_pool(pool_from_url(database_url))
    async with manager:
        service = DataQueryService(manager, [events])
        for row in rows:
            point = QueryStatement(
                table=SchemaReference(name="events"),
                where=Condition(
                    field=FieldReference.of("events", "id"), value=Value(row["id"])
                ),
            )
            alone = await service.execute(point)
            planned = await service.execute(point, timeout=30)
            assert alone == planned == [row]
            assert type(alone[0]["done"]) is bool


async def test_in_lists_are_planned_by_their_length(
    one: ConnectionManager, plans: list[QueryStatement]
) -> None:
    service = DataQueryService(one, [PEOPLE, PETS])

    def among(*values: object) -> QueryStatement:
        return pets_where(
            Condition(
                field=FieldReference.of("pets", "id"),
                lookup=FieldLookup.IN,
                value=Value(list(values)),
            )
        )

    assert ids(await service.execute(among(1, 2))) == [1, 2]
    assert ids(await service.execute(among(3, 4))) == [3, 4]
    assert len(plans) == 1
    assert ids(await service.execute(among(1, 3, 4))) == [1, 3, 4]
    assert ids(await service.execute(among())) == []
    assert ids(await service.execute(among(2, None))) == [2]
    assert len(plans) == 4


async def test_none_is_null_and_values_are_bound(
    one: ConnectionManager, plans: list[QueryStatement]
) -> None:
    service = DataQueryService(one, [PEOPLE, PETS])

    def owned(owner: object, lookup: FieldLookup = FieldLookup.EQ) -> QueryStatement:
        return pets_where(
            Condition(
                field=FieldReference.of("pets", "owner_id"),
                lookup=lookup,
                value=Value(owner),
            )
        )

    assert ids(await service.execute(owned(1))) == [1, 2]
    assert ids(await service.execute(owned(None))) == [4]
    assert ids(await service.execute(owned(2))) == [3]
    assert ids(await service.execute(owned(None, FieldLookup.NEQ))) == [1, 2, 3]
    assert ids(await service.execute(owned(1, FieldLookup.NEQ))) == [3]
    assert len(plans) == 4
    # A value the compiler converts (text for an integer column) is planned
    # with the statement, each time, and still compares as its column's type.
    assert ids(await service.execute(owned("2"))) == [3]
    assert ids(await service.execute(owned("1"))) == [1, 2]
    # A pattern is escaped per value: planned with it.
    for text, expected_ids in (("a", [1, 3]), ("%", []), ("o", [2])):
        pattern = pets_where(
            Condition(
                field=FieldReference.of("pets", "kind"),
                lookup=FieldLookup.CONTAINS,
                value=Value(text),
            )
        )
        assert ids(await service.execute(pattern)) == expected_ids


async def test_plans_across_databases_keep_their_values(
    split: ConnectionManager, plans: list[QueryStatement]
) -> None:
    service = DataQueryService(split, [PEOPLE, PETS])
    for kind, expected in (
        ("cat", [{"name": "person 1"}, {"name": "person 2"}]),
        ("dog", [{"name": "person 1"}]),
    ):
        statement = QueryStatement(
            table=SchemaReference(name="people", alias="p"),
            only=[FieldReference.of("p", "name")],
            joins=[
                JoinQuery(
                    table=SchemaReference(name="pets", alias="x"),
                    on=Conditions(
                        Condition(
                            field=FieldReference.of("x", "owner_id"),
                            value=FieldReference.of("p", "id"),
                        )
                    ),
                )
            ],
            where=Condition(field=FieldReference.of("x", "kind"), value=Value(kind)),
            order_by=[OrderByQuery(field=FieldReference.of("x", "id"))],
        )
        assert await service.execute(statement) == expected
    # Planned with sentinels, then once for each value: their plans hold them.
    assert [p.where for p in plans[1:]] == [
        Conditions(Condition(field=FieldReference.of("x", "kind"), value=Value(v)))
        for v in ("cat", "dog")
    ]


async def test_the_plan_cache_stays_bounded(one: ConnectionManager) -> None:
    service = DataQueryService(one, [PEOPLE, PETS])
    for length in range(1, reads._PLAN_CACHE_SIZE + 40):
        statement = pets_where(
            Condition(
                field=FieldReference.of("pets", "id"),
                lookup=FieldLookup.IN,
                value=Value(list(range(length))),
            )
        )
        await service.plan(statement)
    assert len(service._plans) == reads._PLAN_CACHE_SIZE
