"""ETag and If-Match headers ↔ row etags.

A row of a versioned table carries an ``etag`` column that changes on every
write (S15). A single-row read answers with it as a strong entity tag
(``ETag: "3f2a..."``); a write that changes that row sends it back as
``If-Match``, and the HTTP front passes it to the command as
``ctx.meta.if_match`` for the handler to give the state manager
(``ctx.state.update(..., etag=ctx.meta.if_match)``), which raises
`glue.StaleEtag` (412) when the row changed since.

Etags are compared strongly (RFC 9110): a weak tag (``W/"..."``) never
matches, so it fails as stale; ``*`` and lists of tags name no one row, and
are refused (400).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException

__all__ = ["format_etag", "none_match", "parse_if_match"]


def format_etag(etag: str) -> str:
    """The ``ETag`` header value of a row's etag: ``"<etag>"``."""
    return f'"{etag}"'


def parse_if_match(header: str | None) -> str | None:
    """The row etag an ``If-Match`` header names, or None when it is absent.

    Raises:
        starlette.exceptions.HTTPException: 400, the header names no single
            strong entity tag (``*``, a list, or an empty value).
    """
    if header is None:
        return None
    value = header.strip()
    if value.startswith("W/"):
        # A weak tag never matches strongly: give it through, as stale.
        return value
    if not value or value == "*" or "," in value:
        raise HTTPException(
            400,
            "If-Match names the one row version a command changes: give the "
            'ETag of that row ("...") as it was read',
        )
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def none_match(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches the row's etag (then a read
    answers 304 Not Modified). Compared weakly, as RFC 9110 says."""
    if header is None:
        return False
    for tag in header.split(","):
        tag = tag.strip().removeprefix("W/")
        if tag == "*" or tag.strip('"') == etag:
            return True
    return False
