"""``glue dispatch``, ``query``, ``explain`` and ``schema`` on the shop, each run
in this process (``main(argv)``) and as a child process (``python -m glue``)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING

import msgspec
import pytest

from domains.shop.app import DATABASE_ENV, ORDERS_DATABASE_ENV, make_app
from glue.config import load
from glue.connections import DefaultConnectionPool
from glue.query import (
    Condition,
    Conditions,
    FieldReference,
    JoinQuery,
    OrderByQuery,
    QueryStatement,
    SchemaReference,
)

from .conftest import APP, ROOT

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Result

    Glue = Callable[..., Result]


def as_json(statement: QueryStatement) -> str:
    return msgspec.json.encode(statement).decode()


STOCK = as_json(
    QueryStatement(
        table=SchemaReference(name="stock"),
        only=[
            FieldReference.of("stock", "sku"),
            FieldReference.of("stock", "quantity"),
        ],
        order_by=[OrderByQuery(field=FieldReference.of("stock", "sku"))],
    )
)
ORDERS_BY_CUSTOMER = as_json(
    QueryStatement(
        table=SchemaReference(name="orders", alias="o"),
        only=[
            FieldReference.of("o", "id"),
            FieldReference.of("c", "name"),
            FieldReference.of("o", "status"),
            FieldReference.of("o", "updated_by"),
        ],
        joins=[
            JoinQuery(
                table=SchemaReference(name="customers", alias="c"),
                on=Conditions(
                    Condition(
                        field=FieldReference.of("c", "id"),
                        value=FieldReference.of("o", "customer_id"),
                    )
                ),
            )
        ],
    )
)
UNKNOWN_TABLE = as_json(QueryStatement(table=SchemaReference(name="nope")))
BAD_ORDER = '{"customer_id": "one", "lines": [{"sku": "apple", "quantity": 0}]}'


# -- dispatch -------------------------------------------------------------------------


def test_dispatch_prints_the_response_as_json(seeded: object, glue: Glue) -> None:
    done = glue(
        "dispatch",
        "--app",
        APP,
        "customers:register-customer",
        '{"name": "Bob", "email": "bob@example.org"}',
    )
    assert (done.code, done.err) == (0, "")
    # Ada took id 1 in another process, whose block's other ids went with it.
    assert msgspec.json.decode(done.out)["customer_id"] > 1


def test_dispatch_reads_the_json_from_stdin(seeded: object, glue: Glue) -> None:
    order = b'{"customer_id": 1, "lines": [{"sku": "APL-001", "quantity": 2}]}'
    done = glue("dispatch", "--app", APP, "orders:place-order", stdin=order)
    assert done.code == 0, done.err
    placed = msgspec.json.decode(done.out)
    assert placed["order_id"] > 1
    assert placed == {
        "order_id": placed["order_id"],
        "articles": 2,
        "status": "pending",
    }
    # The process delivered before it ended: the inventory reserved 2 apples.
    dash = glue(
        "dispatch",
        "--app",
        APP,
        "inventory:restock",
        "-",
        stdin=b'{"sku": "APL-001", "quantity": 1}',
    )
    assert (dash.code, dash.out) == (0, "{}\n")
    stock = glue("query", "--app", APP, STOCK)
    assert stock.out.splitlines()[0] == '{"sku":"APL-001","quantity":6}'


def test_an_actor_with_the_permission_may_cancel(seeded: object, glue: Glue) -> None:
    cancel = ("dispatch", "--app", APP, "orders:cancel-order", '{"order_id": 1}')
    refused = glue(*cancel, "--actor", "ann", "--permission", "orders:read")
    assert refused.code == 1
    assert refused.err == (
        "glue: actor 'ann' may not run orders:cancel-order: missing permission "
        "orders:admin\n"
    )
    done = glue(
        *cancel,
        "--actor",
        "ann",
        "--permission",
        "orders:read",
        "--permission",
        "orders:admin",
    )
    assert (done.code, done.out, done.err) == (0, "{}\n", "")
    rows = glue("query", "--app", APP, ORDERS_BY_CUSTOMER)
    assert msgspec.json.decode(rows.out) == {
        "id": 1,
        "name": "Ada",
        "status": "cancelled",
        "updated_by": "ann",
    }


def test_no_actor_is_refused_in_one_line(seeded: object, glue: Glue) -> None:
    done = glue("dispatch", "--app", APP, "orders:cancel-order", '{"order_id": 1}')
    assert (done.code, done.out) == (1, "")
    assert done.err.startswith("glue: ")
    assert "needs an actor with permission orders:admin" in done.err
    assert done.err.count("\n") == 1


def test_validation_errors_are_listed_by_path(seeded: object, glue: Glue) -> None:
    done = glue("dispatch", "--app", APP, "orders:place-order", BAD_ORDER)
    assert (done.code, done.out) == (2, "")
    assert done.err == (
        "glue: invalid orders:place-order:\n"
        "  $.customer_id: Expected `int`, got `str`\n"
        "  $.lines[0].sku: Expected `str` matching regex '^[A-Z]{3}-\\\\d{3}$'\n"
        "  $.lines[0].quantity: Expected `int` >= 1\n"
    )


def test_an_order_beyond_the_stock_is_rejected_by_the_inventory(
    seeded: object, glue: Glue
) -> None:
    order = '{"customer_id": 1, "lines": [{"sku": "PER-002", "quantity": 9}]}'
    done = glue("dispatch", "--app", APP, "orders:place-order", order)
    assert done.code == 0, done.err
    placed = msgspec.json.decode(done.out)
    assert placed["status"] == "pending"  # then settled before the process ended
    rows = glue("query", "--app", APP, ORDERS_BY_CUSTOMER)
    statuses = [msgspec.json.decode(line)["status"] for line in rows.out.splitlines()]
    assert statuses == ["accepted", "rejected"]
    stock = glue("query", "--app", APP, STOCK)
    assert stock.out.splitlines()[1] == '{"sku":"PER-002","quantity":3}'


def test_bad_json_is_invalid(seeded: object, glue: Glue) -> None:
    done = glue("dispatch", "--app", APP, "inventory:restock", '{"sku": ')
    assert done.code == 2
    assert done.err.startswith("glue: invalid inventory:restock:\n  $: malformed JSON")


def test_an_unknown_command_is_one_line(seeded: object, glue: Glue) -> None:
    done = glue("dispatch", "--app", APP, "shop:refund", "{}")
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        "glue: unknown command 'shop:refund' (known: customers:register-customer, "
        "inventory:restock, orders:cancel-order, orders:place-order)\n"
    )


def test_traceback_on_request(seeded: object, glue: Glue) -> None:
    done = glue("dispatch", "--app", APP, "--traceback", "shop:refund", "{}")
    assert done.code == 1
    assert done.err.startswith("Traceback (most recent call last):")
    assert "UnknownCommand: unknown command 'shop:refund'" in done.err
    assert done.err.endswith(
        "glue: unknown command 'shop:refund' (known: "
        "customers:register-customer, inventory:restock, "
        "orders:cancel-order, orders:place-order)\n"
    )


def test_a_permission_needs_an_actor(shop_env: object, glue: Glue) -> None:
    done = glue(
        "dispatch",
        "--app",
        APP,
        "--permission",
        "orders:admin",
        "inventory:restock",
        "{}",
    )
    assert done.code == 2
    assert "--permission needs --actor ID" in done.err


def test_invalid_input_opens_no_database(
    shop_env: object, tmp_path: Path, glue: Glue
) -> None:
    for argv in (
        ("dispatch", "--app", APP, "orders:place-order", BAD_ORDER),
        ("dispatch", "--app", APP, "shop:refund", "{}"),
        ("query", "--app", APP, "[]"),
    ):
        assert glue(*argv).code in {1, 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- query and explain ----------------------------------------------------------------


def test_query_prints_json_lines(seeded: object, glue: Glue) -> None:
    done = glue("query", "--app", APP, STOCK)
    assert (done.code, done.err) == (0, "")
    assert done.out == (
        '{"sku":"APL-001","quantity":7}\n{"sku":"PER-002","quantity":3}\n'
    )


def test_query_prints_a_table(seeded: object, glue: Glue) -> None:
    done = glue("query", "--app", APP, "--table", stdin=STOCK.encode())
    assert done.code == 0, done.err
    assert done.out == (
        "sku     | quantity\n--------+---------\nAPL-001 | 7\nPER-002 | 3\n(2 rows)\n"
    )


def test_query_across_the_two_databases(seeded: object, glue: Glue) -> None:
    done = glue("query", "--app", APP, "--table", ORDERS_BY_CUSTOMER)
    assert done.code == 0, done.err
    assert done.out.splitlines() == [
        "id | name | status   | updated_by",
        "---+------+----------+-----------",
        "1  | Ada  | accepted | null",
        "(1 row)",
    ]


def test_query_of_an_unknown_table_is_one_line(seeded: object, glue: Glue) -> None:
    done = glue("query", "--app", APP, UNKNOWN_TABLE)
    assert (done.code, done.out) == (1, "")
    assert done.err.startswith("glue: unknown table 'nope'")
    assert done.err.count("\n") == 1


@pytest.mark.parametrize("command", ["query", "explain"])
def test_a_statement_that_does_not_decode_is_invalid(
    seeded: object, glue: Glue, command: str
) -> None:
    untagged = glue(command, "--app", APP, '{"table": {"name": "stock"}}')
    assert untagged.code == 2
    assert untagged.err.startswith(
        "glue: invalid query statement:\n"
        "  $.table: Object missing required field `type` (each object"
    )
    wrong = glue(command, "--app", APP, '{"table": {"type": "schema", "name": 7}}')
    assert wrong.err == (
        "glue: invalid query statement:\n  $.table.name: Expected `str`, got `int`\n"
    )
    broken = glue(command, "--app", APP, "{")
    assert broken.code == 2
    assert broken.err.startswith("glue: invalid query statement:\n  $: malformed JSON")


def test_explain_prints_the_plan_tree(seeded: object, glue: Glue) -> None:
    done = glue("explain", "--app", APP, ORDERS_BY_CUSTOMER)
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0].startswith("plan → id, name, status, updated_by")
    assert "└── chain (in order)" in lines[1]
    assert any(
        "sql" in line and "on 'orders' (sqlite): SELECT" in line for line in lines
    )
    assert any(
        "sql" in line and "on 'default' (sqlite): SELECT" in line for line in lines
    )
    assert "inner join" in lines[-1]


def test_explain_of_an_unknown_table_is_one_line(seeded: object, glue: Glue) -> None:
    done = glue("explain", "--app", APP, stdin=UNKNOWN_TABLE.encode())
    assert done.code == 1
    assert done.err.startswith("glue: unknown table 'nope'")


# -- schema ---------------------------------------------------------------------------


def test_schema_lists_every_database(seeded: object, glue: Glue) -> None:
    done = glue("schema", "--app", APP)
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    # Each database holds its domains' tables, glue_ids, and the outbox's six.
    assert lines[0] == "database default (sqlite): 10 tables"
    assert "database orders (sqlite): 9 tables" in lines
    assert "  table customers" in lines
    assert "    id          integer   INTEGER not null  primary key" in lines
    assert "    lines        json      JSON_TEXT not null" in lines
    assert "    primary key (sku)" in lines


def test_schema_as_json(seeded: object, glue: Glue) -> None:
    done = glue("schema", "--app", APP, "--json")
    assert done.code == 0, done.err
    databases = msgspec.json.decode(done.out)
    assert [(d["database"], d["dialect"]) for d in databases] == [
        ("default", "sqlite"),
        ("orders", "sqlite"),
    ]
    names = [[t["name"] for t in d["tables"]] for d in databases]
    assert [n for n in names[0] if not n.startswith("glue_o")] == [
        "customers",
        "glue_dead_letters",
        "glue_deliveries",
        "glue_ids",
        "glue_inbox",
        "glue_inbox_aggregates",
        "reservations",
        "stock",
    ]
    assert {"glue_ids", "known_customers", "orders"} <= set(names[1])
    [orders] = [t for t in databases[1]["tables"] if t["name"] == "orders"]
    assert orders["primary_key"] == ["id"]
    assert {
        "name": "status",
        "type": "text",
        "sql_type": "TEXT",
        "nullable": False,
        "default": "'pending'",
    } in orders["columns"]


# Shop tables that drifted from the shop's schemas: customers lacks email (NOT
# NULL, no default) and updated_by (nullable); stock's quantity is text.
DRIFTED = [
    "CREATE TABLE customers (id INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, "
    "etag TEXT NOT NULL, created_at DATETIME_TEXT NOT NULL, "
    "updated_at DATETIME_TEXT NOT NULL, created_by TEXT)",
    "CREATE TABLE stock (sku TEXT NOT NULL PRIMARY KEY, quantity TEXT NOT NULL, "
    "etag TEXT NOT NULL)",
]


@pytest.fixture
def drifted(shop_env: dict[str, str]) -> dict[str, str]:
    """The shop's default database holding the DRIFTED tables."""
    path = shop_env[DATABASE_ENV].removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        for sql in DRIFTED:
            conn.execute(sql)
    conn.close()
    return shop_env


