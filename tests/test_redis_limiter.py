"""RedisRateLimiter against a real redis-server: the shared schedule, pause, rate and fallback.

Two limiters on one key stand for two processes (each has its own connections
and its own in-process state). Sleeping is faked (``SleepRecorder``): the
waits asked for are the schedule Redis handed out. Redis computes them on its
own clock, which runs on in real time between the calls; so each test reads
that clock (``TIME``) before and after the steps it compares, and a wait must
lie between what it would be had no time passed and that minus the time that
did pass: no fixed slack that a loaded machine could outrun. Schedules are slow
(slots seconds apart) where a stall longer than one slot would change them.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from benchmarks.redis_server import RedisServer, free_port
from telnyx_async import RedisRateLimiter

from .conftest import SleepRecorder

ROUNDING = 1e-5
"""The scripts answer in microseconds (six decimals): error in a wait or a sum of them."""


async def redis_now(store: redis.asyncio.Redis) -> float:
    """Redis' clock (``TIME``): the one its scripts compute every wait on.

    Redis runs one command at a time, so every script run between two readings
    read a time between them.
    """
    seconds, micros = await store.time()
    return seconds + micros / 1e6


def waited(actual: float, expected: float, elapsed: float) -> bool:
    """Whether ``actual`` is a wait of ``expected`` s less some of ``elapsed`` s, no more."""
    return expected - elapsed - ROUNDING <= actual <= expected + ROUNDING


def waits(actual: list[float], expected: list[float], elapsed: float) -> bool:
    """``waited`` for each of a list, as long as the expected one."""
    return len(actual) == len(expected) and all(
        waited(a, e, elapsed) for a, e in zip(actual, expected, strict=True)
    )


@pytest.fixture
def key() -> str:
    """A key of its own for each test: no state shared between tests."""
    return f"test:{uuid.uuid4()}"


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client of the test Redis, to read and set the shared state."""
    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


def limiter(url: str, key: str, sleeps: SleepRecorder, **kwargs: float) -> RedisRateLimiter:
    """A limiter whose sleeps are recorded, not slept."""
    rate = kwargs.pop("rate", 2.0)
    return RedisRateLimiter(url, rate=rate, key=key, clock=sleeps.clock, sleep=sleeps, **kwargs)


async def test_two_processes_share_one_schedule(
    redis_server: RedisServer, key: str, sleeps: SleepRecorder, store: redis.asyncio.Redis
) -> None:
    """Requests of two limiters on one key take consecutive slots of one schedule (one per 10 s)."""
    async with (
        limiter(redis_server.url, key, sleeps, rate=0.1) as a,
        limiter(redis_server.url, key, sleeps, rate=0.1) as b,
    ):
        start = await redis_now(store)
        for lim in (a, b, a, b):
            assert await lim.acquire(max_wait=60) == 0.0
        elapsed = await redis_now(store) - start
        assert waits(sleeps.delays, [10.0, 20.0, 30.0], elapsed), (sleeps.delays, elapsed)
        assert a.stats.shared == b.stats.shared == 2
        assert a.sharing


async def test_another_key_is_another_schedule(
    redis_server: RedisServer, key: str, sleeps: SleepRecorder
) -> None:
    """Two accounts (two keys) do not slow each other down."""
    async with (
        limiter(redis_server.url, key, sleeps) as a,
        limiter(redis_server.url, key + ":other", sleeps) as b,
    ):
        await a.acquire(max_wait=60)
        await b.acquire(max_wait=60)
        assert sleeps.delays == []


async def test_a_wait_over_max_wait_books_nothing(
    redis_server: RedisServer, key: str, sleeps: SleepRecorder, store: redis.asyncio.Redis
) -> None:
    """Over ``max_wait`` the wait is returned and no slot is taken: asking again needs the same."""
    async with limiter(redis_server.url, key, sleeps, rate=0.1) as a:
        start = await redis_now(store)
        assert await a.acquire(max_wait=60) == 0.0
        first = await a.acquire(max_wait=0.1)
        second = await a.acquire(max_wait=0.1)
        elapsed = await redis_now(store) - start
        assert waited(first, 10.0, elapsed), (first, elapsed)
        # The same slot, a little closer: had the first booked it, 20 s.
        assert waited(second, 10.0, elapsed), (second, elapsed)
        assert second <= first
        assert sleeps.delays == []


