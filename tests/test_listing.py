"""connections.list() and count(): pagination, prefetch, shifts, filters, sort, validation."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import cast
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from aiohttp import web

from telnyx_async import (
    APITimeoutError,
    AuthenticationError,
    Connection,
    ConnectionListing,
    ConnectionSort,
    InternalServerError,
    Page,
    ResponseValidationError,
    RetryPolicy,
    TelnyxSession,
)
from telnyx_async.testing import FakeTelnyx, Faults, generate_connections

from .conftest import LocalServer

FAST = RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.002)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelnyx]:
    async with FakeTelnyx(connections=120, seed=5) as server:
        yield server


def session_for(server: FakeTelnyx | LocalServer, **options: object) -> TelnyxSession:
    key = server.api_key if isinstance(server, FakeTelnyx) else "KEYlisting"
    return TelnyxSession(key, base_url=server.base_url, retry_policy=FAST, **options)  # type: ignore[arg-type]


def newest_first(server: FakeTelnyx) -> list[str]:
    """The API's default order, computed here independently of the fake's code."""
    conns = sorted(server.connections.values(), key=lambda c: (c.created_at, c.id), reverse=True)
    return [c.id for c in conns if c.id]


# -- pagination end to end ------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "page_size"),
    [
        (0, 250),  # nothing: one request, no page after it
        (7, 250),  # one partial page
        (40, 20),  # exactly full pages: no empty third request
        (97, 10),  # many pages, the last one partial
        (5, 1),  # pages of one
    ],
)
async def test_walks_every_page_once_in_order(count: int, page_size: int) -> None:
    async with FakeTelnyx(connections=count, seed=count) as server, session_for(server) as telnyx:
        listing = telnyx.connections.list(page_size=page_size)
        ids = [conn.id async for conn in listing]
        assert ids == newest_first(server)
        assert server.stats.requests == max(1, math.ceil(count / page_size))
        assert not listing.changed
        metas = [page.meta async for page in listing.pages()]
    assert [m.page_number for m in metas] == list(range(1, max(1, len(metas)) + 1))
    assert all(m.total_results == count and m.page_size == page_size for m in metas)


async def test_list_pages_are_typed_pages(fake: FakeTelnyx) -> None:
    async with session_for(fake) as telnyx:
        pages = [page async for page in telnyx.connections.list(page_size=50).pages()]
    assert [len(p.data) for p in pages] == [50, 50, 20]
    assert all(isinstance(p, Page) for p in pages)
    assert all(isinstance(c, Connection) for p in pages for c in p.data)
    assert pages[-1].meta.total_pages == 3


async def test_a_listing_walks_again_from_page_one(fake: FakeTelnyx) -> None:
    async with session_for(fake) as telnyx:
        listing = telnyx.connections.list(page_size=100)
        first = [c.id async for c in listing]
        second = [c.id async for c in listing]
    assert first == second
    assert len(first) == 120


async def test_count_is_one_request_of_one_item(fake: FakeTelnyx) -> None:
    async with session_for(fake) as telnyx:
        assert await telnyx.connections.count() == 120
        office = [
            c for c in fake.connections.values() if "OFF" in (c.connection_name or "").upper()
        ]
        assert await telnyx.connections.count(name_contains="oFf") == len(office)
    assert fake.stats.requests == 2


# -- a page that fails, and the machinery pages share with get() ------------------------


def page_server(
    conns: list[Connection], fail: Callable[[int, int], int | None] | None = None
) -> Callable[[web.Request, LocalServer], Awaitable[web.StreamResponse]]:
    """A list endpoint over ``conns``; ``fail(page, attempt)`` may answer a status instead."""
    attempts: dict[int, int] = {}

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        query = request.query
        number, size = int(query["page[number]"]), int(query["page[size]"])
        attempts[number] = attempts.get(number, 0) + 1
        status = fail(number, attempts[number]) if fail else None
        if status is not None:
            return web.json_response({"errors": []}, status=status)
        chunk = conns[(number - 1) * size : number * size]
        meta = {
            "page_number": number,
            "page_size": size,
            "total_pages": math.ceil(len(conns) / size),
            "total_results": len(conns),
        }
        body = {"data": [json.loads(_encode(c)) for c in chunk], "meta": meta}
        return web.json_response(body)

    return handler


async def walk_into(seen: list[str | None], listing: ConnectionListing) -> None:
    """Walk ``listing``, keeping each id in ``seen`` as it comes (kept if the walk fails)."""
    async for conn in listing:
        seen.append(conn.id)


def _encode(conn: Connection) -> bytes:
    import msgspec

    return msgspec.json.encode(conn)


async def test_a_page_failing_transiently_is_retried_not_skipped_nor_repeated(
    server: LocalServer,
) -> None:
    conns = generate_connections(25, seed=3)
    server.handler = page_server(
        conns, fail=lambda page, attempt: 503 if page == 3 and attempt < 3 else None
    )
    async with session_for(server) as telnyx:
        ids = [c.id async for c in telnyx.connections.list(page_size=5)]
        assert telnyx.stats.retries == 2
    assert ids == [c.id for c in conns]
    pages = [dict(parse_qsl(urlsplit(path).query))["page[number]"] for path, _ in server.requests]
    assert pages == ["1", "2", "3", "3", "3", "4", "5"]


async def test_a_page_failing_for_good_is_raised_when_the_walk_reaches_it(
    server: LocalServer,
) -> None:
    conns = generate_connections(20, seed=3)
    server.handler = page_server(conns, fail=lambda page, attempt: 500 if page == 3 else None)
    seen: list[str | None] = []
    async with session_for(server) as telnyx:
        with pytest.raises(InternalServerError) as caught:
            await walk_into(seen, telnyx.connections.list(page_size=5))
    # Every connection before the failing page was yielded first, none after it.
    assert seen == [c.id for c in conns[:10]]
    assert caught.value.request is not None
    assert "page%5Bnumber%5D=3" in caught.value.request


async def test_pages_under_faults_come_back_complete(fake: FakeTelnyx) -> None:
    fake.faults = Faults(
        error_rate=0.2, html_error_rate=0.05, drop_rate=0.05, rate_limit_rate=0.05, retry_after=0.01
    )
    policy = RetryPolicy(max_retries=10, initial_delay=0.001, max_delay=0.01)
    async with TelnyxSession(fake.api_key, base_url=fake.base_url, retry_policy=policy) as telnyx:
        ids = [c.id async for c in telnyx.connections.list(page_size=10)]
        assert telnyx.stats.retries + telnyx.stats.rate_limited > 0
    assert ids == newest_first(fake)


async def test_a_wrong_key_fails_the_walk_at_once(fake: FakeTelnyx) -> None:
    async with TelnyxSession("KEYwrong", base_url=fake.base_url) as telnyx:
        with pytest.raises(AuthenticationError):
            _ = [c async for c in telnyx.connections.list()]
    assert fake.stats.requests == 1


async def test_a_page_without_totals_is_a_validation_error(server: LocalServer) -> None:
    async def handler(request: web.Request, srv: LocalServer) -> web.StreamResponse:
        return web.json_response({"data": []})

    server.handler = handler
    async with session_for(server) as telnyx:
        with pytest.raises(ResponseValidationError, match="meta"):
            await telnyx.connections.count()
        with pytest.raises(ResponseValidationError, match="meta"):
            _ = [c async for c in telnyx.connections.list()]


async def test_a_page_with_a_wrong_field_names_it(server: LocalServer) -> None:
    async def handler(request: web.Request, srv: LocalServer) -> web.StreamResponse:
        meta = {"page_number": 1, "page_size": 2, "total_pages": 1, "total_results": 2}
        return web.json_response(
            {"data": [{"id": "1"}, {"id": "2", "active": "yes"}], "meta": meta}
        )

    server.handler = handler
    async with session_for(server) as telnyx:
        with pytest.raises(ResponseValidationError, match=r"\$\.data\[1\]\.active"):
            _ = [c async for c in telnyx.connections.list()]


async def test_the_deadline_bounds_the_whole_walk(fake: FakeTelnyx) -> None:
    fake.faults = Faults(latency=0.15)
    async with session_for(fake) as telnyx:
        seen: list[str | None] = []
        with pytest.raises(APITimeoutError):
            await walk_into(seen, telnyx.connections.list(page_size=10, deadline=0.4))
    assert 10 <= len(seen) < 120


# -- prefetch: one page ahead, never more, cancelled when the walk ends -------------------


def gated(
    conns: list[Connection], gate: asyncio.Event
) -> Callable[[web.Request, LocalServer], Awaitable[web.StreamResponse]]:
    """Pages over ``conns``; every page after the first waits for ``gate``."""
    serve = page_server(conns)

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        if request.query["page[number]"] != "1":
            await gate.wait()
        return await serve(request, server)

    return handler


async def test_the_next_page_is_in_flight_while_the_caller_holds_this_one(
    server: LocalServer,
) -> None:
    conns = generate_connections(30, seed=1)
    gate = asyncio.Event()
    server.handler = gated(conns, gate)
    async with (
        session_for(server) as telnyx,
        aclosing(telnyx.connections.list(page_size=10).pages()) as pages,
    ):
        async for page in pages:
            # Page k in hand: page k+1 is already requested, and nothing beyond it.
            number = page.meta.page_number or 0
            if number < 3:
                await server.until(lambda s: s.in_flight == 1)
                await asyncio.sleep(0.02)  # time for a wrongly eager walk to ask for k+2
                assert len(server.requests) == number + 1
            gate.set()
            gate.clear()
    assert server.max_in_flight == 1
    assert len(server.requests) == 3


@pytest.mark.parametrize("closing", [True, False])
async def test_leaving_early_cancels_the_page_in_flight(server: LocalServer, closing: bool) -> None:
    conns = generate_connections(30, seed=1)
    gate = asyncio.Event()  # never set: page 2 would hang forever
    server.handler = gated(conns, gate)
    async with session_for(server) as telnyx:
        listing = telnyx.connections.list(page_size=10)
        if closing:
            async with aclosing(listing.pages()) as pages:
                async for _ in pages:
                    await server.until(lambda s: s.in_flight == 1)
                    break
        else:
            async for _ in listing:
                await server.until(lambda s: s.in_flight == 1)
                break
        # The abandoned walk is closed by the loop shortly; nothing may stay in flight.
        await server.until(lambda s: s.in_flight == 0)
        for _ in range(5):
            await asyncio.sleep(0)
        assert asyncio.all_tasks() == {asyncio.current_task()}
    assert server.cancelled == 1
    assert len(server.requests) == 2


async def test_a_prefetch_error_after_the_caller_left_is_not_reported(
    server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The page fetched ahead fails after the caller stopped: no 'never retrieved' error."""
    conns = generate_connections(30, seed=1)
    server.handler = page_server(conns, fail=lambda page, attempt: 400 if page == 2 else None)
    async with (
        session_for(server) as telnyx,
        aclosing(telnyx.connections.list(page_size=10).pages()) as pages,
    ):
        async for _ in pages:
            await server.until(lambda s: s.served == 2)
            await asyncio.sleep(0.02)  # the prefetch task has failed by now
            break
    gc.collect()  # a task whose exception nobody retrieved reports it when collected
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


