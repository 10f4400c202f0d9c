"""Signed tokens for the shop's HTTP front: HMAC-SHA256, the standard library only.

A token is ``<claims>.<signature>``, both base64url without padding. The claims
are JSON: ``{"sub": "ada", "perms": ["orders:read"], "exp": 1767225600}``; the
signature is the HMAC-SHA256 of the claims' base64 text, keyed with the shop's
secret. :meth:`Tokens.verify` checks the signature (in constant time) and the
expiry, and gives a :class:`glue.Actor`; anything else is
:class:`glue.Unauthenticated`.

The secret is ``SHOP_TOKEN_SECRET`` (:func:`tokens_from_env`); without it the
shop signs with a development secret, fine for the demo and for nothing else.
Issue a token from the command line::

    python -m domains.shop.auth ada orders:admin orders:read
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import sys
import time
from typing import TYPE_CHECKING

import msgspec

from glue import Actor, Unauthenticated

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = ["DEV_SECRET", "SECRET_ENV", "Claims", "Tokens", "tokens_from_env"]

SECRET_ENV = "SHOP_TOKEN_SECRET"
"""The environment variable holding the secret tokens are signed with."""

DEV_SECRET = "shop-development-secret"
"""The secret when the environment gives none: for the demo only."""


class Claims(msgspec.Struct, frozen=True):
    """What a token says.

    Attributes:
        sub: the actor's id.
        perms: its permissions.
        exp: when the token expires, in seconds since the epoch.
    """

    sub: str
    perms: list[str]
    exp: float


_claims = msgspec.json.Decoder(Claims)


class Tokens:
    """Issues and verifies the shop's signed tokens.

    Args:
        secret: the signing key.
        clock: the time in seconds since the epoch (``time.time``).
    """

    def __init__(
        self, secret: str | bytes, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = secret.encode() if isinstance(secret, str) else secret
        self._clock = clock

    def issue(
        self, actor_id: str, permissions: Iterable[str] = (), *, ttl: float = 3600
    ) -> str:
        """A token for ``actor_id`` holding ``permissions``, good for ``ttl``
        seconds."""
        claims = Claims(
            sub=actor_id, perms=sorted(permissions), exp=self._clock() + ttl
        )
        body = _b64(msgspec.json.encode(claims))
        return f"{body}.{_b64(self._sign(body))}"

    def verify(self, token: str) -> Actor:
        """The actor a token names.

        Raises:
            glue.Unauthenticated: a malformed, forged or expired token.
        """
        body, _, signature = token.partition(".")
        try:
            given = base64.urlsafe_b64decode(_padded(signature))
            claims = _claims.decode(base64.urlsafe_b64decode(_padded(body)))
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise Unauthenticated("the token is malformed") from None
        if not hmac.compare_digest(given, self._sign(body)):
            raise Unauthenticated("the token's signature does not verify")
        if claims.exp <= self._clock():
            raise Unauthenticated("the token has expired: get a new one")
        return Actor(id=claims.sub, permissions=frozenset(claims.perms))

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()


def tokens_from_env(environ: Mapping[str, str] | None = None) -> Tokens:
    """The shop's tokens, signed with ``SHOP_TOKEN_SECRET`` (or the
    development secret when it is unset)."""
    env = os.environ if environ is None else environ
    return Tokens(env.get(SECRET_ENV) or DEV_SECRET)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m domains.shop.auth ACTOR [PERMISSION ...]``: print a token,
    good for an hour."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stderr.write("usage: python -m domains.shop.auth ACTOR [PERMISSION ...]\n")
        return 2
    sys.stdout.write(tokens_from_env().issue(args[0], args[1:]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
