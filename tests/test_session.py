"""TelnyxSession against a real aiohttp.web server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import aclosing

import aiohttp
import pytest
from aiohttp import web

from telnyx_async import (
    AdaptiveRateLimiter,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    Connection,
    InternalServerError,
    InvalidConnectionIdError,
    NotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    RetryPolicy,
    TelnyxError,
    TelnyxSession,
)
from telnyx_async._decide import max_throttled_requests

from .conftest import (
    API_KEY,
    LocalServer,
    SleepRecorder,
    error_body,
    ok_handler,
    session_with_time,
)


def make(
    server: LocalServer, sleeps: SleepRecorder | None = None, **kwargs: object
) -> TelnyxSession:
    """A session against the local server; retry waits go to `sleeps` when given."""
    if sleeps is not None:
        return session_with_time(sleeps, API_KEY, base_url=server.base_url, **kwargs)
    return TelnyxSession(API_KEY, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


def client_tasks() -> list[asyncio.Task[object]]:
    """The library's tasks still alive (the server's own tasks share the loop)."""
    # bounded_map's workers (iter_many) and bounded_each's (gather_many) alike.
    return [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "").startswith(("bounded_map.", "bounded_each."))
    ]


def failing_first(statuses: list[int], headers: dict[str, str] | None = None, body: bytes = b""):  # type: ignore[no-untyped-def]
    """A handler answering each status in turn for the first requests, then 200."""
    queue = list(statuses)

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        if queue:
            return web.Response(status=queue.pop(0), body=body, headers=headers or {})
        return await ok_handler(request, server)

    return handler


async def test_get_returns_a_typed_connection(server: LocalServer) -> None:
    """The path prefix is kept and the body decodes into a Connection."""
    async with make(server) as telnyx:
        conn = await telnyx.connections.get("1293384261075731499")
    assert isinstance(conn, Connection)
    assert conn.id == "1293384261075731499"
    assert conn.created_at is not None
    assert conn.created_at.tzinfo is not None
    [(path, headers)] = server.requests
    assert path == "/v2/connections/1293384261075731499"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["User-Agent"].startswith("telnyx-async/")


async def test_dot_dot_ids_never_reach_another_path(server: LocalServer) -> None:
    """Dot-segment tricks arrive at the server as one encoded segment under /connections/."""
    async with make(server) as telnyx:
        await telnyx.connections.get("../balance")
        await telnyx.connections.get("%2e%2e")
        with pytest.raises(InvalidConnectionIdError):
            await telnyx.connections.get("..")
    assert [p for p, _ in server.requests] == [
        "/v2/connections/..%2Fbalance",
        "/v2/connections/%252e%252e",
    ]


async def test_connections_are_pooled_and_reused(server: LocalServer) -> None:
    """200 lookups over a pool of 4 use at most 4 TCP connections."""
    async with make(server, pool_size=4) as telnyx:
        await telnyx.connections.gather_many([str(i) for i in range(200)], concurrency=4)
    assert server.served == 200
    assert 1 <= len(server.client_ports) <= 4


async def test_gather_many_keeps_input_order_and_fetches_duplicates_once(
    server: LocalServer,
) -> None:
    """Results follow the input order; each duplicate position is filled from one fetch."""
    ids = ["5", "3", "5", "9", "3", "1"]
    async with make(server) as telnyx:
        conns = await telnyx.connections.gather_many(ids, concurrency=3)
    assert [c.id for c in conns] == ids
    assert sorted(p for p, _ in server.requests) == [
        f"/v2/connections/{i}" for i in ["1", "3", "5", "9"]
    ]


async def slow_ok(request: web.Request, server: LocalServer) -> web.StreamResponse:
    """Hold each request until `server.gate_at` are in flight together (or 1 s passed)."""
    if server.in_flight >= server.gate_at:
        server.gate.set()
    if not server.gate.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.gate.wait(), 1.0)
    await asyncio.sleep(0.001)
    return await ok_handler(request, server)


def gated(server: LocalServer, at: int) -> None:
    """Make the server hold requests until `at` of them are in flight at once."""
    server.gate = asyncio.Event()
    server.gate_at = at
    server.handler = slow_ok


@pytest.mark.parametrize("concurrency", [1, 8, 32])
async def test_concurrency_bound_holds_at_the_server(server: LocalServer, concurrency: int) -> None:
    """The server never sees more than `concurrency` requests at once, and does see that many."""
    gated(server, concurrency)
    ids = [str(i) for i in range(concurrency * 6)]
    async with make(server) as telnyx:
        await telnyx.connections.gather_many(ids, concurrency=concurrency)
        assert server.max_in_flight == concurrency
        server.max_in_flight = 0
        gated(server, concurrency)
        async for _ in telnyx.connections.iter_many(ids, concurrency=concurrency):
            pass
        assert server.max_in_flight == concurrency


async def test_concurrency_is_capped_at_the_pool_size(server: LocalServer) -> None:
    """Asking for more concurrency than the pool holds never queues requests on the pool."""
    gated(server, 5)
    async with make(server, pool_size=5) as telnyx:
        await telnyx.connections.gather_many([str(i) for i in range(40)], concurrency=50)
    assert server.max_in_flight == 5


async def missing_is_404(request: web.Request, server: LocalServer) -> web.StreamResponse:
    """Answer 404 for the id "missing", the example connection for any other."""
    if request.raw_path.endswith("/missing"):
        return web.Response(status=404, body=error_body("10005", "Resource not found", "x"))
    return await ok_handler(request, server)


async def test_iter_many_pairs_ids_with_results_and_errors(server: LocalServer) -> None:
    """Failed ids are yielded with their TelnyxError; the rest still succeed."""
    server.handler = missing_is_404
    async with make(server) as telnyx:
        results = {
            conn_id: result
            async for conn_id, result in telnyx.connections.iter_many(["1", "missing", "2", ""])
        }
    assert isinstance(results["missing"], NotFoundError)
    assert isinstance(results[""], InvalidConnectionIdError)
    assert isinstance(results["1"], Connection)
    assert isinstance(results["2"], Connection)
    assert results["2"].id == "2"


async def test_iter_many_is_lazy_over_a_huge_generator(server: LocalServer) -> None:
    """A generator of ten million ids is pulled at most 2 x `concurrency` ahead."""
    pulled = 0

    def ids() -> Iterator[str]:
        nonlocal pulled
        for i in range(10_000_000):
            pulled += 1
            yield str(i)

    yielded = 0
    async with (
        make(server) as telnyx,
        aclosing(telnyx.connections.iter_many(ids(), concurrency=10)) as results,
    ):
        async for _ in results:
            yielded += 1
            assert pulled - yielded <= 20
            if yielded == 100:
                break
    assert pulled <= 120


async def test_iter_many_accepts_an_async_iterable(server: LocalServer) -> None:
    """Ids may come from an async generator."""

    async def ids() -> AsyncIterator[str]:
        for i in range(20):
            yield str(i)

    async with make(server) as telnyx:
        got = {conn_id async for conn_id, _ in telnyx.connections.iter_many(ids())}
        conns = await telnyx.connections.gather_many(ids())
    assert got == {str(i) for i in range(20)}
    assert [c.id for c in conns] == [str(i) for i in range(20)]


async def test_single_string_is_not_taken_for_many_ids(server: LocalServer) -> None:
    """Passing one id string to a bulk call is a TypeError, not a lookup per character."""
    async with make(server) as telnyx:
        with pytest.raises(TypeError, match="single string"):
            telnyx.connections.iter_many("12345")
        with pytest.raises(TypeError, match="single string"):
            await telnyx.connections.gather_many("12345")
        with pytest.raises(TypeError, match="must be str"):
            await telnyx.connections.gather_many(["1", 2])  # type: ignore[list-item]
    assert server.requests == []


async def test_gather_many_fails_fast_and_cancels_the_rest(server: LocalServer) -> None:
    """The first failure is raised as is; requests in flight are cancelled at the server."""

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        if request.raw_path.endswith("/bad"):
            return web.Response(status=401, body=error_body("10009", "Authentication failed", "x"))
        await asyncio.sleep(10)
        return await ok_handler(request, server)

    server.handler = handler
    # The bad id goes first; the session's start-up window (4 in flight before any
    # answer) sends three slow ones beside it.
    ids = ["bad"] + [str(i) for i in range(100)]
    async with make(server) as telnyx:
        with pytest.raises(AuthenticationError):
            await telnyx.connections.gather_many(ids, concurrency=10)
        assert client_tasks() == []
    await server.until(lambda s: s.cancelled >= 3)
    assert len(server.requests) <= 10


async def test_gather_many_return_exceptions_fills_each_position(server: LocalServer) -> None:
    """With return_exceptions=True failed positions hold their exception, in order."""
    server.handler = missing_is_404
    async with make(server) as telnyx:
        results = await telnyx.connections.gather_many(
            ["1", "missing", "2", "missing"], return_exceptions=True
        )
    assert isinstance(results[0], Connection)
    assert isinstance(results[1], NotFoundError)
    assert isinstance(results[2], Connection)
    assert results[3] is results[1]


async def test_cancelling_a_bulk_consumer_cancels_server_requests(server: LocalServer) -> None:
    """Cancelling the task that iterates cancels every request in flight; no task is left."""
    started = asyncio.Event()

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        if server.in_flight >= 4:
            started.set()
        await asyncio.sleep(10)
        return await ok_handler(request, server)

    server.handler = handler
    async with make(server) as telnyx:

        async def consume() -> None:
            async for _ in telnyx.connections.iter_many(
                (str(i) for i in range(100)), concurrency=4
            ):
                pass

        consumer = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 5)
        assert len(client_tasks()) == 4
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert client_tasks() == []
    await server.until(lambda s: s.cancelled == 4)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_transient_statuses_are_retried(
    server: LocalServer, sleeps: SleepRecorder, status: int
) -> None:
    """408 and 5xx are retried with backoff, and the lookup then succeeds."""
    server.handler = failing_first([status, status])
    async with make(server, sleeps) as telnyx:
        conn = await telnyx.connections.get("7")
        stats = telnyx.stats
    assert conn.id == "7"
    assert len(server.requests) == 3
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.5
    assert 0 <= sleeps.delays[1] <= 1.0
    assert (stats.requests, stats.retries, stats.responses) == (3, 2, {status: 2, 200: 1})


@pytest.mark.parametrize(
    ("status", "cls"), [(400, BadRequestError), (401, AuthenticationError), (404, NotFoundError)]
)
async def test_other_4xx_are_never_retried(
    server: LocalServer, sleeps: SleepRecorder, status: int, cls: type[TelnyxError]
) -> None:
    """A 4xx other than 408/429 is raised after one request."""
    server.handler = failing_first([status] * 5, body=error_body("1", "No", "no"))
    async with make(server, sleeps) as telnyx:
        with pytest.raises(cls):
            await telnyx.connections.get("7")
    assert len(server.requests) == 1
    assert sleeps.delays == []


async def test_retries_are_bounded_by_max_retries(
    server: LocalServer, sleeps: SleepRecorder
) -> None:
    """max_retries=2 means three attempts; the last error is raised with its status class."""
    server.handler = failing_first(
        [503] * 10, body=b"<html><h1>503 Service Unavailable</h1></html>"
    )
    async with make(server, sleeps) as telnyx:
        with pytest.raises(InternalServerError, match="503 Service Unavailable") as info:
            await telnyx.connections.get("7")
    assert info.value.status == 503
    assert len(server.requests) == 3

    server.requests.clear()
    async with make(server, sleeps, max_retries=0) as telnyx:
        with pytest.raises(InternalServerError):
            await telnyx.connections.get("7")
    assert len(server.requests) == 1


async def test_retry_after_seconds_is_obeyed(server: LocalServer, sleeps: SleepRecorder) -> None:
    """A 503 with Retry-After: 3 waits exactly 3 seconds (as asked of the injected sleep)."""
    server.handler = failing_first([503], headers={"Retry-After": "3"})
    async with make(server, sleeps) as telnyx:
        await telnyx.connections.get("7")
    assert sleeps.delays == [3.0]


async def test_retry_after_http_date_is_obeyed(server: LocalServer, sleeps: SleepRecorder) -> None:
    """Retry-After as an HTTP date waits until that moment."""
    import email.utils
    import time

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.handler = failing_first([429], headers={"Retry-After": when})
    async with make(server, sleeps) as telnyx:
        await telnyx.connections.get("7")
    # The call sleeps the advice; the limiter, which read the date a moment
    # earlier, may add the microseconds between the two readings.
    assert 28.0 <= sleeps.delays[0] <= 30.0
    assert 28.0 <= sum(sleeps.delays) <= 30.0
    assert len(server.requests) == 2


async def test_rate_limit_waits_for_the_window_reset(
    server: LocalServer, sleeps: SleepRecorder
) -> None:
    """A 429 without Retry-After waits for x-ratelimit-reset, as Telnyx sends it."""
    server.handler = failing_first(
        [429, 429],
        headers={"x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"},
        body=error_body("10011", "Too many requests", "Slow down."),
    )
    async with make(server, sleeps) as telnyx:
        await telnyx.connections.get("7")
    assert sleeps.delays == [2.0, 2.0]


async def test_429s_pause_the_session_without_using_retries(
    server: LocalServer, sleeps: SleepRecorder
) -> None:
    """More 429s than max_retries still end in success: pacing waits, retries are untouched."""
    server.handler = failing_first(
        [429] * 5, body=error_body("10011", "Too many requests", "x"), headers={"Retry-After": "1"}
    )
    async with make(server, sleeps, max_retries=1) as telnyx:
        assert (await telnyx.connections.get("7")).id == "7"
        stats = telnyx.stats
    assert (stats.requests, stats.retries, stats.rate_limited) == (6, 0, 5)
    assert sum(sleeps.delays) >= 5.0


async def test_endless_429s_end_at_the_rate_limit_wait(
    server: LocalServer, sleeps: SleepRecorder
) -> None:
    """A server that always answers 429 gives up after max_rate_limit_wait, with its error."""
    server.handler = failing_first([429] * 1000, body=error_body("10011", "Too many requests", "x"))
    async with make(server, sleeps, max_rate_limit_wait=10) as telnyx:
        with pytest.raises(RateLimitError, match="10011") as info:
            await telnyx.connections.get("7")
    # The floor between sends after the second 429: 0.05, 0.1, ... 6.4 s.
    assert len(server.requests) == max_throttled_requests(10) == 9
    assert "later than this call may wait" in str(info.value)
    assert info.value.attempts == len(server.requests)


async def test_tiny_real_backoff_without_injected_sleep(server: LocalServer) -> None:
    """The real asyncio.sleep path works with a tiny policy (no second-long waits)."""
    server.handler = failing_first([502, 502])
    policy = RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.002)
    async with make(server, retry_policy=policy) as telnyx:
        assert (await telnyx.connections.get("7")).id == "7"
    assert len(server.requests) == 3


async def test_attempt_timeout_is_retried_then_raised(
    server: LocalServer, sleeps: SleepRecorder
) -> None:
    """An attempt slower than `timeout` is an APITimeoutError, retried up to the limit."""

    async def hang(request: web.Request, server: LocalServer) -> web.StreamResponse:
        await asyncio.sleep(5)
        return await ok_handler(request, server)

    server.handler = hang
    async with make(server, sleeps, timeout=0.05) as telnyx:
        with pytest.raises(APITimeoutError, match=r"no complete answer within 0\.05s"):
            await telnyx.connections.get("7")
        assert telnyx.stats.connection_errors == 3
    assert len(server.requests) == 3
    assert len(sleeps.delays) == 2


async def test_timeout_then_success(server: LocalServer, sleeps: SleepRecorder) -> None:
    """A slow first attempt is abandoned and the retry succeeds."""
    slow = [True]

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        if slow and slow.pop():
            await asyncio.sleep(5)
        return await ok_handler(request, server)

    server.handler = handler
    async with make(server, sleeps, timeout=0.05) as telnyx:
        assert (await telnyx.connections.get("7")).id == "7"
    assert len(server.requests) == 2


async def drop_mid_body(request: web.Request, server: LocalServer) -> web.StreamResponse:
    """Promise a long body, send a piece of it, then close the connection."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 1000
    await response.prepare(request)
    await response.write(b'{"data": {"id": "7", "conn')
    assert request.transport is not None
    request.transport.close()
    return response