async def test_one_round_trip_books_every_waiting_request(
    redis_server: RedisServer, key: str, sleeps: SleepRecorder, store: redis.asyncio.Redis
) -> None:
    """Twenty requests waiting at once are booked in one round trip, one slot each.

    The schedule moves past all twenty (at 2/s, the next slot is 10 s away), and
    asking with a shorter ``max_wait`` books nothing and moves nothing.
    """
    async with limiter(redis_server.url, key, sleeps, rate=2.0) as a:
        start = await redis_now(store)
        waiting = await asyncio.gather(*(a.acquire(max_wait=60) for _ in range(20)))
        assert waiting == [0.0] * 20
        assert a.stats.round_trips == 1
        # One reply: the waits of the batch are read from one instant of Redis' clock.
        assert sorted(sleeps.delays) == pytest.approx([i / 2 for i in range(1, 20)], abs=ROUNDING)
        first = await a.acquire(max_wait=0.1)
        second = await a.acquire(max_wait=0.1)
        elapsed = await redis_now(store) - start
        assert waited(first, 10.0, elapsed), (first, elapsed)
        assert waited(second, 10.0, elapsed), (second, elapsed)
        assert second <= first


async def test_a_429_seen_by_one_process_pauses_every_process(
    redis_server: RedisServer, key: str, sleeps: SleepRecorder, store: redis.asyncio.Redis
) -> None:
    """One process's 429 (x-ratelimit-reset: 5) makes the others wait 5 s too."""
    async with (
        limiter(redis_server.url, key, sleeps) as a,
        limiter(redis_server.url, key, sleeps) as b,
    ):
        start = await redis_now(store)
        await a.observe(429, {"x-ratelimit-reset": "5", "x-ratelimit-remaining": "0"})
        need = await b.acquire(max_wait=1.0)
        assert await b.acquire(max_wait=60) == 0.0
        elapsed = await redis_now(store) - start
        assert waited(need, 5.0, elapsed), (need, elapsed)
        assert waits(sleeps.delays, [5.0], elapsed), (sleeps.delays, elapsed)
        assert sleeps.delays[0] <= need  # the same pause's end, a little later


async def test_retry_after_wins_over_the_window_reset(
    redis_server: RedisServer, key: str, sleeps: SleepRecorder, store: redis.asyncio.Redis
) -> None:
    """A 429's ``Retry-After`` is the fleet's pause when there is one."""
    async with (
        limiter(redis_server.url, key, sleeps) as a,
        limiter(redis_server.url, key, sleeps) as b,
    ):
        start = await redis_now(store)
        await a.observe(429, {"Retry-After": "7", "x-ratelimit-reset": "2"})
        need = await b.acquire(max_wait=1.0)
        elapsed = await redis_now(store) - start
        assert waited(need, 7.0, elapsed), (need, elapsed)


async def test_a_used_up_window_pauses_every_process_and_others_cost_nothing(
    redis_server: RedisServer, key: str, sleeps: SleepRecorder, store: redis.asyncio.Redis
) -> None:
    """``x-ratelimit-remaining: 0`` pauses the fleet until the reset; other answers stay local."""
    async with (
        limiter(redis_server.url, key, sleeps) as a,
        limiter(redis_server.url, key, sleeps) as b,
    ):
        await a.observe(200, {"x-ratelimit-remaining": "5", "x-ratelimit-reset": "3"})
        await a.observe(None, None)
        assert a.stats.round_trips == 0
        start = await redis_now(store)
        await a.observe(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "3"})
        assert a.stats.round_trips == 1
        need = await b.acquire(max_wait=1.0)
        elapsed = await redis_now(store) - start
        assert waited(need, 3.0, elapsed), (need, elapsed)


