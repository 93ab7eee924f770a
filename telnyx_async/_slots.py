"""A first-come first-served count of free pooled connections, for the transport.

The transport holds a slot while aiohttp sends one attempt, so that an attempt's
timeout starts once a pooled connection is free (aiohttp's own ``total``
timeout would also count the time queued for one). ``asyncio.Semaphore`` does
the same job, but costs five Python calls per request even when a slot is free
(``acquire``, ``locked`` and its generator, ``release``, ``_wake_up_next``);
here the free case is two attribute updates the caller makes inline:

    if slots.free:
        slots.free -= 1
    else:
        await slots.wait()
    try:
        ...
    finally:
        if slots.waiting:
            slots.release()
        else:
            slots.free += 1

A released slot goes straight to the longest waiter, never back to ``free``
while someone waits: so ``free > 0`` means that no one is waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    """``free`` slots now, and the waiters for one in arrival order."""

    __slots__ = ("free", "waiting")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiting: deque[asyncio.Future[None]] = deque()

    async def wait(self) -> None:
        """Wait for a slot handed over by ``release`` (call only when ``free`` is 0)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot in the same instant: pass it on
            elif waiter in self.waiting:  # release() may have dropped it already
                self.waiting.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back: to the longest waiter still waiting, else to ``free``."""
        waiting = self.waiting
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1