async def test_dropped_connection_is_retried(server: LocalServer, sleeps: SleepRecorder) -> None:
    """A connection dropped mid-response is a network error: retried, then it succeeds."""
    drops = [1, 1]

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        if drops and drops.pop():
            return await drop_mid_body(request, server)
        return await ok_handler(request, server)

    server.handler = handler
    async with make(server, sleeps) as telnyx:
        assert (await telnyx.connections.get("7")).id == "7"
    assert len(server.requests) == 3


async def test_dropped_connection_every_time_raises_api_connection_error(
    server: LocalServer, sleeps: SleepRecorder
) -> None:
    """Out of retries, a dropped connection surfaces as APIConnectionError."""
    server.handler = drop_mid_body
    async with make(server, sleeps) as telnyx:
        with pytest.raises(APIConnectionError) as info:
            await telnyx.connections.get("7")
    assert not isinstance(info.value, APITimeoutError)
    assert "/v2/connections/7" in str(info.value)


async def test_refused_connection_is_an_api_connection_error(sleeps: SleepRecorder) -> None:
    """Nothing listening: APIConnectionError after the retries."""
    srv = LocalServer()
    await srv.start()
    base = srv.base_url
    await srv.stop()
    async with session_with_time(sleeps, API_KEY, base_url=base) as telnyx:
        with pytest.raises(APIConnectionError):
            await telnyx.connections.get("7")
    assert len(sleeps.delays) == 2


