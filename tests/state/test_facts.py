"""Per-table facts: worked out once per schema, kept with it, and built for an
App's declared tables when the App is built."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from glue import App, Domain
from glue.schema import Column, ColumnType, Schema
from glue.sql.dialects import POSTGRES, SQLITE
from glue.state import facts as facts_module
from glue.state.facts import TableFacts, facts_of

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def orders(*extra: str) -> Schema:
    columns = [Column(name="id", type=ColumnType.INTEGER)]
    columns += [Column(name=name, type=ColumnType.TEXT) for name in extra]
    return Schema(name="orders", columns=tuple(columns), primary_key=("id",))


def test_facts_are_kept_with_the_schema_not_its_name() -> None:
    first, second = orders("customer"), orders("note")
    assert facts_of(first) is facts_of(first)
    # Two schemas of one name never share facts (a cache by name would).
    assert facts_of(first).columns == {"id", "customer"}
    assert facts_of(second).columns == {"id", "note"}
    assert facts_of(first).columns == {"id", "customer"}
    changed = msgspec.structs.replace(first, soft_delete=True)
    assert facts_of(changed) is not facts_of(first)
    assert facts_of(changed).soft


def test_codecs_are_kept_per_dialect_with_the_schema() -> None:
    first, second = orders("customer"), orders("note")
    assert SQLITE.codec(first) is SQLITE.codec(first)
    assert SQLITE.codec(first) is not POSTGRES.codec(first)
    assert SQLITE.codec(second).names == ("id", "note", "etag")
    assert SQLITE.codec(first).names == ("id", "customer", "etag")


def test_an_app_works_out_its_tables_facts_when_it_is_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    built: list[str] = []
    init = TableFacts.__init__

    def counting(self: TableFacts, schema: Schema) -> None:
        built.append(schema.name)
        init(self, schema)

    monkeypatch.setattr(facts_module.TableFacts, "__init__", counting)
    schema = orders("customer")
    shop = Domain("shop")
    shop.table(schema)
    assert built == []
    app = App([shop], databases={"default": f"sqlite:///{tmp_path / 'a.db'}"})
    assert built == ["orders"]
    assert app.registry.tables["orders"].facts is facts_of(schema)
    assert built == ["orders"]
