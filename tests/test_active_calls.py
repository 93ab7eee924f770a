"""``connections.active_calls()``: cursor pages, their bounds, the 422, and the fake's answer."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import yaml
from aiohttp import web

from telnyx_async import (
    ActiveCall,
    InvalidConnectionIdError,
    ResponseValidationError,
    TelnyxSession,
    UnprocessableEntityError,
)
from telnyx_async.testing import FakeTelnyx

from .conftest import API_KEY, ROOT, LocalServer

SPEC: dict[str, Any] = yaml.safe_load((ROOT / "spec" / "active-calls.yml").read_text())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
EXAMPLE: dict[str, Any] = SCHEMAS["ActiveCall"]["example"]
PATH = "/connections/{connection_id}/active_calls"


def calls(n: int) -> list[dict[str, Any]]:
    """``n`` calls shaped as the spec's example, told apart by their duration."""
    return [{**EXAMPLE, "call_leg_id": f"leg-{i}", "call_duration": i} for i in range(n)]


def test_active_call_holds_the_specs_fields() -> None:
    """The six fields, all required, with the spec's types; the example decodes."""
    schema = SCHEMAS["ActiveCall"]
    fields = {f.name: f for f in msgspec.structs.fields(ActiveCall)}
    assert set(fields) == set(schema["properties"]) == set(schema["required"])
    assert all(f.required for f in fields.values())
    for name, prop in schema["properties"].items():
        assert fields[name].type is {"string": str, "integer": int}[prop["type"]], name
    assert msgspec.convert(EXAMPLE, ActiveCall).call_duration == EXAMPLE["call_duration"]


async def test_the_walk_follows_the_fakes_cursors_to_the_end() -> None:
    """45 calls, 10 a page: 5 requests, every call once and in order, the totals on each page."""
    async with (
        FakeTelnyx(connections=2) as server,
        TelnyxSession(server.api_key, base_url=server.base_url) as telnyx,
    ):
        server.set_active_calls(server.ids[0], calls(45))
        listing = telnyx.connections.active_calls(server.ids[0], page_size=10)
        got = [c.call_duration async for c in listing]
        assert got == list(range(45))
        assert server.stats.requests == 5
        pages = [page async for page in listing.pages()]
        assert [len(p.data) for p in pages] == [10, 10, 10, 10, 5]
        assert {p.meta.total_items for p in pages} == {45}
        assert [c async for c in telnyx.connections.active_calls(server.ids[1])] == []


async def test_a_connection_that_cannot_have_calls_is_a_422_naming_it() -> None:
    """Code 10015, an UnprocessableEntityError whose conn_id and message name the id; no retry."""
    async with (
        FakeTelnyx(connections=1) as server,
        TelnyxSession(server.api_key, base_url=server.base_url) as telnyx,
    ):
        with pytest.raises(UnprocessableEntityError) as caught:
            [c async for c in telnyx.connections.active_calls("1293384261075731461")]
        assert telnyx.stats.retries == 0
    error = caught.value
    assert error.conn_id == "1293384261075731461"
    assert "1293384261075731461/active_calls" in str(error)
    assert error.errors[0].code == "10015"


@pytest.mark.parametrize(
    ("page_size", "raised"),
    [(0, ValueError), (251, ValueError), (True, TypeError), ("20", TypeError)],
)
def test_page_size_is_checked_before_any_request(page_size: Any, raised: type[Exception]) -> None:
    """The spec's limits, 1 to 250, refused at the call: no session traffic needed."""
    limits = SPEC["components"]["parameters"]["PageConsolidated"]["schema"]["properties"]["size"]
    assert (limits["minimum"], limits["maximum"], limits["default"]) == (1, 250, 20)
    telnyx = TelnyxSession(API_KEY, base_url="http://127.0.0.1:9/v2")
    with pytest.raises(raised):
        telnyx.connections.active_calls("1", page_size=page_size)
    with pytest.raises(InvalidConnectionIdError):
        telnyx.connections.active_calls("..")