async def test_the_rate_learned_after_a_429_is_shared_once_per_episode(
    redis_server: RedisServer, key: str, sleeps: SleepRecorder, store: redis.asyncio.Redis
) -> None:
    """A 429 lowers the fleet's rate to 0.9 x (2 -> 1.8/s); a second one of the episode does not."""
    async with (
        limiter(redis_server.url, key, sleeps, rate=2.0) as a,
        limiter(redis_server.url, key, sleeps, rate=2.0) as b,
    ):
        await a.observe(429, {"x-ratelimit-reset": "0"})
        await a.observe(429, {"x-ratelimit-reset": "0"})
        assert float(await store.hget(key, "rate") or 0) == pytest.approx(1.8, abs=0.001)
        start = await redis_now(store)
        await b.acquire(max_wait=60)
        await b.acquire(max_wait=60)
        elapsed = await redis_now(store) - start
        # 1 / 1.8 s apart, where 0.5 s would be the configured rate. The rate grows
        # back 5% a second from the episode's start (`since`, on Redis' clock): when
        # the slot was booked it was at most 1.8 x 1.05 ** (the last reading - since).
        since = float(await store.hget(key, "since") or 0)
        grown = 1.8 * 1.05 ** (start + elapsed - since)
        assert len(sleeps.delays) == 1
        assert 1 / grown - elapsed - ROUNDING <= sleeps.delays[0] <= 1 / 1.8 + ROUNDING, (
            sleeps.delays,
            elapsed,
        )


async def test_the_learned_rate_grows_back_and_is_forgotten(
    redis_server: RedisServer, key: str, sleeps: SleepRecorder, store: redis.asyncio.Redis
) -> None:
    """5% a second since the episode began (compounded), up to the cap; after 60 s, the cap.

    Slow rates (slots 12 s and 10 s apart), so that no stall between the calls
    reaches the next slot.
    """
    async with limiter(redis_server.url, key, sleeps, rate=0.1) as a:
        now = await redis_now(store)
        await store.hset(key, mapping={"rate": "0.05", "since": f"{now - 10:.6f}"})
        await a.acquire(max_wait=60)
        need = await a.acquire(max_wait=0.0)
        elapsed = await redis_now(store) - now
        # Booked at 0.05 x 1.05 ** (10 s and up to `elapsed` more) a second.
        assert 1 / (0.05 * 1.05 ** (10 + elapsed)) - elapsed - ROUNDING <= need, (need, elapsed)
        assert need <= 1 / (0.05 * 1.05**10) + ROUNDING, (need, elapsed)
        now = await redis_now(store)
        await store.hset(key, mapping={"rate": "0.05", "since": f"{now - 61:.6f}", "tat": "0"})
        await a.acquire(max_wait=60)
        need = await a.acquire(max_wait=0.0)
        elapsed = await redis_now(store) - now
        assert waited(need, 10.0, elapsed), (need, elapsed)


async def test_a_pause_heard_while_waiting_for_a_slot_books_again_after_it(
    redis_server: RedisServer, key: str, store: redis.asyncio.Redis
) -> None:
    """A slot that comes during a pause is given up: the request waits for the pause's end."""
    clock = SleepRecorder()
    delays: list[float] = []
    lim: RedisRateLimiter

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 1:
            # Another request of the process got a 429 while this one waited.
            await lim.observe(429, {"x-ratelimit-reset": "30"})
        await clock(delay)

    lim = RedisRateLimiter(redis_server.url, rate=0.2, key=key, clock=clock.clock, sleep=sleep)
    async with lim:
        start = await redis_now(store)
        await lim.acquire(max_wait=60)
        assert await lim.acquire(max_wait=60) == 0.0
        elapsed = await redis_now(store) - start
    # The slot 5 s after the first, given up; then the wait for the pause's end (30 s:
    # after every slot booked so far), and nothing after it.
    assert waits(delays, [5.0, 30.0], elapsed), (delays, elapsed)


