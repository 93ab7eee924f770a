"""The transport's count of free pooled connections: first come, first served, nothing lost."""

from __future__ import annotations

import asyncio

from telnyx_async._slots import Slots


async def _take(slots: Slots) -> None:
    """What Transport.get does to take a slot."""
    if slots.free:
        slots.free -= 1
    else:
        await slots.wait()


def _give_back(slots: Slots) -> None:
    """What Transport.get does to give one back."""
    if slots.waiting:
        slots.release()
    else:
        slots.free += 1


async def test_free_slots_are_taken_without_waiting() -> None:
    slots = Slots(2)
    await _take(slots)
    await _take(slots)
    assert slots.free == 0
    assert not slots.waiting
    _give_back(slots)
    _give_back(slots)
    assert slots.free == 2


async def test_waiters_get_released_slots_in_arrival_order() -> None:
    slots = Slots(1)
    await _take(slots)
    order: list[int] = []

    async def waiter(n: int) -> None:
        await _take(slots)
        order.append(n)

    tasks = [asyncio.create_task(waiter(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert len(slots.waiting) == 3
    for _ in range(3):
        _give_back(slots)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    # Each released slot went to a waiter, never to `free` while one waited.
    assert slots.free == 0
    _give_back(slots)
    assert slots.free == 1


async def test_a_newcomer_does_not_jump_the_queue() -> None:
    slots = Slots(1)
    await _take(slots)
    first = asyncio.create_task(_take(slots))
    await asyncio.sleep(0)
    _give_back(slots)  # handed to `first`, which has not run yet
    assert slots.free == 0  # so a newcomer now must wait
    assert first.done() is False
    await first
    assert slots.free == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_loses_no_slot() -> None:
    slots = Slots(1)
    await _take(slots)
    gone = asyncio.create_task(_take(slots))
    stays = asyncio.create_task(_take(slots))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    assert gone.cancelled()
    assert len(slots.waiting) == 1
    _give_back(slots)
    await stays
    _give_back(slots)
    assert slots.free == 1
    assert not slots.waiting


async def test_a_waiter_cancelled_after_being_handed_a_slot_passes_it_on() -> None:
    slots = Slots(1)
    await _take(slots)
    handed = asyncio.create_task(_take(slots))
    nxt = asyncio.create_task(_take(slots))
    await asyncio.sleep(0)
    _give_back(slots)  # `handed` gets the slot ...
    handed.cancel()  # ... and is cancelled before it runs
    await asyncio.sleep(0)
    assert handed.cancelled()
    await asyncio.wait_for(nxt, 1.0)  # the slot went on to the next waiter
    _give_back(slots)
    assert slots.free == 1


async def test_a_cancelled_waiter_already_dropped_by_release_is_not_removed_twice() -> None:
    slots = Slots(1)
    await _take(slots)
    gone = asyncio.create_task(_take(slots))
    await asyncio.sleep(0)
    gone.cancel()
    # Released before the cancelled task runs: release() drops its done waiter.
    _give_back(slots)
    assert slots.free == 1
    await asyncio.sleep(0)
    assert gone.cancelled()  # a ValueError from removing it again would show here
    assert slots.free == 1