# -- a listing that changes during the walk ---------------------------------------------


async def served(fake: FakeTelnyx, pages: int) -> None:
    """Wait until the fake has answered ``pages`` pages (the one fetched ahead included)."""
    async with asyncio.timeout(10):
        while fake.stats.responses.get(200, 0) < pages:  # noqa: ASYNC110 (the fake has no event)
            await asyncio.sleep(0.005)


async def test_a_connection_added_mid_walk_is_seen_twice_and_reported(
    fake: FakeTelnyx, caplog: pytest.LogCaptureFixture
) -> None:
    newest = max(c.created_at for c in fake.connections.values() if c.created_at)
    seen: list[str | None] = []
    async with session_for(fake) as telnyx:
        listing = telnyx.connections.list(page_size=50)
        with caplog.at_level(logging.WARNING, logger="telnyx_async"):
            async with aclosing(listing.pages()) as pages:
                async for page in pages:
                    if page.meta.page_number == 1:
                        # Added ahead of the walk's position (newest first), after page 2
                        # has been fetched ahead: page 3 shifts by one.
                        await served(fake, 2)
                        fake.add_connection(
                            {
                                "id": "9" * 19,
                                "created_at": newest.isoformat(),
                                "connection_name": "new",
                            }
                        )
                    seen.extend(c.id for c in page.data)
    assert listing.changed
    assert listing.repeated == 1
    assert len(seen) == 121  # the walk's 120 and one repeated; the new one is before it
    assert len(set(seen)) == 120
    assert "9" * 19 not in seen
    assert sum("listing changed during the walk" in r.getMessage() for r in caplog.records) == 1