def test_an_app_on_drifted_tables_stops_at_startup(drifted: object, glue: Glue) -> None:
    done = glue("query", "--app", APP, STOCK)
    assert done.code == 1
    assert done.out == ""
    assert "customers.customers: missing column email (text, not null)" in done.err
    assert "inventory.stock: column quantity is text in the database" in done.err
    assert "glue schema --diff" in done.err


def test_schema_diff_then_apply(drifted: object, glue: Glue) -> None:
    diff = glue("schema", "--app", APP, "--diff")
    assert diff.code == 1
    lines = diff.out.splitlines()
    assert (
        "customers.customers: missing column email (text, not null) (--apply "
        "refuses: it is NOT NULL without a default: the rows already there would "
        "have no value; give it a default or make it nullable, breaks reads or "
        "writes)"
    ) in lines
    assert (
        "customers.customers: missing column updated_by (text, null) (--apply adds "
        "it, breaks reads or writes)"
    ) in lines
    assert "orders.orders: missing table (--apply adds it)" in lines
    assert diff.err.startswith("glue: ")
    assert "difference(s) between the declared tables and the databases" in diff.err

    as_json = glue("schema", "--app", APP, "--diff", "--json")
    assert as_json.code == 1
    changes = {(d["table"], d["change"], d["name"]) for d in msgspec.json.decode(
        as_json.out)}  # fmt: skip
    assert ("stock", "column_type", "quantity") in changes

    applied = glue("schema", "--app", APP, "--apply")
    assert applied.code == 1
    out = applied.out.splitlines()
    assert "added: customers.customers: missing column updated_by (text, null)" in out
    assert "added: orders.orders: missing table" in out
    assert any(
        line.startswith("refused: inventory.stock: column quantity is text")
        and line.endswith("(changing a column's type rewrites its values)")
        for line in out
    )
    assert "refused 2 change(s)" in applied.err

    after = glue("schema", "--app", APP, "--diff")
    assert after.code == 1
    assert len(after.out.splitlines()) == 2  # the two refused


