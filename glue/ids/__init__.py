"""Keys a handler can have before the flush, without asking the database each time.

- `new_id()`: a time-ordered UUID (version 7), made in memory.
- `Ids` and `IdAllocator`: integer ids, reserved in the database a block at a time
  (a PostgreSQL sequence, or a counter table on either database).
"""

from __future__ import annotations

from .blocks import COUNTERS_TABLE as COUNTERS_TABLE
from .blocks import DEFAULT_BLOCK as DEFAULT_BLOCK
from .blocks import IdAllocator as IdAllocator
from .blocks import Ids as Ids
from .blocks import Store as Store
from .uuid7 import UUID7Generator as UUID7Generator
from .uuid7 import new_id as new_id

__all__ = [
    "COUNTERS_TABLE",
    "DEFAULT_BLOCK",
    "IdAllocator",
    "Ids",
    "Store",
    "UUID7Generator",
    "new_id",
]
