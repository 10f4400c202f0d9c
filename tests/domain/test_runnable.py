"""The demo and the quickstart run as a newcomer runs them, and say what they did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_demo_runs_the_shop() -> None:
    done = run("-m", "glue", "demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "1. registered a customer        -> Registered(customer_id=1)" in out
    assert "OrderAccepted(order_id=1, articles=4)" in out
    assert "$.lines[0].quantity: only 3 left" in out
    assert "$.customer_id: Expected `int`, got `str`" in out
    assert "Forbidden: actor 'clerk' may not run shop:cancel-order" in out
    assert "stock back to {'APL-001': 10, 'PER-002': 4}" in out
    assert "failed: Forbidden" in out


def test_the_demo_explains_where_to_run_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "glue", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "run it from the root of the glue repository" in done.stderr


def test_the_quickstart_runs() -> None:
    done = run("examples/quickstart.py")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[event] order 1 created with 2 items" in out
    assert "placed: OrderPlaced(order_id=1," in out
    assert "rejected before any handler ran: invalid shop:create-order:" in out
    assert "$.items[1]: Expected `str`, got `int`" in out
    assert "refused by the policy: actor 'ada' may not run shop:delete-order" in out
    assert "orders still stored: [1]" in out