async def test_malformed_200_is_a_validation_error_not_retried(
    server: LocalServer, sleeps: SleepRecorder
) -> None:
    """A 200 with the wrong shape raises ResponseValidationError naming the field."""

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        return web.Response(
            body=b'{"data": {"id": "7", "active": "maybe"}}', headers={"x-request-id": "r-7"}
        )

    server.handler = handler
    async with make(server, sleeps) as telnyx:
        with pytest.raises(ResponseValidationError, match=r"\$\.data\.active") as info:
            await telnyx.connections.get("7")
    assert info.value.request_id == "r-7"
    assert len(server.requests) == 1


async def test_html_error_page_from_a_proxy(server: LocalServer, sleeps: SleepRecorder) -> None:
    """An HTML 502 still raises InternalServerError with a readable message."""

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        return web.Response(
            status=502,
            text="<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            content_type="text/html",
        )

    server.handler = handler
    async with make(server, sleeps) as telnyx:
        with pytest.raises(InternalServerError, match="502 Bad Gateway") as info:
            await telnyx.connections.get("7")
    assert info.value.status == 502


async def test_oversized_responses_are_refused(server: LocalServer) -> None:
    """A success body over the limit raises ResponseTooLargeError, chunked or not."""
    huge = b'{"data": {"connection_name": "' + b"x" * (5 * 1024 * 1024) + b'"}}'

    async def sized(request: web.Request, server: LocalServer) -> web.StreamResponse:
        return web.Response(body=huge)

    async def chunked(request: web.Request, server: LocalServer) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(huge), 1 << 20):
            await response.write(huge[start : start + (1 << 20)])
        await response.write_eof()
        return response

    async with make(server, max_retries=0) as telnyx:
        for handler in (sized, chunked):
            server.handler = handler
            with pytest.raises(ResponseTooLargeError, match="exceeds") as info:
                await telnyx.connections.get("7")
            # Like every error of a request: which one, how many attempts, the status.
            assert info.value.request == "GET /v2/connections/7"
            assert info.value.attempts == 1
            assert info.value.status == 200
            assert "(GET /v2/connections/7)" in str(info.value)


