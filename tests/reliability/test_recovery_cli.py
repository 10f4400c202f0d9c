"""``glue transactions list`` and ``recover``: prepared transactions a crash
left, found and finished from the command line (issue #13, point 3)."""

from __future__ import annotations

import sys
import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from glue.cli import main

from .bank import OPENING, bank_app, move_and_crash, open_accounts
from .faults import admin, prepared_transactions

if TYPE_CHECKING:
    from pathlib import Path

APP = """
from glue import App
from tests.reliability.bank import bank_domain

app = App([bank_domain()], databases={urls!r})
"""


async def leave_one(urls: dict[str, str], moment: str, what: str) -> None:
    async with bank_app(urls) as app:
        await open_accounts(app, per_database=1)
    await move_and_crash(urls, moment, what)


async def balance_of_b(urls: dict[str, str]) -> int:
    rows = await admin(urls["b"], "SELECT balance FROM accounts_b WHERE id = 1")
    return int(rows[0][0])


@pytest.mark.parametrize(
    ("moment", "what", "decision", "outcome", "balance"),
    [
        ("after", "PREPARE TRANSACTION ", "none yet", "rolled back", OPENING),
        ("before", "COMMIT PREPARED ", "commit", "committed", OPENING + 10),
    ],
    ids=["before-the-decision", "after-the-decision"],
)
def test_glue_transactions_lists_then_recovers(
    two_phase_urls: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    moment: str,
    what: str,
    decision: str,
    outcome: str,
    balance: int,
) -> None:
    anyio.run(leave_one, two_phase_urls, moment, what)
    ((_, gid),) = anyio.run(prepared_transactions, two_phase_urls)
    module = f"leftover_{uuid.uuid4().hex}"  # a fresh import each time
    (tmp_path / f"{module}.py").write_text(APP.format(urls=two_phase_urls))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    argv = ["--app", f"{module}:app"]

    assert main(["transactions", "list", *argv]) == 0
    listed = capsys.readouterr().out
    assert gid in listed
    assert decision in listed
    assert (
        anyio.run(prepared_transactions, two_phase_urls) != []
    )  # listing changes nothing

    assert main(["transactions", "recover", *argv]) == 0
    recovered = capsys.readouterr().out
    assert gid in recovered
    assert outcome in recovered
    assert anyio.run(prepared_transactions, two_phase_urls) == []
    assert anyio.run(balance_of_b, two_phase_urls) == balance

    assert main(["transactions", "list", *argv]) == 0
    assert "no prepared transaction left by glue" in capsys.readouterr().out