async def test_a_connection_deleted_mid_walk_shifts_one_out_of_sight(fake: FakeTelnyx) -> None:
    order = newest_first(fake)
    seen: list[str | None] = []
    async with session_for(fake) as telnyx:
        listing = telnyx.connections.list(page_size=50)
        async for conn in listing:
            if len(seen) == 0:
                await served(fake, 2)
                fake.delete_connection(order[0])
            seen.append(conn.id)
    assert listing.changed
    assert listing.repeated == 0
    # Page 2 was fetched before the delete (prefetch): page 3 is the one that shifted.
    assert seen == order[:100] + order[101:]


async def test_an_unchanged_listing_is_not_reported(fake: FakeTelnyx) -> None:
    async with session_for(fake) as telnyx:
        listing = telnyx.connections.list(page_size=7)
        assert len([c async for c in listing]) == 120
    assert not listing.changed
    assert listing.repeated == 0


# -- filters and sort against the fake --------------------------------------------------


async def test_filters_match_the_spec(fake: FakeTelnyx) -> None:
    conns = list(fake.connections.values())
    some = conns[17]
    assert some.id
    assert some.outbound_voice_profile_id
    fqdn_id = next(c.id for c in conns if c.id and fake.fqdn_of(c.id))
    assert fqdn_id
    fqdn = fake.fqdn_of(fqdn_id)
    assert fqdn
    async with session_for(fake) as telnyx:
        by_name = [c async for c in telnyx.connections.list(name_contains="TRUNK")]
        by_fqdn = [c async for c in telnyx.connections.list(fqdn=fqdn)]
        by_wrong_case = [c async for c in telnyx.connections.list(fqdn=fqdn.upper())]
        by_profile = [
            c
            async for c in telnyx.connections.list(
                outbound_voice_profile_id=some.outbound_voice_profile_id
            )
        ]
        both = [
            c
            async for c in telnyx.connections.list(
                name_contains="trunk", outbound_voice_profile_id=some.outbound_voice_profile_id
            )
        ]
    expected = {c.id for c in conns if "trunk" in (c.connection_name or "").lower()}
    assert expected
    assert {c.id for c in by_name} == expected
    assert [c.id for c in by_fqdn] == [fqdn_id]
    assert by_wrong_case == []  # exact, case-sensitive match
    assert [c.id for c in by_profile] == [some.id]
    assert both == [c for c in by_profile if c.id in expected]


