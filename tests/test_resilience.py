"""Single flight, deadlines, session-wide 401s, honest errors and queue time."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import pytest
from aiohttp import web

from telnyx_async import (
    APITimeoutError,
    AuthenticationError,
    Connection,
    InternalServerError,
    RetryPolicy,
    TelnyxError,
    TelnyxSession,
)
from telnyx_async.testing import FakeTelnyx, Faults

from .conftest import API_KEY, LocalServer, SleepRecorder, error_body, ok_handler, session_with_time


def make(server: LocalServer, **kwargs: object) -> TelnyxSession:
    return TelnyxSession(API_KEY, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


async def test_concurrent_gets_for_one_id_share_one_request(server: LocalServer) -> None:
    """Ten concurrent get()s of the same id: one HTTP request, ten equal results."""
    arrived = asyncio.Event()

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        arrived.set()
        await server.gate.wait()
        return await ok_handler(request, server)

    server.handler = handler
    async with make(server) as telnyx:
        tasks = [asyncio.create_task(telnyx.connections.get("7")) for _ in range(10)]
        await arrived.wait()
        server.gate.set()
        async with asyncio.timeout(10):  # a follower never handed the result would hang
            results = await asyncio.gather(*tasks)
    assert len(server.requests) == 1
    assert all(r == results[0] and r.id == "7" for r in results)


async def test_a_shared_failure_reaches_every_caller_as_its_own_copy(server: LocalServer) -> None:
    """Followers get the leader's error class, not the very same exception object."""

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        await asyncio.sleep(0.01)
        return web.Response(status=404, body=error_body("10005", "Not found", "none"))

    server.handler = handler
    async with make(server) as telnyx:
        results = await asyncio.gather(
            *(telnyx.connections.get("9") for _ in range(3)), return_exceptions=True
        )
    assert len(server.requests) == 1
    assert all(isinstance(r, TelnyxError) and r.conn_id == "9" for r in results)
    assert len({id(r) for r in results}) == 3


async def test_a_cancelled_leader_hands_over_to_a_follower(server: LocalServer) -> None:
    """Cancelling the caller that started the request does not fail the others."""
    arrived = asyncio.Event()

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        arrived.set()
        await asyncio.sleep(0.02)
        return await ok_handler(request, server)

    server.handler = handler
    async with make(server) as telnyx:
        leader = asyncio.create_task(telnyx.connections.get("5"))
        await arrived.wait()
        follower = asyncio.create_task(telnyx.connections.get("5"))
        for _ in range(3):
            await asyncio.sleep(0)  # the follower starts waiting on the shared lookup
        leader.cancel()
        conn = await follower
    assert isinstance(conn, Connection)
    assert leader.cancelled()
    assert len(server.requests) == 2  # the follower took over with a request of its own


async def test_deadline_bounds_a_get_across_retries(server: LocalServer) -> None:
    """A 503 every time with real (tiny) backoff: the deadline ends the call, as TimeoutError."""

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        await asyncio.sleep(0.03)
        return web.Response(status=503)

    server.handler = handler
    policy = RetryPolicy(max_retries=100, initial_delay=0.001, max_delay=0.002)
    async with make(server, retry_policy=policy) as telnyx:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises((APITimeoutError, InternalServerError)) as info:
            await telnyx.connections.get("1", deadline=0.2)
        took = loop.time() - start
    # Out of time during an attempt: APITimeoutError; with less left than the next
    # backoff: the status error at once. Either way it says why, and no later.
    assert took < 0.6
    assert "0.2s deadline" in str(info.value)
    assert info.value.attempts >= 3


def test_api_timeout_error_is_a_builtin_timeout_error() -> None:
    """`except TimeoutError` catches the library's timeouts."""
    assert issubclass(APITimeoutError, TimeoutError)


async def test_a_wait_past_the_deadline_fails_at_once(
    server: LocalServer, sleeps: SleepRecorder
) -> None:
    """Retry-After: 5 with 1 s left: the status error now, naming the wait, not a vain sleep."""
    server.handler = lambda r, s: asyncio.sleep(
        0, web.Response(status=503, headers={"Retry-After": "5"})
    )
    async with session_with_time(sleeps, API_KEY, base_url=server.base_url) as telnyx:
        with pytest.raises(InternalServerError, match="could start in 5s") as info:
            await telnyx.connections.get("1", deadline=1.0)
    assert sleeps.delays == []
    assert info.value.retry_after == 5.0
    assert info.value.attempts == 1


async def test_errors_say_the_request_and_the_attempts(
    server: LocalServer, sleeps: SleepRecorder
) -> None:
    """The final error names GET /v2/connections/{id} and how many attempts were made."""
    server.handler = lambda r, s: asyncio.sleep(0, web.Response(status=502))
    async with session_with_time(sleeps, API_KEY, base_url=server.base_url) as telnyx:
        with pytest.raises(InternalServerError) as info:
            await telnyx.connections.get("123")
    assert "(GET /v2/connections/123, after 3 attempts)" in str(info.value)
    assert (info.value.attempts, info.value.conn_id) == (3, "123")