async def test_unreachable_redis_paces_in_process_warns_once_and_recovers(
    key: str, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """No Redis: requests still go, paced in-process, one WARNING; Redis back: shared again."""
    caplog.set_level(logging.INFO, logger="telnyx_async")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    async with limiter(url, key, sleeps, rate=10.0, fallback_rate=2.0) as a:
        for _ in range(5):
            assert await a.acquire(max_wait=60) == 0.0
            await a.observe(200, {})
        assert not a.sharing
        assert a.stats.local == 5
        assert a.stats.outages == 1
        # In-process pacing at fallback_rate; Redis tried again at most once a second.
        assert sleeps.delays == pytest.approx([0.5, 0.5, 0.5, 0.5])
        assert a.stats.round_trips <= 3
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "unreachable" in warnings[0].getMessage()
        with RedisServer(port) as back:
            await sleeps(1.0)
            assert await a.acquire(max_wait=60) == 0.0
            assert a.sharing
            assert a.stats.shared == 1
            check = redis.asyncio.Redis.from_url(back.url)
            assert await check.exists(key) == 1
            await check.aclose()
        assert any("answers again" in r.getMessage() for r in caplog.records)
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


async def test_redis_killed_and_restarted_on_the_same_port(
    key: str, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed mid-use: the next request paces in-process; restarted: sharing resumes."""
    caplog.set_level(logging.INFO, logger="telnyx_async")
    with RedisServer() as server:
        async with limiter(server.url, key, sleeps, rate=100.0) as a:
            await a.acquire(max_wait=60)
            assert a.stats.shared == 1
            server.kill()
            assert await a.acquire(max_wait=60) == 0.0
            assert a.stats.local == 1
            server.start()
            await sleeps(1.0)
            assert await a.acquire(max_wait=60) == 0.0
            assert a.stats.shared == 2
    levels = [r.levelname for r in caplog.records]
    assert levels.count("WARNING") == 1
    assert levels.count("INFO") == 1


async def test_a_redis_that_never_answers_times_out_into_the_fallback(
    key: str, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that accepts and never replies costs the socket timeout, then paces in-process."""
    caplog.set_level(logging.WARNING, logger="telnyx_async")
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    hole = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = hole.sockets[0].getsockname()[1]
    try:
        url = f"redis://127.0.0.1:{port}/0"
        async with limiter(url, key, sleeps, timeout=0.05) as a:
            async with asyncio.timeout(5):
                assert await a.acquire(max_wait=60) == 0.0
            assert a.stats.local == 1
        assert "unreachable" in caplog.text
        assert "Timeout" in caplog.text
    finally:
        for writer in held:
            writer.close()
        hole.close()
        await hole.wait_closed()


async def test_the_password_in_the_url_is_never_shown(
    key: str, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong password is refused: the WARNING and the repr say where, never the password."""
    caplog.set_level(logging.INFO, logger="telnyx_async")
    with RedisServer(password="the-right-one") as server:
        url = f"redis://:wrong-pw-s3cret@127.0.0.1:{server.port}/0"
        async with limiter(url, key, sleeps) as a:
            assert await a.acquire(max_wait=60) == 0.0
            assert not a.sharing
            text = repr(a) + caplog.text
    assert "wrong-pw-s3cret" not in text
    assert f"redis://:***@127.0.0.1:{server.port}/0" in text
    assert "AuthenticationError" in caplog.text or "password" in caplog.text.lower()


def test_import_telnyx_async_does_not_import_redis() -> None:
    """redis-py is imported when a RedisRateLimiter is made, never by the package."""
    code = "import sys, telnyx_async; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_redis_py_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Creating the limiter without the extra raises ImportError naming the extra."""
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ImportError, match=r"telnyx-async\[redis\]"):
        RedisRateLimiter("redis://127.0.0.1:1/0", rate=10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 0},
        {"rate": float("inf")},
        {"rate": 10, "fallback_rate": 0},
        {"rate": 10, "timeout": 0},
        {"rate": 10, "key": ""},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, float]) -> None:
    """Rates and the timeout must be positive and finite, the key not empty."""
    with pytest.raises(ValueError, match="must"):
        RedisRateLimiter("redis://127.0.0.1:1/0", **kwargs)  # type: ignore[arg-type]
