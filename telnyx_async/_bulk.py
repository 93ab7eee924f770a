"""Bounded, lazy concurrency over an iterable: knows nothing of Telnyx or HTTP.

Both entry points run ``fetch(item)`` with a fixed pool of worker tasks (never
one task per item; workers start one at a time as items turn up, so a short
input never costs ``concurrency`` tasks) and own their tasks: an error, leaving
early, or cancellation cancels and awaits every one of them before returning.

- ``bounded_map`` yields ``(item, result)`` as results complete and pulls items
  only as results are consumed (at most ``2 * concurrency`` ahead), so its
  memory does not grow with the input.
- ``bounded_each`` hands each result to a callback, with no consumer in between:
  the cheaper engine when every result is kept anyway (``gather_many``).

Per item the hot path is plain attribute and deque operations, one ``await
fetch(item)`` and at most one future: no queue, semaphore or lock for a sync
input, since workers share one thread and take turns only at ``await``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Any, Final, TypeVar

from ._checks import positive_int

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound=BaseException)

_DONE: Final[Any] = object()
"""Returned by the source when the input is exhausted (an input can never contain it)."""
_WORKER_DONE: Final = object()


class _Failure:
    """An exception that must end the whole run, carried from a worker to the consumer."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def cancel_and_wait(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and wait until each has finished; their outcomes are dropped."""
    for task in tasks:
        task.cancel()
    # Awaited, not just cancelled: no task may outlive the call.
    await asyncio.gather(*tasks, return_exceptions=True)


async def bounded_map(
    items: Iterable[T] | AsyncIterable[T],
    fetch: Callable[[T], Awaitable[R]],
    *,
    concurrency: int,
    capture: type[E] | tuple[type[E], ...] = (),
    fatal: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> AsyncGenerator[tuple[T, R | E], None]:
    """Yield ``(item, fetch(item))`` in completion order, at most ``concurrency`` at once.

    Args:
        items: any iterable or async iterable, consumed lazily: at most
            ``2 * concurrency`` items are pulled beyond what has been yielded
            (``concurrency`` in flight, and at most as many again completed and
            waiting for the consumer).
        fetch: the coroutine function run for each item.
        concurrency: the number of worker tasks, so the most ``fetch`` calls in flight.
        capture: exception types yielded as the item's result; any other exception
            (from ``fetch`` or from the input) cancels the rest and is raised as is.
        fatal: exception types that end the run even when ``capture`` covers them
            (an error that every other item would meet too).

    Examples:
        >>> async for item, result in bounded_map(range(10), work, concurrency=4):  # doctest: +SKIP
        ...     print(item, result)
    """
    positive_int("concurrency", concurrency)
    loop = asyncio.get_running_loop()
    sync_items: Iterator[T] | None = iter(items) if isinstance(items, Iterable) else None
    async_items = aiter(items) if isinstance(items, AsyncIterable) and sync_items is None else None
    lock = asyncio.Lock()  # an async generator may not be advanced by two tasks at once
    ready: deque[Any] = deque()
    consumer: asyncio.Future[None] | None = None
    parked: deque[asyncio.Future[None]] = deque()
    # Items pulled and not yet yielded, bounded by read_ahead. The slack beyond
    # `concurrency` lets a worker that has just delivered a result start the next
    # request at once instead of waiting for the consumer to run first: with a
    # bound of exactly `concurrency`, every item cost a park and a wake-up.
    outstanding = 0
    read_ahead = 2 * concurrency
    workers: list[asyncio.Task[None]] = []
    running = 0

    def deliver(entry: object) -> None:
        nonlocal consumer
        ready.append(entry)
        waiter, consumer = consumer, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_async() -> Any:
        assert async_items is not None
        async with lock:
            try:
                return await anext(async_items)
            except StopAsyncIteration:
                return _DONE

    async def worker() -> None:
        nonlocal outstanding
        try:
            while True:
                if outstanding >= read_ahead:
                    slot = loop.create_future()
                    parked.append(slot)
                    await slot
                    continue
                outstanding += 1  # reserved before pulling, so awaits cannot overshoot
                item = next(sync_items, _DONE) if sync_items is not None else await next_async()
                if item is _DONE:
                    outstanding -= 1
                    return
                if len(workers) < concurrency:
                    spawn()
                try:
                    result: object = await fetch(item)
                except fatal:
                    raise
                except capture as exc:
                    result = exc
                deliver((item, result))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, which re-raises it
            deliver(_Failure(exc))
        finally:
            deliver(_WORKER_DONE)

    def spawn() -> None:
        nonlocal running
        workers.append(loop.create_task(worker()))
        running += 1

    spawn()
    try:
        while running:
            if not ready:
                consumer = loop.create_future()
                await consumer
                continue
            entry = ready.popleft()
            if entry is _WORKER_DONE:
                running -= 1
            elif type(entry) is _Failure:
                raise entry.exc
            else:
                yield entry
                outstanding -= 1
                while parked:
                    slot = parked.popleft()
                    if not slot.done():
                        slot.set_result(None)
                        break
    finally:
        await cancel_and_wait(workers)


async def bounded_each(
    items: Iterable[T],
    fetch: Callable[[T], Awaitable[R]],
    sink: Callable[[T, Any], object],  # receives R, or E when captured
    *,
    concurrency: int,
    capture: type[E] | tuple[type[E], ...] = (),
    fatal: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> None:
    """Call ``sink(item, fetch(item))`` for every item, at most ``concurrency`` at once.

    Returns when every item is done. An exception not in ``capture``, or in
    ``fatal``, cancels the other workers and is raised as is (not wrapped in an
    ``ExceptionGroup``).
    """
    positive_int("concurrency", concurrency)
    loop = asyncio.get_running_loop()
    source = iter(items)
    finished: asyncio.Future[None] = loop.create_future()
    workers: list[asyncio.Task[None]] = []
    running = 0

    async def worker() -> None:
        nonlocal running
        try:
            for item in source:
                if len(workers) < concurrency:
                    spawn()
                try:
                    result: object = await fetch(item)
                except fatal:
                    raise
                except capture as exc:
                    result = exc
                sink(item, result)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the first failure ends the run
            if not finished.done():
                finished.set_exception(exc)
        finally:
            running -= 1
            if not running and not finished.done():
                finished.set_result(None)

    def spawn() -> None:
        nonlocal running
        workers.append(loop.create_task(worker()))
        running += 1

    spawn()
    try:
        await finished
    finally:
        await cancel_and_wait(workers)