async def test_oversized_error_body_keeps_its_status(server: LocalServer) -> None:
    """A huge error body is cut, and the status class still comes through."""

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        return web.Response(status=404, body=b"<html>" + b"y" * (5 * 1024 * 1024))

    server.handler = handler
    async with make(server) as telnyx:
        with pytest.raises(NotFoundError):
            await telnyx.connections.get("7")


async def test_close_is_idempotent_and_final(server: LocalServer) -> None:
    """close() twice is fine; a closed session refuses further lookups with a TelnyxError."""
    telnyx = make(server)
    await telnyx.connections.get("1")
    await telnyx.close()
    await telnyx.close()
    assert telnyx.closed
    assert "closed" in repr(telnyx)
    with pytest.raises(TelnyxError, match="closed"):
        await telnyx.connections.get("1")


async def test_close_during_a_bulk_run_retries_nothing(server: LocalServer) -> None:
    """close() while requests are in flight: each ends with a TelnyxError, none is retried."""
    arrived = asyncio.Event()

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        arrived.set()
        await asyncio.sleep(5)
        return await ok_handler(request, server)

    server.handler = handler
    telnyx = make(server)
    run = asyncio.create_task(
        telnyx.connections.gather_many([str(i) for i in range(20)], return_exceptions=True)
    )
    await arrived.wait()
    await telnyx.close()
    results = await asyncio.wait_for(run, 5)
    assert all(isinstance(r, TelnyxError) and "closed" in str(r) for r in results), results
    assert telnyx.stats.retries == 0
    sent = len(server.requests)
    await asyncio.sleep(0.05)
    assert len(server.requests) == sent  # nothing went out after close()


