"""Declared tables against the databases: the differences, the startup check of
``App(create_tables=True)``, and what ``apply_diffs`` adds or refuses (#9)."""

from __future__ import annotations

import pytest

from glue import App, Domain
from glue.connections import ConnectionManager, pool_from_url
from glue.errors import SchemaError
from glue.schema import Check, Column, ColumnType, Index, Schema, Unique
from glue.services.diff import Difference, apply_diffs, diff_tables
from glue.services.schema import SchemaCommandService, SchemaQueryService

ACCOUNTS = Schema(
    name="accounts",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="owner", type=ColumnType.TEXT),
        Column(name="balance", type=ColumnType.DECIMAL, default=0),
        Column(name="note", type=ColumnType.TEXT, nullable=True),
        Column(name="opened", type=ColumnType.DATE),
    ),
    primary_key=("id",),
    indexes=(Index(name="accounts_owner", columns=("owner",)),),
    constraints=(
        Unique(name="accounts_owner_key", columns=("owner", "opened")),
        Check(name="accounts_balance_check", column="balance", op=">=", value=0),
    ),
    versioned=False,
)
LEDGER = Schema(
    name="ledger",
    columns=(
        Column(name="id", type=ColumnType.INTEGER),
        Column(name="account_id", type=ColumnType.INTEGER),
    ),
    primary_key=("id",),
    versioned=False,
)


def app_of(url: str, *schemas: Schema, create_tables: bool = True) -> App:
    bank = Domain("bank")
    for schema in schemas:
        bank.table(schema)
    return App([bank], databases={"default": url}, create_tables=create_tables)


async def run(url: str, *statements: str) -> None:
    async with pool_from_url(url) as pool, pool.acquire(write=True) as conn:
        for sql in statements:
            await conn.execute(sql)


# A hand-made accounts table that drifted from the schema: balance is missing
# (it has a default: additive), note is NOT NULL (the schema allows None),
# opened is text, the key is (id, owner), legacy is NOT NULL with no default,
# the index and the check are missing, the unique constraint is there.
DRIFTED = """CREATE TABLE accounts (
    id integer NOT NULL,
    owner varchar(100) NOT NULL,
    note text NOT NULL,
    opened text NOT NULL,
    legacy integer NOT NULL,
    PRIMARY KEY (id, owner),
    UNIQUE (owner, opened)
)"""


def changes(differences: list[Difference]) -> list[tuple[str, str, bool, str | None]]:
    return [(d.change, d.name, d.breaks, d.fix) for d in differences]


async def test_every_difference_is_found(database_url: str) -> None:
    await run(database_url, DRIFTED)
    manager = ConnectionManager.from_urls({"default": database_url})
    async with manager:
        diffs = await diff_tables(manager, [(ACCOUNTS, "default"), (LEDGER, "main")])
    accounts, ledger = diffs
    assert changes(list(accounts.differences)) == [
        ("missing_column", "balance", True, "add_column"),
        ("nullable", "note", True, None),
        ("column_type", "opened", True, None),
        ("extra_column", "legacy", True, None),
        ("primary_key", "", True, None),
        ("missing_index", "accounts_owner", False, "create_index"),
        ("missing_constraint", "accounts_balance_check", False, None),
    ]
    assert [str(d) for d in accounts.differences[1:5]] == [
        "default.accounts: column note is NOT NULL in the database but nullable "
        "in the schema: writing None fails",
        "default.accounts: column opened is text in the database (declared "
        f"{accounts.found and accounts.found.column('opened').sql_type}), date in "
        "the schema",
        "default.accounts: column legacy is NOT NULL without a default in the "
        "database and not in the schema: inserts fail",
        "default.accounts: primary key is (id, owner) in the database, (id) in "
        "the schema",
    ]
    assert ledger.found is None
    assert changes(list(ledger.differences)) == [
        ("missing_table", "", False, "create_table")
    ]
    assert str(ledger.differences[0]) == "main.ledger: missing table"


async def test_tables_glue_created_match_their_schemas(database_url: str) -> None:
    manager = ConnectionManager.from_urls({"default": database_url})
    async with manager:
        commands = SchemaCommandService(manager)
        await commands.create_table(ACCOUNTS)
        versioned = Schema(
            name="ledger",
            columns=LEDGER.columns,
            primary_key=("id",),
            audit=True,
            soft_delete=True,
        )
        await commands.create_table(versioned)
        diffs = await diff_tables(
            manager, [(ACCOUNTS, "default"), (versioned, "default")]
        )
    assert [d.differences for d in diffs] == [(), ()]


