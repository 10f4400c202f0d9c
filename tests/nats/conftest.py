"""Fixtures of the NATS tests: a real NATS server with JetStream.

``nats_url`` (session) finds a server, in this order:

1. ``GLUE_TEST_NATS_URL``, a server with JetStream the tests may add streams to;
2. a server answering on 127.0.0.1:4222;
3. a ``nats-server -js`` this fixture starts (see ``server.py``) on a free
   loopback port with a temporary store, stopped at the end of the session.

``GLUE_TEST_NATS=start`` skips 1 and 2. When no server can be had, the tests that
need one skip, except under ``CI=true``, where they fail.

``private_nats`` starts a server of the test's own, which it may stop and start
again on the same port and store (a shared server is never restarted).

``nats_prefix`` is a subject prefix (and stream name) unique to the test, so that
tests sharing a server never see each other's messages.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, NoReturn

import pytest

from .server import LOCAL_URL, NatsServer, NatsUnavailable, answers

if TYPE_CHECKING:
    from collections.abc import Iterator


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a NATS server with ``nats``."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "nats_url" in names or "private_nats" in names:
            item.add_marker(pytest.mark.nats)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> NoReturn:
    """Skip, or under CI fail: a NATS test never silently skips there."""
    if _in_ci():
        pytest.fail(f"NATS server needed under CI: {reason}", pytrace=False)
    pytest.skip(f"no NATS server: {reason}")


def _own_server() -> NatsServer:
    server = NatsServer()
    try:
        server.start()
    except NatsUnavailable as exc:
        server.close()
        _unavailable(str(exc))
    return server


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """The URL of a NATS server with JetStream, for this session."""
    if os.environ.get("GLUE_TEST_NATS", "").lower() != "start":
        url = os.environ.get("GLUE_TEST_NATS_URL")
        if url:
            if not answers(url):
                _unavailable(f"GLUE_TEST_NATS_URL={url} does not answer")
            yield url
            return
        if answers(LOCAL_URL):
            yield LOCAL_URL
            return
    server = _own_server()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def private_nats() -> Iterator[NatsServer]:
    """A NATS server of this test's own, which it may stop, kill and restart."""
    server = _own_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def nats_prefix() -> str:
    """A subject prefix unique to this test (``glue_`` and 12 hex digits)."""
    return f"glue_{uuid.uuid4().hex[:12]}"
