"""Bounded, lazy concurrency over an iterable: knows nothing of Telnyx or HTTP.

``bounded_map`` runs ``fetch(item)`` for each item with a fixed pool of worker
tasks (never one task per item), yields ``(item, result)`` as results
complete, and pulls items only as results are consumed, so its memory does not
grow with the input. It owns its tasks: leaving the loop early, an error, or
cancellation cancels and awaits every one of them before it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from typing import Final, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound=BaseException)

_WORKER_DONE: Final = object()


class _Failure:
    """An exception that must end the whole run, carried from a worker to the consumer."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Source(Generic[T]):
    """Hands items to workers one at a time from a sync or async iterable."""

    def __init__(self, items: Iterable[T] | AsyncIterable[T]) -> None:
        self._sync = iter(items) if isinstance(items, Iterable) else None
        self._async = aiter(items) if self._sync is None else None  # type: ignore[arg-type]
        self._lock = asyncio.Lock()
        self.exhausted = False

    async def next(self) -> tuple[bool, T | None]:
        """Return ``(True, item)``, or ``(False, None)`` once the input is exhausted."""
        if self.exhausted:
            return False, None
        if self._sync is not None:
            for item in self._sync:  # a plain next() without a StopIteration on the hot path
                return True, item
            self.exhausted = True
            return False, None
        # An async generator may not be advanced by two tasks at once.
        async with self._lock:
            if self.exhausted:
                return False, None
            try:
                return True, await anext(self._async)  # type: ignore[arg-type]
            except StopAsyncIteration:
                self.exhausted = True
                return False, None


async def bounded_map(
    items: Iterable[T] | AsyncIterable[T],
    fetch: Callable[[T], Awaitable[R]],
    *,
    concurrency: int,
    capture: type[E] | tuple[type[E], ...] = (),
) -> AsyncGenerator[tuple[T, R | E], None]:
    """Yield ``(item, fetch(item))`` in completion order, at most ``concurrency`` at once.

    Args:
        items: any iterable or async iterable, consumed lazily: at most
            ``concurrency`` items are pulled beyond what has been yielded.
        fetch: the coroutine function run for each item.
        concurrency: the number of worker tasks, so the most ``fetch`` calls in flight.
        capture: exception types yielded as the item's result; any other exception
            (from ``fetch`` or from the input) cancels the rest and is raised as is.

    Example:
        >>> async for item, result in bounded_map(range(10), work, concurrency=4):  # doctest: +SKIP
        ...     print(item, result)
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
    source: _Source[T] = _Source(items)
    results: asyncio.Queue[object] = asyncio.Queue()
    # One token per item pulled but not yet yielded: the bound on read-ahead.
    tokens = asyncio.Semaphore(concurrency)

    workers: list[asyncio.Task[None]] = []
    running = 0

    def spawn() -> None:
        nonlocal running
        workers.append(asyncio.create_task(worker()))
        running += 1

    async def worker() -> None:
        try:
            while True:
                await tokens.acquire()
                more, item = await source.next()
                if not more:
                    tokens.release()
                    return
                # Workers are started one at a time as items turn up, so a short
                # input never costs `concurrency` tasks.
                if len(workers) < concurrency:
                    spawn()
                try:
                    result: object = await fetch(item)  # type: ignore[arg-type]
                except capture as exc:
                    result = exc
                results.put_nowait((item, result))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, which re-raises it
            results.put_nowait(_Failure(exc))
        finally:
            results.put_nowait(_WORKER_DONE)

    spawn()
    try:
        while running:
            entry = await results.get()
            if entry is _WORKER_DONE:
                running -= 1
            elif type(entry) is _Failure:
                raise entry.exc
            else:
                yield entry  # type: ignore[misc]
                tokens.release()
    finally:
        for task in workers:
            task.cancel()
        # Awaited, not just cancelled: no task may outlive the iteration.
        await asyncio.gather(*workers, return_exceptions=True)
