"""One object per running event loop (asyncio connections and tasks belong to one
loop: a server process runs one, the test suite one per test)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._items: dict[asyncio.AbstractEventLoop, T] = {}

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)
        if item is None:
            for other in [lp for lp in self._items if lp.is_closed()]:
                del self._items[other]
            item = self._items[loop] = self._factory()
        return item

    def pop(self) -> T | None:
        """Forget this loop's object and return it (to be closed by the caller)."""
        return self._items.pop(asyncio.get_running_loop(), None)
