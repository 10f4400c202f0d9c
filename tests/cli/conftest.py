"""Fixtures for the command line's tests: the shop on two SQLite files in
``tmp_path``, and ``glue`` run in this process (``main(argv)``) or as a child
process (``python -m glue``), the same way for both."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest

from domains.shop import OrderLine, PlaceOrder, RegisterCustomer, Restock
from domains.shop.app import DATABASE_ENV, ORDERS_DATABASE_ENV, make_app
from glue.cli import main
from glue.outbox.status import drain

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root, where ``domains/`` is."""

APP = "domains.shop.app:make_app"


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """What one run of ``glue`` did."""

    code: int
    out: str
    err: str


@pytest.fixture
def shop_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The shop's databases as files in ``tmp_path``, named by the environment
    the shop's app factory reads; the working directory is the repository's
    root, and ``sys.path`` is restored after the test."""
    env = {
        DATABASE_ENV: f"sqlite:///{tmp_path / 'shop.sqlite'}",
        ORDERS_DATABASE_ENV: f"sqlite:///{tmp_path / 'orders.sqlite'}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return env


@pytest.fixture
def seeded(shop_env: dict[str, str]) -> dict[str, str]:
    """The shop with customer 1 (Ada), stock APL-001 7 and PER-002 3, and order 1
    (3 x APL-001, 1 x PER-002) accepted, written through the bus."""

    async def seed() -> None:
        async with make_app() as app:
            await app.bus.dispatch(
                RegisterCustomer(name="Ada", email="ada@example.org")
            )
            await drain(app)  # the orders domain hears of Ada
            await app.bus.dispatch(Restock(sku="APL-001", quantity=10))
            await app.bus.dispatch(Restock(sku="PER-002", quantity=4))
            await app.bus.dispatch(
                PlaceOrder(
                    customer_id=1,
                    lines=[
                        OrderLine(sku="APL-001", quantity=3),
                        OrderLine(sku="PER-002", quantity=1),
                    ],
                )
            )
            await drain(app)  # the inventory reserves, the order is accepted

    anyio.run(seed)
    return shop_env


@pytest.fixture
def in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run ``glue.cli.main(argv)`` here, with ``stdin`` as standard input."""

    def run(*argv: str, stdin: bytes = b"") -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code=code, out=captured.out, err=captured.err)

    return run


@pytest.fixture
def child_process() -> Callable[..., Result]:
    """Run ``python -m glue`` in the current directory, with the current
    environment, ``stdin`` as standard input."""

    def run(*argv: str, stdin: bytes = b"") -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "glue", *argv],
            input=stdin,
            capture_output=True,
            cwd=os.getcwd(),
            env=dict(os.environ),
            timeout=60,
            check=False,
        )
        return Result(
            code=done.returncode, out=done.stdout.decode(), err=done.stderr.decode()
        )

    return run


@pytest.fixture(params=["in-process", "subprocess"])
def glue(
    request: pytest.FixtureRequest,
    in_process: Callable[..., Result],
    child_process: Callable[..., Result],
) -> Callable[..., Result]:
    """``glue`` run once in this process and once as a child process."""
    return in_process if request.param == "in-process" else child_process