async def test_no_unclosed_warnings_after_close(server: LocalServer) -> None:
    """A normally closed session leaves no 'Unclosed client session/connector' warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with make(server) as telnyx:
            await telnyx.connections.gather_many(["1", "2", "3"])
        del telnyx
        gc.collect()
        await asyncio.sleep(0)
    assert [str(w.message) for w in caught if "nclosed" in str(w.message)] == []


async def test_unclosed_session_does_warn(server: LocalServer) -> None:
    """Forgetting close() warns, naming the TelnyxSession ('unclosed <TelnyxSession ...>').

    The check above can fail: the same forgetting does produce the warnings it looks for.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        telnyx = make(server)
        await telnyx.connections.get("1")
        del telnyx
        gc.collect()
        await asyncio.sleep(0)
    assert any("nclosed" in str(w.message) for w in caught)
    assert any("unclosed <TelnyxSession" in str(w.message) for w in caught)


async def test_lent_session_is_used_and_never_closed(server: LocalServer) -> None:
    """With session=..., requests go through it and close() leaves it open."""
    async with aiohttp.ClientSession() as client:
        async with make(server, session=client) as telnyx:
            assert (await telnyx.connections.get("1")).id == "1"
        assert not client.closed
        async with client.get(f"{server.base_url}/connections/2") as resp:
            assert resp.status == 200


