"""``glue serve`` for real: the shop under uvicorn on a free loopback port, called
over the network, and its docs page rendered by a headless Chromium (#11).

Chromium comes from Debian's ``chromium`` package: found on PATH, or installed
here with apt-get when the tests run as root. Without it these tests skip,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from domains.shop.app import (
    CUSTOMERS_DATABASE_ENV,
    INVENTORY_DATABASE_ENV,
    ORDERS_DATABASE_ENV,
)
from domains.shop.auth import tokens_from_env
from glue.testing import free_port

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 60.0
"""Seconds the server may take to answer its first request."""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


class Server:
    """A ``glue serve`` process and the URL it answers at."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def stop(self) -> tuple[int, str]:
        """Interrupt it as Ctrl-C would; its exit status and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return self.process.returncode, err


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    """The shop served by ``glue serve`` on a free loopback port."""
    port = free_port()
    env = {
        **os.environ,
        CUSTOMERS_DATABASE_ENV: f"sqlite:///{tmp_path / 'customers.sqlite'}",
        INVENTORY_DATABASE_ENV: f"sqlite:///{tmp_path / 'inventory.sqlite'}",
        ORDERS_DATABASE_ENV: f"sqlite:///{tmp_path / 'orders.sqlite'}",
    }
    command = [sys.executable, "-m", "glue", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--app", "domains.shop.api:make_api", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            if process.poll() is not None:
                pytest.fail(f"glue serve exited: {server.stop()[1]}")
            try:
                httpx.get(f"{server.url}/openapi.json", timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"glue serve did not answer within {STARTUP} s")
                time.sleep(0.1)
        yield server
    finally:
        server.stop()


def until(done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for ``done()``: what the server's subscribers do happens after
    the response."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the subscribers did not catch up"
        time.sleep(0.05)


def test_glue_serve_serves_the_shop(served: Server) -> None:
    admin = tokens_from_env().issue("root", ["orders:admin", "orders:read"])
    auth = {"authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=served.url, timeout=30) as http:
        registered = http.post(
            "/customers:register-customer",
            json={"name": "Ada", "email": "ada@example.org"},
        )
        assert registered.json() == {"customer_id": 1}
        assert registered.headers["x-request-id"]
        http.post("/inventory:restock", json={"sku": "APL-001", "quantity": 3})
        order = {"customer_id": 1, "lines": [{"sku": "APL-001", "quantity": 2}]}
        once = {"idempotency-key": "order-1"}
        # A 404 until the orders domain heard of Ada; it records no key.
        until(
            lambda: (
                http.post("/orders:place-order", json=order, headers=once).is_success
            )
        )
        placed = http.post("/orders:place-order", json=order, headers=once)
        assert placed.headers["idempotent-replayed"] == "true"
        assert placed.json()["status"] == "pending"
        url = f"/orders/orders/{placed.json()['order_id']}"
        until(lambda: http.get(url, headers=auth).json()["status"] == "accepted")
        fetched = http.get(url, headers=auth)
        cancelled = http.post(
            "/orders:cancel-order",
            json={"order_id": placed.json()["order_id"]},
            headers={**auth, "if-match": fetched.headers["etag"]},
        )
        assert cancelled.status_code == 200
        # The inventory puts the 2 apples back after the response.
        stock = "/inventory/stock/APL-001"
        until(lambda: http.get(stock).json()["quantity"] == 3)
    code, err = served.stop()
    assert code == 0, err
    assert "Traceback" not in err


def test_a_bad_app_fails_before_serving() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "glue", "serve", "--app", "domains.shop.app:nothing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "has no attribute 'nothing'" in done.stderr


def _chromium() -> str:
    """Chromium's path, installed with apt-get if need be."""
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        quiet = partial(
            subprocess.run, capture_output=True, text=True, timeout=900, check=False
        )
        quiet(["apt-get", "update", "-qq"])
        installed = quiet(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if installed.returncode:
            _unavailable(f"apt-get install chromium failed: {installed.stderr[-500:]}")
        found = shutil.which("chromium")
    if found is None:
        _unavailable("no chromium, and it cannot be installed here (not root)")
    assert found is not None
    return found


def test_the_docs_page_shows_the_shops_commands(served: Server) -> None:
    chromium = _chromium()
    raw = httpx.get(f"{served.url}/docs").text
    assert "place-order" not in raw  # what follows was rendered by the page's JS
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=30000",
            "--dump-dom",
            f"{served.url}/docs",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    for command in ("place-order", "register-customer", "restock", "cancel-order"):
        assert f":{command}" in dom, command
    assert "Order articles for a customer." in dom
    assert "opblock" in dom


def test_serve_options_layer_the_configuration_and_the_flags_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from glue.cli.main import _parser, _serve_options
    from glue.cli.serve import ServeOptions

    monkeypatch.chdir(tmp_path)
    parse = _parser().parse_args
    assert _serve_options(parse(["serve", "--app", "m:a", "--port", "9000"])) == (
        ServeOptions(app="m:a", port=9000)
    )
    options = _serve_options(
        parse(["serve", "--app", "m:a", "--reload", "--workers", "2"])
    )
    assert options is not None
    assert (options.reload, options.workers, options.host) == (True, 2, "127.0.0.1")
    (tmp_path / "glue.toml").write_text('app = "f:g"\n[serve]\nport = 9100\n')
    monkeypatch.setenv("GLUE_SERVE__HOST", "0.0.0.0")
    options = _serve_options(parse(["serve"]))
    assert options == ServeOptions(app="f:g", host="0.0.0.0", port=9100)
    options = _serve_options(parse(["serve", "--port", "9200", "--app", "m:a"]))
    assert options == ServeOptions(app="m:a", host="0.0.0.0", port=9200)
    (tmp_path / "glue.toml").unlink()
    assert _serve_options(parse(["serve"])) is None


def test_worker_processes_load_the_app_glue_serve_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With --workers or --reload, uvicorn's processes call app_from_env."""
    from glue.cli.serve import APP_ENV, app_from_env
    from glue.http import HttpApp

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv(APP_ENV, "domains.shop.app:make_app")
    served = app_from_env()
    assert isinstance(served, HttpApp)
    assert served.auth is None  # an App is served as glue.http.asgi(app)
