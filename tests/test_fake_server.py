"""FakeTelnyx: API behaviour, every fault kind, counters, determinism and spec conformance."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema
import pytest
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict

from telnyx_async import (
    AnchorsiteOverride,
    AuthenticationError,
    Connection,
    NotFoundError,
    RetryPolicy,
    TelnyxSession,
)
from telnyx_async.testing import RECORD_TYPES, FakeTelnyx, Faults, generate_connections

from .conftest import SPEC_PATH, SleepRecorder, session_with_time

SPEC = yaml.safe_load(SPEC_PATH.read_text())


def spec_validator(pointer: str) -> jsonschema.protocols.Validator:
    """A validator for the schema at `pointer` in the spec, with its $refs resolvable."""
    # The whole spec is the root resource, so '#/components/...' refs resolve.
    schema = {**SPEC, "$ref": pointer}
    return jsonschema.Draft202012Validator(schema)


CONNECTION_RESPONSE = spec_validator(
    "#/components/responses/ConnectionResponse/content/application~1json/schema"
)
ERROR_RESPONSE = spec_validator("#/components/schemas/ErrorResponse")


async def fetch(
    client: aiohttp.ClientSession,
    server: FakeTelnyx,
    conn_id: str,
    *,
    key: str | None = None,
    base_url: str | None = None,
) -> tuple[int, CIMultiDict[str], bytes]:
    """One raw GET (to ``base_url``, default the server's), a dropped connection as status 0."""
    headers = {"Authorization": f"Bearer {key or server.api_key}"}
    url = f"{base_url or server.base_url}/connections/{conn_id}"
    try:
        async with client.get(url, headers=headers) as r:
            return r.status, CIMultiDict(r.headers), await r.read()
    except aiohttp.ClientPayloadError:
        return 0, CIMultiDict(), b""


@contextlib.asynccontextmanager
async def mounted(server: FakeTelnyx, middleware: Middleware) -> AsyncIterator[str]:
    """Serve ``server.app()`` behind ``middleware`` on a free port; yield its base URL."""
    app = server.app()
    app.middlewares.append(web.middleware(middleware))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v2"
    finally:
        await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_serves_its_store_and_404s_the_rest(client: aiohttp.ClientSession) -> None:
    """Known ids return {"data": Connection}; unknown ids a spec ErrorResponse 404 (10005)."""
    async with FakeTelnyx(connections=20, seed=3) as server:
        status, headers, body = await fetch(client, server, server.ids[0])
        assert status == 200
        assert json.loads(body)["data"]["id"] == server.ids[0]
        assert headers["Content-Type"].startswith("application/json")
        status, headers, body = await fetch(client, server, "999")
        assert status == 404
        assert json.loads(body)["errors"][0]["code"] == "10005"
        assert server.base_url.endswith("/v2")
        assert server.base_url.startswith("http://127.0.0.1:")


async def test_wrong_or_missing_key_is_a_401(client: aiohttp.ClientSession) -> None:
    """Only the server's own Bearer token is accepted; otherwise 401 with code 10009."""
    async with FakeTelnyx(connections=5) as server:
        status, _, body = await fetch(client, server, server.ids[0], key="wrong")
        assert status == 401
        assert json.loads(body)["errors"][0]["code"] == "10009"
        async with client.get(f"{server.base_url}/connections/{server.ids[0]}") as r:
            assert r.status == 401


async def test_every_response_has_a_request_id(client: aiohttp.ClientSession) -> None:
    """x-request-id on 200, 401, 404 and injected faults alike."""
    async with FakeTelnyx(connections=5, faults=Faults(error_rate=0.5)) as server:
        seen: Counter[int] = Counter()
        for i in range(40):
            status, headers, _ = await fetch(client, server, server.ids[i % 5])
            assert headers.get("x-request-id"), status
            seen[status] += 1
        assert 200 in seen
        assert len(seen) > 1


def test_generated_store_is_realistic_and_deterministic() -> None:
    """Same seed, same store: 19-digit ids, varied record types, all anchorsites, tags."""
    first = generate_connections(500, seed=7)
    assert first == generate_connections(500, seed=7)
    assert first != generate_connections(500, seed=8)
    assert all(c.id and c.id.isdigit() and len(c.id) == 19 for c in first)
    assert len({c.id for c in first}) == 500
    assert {c.record_type for c in first} == set(RECORD_TYPES)
    assert {c.anchorsite_override for c in first} == set(AnchorsiteOverride.ALL)
    assert any(c.tags for c in first)
    assert all(c.created_at and c.updated_at and c.created_at <= c.updated_at for c in first)


async def test_given_connections_are_served(client: aiohttp.ClientSession) -> None:
    """connections=[...] serves exactly those, as Connection objects or mappings."""
    given: list[Any] = [Connection(id="1", connection_name="a"), {"id": "2", "tags": ["x"]}]
    async with FakeTelnyx(connections=given) as server:
        assert server.ids == ["1", "2"]
        async with TelnyxSession(server.api_key, base_url=server.base_url) as telnyx:
            assert (await telnyx.connections.get("1")).connection_name == "a"
            assert (await telnyx.connections.get("2")).tags == ("x",)


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (Faults(error_rate=1.0), {500, 502, 503, 504}),
        (Faults(html_error_rate=1.0), {502}),
        (Faults(rate_limit_rate=1.0, retry_after=2), {429}),
        (Faults(drop_rate=1.0), {0}),
    ],
)
async def test_each_fault_kind(
    client: aiohttp.ClientSession, faults: Faults, expected: set[int]
) -> None:
    """Each fault kind, at rate 1, produces exactly its answers."""
    async with FakeTelnyx(connections=5, faults=faults) as server:
        answers = [await fetch(client, server, server.ids[i % 5]) for i in range(40)]
    assert {status for status, _, _ in answers} == expected
    _, headers, body = answers[0]
    if faults.html_error_rate:
        assert headers["Content-Type"].startswith("text/html")
        assert b"502 Bad Gateway" in body
    if faults.rate_limit_rate:
        assert headers["Retry-After"] == "2"
    if faults.drop_rate:
        assert server.stats.dropped == 40
    if faults.error_rate:
        assert json.loads(body)["errors"][0]["code"]


