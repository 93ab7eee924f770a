"""The bounded, lazy bulk engine, against a fake fetch coroutine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing

import pytest

from telnyx_async._bulk import bounded_each, bounded_map


class Probe:
    """A fake fetch that counts calls in flight and can be held until released."""

    def __init__(self, *, delay: float = 0.0, fail: set[int] | None = None) -> None:
        self.delay = delay
        self.fail = fail or set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[int] = []
        self.cancelled = 0
        self._changed = asyncio.Event()

    async def until_in_flight(self, n: int) -> None:
        """Wait until ``n`` fetches are in flight at once (an event, not a timed sleep)."""
        async with asyncio.timeout(10):
            while self.in_flight < n:
                self._changed.clear()
                await self._changed.wait()

    async def __call__(self, item: int) -> str:
        self.calls.append(item)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._changed.set()
        try:
            # Later items finish first, so completion order differs from input order.
            await asyncio.sleep(self.delay * (1 + (item % 3 == 0)))
            if item in self.fail:
                raise LookupError(f"item {item}")
            return f"r{item}"
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1


def _engine_tasks() -> list[asyncio.Task[object]]:
    """Tasks still alive other than the test's own."""
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


async def test_yields_every_item_once_in_completion_order() -> None:
    """Every item comes back once, paired with its own result."""
    probe = Probe(delay=0.001)
    seen = [pair async for pair in bounded_map(range(30), probe, concurrency=4)]
    assert sorted(seen) == sorted((i, f"r{i}") for i in range(30))
    assert [i for i, _ in seen] != list(range(30))  # completion order, not input order


async def test_never_more_than_concurrency_in_flight() -> None:
    """The high-water mark of concurrent fetches equals the concurrency."""
    probe = Probe(delay=0.001)
    async for _ in bounded_map(range(100), probe, concurrency=7):
        pass
    assert probe.max_in_flight == 7


async def test_short_input_starts_only_the_workers_it_needs() -> None:
    """Three items with concurrency 50 never run 50 tasks."""
    probe = Probe(delay=0.001)
    peak_tasks = 0
    async for _ in bounded_map(range(3), probe, concurrency=50):
        peak_tasks = max(peak_tasks, len(_engine_tasks()))
    assert peak_tasks <= 3
    assert probe.calls == [0, 1, 2]


async def test_input_is_pulled_lazily() -> None:
    """At most 2 x `concurrency` items are pulled beyond those yielded, however slow the loop."""
    pulled = 0

    def ids() -> Iterator[int]:
        nonlocal pulled
        for i in range(10_000_000):
            pulled += 1
            yield i

    yielded = 0
    async with aclosing(bounded_map(ids(), Probe(), concurrency=5)) as results:
        async for _ in results:
            yielded += 1
            await asyncio.sleep(0)  # a consumer slower than the fetches
            assert pulled - yielded <= 10
            if yielded == 200:
                break
    assert pulled <= 210


async def test_async_iterable_input() -> None:
    """An async generator is consumed safely by several workers."""

    async def ids() -> AsyncIterator[int]:
        for i in range(50):
            await asyncio.sleep(0)
            yield i

    probe = Probe(delay=0.001)
    seen = {i async for i, _ in bounded_map(ids(), probe, concurrency=8)}
    assert seen == set(range(50))
    assert probe.max_in_flight == 8


async def test_captured_errors_are_yielded_and_the_rest_goes_on() -> None:
    """An exception of a captured type is the item's result; other items still complete."""
    probe = Probe(fail={3, 7})
    results = dict(
        [pair async for pair in bounded_map(range(10), probe, concurrency=3, capture=LookupError)]
    )
    assert isinstance(results[3], LookupError)
    assert isinstance(results[7], LookupError)
    assert results[5] == "r5"
    assert len(results) == 10


async def test_uncaptured_error_cancels_the_rest_and_is_raised_as_is() -> None:
    """Fail-fast: the original exception (not a group) propagates; no task survives."""
    probe = Probe(delay=0.01, fail={2})
    with pytest.raises(LookupError, match="item 2"):
        async for _ in bounded_map(range(100), probe, concurrency=5):
            pass
    assert probe.cancelled >= 1
    assert len(probe.calls) < 100
    assert _engine_tasks() == []


async def test_error_from_the_input_is_raised() -> None:
    """An exception raised by the input iterator ends the run and reaches the consumer."""

    def ids() -> Iterator[int]:
        yield 1
        raise OSError("ids file vanished")

    with pytest.raises(OSError, match="vanished"):
        async for _ in bounded_map(ids(), Probe(delay=0.01), concurrency=3):
            pass
    assert _engine_tasks() == []


