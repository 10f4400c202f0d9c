"""``glue outbox status/prune`` and ``glue dead-letters list/retry`` on an App
whose audit subscriber failed every attempt (O03)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from glue.cli.main import main
from glue.outbox.status import drain

from . import shop
from .shop import Pay, make_app

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

APP = ["--app", "tests.outbox.shop:make_app"]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("OUTBOX_TEST_DATABASE", url)
    shop.FAILING.add("eve")
    yield url
    shop.FAILING.clear()


def test_dead_letters_are_listed_counted_and_retried(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def pay_and_drain() -> None:
        async with make_app(database, delivery="in-process") as app:
            await app.bus.dispatch(Pay(customer="eve", amount=4))
            await drain(app)

    anyio.run(pay_and_drain)
    assert main(["outbox", "status", *APP]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pending 0, in flight 0, dead letters 1, oldest -")
    assert main(["dead-letters", "list", *APP]) == 0
    out = capsys.readouterr().out
    assert "ledger.audit" in out
    assert "RuntimeError: audit refuses eve" in out

    shop.FAILING.clear()
    assert main(["dead-letters", "retry", *APP, "--subscriber", "ledger.audit"]) == 0
    assert capsys.readouterr().out == "1 dead letter(s) put back for delivery\n"
    assert main(["outbox", "status", *APP]) == 0
    assert "pending 1, in flight 0, dead letters 0" in capsys.readouterr().out

    anyio.run(pay_and_drain)  # the App delivers the replay, and the new one
    assert main(["dead-letters", "list", *APP]) == 0
    assert capsys.readouterr().out == "no dead letters\n"
    assert main(["dead-letters", "retry", *APP, "--subscriber", "nobody"]) == 1
    capsys.readouterr()
    # Two events delivered, four inbox rows (two subscribers): none needed now.
    assert main(["outbox", "prune", *APP, "--older-than", "0"]) == 0
    assert capsys.readouterr().out == "6 row(s) deleted\n"