def test_schema_diff_of_matching_tables(seeded: object, glue: Glue) -> None:
    done = glue("schema", "--app", APP, "--diff")
    assert done.code == 0, done.err
    assert done.out == "no differences: every declared table matches its database\n"
    applied = glue("schema", "--app", APP, "--apply")
    assert applied.code == 0, applied.err
    assert applied.out == "nothing to do: every declared table matches\n"


def test_schema_diff_and_apply_are_one_or_the_other(seeded: object, glue: Glue) -> None:
    done = glue("schema", "--app", APP, "--diff", "--apply")
    assert done.code == 2
    assert "not allowed with argument" in done.err


def test_dispatch_query_and_schema_on_postgres(
    postgres_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    in_process: Callable[..., Result],
) -> None:
    monkeypatch.setenv(DATABASE_ENV, postgres_dsn)
    monkeypatch.delenv(ORDERS_DATABASE_ENV, raising=False)
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    restock = in_process(
        "dispatch",
        "--app",
        APP,
        "inventory:restock",
        '{"sku": "APL-001", "quantity": 2}',
    )
    assert (restock.code, restock.out) == (0, "{}\n"), restock.err
    assert in_process("query", "--app", APP, STOCK).out == (
        '{"sku":"APL-001","quantity":2}\n'
    )
    schema = in_process("schema", "--app", APP)
    assert schema.code == 0, schema.err
    lines = schema.out.splitlines()
    assert lines[0] == "database default (postgres): 11 tables"
    assert "  table orders" in lines
    assert "    quantity  integer   bigint not null" in lines