@pytest.mark.parametrize("key", ["created_at", "connection_name", "active"])
@pytest.mark.parametrize("descending", [False, True])
async def test_sort_orders_by_the_key(fake: FakeTelnyx, key: str, descending: bool) -> None:
    async with session_for(fake) as telnyx:
        conns = [
            c
            async for c in telnyx.connections.list(
                sort=cast(ConnectionSort, ("-" if descending else "") + key), page_size=25
            )
        ]
    values = [getattr(c, key) for c in conns]
    assert values == sorted(values, reverse=descending)
    assert len({c.id for c in conns}) == 120


# -- arguments are checked before any request -------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"page_size": 0}, ValueError, "page_size must be from 1 to 250"),
        ({"page_size": 251}, ValueError, "page_size"),
        ({"page_size": True}, TypeError, "page_size must be an int"),
        ({"page_size": "10"}, TypeError, "page_size"),
        ({"sort": "name"}, ValueError, "sort must be one of created_at, connection_name, active"),
        ({"sort": "--created_at"}, ValueError, "sort"),
        ({"sort": "created_at "}, ValueError, "sort"),
        ({"name_contains": "ab"}, ValueError, "at least 3 characters"),
        ({"name_contains": 123}, TypeError, "name_contains must be a str"),
        ({"fqdn": ""}, ValueError, "fqdn must not be empty"),
        ({"outbound_voice_profile_id": "12a"}, ValueError, "numeric id"),
        ({"outbound_voice_profile_id": "١٢٣"}, ValueError, "numeric id"),  # non-ASCII digits
        ({"name_contains": "ab\ud800c"}, ValueError, "lone surrogate"),
        ({"deadline": 0}, ValueError, "deadline must be > 0"),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    fake: FakeTelnyx, options: dict[str, object], error: type[Exception], match: str
) -> None:
    async with session_for(fake) as telnyx:
        with pytest.raises(error, match=match):
            telnyx.connections.list(**options)  # type: ignore[arg-type]
        count_options = {k: v for k, v in options.items() if k not in ("page_size", "sort")}
        if count_options:
            with pytest.raises(error, match=match):
                await telnyx.connections.count(**count_options)  # type: ignore[arg-type]
    assert fake.stats.requests == 0