async def test_fault_rates_are_seeded_and_reproducible(client: aiohttp.ClientSession) -> None:
    """The same seed and request order give the same answers; the rate is roughly honoured."""

    async def run(seed: int) -> list[int]:
        async with FakeTelnyx(connections=10, seed=seed, faults=Faults(error_rate=0.3)) as server:
            return [(await fetch(client, server, server.ids[i % 10]))[0] for i in range(200)]

    first, again = await run(1), await run(1)
    assert first == again
    assert first != await run(2)
    assert 30 <= sum(s != 200 for s in first) <= 90


async def test_latency_does_not_reshuffle_faults_or_request_ids(
    client: aiohttp.ClientSession,
) -> None:
    """Same seed: the same faults and request ids with or without latency (separate streams)."""

    async def answers(latency: float | tuple[float, float]) -> list[tuple[int, str | None]]:
        faults = Faults(error_rate=0.3, html_error_rate=0.1, drop_rate=0.1, latency=latency)
        async with FakeTelnyx(connections=10, seed=4, faults=faults) as server:
            result = []
            for i in range(60):
                status, headers, _ = await fetch(client, server, server.ids[i % 10])
                result.append((status, headers.get("x-request-id")))
            return result

    without = await answers(0.0)
    assert {status for status, _ in without} >= {0, 200, 502}
    assert await answers((0.0001, 0.001)) == without


async def test_latency_fixed_and_ranged(client: aiohttp.ClientSession) -> None:
    """Added latency delays every answer by at least the configured time."""
    loop = asyncio.get_running_loop()
    for latency in (0.03, (0.03, 0.04)):
        async with FakeTelnyx(connections=1, faults=Faults(latency=latency)) as server:
            start = loop.time()
            await fetch(client, server, server.ids[0])
            assert loop.time() - start >= 0.029


async def test_token_bucket_rate_limit_answers_like_the_api(client: aiohttp.ClientSession) -> None:
    """Past the bucket, 429 with code 10011 and x-ratelimit-* headers, no Retry-After."""
    async with FakeTelnyx(connections=3, faults=Faults(rate_limit_rps=5)) as server:
        answers = [await fetch(client, server, server.ids[0]) for _ in range(12)]
    statuses = [a[0] for a in answers]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]
    _, headers, body = next(a for a in answers if a[0] == 429)
    assert json.loads(body)["errors"][0]["code"] == "10011"
    assert headers["x-ratelimit-remaining"] == "0"
    assert headers["x-ratelimit-limit"] == "5"
    assert 0 < float(headers["x-ratelimit-reset"]) <= 1.0
    assert "Retry-After" not in headers


