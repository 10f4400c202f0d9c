"""`new_id()`: version 7 UUIDs, time-ordered and strictly increasing in a process."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from glue import new_id
from glue.ids import UUID7Generator, uuid7


def millisecond(value: uuid.UUID) -> int:
    return value.int >> 80


def counter(value: uuid.UUID) -> int:
    return ((value.int >> 64) & 0xFFF) << 30 | ((value.int >> 32) & (2**30 - 1))


def test_a_new_id_is_a_version_7_uuid_of_now() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= millisecond(made) <= after


def test_ids_increase_strictly_as_values_and_as_text() -> None:
    made = [new_id() for _ in range(20_000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    texts = [str(u) for u in made]
    assert texts == sorted(texts)


def test_a_clock_that_steps_back_keeps_the_order() -> None:
    readings = iter([5_000, 5_000, 4_000, 4_999, 5_000, 6_000])
    generator = UUID7Generator(lambda: next(readings) * 1_000_000)
    made = [generator() for _ in range(6)]
    assert made == sorted(made) and len(set(made)) == 6
    assert [millisecond(u) for u in made] == [5_000] * 5 + [6_000]
    same = [counter(u) for u in made[:5]]
    assert same == list(range(same[0], same[0] + 5))
    assert same[0] < 2**41  # seeded below the top bit, room to count up


def test_a_full_counter_borrows_the_next_millisecond() -> None:
    generator = UUID7Generator(lambda: 7_000 * 1_000_000)
    first = generator()
    generator._counter = 2**42 - 2
    last_of_the_millisecond, borrowed = generator(), generator()
    assert millisecond(last_of_the_millisecond) == 7_000
    assert counter(last_of_the_millisecond) == 2**42 - 1
    assert millisecond(borrowed) == 7_001
    assert first < last_of_the_millisecond < borrowed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_ids_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # One frozen millisecond for parent and child: without the reset at fork,
    # both would count on from the same counter with the same random bytes.
    monkeypatch.setattr(uuid7._GENERATOR, "_clock", lambda: 9_000 * 1_000_000)
    new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave at once
        os.write(write, new_id().bytes)
        os._exit(0)
    os.close(write)
    try:
        child = uuid.UUID(bytes=os.read(read, 16))
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert child != new_id()
    assert millisecond(child) == 9_000