async def test_filter_values_are_encoded_as_one_query_value(server: LocalServer) -> None:
    server.handler = page_server([])
    async with session_for(server) as telnyx:
        _ = [c async for c in telnyx.connections.list(name_contains="a&sort=x#y", sort="-active")]
    path = server.requests[0][0]
    assert dict(parse_qsl(urlsplit(path).query)) == {
        "filter[connection_name][contains]": "a&sort=x#y",
        "sort": "-active",
        "page[number]": "1",
        "page[size]": "250",
    }


# -- the fake's list endpoint, raw ------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page[size]=0", "page[size]"),
        ("page[size]=251", "page[size]"),
        ("page[number]=0", "page[number]"),
        ("page[number]=x", "page[number]"),
        ("sort=name", "sort"),
        ("filter[connection_name][contains]=ab", "filter[connection_name][contains]"),
    ],
)
async def test_the_fake_refuses_what_the_spec_refuses(
    fake: FakeTelnyx, query: str, parameter: str
) -> None:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    url = f"{fake.base_url}/connections?{query}"
    async with aiohttp.ClientSession() as client, client.get(url, headers=headers) as r:
        assert r.status == 400
        body = await r.json()
    assert body["errors"][0]["code"] == "10015"
    assert body["errors"][0]["source"] == {"parameter": parameter}


async def test_a_page_past_the_end_is_empty_with_the_totals(fake: FakeTelnyx) -> None:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with aiohttp.ClientSession() as client:
        url = f"{fake.base_url}/connections?page[number]=9&page[size]=50"
        async with client.get(url, headers=headers) as r:
            body = await r.json()
    assert body == {
        "data": [],
        "meta": {"page_number": 9, "page_size": 50, "total_pages": 3, "total_results": 120},
    }


def test_listing_is_exported() -> None:
    import telnyx_async

    assert {"ConnectionListing", "Page", "PaginationMeta"} <= set(telnyx_async.__all__)
    assert telnyx_async.ConnectionListing is ConnectionListing


async def test_the_fakes_pages_match_the_spec_schema(fake: FakeTelnyx) -> None:
    """Every page the fake serves (and its 400s) validates against the spec's schemas."""
    from .test_fake_server import ERROR_RESPONSE, spec_validator

    page_schema = spec_validator(
        "#/components/responses/ListConnectionsResponse/content/application~1json/schema"
    )
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with aiohttp.ClientSession() as client:
        for query in ("", "page[size]=7&page[number]=3", "sort=-active&filter[fqdn]=x"):
            url = f"{fake.base_url}/connections?{query}"
            async with client.get(url, headers=headers) as r:
                assert r.status == 200
                page_schema.validate(await r.json())
        async with client.get(f"{fake.base_url}/connections?sort=x", headers=headers) as r:
            ERROR_RESPONSE.validate(await r.json())