async def test_client_rides_out_the_rate_limit(client: aiohttp.ClientSession) -> None:
    """Over a fixed-window limit: 429s, which the session waits out to get every id.

    Real (sub-second) waits: the fake's windows run on the real clock, so a fake
    sleep would only retry into the same window. What is asserted does not depend
    on how many requests the session starts before its first answer, nor on when
    they land: only that some are refused, each refusal is seen, and every id
    comes back.
    """
    async with FakeTelnyx(connections=10) as server:
        async with TelnyxSession(server.api_key, base_url=server.base_url) as telnyx:
            # Assigned now, so the first window starts now, and used up at once by a
            # request of our own: the session's first request (it knows nothing of the
            # limit yet) lands in a used-up window. Even if the machine stalls past
            # that window, the requests it starts before its first answer are only
            # all accepted if each lands in a window of its own (1 per 0.25 s): 429s
            # do not hinge on the start-up window's size or on the burst's timing.
            server.faults = Faults(window_limit=1, window=0.25)
            status, headers, _ = await fetch(client, server, server.ids[0])
            assert (status, headers["x-ratelimit-remaining"]) == (200, "0")
            conns = await telnyx.connections.gather_many(server.ids, concurrency=10)
            stats = telnyx.stats
        assert [c.id for c in conns] == server.ids
        assert server.stats.responses[200] == 1 + len(server.ids)
        # Refused, and waited out: after a 429 the session holds every request until
        # the window's reset, so no id is refused twice (a session resending at once,
        # slowed only by its 429 floor, draws over 60 here).
        assert 1 <= server.stats.responses[429] <= len(server.ids)
        assert stats.rate_limited == server.stats.responses[429]
        assert stats.responses[429] == server.stats.responses[429]


async def test_faults_change_while_running(client: aiohttp.ClientSession) -> None:
    """Assigning server.faults takes effect for the next request."""
    async with FakeTelnyx(connections=2) as server:
        assert (await fetch(client, server, server.ids[0]))[0] == 200
        server.faults = Faults(error_rate=1.0)
        assert (await fetch(client, server, server.ids[0]))[0] >= 500
        server.faults = Faults()
        assert (await fetch(client, server, server.ids[0]))[0] == 200


def test_faults_change_from_the_tests_thread() -> None:
    """On a serve_in_thread server, faults assigned from the test's thread apply next request."""

    async def status_of(server: FakeTelnyx) -> int:
        async with aiohttp.ClientSession() as client:
            return (await fetch(client, server, server.ids[0]))[0]

    with FakeTelnyx(connections=2).serve_in_thread() as server:
        server.faults = Faults(window_limit=1, window=3600)
        assert [asyncio.run(status_of(server)) for _ in range(3)] == [200, 429, 429]
        server.faults = Faults()
        assert asyncio.run(status_of(server)) == 200