@pytest.mark.parametrize(
    ("argv", "entity"),
    [
        (("dispatch", "--app", APP, "inventory:restock"), "inventory:restock"),
        (("query", "--app", APP, "-"), "query statement"),
        (("explain", "--app", APP), "query statement"),
    ],
)
def test_no_json_at_all_is_invalid(
    shop_env: object, glue: Glue, argv: tuple[str, ...], entity: str
) -> None:
    done = glue(*argv, stdin=b" \n")
    assert done.code == 2
    assert done.err == (
        f"glue: invalid {entity}:\n"
        "  $: no JSON: give it as an argument, or on standard input\n"
    )


def test_query_takes_a_timeout(seeded: object, glue: Glue) -> None:
    done = glue("query", "--app", APP, "--timeout", "30", STOCK)
    assert (done.code, len(done.out.splitlines())) == (0, 2)


async def test_the_shop_app_reads_its_databases_from_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with make_app(config=load(environ={})) as app:
        found = app.connections.pools
        assert "default" not in found
        for name in ("customers", "inventory", "orders"):
            pool = found[name]
            assert isinstance(pool, DefaultConnectionPool)
            assert pool.location == str(tmp_path / f"{name}.sqlite")
    environ = {
        DATABASE_ENV: f"sqlite:///{tmp_path / 'a.db'}",
        ORDERS_DATABASE_ENV: f"sqlite:///{tmp_path / 'b.db'}",
        "GLUE_POOL__MAX_SIZE": "3",
    }
    async with make_app(config=load(environ=environ)) as app:
        pools = app.connections.pools
        default, orders = pools["default"], pools["orders"]
        assert isinstance(default, DefaultConnectionPool)
        assert isinstance(orders, DefaultConnectionPool)
        assert default.location == str(tmp_path / "a.db")
        assert orders.location == str(tmp_path / "b.db")
        assert pools["orders"].statistics().max_size == 3


def test_a_reader_that_goes_away_is_no_traceback(seeded: object) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "glue", "schema", "--app", APP],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # as `| head` does once it has read enough
    with child:
        err = child.stderr.read()
        code = child.wait(timeout=60)
    assert (code, err) == (1, b"")


def test_an_unknown_log_level_is_a_usage_error(glue: Glue) -> None:
    done = glue("schema", "--app", APP, "--log-level", "loud")
    assert done.code == 2
    assert "invalid choice: 'LOUD'" in done.err