@pytest.mark.parametrize("bulk", ["gather", "iter"])
async def test_a_401_ends_a_bulk_run_at_once(server: LocalServer, bulk: str) -> None:
    """A wrong key: the bulk call raises AuthenticationError instead of one 401 per id."""

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        await asyncio.sleep(0.005)
        return web.Response(status=401, body=error_body("10009", "Auth failed", "bad key"))

    server.handler = handler
    ids = [str(i) for i in range(2000)]

    async def run_bulk(telnyx: TelnyxSession) -> None:
        if bulk == "gather":
            await telnyx.connections.gather_many(ids, return_exceptions=True)
            return
        async with aclosing(telnyx.connections.iter_many(ids)) as results:
            async for _ in results:
                pass

    async with make(server) as telnyx:
        with pytest.raises(AuthenticationError):
            await run_bulk(telnyx)
    assert len(server.requests) <= 100


async def test_time_queued_for_a_connection_is_not_an_attempt_timeout(
    server: LocalServer,
) -> None:
    """500 gets on a pool of 100, answers in 0.3 s, timeout 1.0 s: none times out.

    The fifth wave waits 1.2 s for a connection, then 0.3 s for its answer: 1.5 s in
    all, which would be a timeout if queueing counted; each attempt itself has 0.7 s
    to spare, for a loaded machine.
    """

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        await asyncio.sleep(0.3)
        return await ok_handler(request, server)

    server.handler = handler
    async with make(server, timeout=1.0, max_retries=0) as telnyx:
        results = await asyncio.gather(
            *(telnyx.connections.get(str(i)) for i in range(500)), return_exceptions=True
        )
    assert [r for r in results if not isinstance(r, Connection)] == []
    assert server.max_in_flight <= 100


@pytest.mark.parametrize("status", [429, 503])
async def test_never_retry_sooner_than_asked(
    server: LocalServer, sleeps: SleepRecorder, status: int
) -> None:
    """Retry-After: 120 is longer than the session waits: the error now, with the advice."""
    server.handler = lambda r, s: asyncio.sleep(
        0, web.Response(status=status, headers={"Retry-After": "120"})
    )
    async with session_with_time(sleeps, API_KEY, base_url=server.base_url) as telnyx:
        with pytest.raises(TelnyxError, match="could start in 120s") as info:
            await telnyx.connections.get("1")
    assert len(server.requests) == 1
    assert sleeps.delays == []
    assert getattr(info.value, "retry_after", None) == 120.0


async def test_a_leaders_deadline_does_not_fail_a_patient_follower(server: LocalServer) -> None:
    """A shared request's caller runs out of time: a patient follower takes over.

    It gets the connection, not the leader's APITimeoutError.
    """
    arrived = asyncio.Event()

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        arrived.set()
        await asyncio.sleep(0.2)
        return await ok_handler(request, server)

    server.handler = handler
    async with make(server) as telnyx:
        leader = asyncio.create_task(telnyx.connections.get("8", deadline=0.05))
        await arrived.wait()
        follower = asyncio.create_task(telnyx.connections.get("8"))
        with pytest.raises(APITimeoutError, match=r"within its 0\.05s deadline"):
            await leader
        conn = await follower
    assert conn.id == "8"
    assert len(server.requests) == 2


async def test_a_deadline_cut_is_not_a_connection_error(server: LocalServer) -> None:
    """A request the caller's deadline cuts short says its deadline; the API did not fail."""

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        await asyncio.sleep(5)
        return await ok_handler(request, server)

    server.handler = handler
    async with make(server) as telnyx:
        with pytest.raises(APITimeoutError, match=r"did not complete within its 0\.1s deadline"):
            await telnyx.connections.get("3", deadline=0.1)
        assert telnyx.stats.connection_errors == 0
        assert telnyx.stats.requests == 1


@pytest.mark.parametrize("bulk", ["gather_many", "iter_many"])
async def test_ids_the_deadline_reaches_unstarted_fail_without_a_lookup(bulk: str) -> None:
    """Past its deadline a bulk call starts no lookup: each id left gets its error at once."""
    async with (
        FakeTelnyx(connections=5, faults=Faults(latency=0.05)) as server,
        TelnyxSession(server.api_key, base_url=server.base_url) as telnyx,
    ):
        ids = [str(10**15 + i) for i in range(3000)]
        reached: list[str] = []
        send = telnyx.connections._send

        def counting_send(url: str, deadline_at: float | None) -> Any:
            reached.append(url)
            return send(url, deadline_at)

        telnyx.connections._send = counting_send
        if bulk == "gather_many":
            results = await telnyx.connections.gather_many(
                ids, concurrency=10, return_exceptions=True, deadline=0.2
            )
        else:
            results = [
                r async for _, r in telnyx.connections.iter_many(ids, concurrency=10, deadline=0.2)
            ]
        with pytest.raises(APITimeoutError, match=r"within its 0\.01s deadline"):
            await telnyx.connections.gather_many(ids, concurrency=10, deadline=0.01)
    assert len(results) == len(ids)
    unstarted = [r for r in results if isinstance(r, APITimeoutError) and r.attempts == 0]
    assert len(unstarted) > 2500
    assert all("within its 0.2s deadline" in str(r) and r.conn_id for r in unstarted)
    assert not any(isinstance(r, Connection) for r in results)  # unknown ids: 404 or timeout
    assert len(reached) < 200  # about concurrency x deadline / latency, not 3,000