def _serve(server: LocalServer, pages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Answer the n-th request with ``pages[n]`` (the last one again after); return queries."""
    queries: list[dict[str, str]] = []

    async def answer(request: web.Request, srv: LocalServer) -> web.StreamResponse:
        queries.append(dict(request.query))
        return web.json_response(pages[min(len(queries), len(pages)) - 1])

    server.handler = answer
    return queries


async def test_a_server_answering_as_the_spec_does(server: LocalServer) -> None:
    """The spec's meta (cursors and next), then a last page without an after cursor."""
    meta = SCHEMAS["CursorPaginationMeta"]["properties"]
    after = meta["next"]["example"].partition("page[after]=")[2]
    queries = _serve(
        server,
        [
            {"data": calls(2), "meta": {"cursors": {"after": after}, "total_items": 3}},
            {"data": calls(1), "meta": {"cursors": {"before": "b"}, "total_items": 3}},
        ],
    )
    async with TelnyxSession(API_KEY, base_url=server.base_url) as telnyx:
        got = [c async for c in telnyx.connections.active_calls("1234567890", page_size=2)]
    assert len(got) == 3
    assert server.requests[0][0].startswith("/v2/connections/1234567890/active_calls?")
    assert queries == [{"page[size]": "2"}, {"page[after]": after, "page[size]": "2"}]


async def test_only_a_next_path_is_followed_too(server: LocalServer) -> None:
    """No cursors object, only ``meta.next``: its page[after] is the next cursor."""
    queries = _serve(
        server,
        [
            {"data": calls(1), "meta": {"next": "/v2/connections/1/active_calls?page[after]=c2"}},
            {"data": calls(1), "meta": {}},
        ],
    )
    async with TelnyxSession(API_KEY, base_url=server.base_url) as telnyx:
        assert len([c async for c in telnyx.connections.active_calls("1")]) == 2
    assert queries[1] == {"page[after]": "c2", "page[size]": "20"}


@pytest.mark.parametrize(
    ("afters", "requests"),
    [(["same", "same"], 2), (["a", "b", "a"], 3)],
    ids=["a page with the cursor it was asked with", "a cycle"],
)
async def test_a_repeating_cursor_ends_the_walk_with_an_error(
    server: LocalServer, afters: list[str], requests: int
) -> None:
    """Never the same pages forever: the walk stops at the first cursor seen before."""
    _serve(server, [{"data": calls(1), "meta": {"cursors": {"after": a}}} for a in afters])
    async with TelnyxSession(API_KEY, base_url=server.base_url) as telnyx:
        with pytest.raises(ResponseValidationError, match="would walk the same pages forever"):
            # The deadline only bounds this test if the check were gone (a timeout, not this).
            [c async for c in telnyx.connections.active_calls("1", deadline=10)]
    assert len(server.requests) == requests


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page[size]=0", "page[size]"),
        ("page[size]=251", "page[size]"),
        ("page[after]=x", "page[after]"),
    ],
)
async def test_the_fake_refuses_what_the_spec_refuses(query: str, parameter: str) -> None:
    """Asked directly (not through the client's checks): a 400 naming the parameter."""
    import aiohttp

    async with FakeTelnyx(connections=1) as server, aiohttp.ClientSession() as http:
        url = f"{server.base_url}/connections/{server.ids[0]}/active_calls?{query}"
        headers = {"Authorization": f"Bearer {server.api_key}"}
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 400
            body = await resp.json()
    assert body["errors"][0]["source"]["parameter"] == parameter


def test_the_cli_prints_each_call_as_a_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`telnyx-async active-calls CONN_ID`: one line per call, exit 0; an unknown id exits 1."""
    from telnyx_async._cli import main

    from .test_cli_list_resume import client_args

    with FakeTelnyx(connections=2).serve_in_thread() as server:
        server.set_active_calls(server.ids[0], calls(7))
        assert main(["active-calls", server.ids[0], "--page-size", "3", *client_args(server)]) == 0
        out, _ = capsys.readouterr()
        lines = [msgspec.json.decode(line) for line in out.splitlines()]
        assert [line["call_duration"] for line in lines] == list(range(7))
        assert server.stats.requests == 3
        assert main(["active-calls", "424242", *client_args(server)]) == 1
        out, err = capsys.readouterr()
    assert out == ""
    assert "10015" in err
    assert server.api_key not in out + err
