"""`RowStream`: a query's rows, fetched a batch at a time, that never outlives its turn.

A connection runs one operation at a time. A stream left unfinished (the caller
broke out of ``async for``) is ended by the connection's next operation, so an
abandoned stream never holds a cursor or a transaction open, and never races the
statement that follows it. Async generators cannot promise that: the event loop
closes an abandoned one later, in another task.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType
    from typing import Self

__all__ = ["RowStream"]

_Row = tuple[Any, ...]


class RowStream:
    """An async iterator over a query's rows, as tuples, ``batch_size`` at a time.

    Close it early with ``await stream.aclose()`` or ``async with``; otherwise the
    connection's next operation closes it.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[list[_Row]]],
        finish: Callable[[], Awaitable[None]],
        *,
        batch_size: int,
    ) -> None:
        """Wrap a driver's batch fetcher.

        Args:
            fetch: returns the next batch; fewer than ``batch_size`` rows means
                the last batch.
            finish: releases the cursor (and the transaction opened for it);
                called exactly once.
            batch_size: rows per fetch.
        """
        self._fetch = fetch
        self._finish = finish
        self._batch_size = batch_size
        self._rows: deque[_Row] = deque()
        self._last = False
        self._finished = False

    @property
    def finished(self) -> bool:
        """Whether the stream was read to the end or closed."""
        return self._finished

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _Row:
        if not self._rows and not self._last and not self._finished:
            try:
                batch = await self._fetch()
            except BaseException:
                await self.aclose()
                raise
            self._rows.extend(batch)
            self._last = len(batch) < self._batch_size
        if self._rows:
            return self._rows.popleft()
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Release the cursor now. Closing twice does nothing."""
        if self._finished:
            return
        self._finished = True
        self._rows.clear()
        with anyio.CancelScope(shield=True):
            await self._finish()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