async def test_break_with_aclosing_cancels_in_flight_at_once() -> None:
    """Leaving the loop inside aclosing cancels and awaits every worker before returning."""
    probe = Probe(delay=10.0)
    async with aclosing(bounded_map(range(1000), probe, concurrency=10)) as results:
        task = asyncio.ensure_future(anext(results))
        await probe.until_in_flight(10)
        assert probe.in_flight == 10
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert probe.in_flight == 0
    assert _engine_tasks() == []


async def test_plain_break_leaves_no_task_behind() -> None:
    """Without aclosing, the abandoned generator is finalised by the loop soon after."""
    probe = Probe(delay=0.001)
    async for _ in bounded_map(range(1000), probe, concurrency=10):
        break
    async with asyncio.timeout(10):  # the loop finalises the generator a few steps later
        while _engine_tasks():  # noqa: ASYNC110 - no event marks the loop's finalisation
            await asyncio.sleep(0)
    assert _engine_tasks() == []
    assert probe.in_flight == 0


async def test_cancelling_the_consumer_cancels_the_workers() -> None:
    """A cancelled consumer task takes every in-flight fetch down with it."""
    probe = Probe(delay=10.0)

    async def consume() -> None:
        async for _ in bounded_map(range(1000), probe, concurrency=6):
            pass

    consumer = asyncio.create_task(consume())
    await probe.until_in_flight(6)
    assert probe.in_flight == 6
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert probe.cancelled == 6
    assert _engine_tasks() == []


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5])
async def test_concurrency_must_be_a_positive_int(concurrency: int) -> None:
    """Nonsense concurrency is a ValueError at the first step."""
    with pytest.raises(ValueError, match="concurrency"):
        await anext(bounded_map(range(3), Probe(), concurrency=concurrency))


async def test_empty_input() -> None:
    """No items: the iteration ends at once without calling fetch."""
    probe = Probe()
    empty: list[int] = []
    assert [pair async for pair in bounded_map(empty, probe, concurrency=4)] == []
    assert probe.calls == []


async def test_each_calls_the_sink_for_every_item_within_the_bound() -> None:
    """bounded_each hands every result to the sink, never exceeding the concurrency."""
    probe = Probe(delay=0.001)
    seen: dict[int, str] = {}
    await bounded_each(range(60), probe, seen.__setitem__, concurrency=6)
    assert seen == {i: f"r{i}" for i in range(60)}
    assert probe.max_in_flight == 6


async def test_each_captures_or_fails_fast() -> None:
    """Captured errors reach the sink; any other error cancels the rest and is raised as is."""
    seen: dict[int, str | LookupError] = {}
    await bounded_each(
        range(10), Probe(fail={4}), seen.__setitem__, concurrency=3, capture=LookupError
    )
    assert isinstance(seen[4], LookupError)
    assert len(seen) == 10

    probe = Probe(delay=0.01, fail={1})
    with pytest.raises(LookupError, match="item 1"):
        await bounded_each(range(100), probe, lambda i, r: None, concurrency=4)
    assert probe.cancelled >= 1
    assert len(probe.calls) < 100
    assert _engine_tasks() == []


async def test_each_cancelled_caller_takes_its_workers_down() -> None:
    """Cancelling the awaiting task cancels every worker and leaves none behind."""
    probe = Probe(delay=10.0)
    task = asyncio.ensure_future(bounded_each(range(100), probe, lambda i, r: None, concurrency=5))
    await probe.until_in_flight(5)
    assert probe.in_flight == 5
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert probe.cancelled == 5
    assert _engine_tasks() == []


async def test_each_on_empty_input_returns_at_once() -> None:
    """No items: no fetch, no sink call."""
    probe = Probe()
    calls: list[object] = []
    await bounded_each([], probe, lambda i, r: calls.append(r), concurrency=3)
    assert probe.calls == []
    assert calls == []


async def test_async_input_read_ahead_is_bounded() -> None:
    """With an async iterable too, pulled minus yielded never exceeds 2 x concurrency."""
    pulled = 0

    async def ids() -> AsyncIterator[int]:
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield i

    yielded = 0
    async with aclosing(bounded_map(ids(), Probe(), concurrency=4)) as results:
        async for _ in results:
            yielded += 1
            await asyncio.sleep(0)
            assert pulled - yielded <= 8
            if yielded == 100:
                break