async def test_the_app_refuses_to_start_on_tables_that_do_not_match(
    database_url: str,
) -> None:
    await run(database_url, DRIFTED)
    app = app_of(database_url, ACCOUNTS, LEDGER)
    with pytest.raises(SchemaError) as caught:
        async with app:
            pass
    message = str(caught.value)
    assert message.startswith(
        "5 difference(s) between the declared tables and the databases:\n"
    )
    for line in (
        "  default.accounts: missing column balance (decimal, not null, default 0)",
        "  default.accounts: column note is NOT NULL in the database",
        "  default.accounts: column opened is text in the database",
        "  default.accounts: column legacy is NOT NULL without a default",
        "  default.accounts: primary key is (id, owner) in the database",
        "`glue schema --diff` lists every difference",
    ):
        assert line in message
    assert "accounts_owner" not in message  # an index missing breaks nothing
    # Nothing was created: the check runs before any table is.
    async with pool_from_url(database_url) as pool:
        assert await SchemaQueryService(pool).tables() == ["accounts"]


async def test_create_tables_creates_the_missing_and_accepts_the_matching(
    database_url: str,
) -> None:
    async with app_of(database_url, ACCOUNTS) as app:
        assert app.connections is not None
    async with app_of(database_url, ACCOUNTS, LEDGER) as app:
        assert await app.create_tables() == ["accounts", "ledger"]
    async with pool_from_url(database_url) as pool:
        assert await SchemaQueryService(pool).tables() == ["accounts", "ledger"]


async def test_a_column_added_to_the_schema_later_is_caught_then_applied(
    database_url: str,
) -> None:
    async with app_of(database_url, LEDGER):
        pass
    async with pool_from_url(database_url) as pool, pool.acquire(write=True) as conn:
        await conn.execute("INSERT INTO ledger (id, account_id) VALUES (1, 7)")
    grown = Schema(
        name="ledger",
        columns=(
            *LEDGER.columns,
            Column(name="memo", type=ColumnType.TEXT, nullable=True),
            Column(name="amount", type=ColumnType.INTEGER, default=0),
        ),
        primary_key=("id",),
        indexes=(Index(name="ledger_account", columns=("account_id", "amount")),),
        versioned=False,
    )
    with pytest.raises(SchemaError, match="missing column memo"):
        async with app_of(database_url, grown):
            pass
    app = app_of(database_url, grown, create_tables=False)
    async with app:
        diffs = await diff_tables(app.connections, [(grown, "default")])
        applied, refused = await apply_diffs(app.connections, diffs)
        assert [d.name for d in applied] == ["memo", "amount", "ledger_account"]
        assert refused == []
        again = await diff_tables(app.connections, [(grown, "default")])
        assert again[0].differences == ()
    async with (
        app_of(database_url, grown) as app,
        app.connections.get_connection_pool().acquire() as conn,
    ):
        result = await conn.fetch("SELECT id, account_id, memo, amount FROM ledger")
    assert result.rows == [(1, 7, None, 0)]


async def test_apply_adds_what_is_additive_and_refuses_the_rest(
    database_url: str,
) -> None:
    await run(
        database_url,
        DRIFTED,
        "INSERT INTO accounts VALUES (1, 'ada', 'n', '2024-01-01', 5)",
    )
    manager = ConnectionManager.from_urls({"default": database_url})
    async with manager:
        diffs = await diff_tables(manager, [(ACCOUNTS, "default"), (LEDGER, "x")])
        applied, refused = await apply_diffs(manager, diffs)
        assert [(d.table, d.change) for d in applied] == [
            ("accounts", "missing_column"),
            ("accounts", "missing_index"),
            ("ledger", "missing_table"),
        ]
        assert [(d.change, d.refusal) for d in refused] == [
            ("nullable", "dropping NOT NULL is a decision for the table's owner"),
            ("column_type", "changing a column's type rewrites its values"),
            ("extra_column", "dropping a column loses its values"),
            ("primary_key", "changing a primary key rewrites the table"),
            (
                "missing_constraint",
                "the rows already there must satisfy it: add it with "
                "SchemaCommandService.add_constraint",
            ),
        ]
        again = await diff_tables(manager, [(ACCOUNTS, "default"), (LEDGER, "x")])
        assert [d.change for d in again[0].differences] == [
            "nullable",
            "column_type",
            "extra_column",
            "primary_key",
            "missing_constraint",
        ]
        assert again[1].differences == ()
        async with manager.get_connection_pool().acquire() as conn:
            rows = await conn.fetch("SELECT id, owner, balance, legacy FROM accounts")
    assert [row[:2] for row in rows.rows] == [(1, "ada")]
    assert str(rows.rows[0][2]) in {"0", "0.0"}


async def test_a_not_null_column_without_default_is_refused(database_url: str) -> None:
    await run(database_url, "CREATE TABLE ledger (id integer PRIMARY KEY)")
    manager = ConnectionManager.from_urls({"default": database_url})
    async with manager:
        diffs = await diff_tables(manager, [(LEDGER, "default")])
        applied, refused = await apply_diffs(manager, diffs)
    assert applied == []
    assert [(d.name, d.refusal) for d in refused] == [
        (
            "account_id",
            "it is NOT NULL without a default: the rows already there would have "
            "no value; give it a default or make it nullable",
        )
    ]