def scripted(
    pages: dict[int, tuple[list[str | None], dict[str, int]]],
) -> Callable[[web.Request, LocalServer], Awaitable[web.StreamResponse]]:
    """A list endpoint answering each page number with the given ids and meta."""

    async def handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
        ids, meta = pages[int(request.query["page[number]"])]
        return web.json_response({"data": [{"id": i} for i in ids], "meta": meta})

    return handler


def meta(number: int, pages: int, results: int) -> dict[str, int]:
    return {"page_number": number, "page_size": 2, "total_pages": pages, "total_results": results}


async def test_an_empty_page_before_the_last_ends_the_walk_and_says_so(
    server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.handler = scripted(
        {1: (["a", "b"], meta(1, 3, 6)), 2: ([], meta(2, 3, 6)), 3: (["e", "f"], meta(3, 3, 6))}
    )
    async with session_for(server) as telnyx:
        listing = telnyx.connections.list(page_size=2)
        with caplog.at_level(logging.WARNING, logger="telnyx_async"):
            ids = [c.id async for c in listing]
    assert ids == ["a", "b"]
    assert listing.changed
    assert "page 2 of 3 is empty" in caplog.text


async def test_data_past_total_pages_is_reported(server: LocalServer) -> None:
    server.handler = scripted({1: (["a", "b"], meta(1, 0, 0))})
    async with session_for(server) as telnyx:
        listing = telnyx.connections.list(page_size=2)
        assert [c.id async for c in listing] == ["a", "b"]
    assert listing.changed


async def test_a_server_that_ignores_the_page_number_cannot_loop_the_walk(
    server: LocalServer,
) -> None:
    server.handler = scripted({n: (["a", "b"], meta(1, 10**9, 2 * 10**9)) for n in (1, 2)})
    seen: list[str | None] = []
    async with session_for(server) as telnyx:
        with pytest.raises(ResponseValidationError, match=r"asked for page 2 .* got page 1"):
            await walk_into(seen, telnyx.connections.list(page_size=2))
    assert seen == ["a", "b"]
    assert len(server.requests) == 2


async def test_repeats_from_a_shift_of_several_pages_are_seen(fake: FakeTelnyx) -> None:
    """Two added ahead and the two oldest deleted: the total holds, the repeats show."""
    order = newest_first(fake)
    newest = max(c.created_at for c in fake.connections.values() if c.created_at)
    seen: list[str | None] = []
    async with session_for(fake) as telnyx:
        listing = telnyx.connections.list(page_size=1)
        async for conn in listing:
            seen.append(conn.id)
            if len(seen) == 2:
                await served(fake, 3)  # page 3 was fetched ahead before the change
                for n in range(2):
                    fake.add_connection(
                        {
                            "id": f"{n}" * 19,
                            "created_at": newest.isoformat(),
                            "connection_name": "x",
                        }
                    )
                for conn_id in order[-2:]:
                    fake.delete_connection(conn_id)
    assert listing.changed
    assert listing.repeated == 2
    assert seen[:5] == [order[0], order[1], order[2], order[1], order[2]]


async def test_connections_without_an_id_are_not_repeats(server: LocalServer) -> None:
    server.handler = scripted({1: ([None, "a"], meta(1, 2, 4)), 2: ([None, "b"], meta(2, 2, 4))})
    async with session_for(server) as telnyx:
        listing = telnyx.connections.list(page_size=2)
        assert [c.id async for c in listing] == [None, "a", None, "b"]
    assert not listing.changed


def test_the_fakes_store_takes_writers_from_several_threads() -> None:
    import threading

    server = FakeTelnyx(connections=200, seed=1)
    first = server.ids[0]

    def add(prefix: str) -> None:
        for n in range(300):
            server.add_connection({"id": f"{prefix}{n}"})

    threads = [threading.Thread(target=add, args=(p,)) for p in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.ids) == 800  # no write lost
    server.add_connection({"id": first, "connection_name": "renamed"})
    assert server.ids[0] == first  # a replaced connection keeps its place
    assert server.connections[first].connection_name == "renamed"
