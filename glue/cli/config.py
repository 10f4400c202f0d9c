"""``glue config``: the configuration, and where each value came from.

One line per value: its key path, its value as JSON, and its source (``default``,
``file glue.toml``, ``env GLUE_DATABASES__ORDERS``, ``flag app``); then what was
read and left (see `glue.config.Resolved.notes`). Database URLs show without
their passwords.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..connections.postgres import redact_dsn

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..config import Resolved

__all__ = ["format_config", "run_config", "shown_config"]


def run_config(resolved: Resolved, *, as_json: bool = False) -> None:
    """Print the configuration as text, or (``as_json=True``) as one JSON
    document with ``config``, ``sources`` and ``notes``."""
    if as_json:
        document = {
            "config": shown_config(resolved),
            "sources": {key: str(source) for key, source in resolved.sources.items()},
            "notes": resolved.notes,
        }
        print(msgspec.json.encode(document).decode())
    else:
        print(format_config(resolved))


def shown_config(resolved: Resolved) -> dict[str, Any]:
    """The configuration as plain values, database URLs without passwords."""
    plain: dict[str, Any] = msgspec.to_builtins(resolved.config)
    for options in plain["databases"].values():
        url = options["url"]
        # Only a URL with credentials: redact_dsn writes sqlite:/// as sqlite:/.
        if "@" in url or "password=" in url.lower():
            options["url"] = redact_dsn(url)
    return plain


def format_config(resolved: Resolved) -> str:
    """One aligned line per value (key, JSON value, source), then the notes."""
    rows = [
        (key, msgspec.json.encode(value).decode(), str(resolved.sources.get(key, "")))
        for key, value in _leaves(shown_config(resolved), ())
    ]
    key_width = max(len(key) for key, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    lines = [
        f"{key:<{key_width}}  {value:<{value_width}}  {source}".rstrip()
        for key, value, source in rows
    ]
    lines.extend(f"note: {note}" for note in resolved.notes)
    return "\n".join(lines)


def _leaves(table: dict[str, Any], key: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """Each value that is no table, by dotted key path, URLs first in a table."""
    for name in sorted(table, key=lambda name: name != "url"):
        value = table[name]
        if isinstance(value, dict):
            yield from _leaves(value, (*key, name))
        else:
            yield ".".join((*key, name)), value