async def test_closed_lent_session_is_a_clear_error(server: LocalServer) -> None:
    """A lent aiohttp session closed by its owner gives a TelnyxError naming it."""
    client = aiohttp.ClientSession()
    async with make(server, session=client) as telnyx:
        await client.close()
        with pytest.raises(TelnyxError, match="session= has been closed"):
            await telnyx.connections.get("1")
    assert server.requests == []


async def test_lent_session_pool_limit_caps_concurrency(server: LocalServer) -> None:
    """A lent session's connector limit bounds bulk concurrency too."""
    gated(server, 3)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=3)) as client,
        make(server, session=client) as telnyx,
    ):
        await telnyx.connections.gather_many([str(i) for i in range(30)], concurrency=20)
    assert server.max_in_flight == 3


async def test_key_never_in_logs_errors_or_repr(
    server: LocalServer, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Retries are logged at DEBUG on 'telnyx_async', and no log or error holds the key."""
    caplog.set_level(logging.DEBUG, logger="telnyx_async")
    server.handler = failing_first(
        [503, 503, 401], body=error_body("10009", "Authentication failed", "Bad key")
    )
    async with make(server, sleeps) as telnyx:
        with pytest.raises(AuthenticationError) as info:
            await telnyx.connections.get("7")
        text = repr(telnyx)
    lines = [r.getMessage() for r in caplog.records if r.name == "telnyx_async"]
    retry_lines = [line for line in lines if line.startswith("retry")]
    assert len(retry_lines) == 2
    assert "retry 1 of 2 for GET /v2/connections/7" in retry_lines[0]
    assert "HTTP 503" in retry_lines[0]
    everything = "\n".join([*lines, str(info.value), repr(info.value), text, caplog.text])
    assert API_KEY not in everything
    assert "Bearer" not in everything


async def test_a_lent_session_gets_our_headers(server: LocalServer) -> None:
    """Requests through a lent aiohttp session carry the key, Accept and our User-Agent."""
    async with aiohttp.ClientSession() as client, make(server, session=client) as telnyx:
        await telnyx.connections.get("1")
    [(_, headers)] = server.requests
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["User-Agent"].startswith("telnyx-async/")
    assert headers["Accept"] == "application/json"


async def test_a_lent_session_gets_our_timeout(server: LocalServer, sleeps: SleepRecorder) -> None:
    """The per-attempt timeout applies through a lent session too (its own is 5 minutes)."""

    async def hang(request: web.Request, server: LocalServer) -> web.StreamResponse:
        await asyncio.sleep(5)
        return await ok_handler(request, server)

    server.handler = hang
    async with (
        aiohttp.ClientSession() as client,
        make(server, sleeps, session=client, timeout=0.05, max_retries=0) as telnyx,
    ):
        with pytest.raises(APITimeoutError):
            await telnyx.connections.get("1")


def test_backoff_is_jittered_by_default() -> None:
    """The default random source gives different delays for the same retry."""
    policy = RetryPolicy()
    delays = {policy.delay(3) for _ in range(20)}
    assert len(delays) > 10
    assert all(0.0 <= d <= 4.0 for d in delays)


async def test_bulk_concurrency_is_capped_at_the_pool_by_the_library(server: LocalServer) -> None:
    """concurrency=50 on a pool of 5 runs 5 workers: the library caps it, not aiohttp's queue."""
    gated(server, 5)
    async with make(server, pool_size=5) as telnyx:
        seen: list[int] = []

        async def count_workers() -> None:
            await server.until(lambda s: s.in_flight == 5)
            seen.append(len(client_tasks()))

        watcher = asyncio.create_task(count_workers())
        await telnyx.connections.gather_many([str(i) for i in range(40)], concurrency=50)
        await watcher
    assert seen == [5]


async def test_iter_many_raises_what_is_not_a_telnyx_error(server: LocalServer) -> None:
    """A non-str id is a TypeError that ends iter_many and gather_many, not a yielded result."""
    async with make(server) as telnyx:
        with pytest.raises(TypeError, match="must be a str"):
            async for _ in telnyx.connections.iter_many(["1", 2]):  # type: ignore[list-item]
                pass
        with pytest.raises(TypeError):
            await telnyx.connections.gather_many(["1", 2], return_exceptions=True)  # type: ignore[list-item]


class BrokenLimiter:
    """A RateLimiter with a bug: acquire raises RuntimeError."""

    async def acquire(self, *, max_wait: float) -> float:
        raise RuntimeError("limiter bug")

    async def observe(self, status: int | None, headers: object) -> None:
        return None


async def test_bulk_calls_capture_telnyx_errors_only(server: LocalServer) -> None:
    """A bug (here in a user's limiter) ends gather_many(return_exceptions=True) and iter_many."""
    async with make(server, rate_limiter=BrokenLimiter()) as telnyx:
        with pytest.raises(RuntimeError, match="limiter bug"):
            await telnyx.connections.gather_many(["1", "2"], return_exceptions=True)
        with pytest.raises(RuntimeError, match="limiter bug"):
            async for _ in telnyx.connections.iter_many(["1", "2"]):
                pass


async def test_a_subclass_of_the_default_limiter_gets_every_call(server: LocalServer) -> None:
    """A subclass of AdaptiveRateLimiter sees every request through its acquire/observe.

    (The session's coroutine-free fast path is for the class itself.)
    """

    class Counting(AdaptiveRateLimiter):
        def __init__(self) -> None:
            super().__init__()
            self.acquired = 0
            self.observed: list[int | None] = []

        async def acquire(self, *, max_wait: float) -> float:
            self.acquired += 1
            return await super().acquire(max_wait=max_wait)

        async def observe(self, status: int | None, headers: Mapping[str, str] | None) -> None:
            self.observed.append(status)
            await super().observe(status, headers)

    limiter = Counting()
    async with make(server, rate_limiter=limiter) as telnyx:
        await telnyx.connections.gather_many([str(i) for i in range(5)])
    assert limiter.acquired == 5
    assert limiter.observed == [200] * 5
    assert limiter.state.in_flight == 0


async def test_str_subclass_ids_are_sent_as_their_plain_value(server: LocalServer) -> None:
    """A str subclass cannot change the request path through overridden methods."""

    class Sneaky(str):
        def encode(self, *args: object, **kwargs: object) -> bytes:
            return b"../balance"

        def __str__(self) -> str:
            return "../balance"

    class Liar(str):
        """Claims to be plain ASCII letters and digits, which would skip percent-encoding."""

        def isascii(self) -> bool:
            return True

        def isalnum(self) -> bool:
            return True

    async with make(server) as telnyx:
        await telnyx.connections.get(Sneaky("42"))
        with contextlib.suppress(TelnyxError):
            await telnyx.connections.get(Liar("../balance"))
    [(path, _), (liar_path, _)] = server.requests
    assert path == "/v2/connections/42"
    assert liar_path == "/v2/connections/..%2Fbalance"


def test_base_url_credentials_are_refused_without_echoing_them() -> None:
    """user:password@ in the base URL is a ValueError at once, and the password is not in it.

    (aiohttp would refuse every request: credentials in the URL and a Bearer header.)
    """
    with pytest.raises(ValueError, match="credentials") as info:
        TelnyxSession(API_KEY, base_url="http://user:s3cretpass@127.0.0.1:9/v2")
    assert "s3cretpass" not in str(info.value)
    with pytest.raises(ValueError, match="base_url") as info:
        TelnyxSession(API_KEY, base_url="ftp://user:s3cretpass@host/v2")
    assert "s3cretpass" not in str(info.value)


def test_max_retries_and_retry_policy_together_are_refused() -> None:
    """The policy holds its own max_retries: passing both is a ValueError, not a silent drop."""
    with pytest.raises(ValueError, match="not both"):
        TelnyxSession(API_KEY, max_retries=5, retry_policy=RetryPolicy(max_retries=1))


class RecordingLimiter:
    """A RateLimiter that lets everything through and records what it is told."""

    def __init__(self) -> None:
        self.max_waits: list[float] = []
        self.observed: list[int | None] = []

    async def acquire(self, *, max_wait: float) -> float:
        self.max_waits.append(max_wait)
        return 0.0

    async def observe(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        self.observed.append(status)


async def test_the_call_s_deadline_bounds_what_the_limiter_may_wait(server: LocalServer) -> None:
    """deadline=2: the limiter is asked to wait at most 2 s, not max_rate_limit_wait's 60."""
    limiter = RecordingLimiter()
    async with make(server, rate_limiter=limiter) as telnyx:
        await telnyx.connections.get("7", deadline=2.0)
        await telnyx.connections.get("8")
    assert 0.0 < limiter.max_waits[0] <= 2.0
    assert limiter.max_waits[1] == 60.0


async def test_a_network_failure_is_reported_to_the_limiter() -> None:
    """Connection refused: observe(None, None) for each acquire, so nothing stays in flight."""
    limiter = RecordingLimiter()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v2"
    async with TelnyxSession(API_KEY, base_url=base_url, rate_limiter=limiter, max_retries=0) as t:
        with pytest.raises(APIConnectionError):
            await t.connections.get("7")
    assert limiter.observed == [None]
    assert len(limiter.max_waits) == 1


async def test_a_streak_holds_every_call_of_the_session(server: LocalServer) -> None:
    """Ten calls against an always-429 server: together they send at most what one call may.

    The floor spaces the session's sends, not each call's: ten calls waiting in the
    limiter when the 429s start do not multiply the requests by ten.
    """
    server.handler = failing_first([429] * 10_000, body=error_body("10011", "Too many", "x"))
    # Real sleeps, short: a fake clock shared by ten sleeping calls runs ten times fast.
    async with make(server, max_rate_limit_wait=2) as telnyx:
        results = await telnyx.connections.gather_many(
            [str(i) for i in range(10)], return_exceptions=True
        )
    assert all(isinstance(r, RateLimitError) for r in results)
    # Each call's first request, one resend each at the first strike's zero floor,
    # then the floor's probes for the whole session: not ten calls' worth of probes.
    assert len(server.requests) <= 2 * 10 + max_throttled_requests(2)


async def test_the_session_paces_through_the_default_limiter(
    server: LocalServer, sleeps: SleepRecorder
) -> None:
    """rate_limit=4: four gets in a row go 0.25 s apart, through the built-in limiter."""
    async with make(server, sleeps, rate_limit=4.0) as telnyx:
        for conn_id in "1234":
            await telnyx.connections.get(conn_id)
    assert sleeps.delays == pytest.approx([0.25, 0.25, 0.25])


@pytest.mark.parametrize(
    ("suffix", "hinted"), [("", True), ("/", True), ("/api", True), ("/v2", False)]
)
async def test_a_404_says_when_the_base_url_has_no_version(
    server: LocalServer, suffix: str, hinted: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """base_url without /v2: each 404 says so, and one WARNING per session; with it, only a 404."""

    async def not_found(request: web.Request, server: LocalServer) -> web.StreamResponse:
        return web.Response(status=404, body=error_body("10005", "Resource not found", "x"))

    server.handler = not_found
    base_url = f"http://127.0.0.1:{server.port}{suffix}"
    async with TelnyxSession(API_KEY, base_url=base_url) as telnyx:
        with pytest.raises(NotFoundError) as info:
            await telnyx.connections.get("7")
        results = await telnyx.connections.gather_many(["1", "2", "3"], return_exceptions=True)
    assert all(isinstance(r, NotFoundError) for r in results)
    root = base_url.rstrip("/")
    assert (f"has no /v2: did you mean {root}/v2?" in str(info.value)) is hinted
    assert API_KEY not in str(info.value)
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "no /v2" in r.message]
    assert len(warnings) == (1 if hinted else 0)


@pytest.mark.parametrize(
    "base_url", ["https://api.telnyx.com", "https://api.telnyx.com/", "https://API.telnyx.com/v1"]
)
def test_the_public_host_without_v2_is_refused_at_construction(base_url: str) -> None:
    """Every call to the public API without /v2 would 404: refused before any request."""
    with pytest.raises(ValueError, match=r"has no /v2: did you mean https://.*/v2\?"):
        TelnyxSession(API_KEY, base_url=base_url)
    assert TelnyxSession(API_KEY, base_url="https://api.telnyx.com/v2").base_url.endswith("/v2")