async def test_a_request_keeps_the_faults_it_arrived_with(client: aiohttp.ClientSession) -> None:
    """Faults swapped mid-request: that request still answers under the old faults and limiter."""
    server = FakeTelnyx(connections=2, faults=Faults(latency=0.05, window_limit=100, window=3600))
    arrived = asyncio.Event()

    async def announce(request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived.set()  # the test wakes once the handler has read its faults and is waiting
        return await handler(request)

    async with mounted(server, announce) as base_url:
        pending = asyncio.create_task(fetch(client, server, server.ids[0], base_url=base_url))
        await arrived.wait()
        server.faults = Faults()  # no limiter from now on
        status, headers, _ = await pending
        assert status == 200
        assert headers["x-ratelimit-limit"] == "100"
        later = await fetch(client, server, server.ids[0], base_url=base_url)
        assert "x-ratelimit-limit" not in later[1]


async def test_counters(client: aiohttp.ClientSession) -> None:
    """Requests, responses by status and the in-flight high-water mark are counted.

    The five requests are held at the door until all have arrived, then let in
    together: they are in flight at once on any machine, however slow.
    """
    server = FakeTelnyx(connections=4, faults=Faults(latency=0.001))
    arrived, release = asyncio.Event(), asyncio.Event()
    waiting = 0

    async def hold(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal waiting
        waiting += 1
        if waiting == 5:
            arrived.set()
        await release.wait()
        return await handler(request)

    async with mounted(server, hold) as base_url:
        requests = asyncio.gather(
            *(fetch(client, server, i, base_url=base_url) for i in [*server.ids, "nope"])
        )
        await arrived.wait()
        assert server.stats.requests == 0
        release.set()  # all five wake in one turn of the loop
        await requests
    assert server.stats.requests == 5
    assert server.stats.responses == {200: 4, 404: 1}
    assert server.stats.max_in_flight == 5
    assert server.stats.in_flight == 0


def test_bad_fault_rates_are_refused() -> None:
    """Rates outside 0..1, or adding up to more than 1, are a ValueError."""
    with pytest.raises(ValueError, match="rates"):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError, match="rates"):
        Faults(error_rate=0.6, drop_rate=0.6)


async def test_session_gets_every_id_despite_all_faults(sleeps: SleepRecorder) -> None:
    """With every fault kind at once, retries bring back every connection intact."""
    faults = Faults(
        error_rate=0.1, html_error_rate=0.05, rate_limit_rate=0.05, drop_rate=0.05, retry_after=0
    )
    async with FakeTelnyx(connections=300, seed=5, faults=faults) as server:
        async with session_with_time(
            sleeps,
            server.api_key,
            base_url=server.base_url,
            retry_policy=RetryPolicy(max_retries=12),
        ) as telnyx:
            conns = await telnyx.connections.gather_many(server.ids, concurrency=20)
            assert telnyx.stats.retries > 0
        assert conns == [server.connections[i] for i in server.ids]
        assert server.stats.dropped > 0


async def test_typed_errors_from_the_fake() -> None:
    """The client maps the fake's 404 and 401 to NotFoundError and AuthenticationError."""
    async with FakeTelnyx(connections=1) as server:
        async with TelnyxSession(server.api_key, base_url=server.base_url) as telnyx:
            with pytest.raises(NotFoundError) as info:
                await telnyx.connections.get("404")
            assert info.value.request_id
        async with TelnyxSession("wrong", base_url=server.base_url) as telnyx:
            with pytest.raises(AuthenticationError, match="10009"):
                await telnyx.connections.get(server.ids[0])


def test_serve_in_thread_for_sync_code() -> None:
    """serve_in_thread runs the server on its own loop, usable from any other loop."""

    async def lookup(base_url: str, key: str, conn_id: str) -> Connection:
        async with TelnyxSession(key, base_url=base_url) as telnyx:
            return await telnyx.connections.get(conn_id)

    with FakeTelnyx(connections=3).serve_in_thread() as server:
        conn = asyncio.run(lookup(server.base_url, server.api_key, server.ids[1]))
        assert conn == server.connections[server.ids[1]]
        port = server.port
    with pytest.raises(ConnectionRefusedError):  # the port is closed after the block
        asyncio.run(asyncio.open_connection("127.0.0.1", port))


async def test_every_response_body_conforms_to_the_spec(client: aiohttp.ClientSession) -> None:
    """Every JSON body the fake produces validates against the spec's schemas.

    200s against ConnectionResponse (and they carry `data`), errors against
    ErrorResponse; the HTML 502 is the only non-JSON answer, by design.
    """
    faults = Faults(error_rate=0.2, rate_limit_rate=0.1, html_error_rate=0.05)
    checked: Counter[int | str] = Counter()
    async with FakeTelnyx(connections=2000, seed=11, faults=faults) as server:
        ids = [*server.ids, "unknown-1", "42"]
        for conn_id in ids:
            status, headers, body = await fetch(client, server, conn_id)
            if headers.get("Content-Type", "").startswith("text/html"):
                assert status == 502
                checked["html"] += 1
                continue
            document = json.loads(body)
            if status == 200:
                CONNECTION_RESPONSE.validate(document)
                assert set(document) == {"data"}
            else:
                ERROR_RESPONSE.validate(document)
                assert document["errors"]
            checked[status] += 1
        for _ in range(3):
            status, _, body = await fetch(client, server, server.ids[0], key="bad")
            ERROR_RESPONSE.validate(json.loads(body))
            checked[status] += 1
    assert checked[200] > 1000
    assert {401, 404, 429, "html"} <= set(checked)
    assert {500, 502, 503, 504} & set(checked)


def test_the_validator_can_fail() -> None:
    """The conformance check above rejects what the spec forbids."""
    with pytest.raises(jsonschema.ValidationError):
        CONNECTION_RESPONSE.validate({"data": {"anchorsite_override": 7}})
    with pytest.raises(jsonschema.ValidationError):
        CONNECTION_RESPONSE.validate({"data": {"webhook_api_version": "3"}})
    with pytest.raises(jsonschema.ValidationError):
        ERROR_RESPONSE.validate({"errors": [{"code": 10005}]})
