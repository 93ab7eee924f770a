"""Tracing hooks, structured DEBUG records, TELNYX_LOG and the pool-size warning."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from types import SimpleNamespace
from typing import TypeVar

import aiohttp
import pytest
from aiohttp import web

from telnyx_async import NotFoundError, TelnyxError, TelnyxSession
from telnyx_async.testing import FakeTelnyx

from .conftest import API_KEY, LocalServer, SleepRecorder, ok_handler, session_with_time

T = TypeVar("T")


def make(server: LocalServer, **kwargs: object) -> TelnyxSession:
    return TelnyxSession(API_KEY, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


async def test_trace_configs_see_every_request(server: LocalServer) -> None:
    """A TraceConfig given to the session sees each request start and end, with its URL."""
    seen: list[tuple[str, str]] = []

    async def on_start(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        seen.append(("start", params.url.path))

    async def on_end(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        seen.append(("end", str(params.response.status)))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    async with make(server, trace_configs=[trace]) as telnyx:
        await telnyx.connections.gather_many(["1", "2"])
    assert sorted(seen) == [
        ("end", "200"),
        ("end", "200"),
        ("start", "/v2/connections/1"),
        ("start", "/v2/connections/2"),
    ]


def test_trace_configs_with_a_lent_session_are_refused() -> None:
    """They belong on the lent session itself: saying so beats silently dropping them."""
    with pytest.raises(ValueError, match="trace_configs"):
        TelnyxSession(API_KEY, session=object(), trace_configs=[aiohttp.TraceConfig()])  # type: ignore[arg-type]


async def test_debug_records_have_structured_fields_and_no_key(
    server: LocalServer, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Each attempt and retry is a DEBUG record with extra fields; the key is in none."""
    caplog.set_level(logging.DEBUG, logger="telnyx_async")
    statuses = [503]

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        if statuses:
            return web.Response(status=statuses.pop(), headers={"x-request-id": "req-9"})
        return await ok_handler(request, server)

    server.handler = handler
    async with session_with_time(sleeps, API_KEY, base_url=server.base_url) as telnyx:
        await telnyx.connections.get("42")
    records = [r for r in caplog.records if r.name == "telnyx_async"]
    attempts = [r for r in records if hasattr(r, "http_status")]
    retries = [r for r in records if hasattr(r, "retry_delay")]
    assert [(r.http_status, r.attempt) for r in attempts] == [(503, 1), (200, 2)]  # type: ignore[attr-defined]
    assert attempts[0].request_id == "req-9"  # type: ignore[attr-defined]
    assert attempts[0].http_path == "/v2/connections/42"  # type: ignore[attr-defined]
    assert all(r.elapsed >= 0 for r in attempts)  # type: ignore[attr-defined]
    assert [r.retry_reason for r in retries] == ["HTTP 503"]  # type: ignore[attr-defined]
    assert API_KEY not in caplog.text


def test_telnyx_log_sends_records_to_stderr(server_url_script: str) -> None:
    """TELNYX_LOG=debug turns the records on, on stderr, without any logging setup."""
    env = {**os.environ, "TELNYX_LOG": "debug"}
    result = subprocess.run(
        [sys.executable, "-c", server_url_script], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "telnyx_async DEBUG GET /v2/connections/7 attempt 1: HTTP 200" in result.stderr
    quiet = subprocess.run(
        [sys.executable, "-c", server_url_script],
        env={k: v for k, v in env.items() if k != "TELNYX_LOG"},
        capture_output=True,
        text=True,
    )
    assert "telnyx_async" not in quiet.stderr


@pytest.fixture
def server_url_script() -> str:
    """A script that looks up one id on a FakeTelnyx of its own."""
    return (
        "import asyncio\n"
        "from telnyx_async import TelnyxSession\n"
        "from telnyx_async.testing import FakeTelnyx\n"
        "async def main():\n"
        "    async with FakeTelnyx(connections=[{'id': '7'}]) as server:\n"
        "        async with TelnyxSession(server.api_key, base_url=server.base_url) as t:\n"
        "            await t.connections.get('7')\n"
        "asyncio.run(main())\n"
    )


async def test_more_concurrency_than_the_pool_warns_once(
    server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    """concurrency=256 on pool_size=100: one WARNING naming both numbers and the fix."""
    caplog.set_level(logging.WARNING, logger="telnyx_async")
    async with make(server) as telnyx:
        await telnyx.connections.gather_many(["1", "2"], concurrency=256)
        await telnyx.connections.gather_many(["3"], concurrency=256)
        await telnyx.connections.gather_many(["4"], concurrency=100)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "concurrency=256" in warnings[0]
    assert "pool_size=100" in warnings[0]


async def _break_iter_many(telnyx: TelnyxSession, ids: list[str]) -> None:
    async with aclosing(telnyx.connections.iter_many(ids)) as results:
        async for n, _ in enumerate_async(results):
            if n == 9:
                break


async def _fail_fast(telnyx: TelnyxSession, ids: list[str]) -> None:
    with pytest.raises(NotFoundError):
        await telnyx.connections.gather_many([*ids[:20], "404404", *ids[20:]])


async def _cancel(telnyx: TelnyxSession, ids: list[str]) -> None:
    call = asyncio.ensure_future(telnyx.connections.gather_many(ids))
    await asyncio.sleep(0.02)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def _close(telnyx: TelnyxSession, ids: list[str]) -> None:
    call = asyncio.ensure_future(telnyx.connections.gather_many(ids, return_exceptions=True))
    await asyncio.sleep(0.02)
    await telnyx.close()
    results = await call
    assert any(isinstance(r, TelnyxError) for r in results)


async def enumerate_async(items: AsyncIterator[T]) -> AsyncIterator[tuple[int, T]]:
    n = 0
    async for item in items:
        yield n, item
        n += 1


@pytest.mark.parametrize("end", [_break_iter_many, _fail_fast, _cancel, _close])
async def test_stats_requests_is_what_the_server_saw(
    end: Callable[[TelnyxSession, list[str]], Awaitable[None]],
) -> None:
    """A call broken off, failed fast, cancelled or closed counts only what was sent.

    Requests the client sent may reach the server's handler a moment later: the
    two counts are compared until they agree (at most 5 s), and must then.
    """
    async with FakeTelnyx(connections=200, seed=1) as server:
        async with TelnyxSession(server.api_key, base_url=server.base_url) as telnyx:
            await end(telnyx, list(server.ids))
            counted = telnyx.stats.requests
        for _ in range(500):
            if server.stats.requests == counted:
                break
            await asyncio.sleep(0.01)
        assert (counted, server.stats.requests) == (server.stats.requests, counted)
        assert counted > 0
