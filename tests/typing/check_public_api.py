"""Uses the public API as a user would; checked by ``mypy --strict``, never run by pytest."""

from __future__ import annotations

import datetime as dt
from contextlib import aclosing
from typing import assert_type

import telnyx_async
from telnyx_async import Connection, NotFoundError, TelnyxError, TelnyxSession


async def paced_code(ids: list[str]) -> None:
    limiter: telnyx_async.RateLimiter = telnyx_async.AdaptiveRateLimiter(rate_limit=50)
    async with TelnyxSession(
        "key",
        rate_limiter=limiter,
        retry_budget=telnyx_async.RetryBudget(ratio=0.2),
        max_rate_limit_wait=30,
    ) as telnyx:
        conn = await telnyx.connections.get("1", deadline=2.5)
        assert_type(conn, Connection)
        assert_type(await telnyx.connections.gather_many(ids, deadline=10), list[Connection])
        try:
            await telnyx.connections.get("2")
        except TimeoutError as exc:
            assert_type(exc, TimeoutError)
        except telnyx_async.RateLimitError as exc:
            assert_type(exc.retry_after, float | None)
            assert_type(exc.attempts, int)


async def user_code(ids: list[str]) -> None:
    async with TelnyxSession("key", base_url="http://127.0.0.1:8080/v2") as telnyx:
        conn = await telnyx.connections.get("1293384261075731499")
        assert_type(conn, Connection)
        assert_type(conn.connection_name, str | None)
        assert_type(conn.created_at, dt.datetime | None)
        assert_type(conn.tags, tuple[str, ...] | None)

        assert_type(await telnyx.connections.gather_many(ids), list[Connection])
        mixed = await telnyx.connections.gather_many(ids, concurrency=8, return_exceptions=True)
        assert_type(mixed, list[Connection | TelnyxError])

        async with aclosing(telnyx.connections.iter_many(iter(ids))) as results:
            async for conn_id, result in results:
                assert_type(conn_id, str)
                assert_type(result, Connection | TelnyxError)

        try:
            await telnyx.connections.get("x")
        except NotFoundError as exc:
            assert_type(exc.status, int)
            assert_type(exc.request_id, str | None)
            assert_type(exc.errors[0].code, str | None)

        assert_type(telnyx.stats.responses, dict[int, int])
    assert_type(telnyx_async.__version__, str)


async def fleet_code(ids: list[str]) -> None:
    limiter = telnyx_async.RedisRateLimiter(
        "redis://127.0.0.1:6379/0", rate=200, key="telnyx:acct-1", fallback_rate=50
    )
    shared: telnyx_async.RateLimiter = limiter
    async with limiter, TelnyxSession("key", rate_limiter=shared) as telnyx:
        assert_type(await telnyx.connections.gather_many(ids), list[Connection])
    assert_type(limiter.stats, telnyx_async.RedisLimiterStats)
    assert_type(limiter.stats.round_trips, int)
    assert_type(limiter.sharing, bool)


async def sorted_listing(telnyx: TelnyxSession) -> None:
    async for conn in telnyx.connections.list(sort="-connection_name"):
        assert_type(conn, Connection)
    order: telnyx_async.ConnectionSort = "active"
    telnyx.connections.list(sort=order)
    telnyx.connections.list(sort="bogus")  # type: ignore[arg-type]  # a typo is caught
