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


def test_the_demo_runs_the_three_domains_on_three_sqlite_files() -> None:
    done = run("-m", "glue", "demo")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no log line in the middle of the story (#9)
    out = done.stdout
    assert "the shop as three domains on three SQLite files in a temp dir" in out
    assert "customers  customers        in customers" in out
    assert "inventory  stock            in inventory" in out
    assert "orders     known_customers  in orders" in out
    assert "-> Registered(customer_id=1), 1 row written" in out
    assert "(CustomerRegistered): knows ['Ada']" in out
    assert "Placed(order_id=1, articles=4, status='pending')" in out
    assert "the order and its OrderPlaced event committed together" in out
    assert "aside: stock {'APL-001': 7, 'PER-002': 3}; it answered StockReserved" in out
    assert "marked order 1 accepted" in out
    assert "answered StockShort: order 2 is rejected" in out
    assert "$.customer_id: Expected `int`, got `str`" in out
    assert "Forbidden: actor 'clerk' may not run orders:cancel-order" in out
    assert "order 1 is cancelled" in out
    assert "stock {'APL-001': 10, 'PER-002': 4}" in out
    assert "10 accepted, 2 rejected" in out
    assert "stock {'APL-001': 0, 'PER-002': 4}" in out
    assert "{'id': 1, 'name': 'Ada', 'status': 'cancelled', 'articles': 4}" in out
    assert "sql sql2 on 'customers'" in out and "inner join" in out


def test_the_demo_takes_a_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    done = run("-m", "glue", "demo", "--database", url)
    assert done.returncode == 0, done.stderr
    assert "orders     orders           in default" in done.stdout
    assert "10 accepted, 2 rejected" in done.stdout
    assert (tmp_path / "shop.sqlite").exists()


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
