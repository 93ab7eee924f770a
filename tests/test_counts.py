"""``connections.counts()``: GET /connections/count, its Structs, the fake's answer, bad bodies."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from aiohttp import web

from telnyx_async import (
    AuthenticationError,
    ConnectionCounts,
    ConnectionTypeCounts,
    GlobalConnectionLimit,
    PerTypeConnectionLimits,
    ResponseValidationError,
    TelnyxSession,
)
from telnyx_async.testing import FakeTelnyx
from telnyx_async.testing._store import COUNTED_TYPES

from .conftest import API_KEY, ROOT, LocalServer, SleepRecorder, error_body, session_with_time

SPEC: dict[str, Any] = json.loads((ROOT / "spec" / "connections-count.json").read_text())
"""The facts of GET /connections/count, as the official SDK declares them."""


def spec_body(limits: dict[str, int]) -> dict[str, Any]:
    """A 200 body exactly as the spec lays it out: every count, one shape of limits."""
    counts = {key: n for n, key in enumerate(SPEC["counts"])}
    return {"data": {"counts": counts, "limits": limits, "record_type": "connections_count"}}


def test_the_structs_hold_the_specs_fields() -> None:
    """Every count type and both shapes of limits, all required, as the spec says."""
    counts = msgspec.structs.fields(ConnectionTypeCounts)
    assert [f.name for f in counts] == SPEC["counts"]
    shapes = [
        [f.name for f in msgspec.structs.fields(s)]
        for s in (GlobalConnectionLimit, PerTypeConnectionLimits)
    ]
    assert shapes == SPEC["limits_one_of"]
    for struct in (
        ConnectionTypeCounts,
        GlobalConnectionLimit,
        PerTypeConnectionLimits,
        ConnectionCounts,
    ):
        assert all(f.required for f in msgspec.structs.fields(struct)), struct


def test_the_fake_counts_the_specs_types_with_its_own_list() -> None:
    """The fake's copy of the count keys (not the client's Struct) is the spec's."""
    assert list(COUNTED_TYPES) == SPEC["counts"]


async def test_counts_from_the_fake_follow_its_store() -> None:
    """Each type's count is the served connections of that record type; limits as set."""
    async with (
        FakeTelnyx(connections=60, seed=3) as server,
        TelnyxSession(server.api_key, base_url=server.base_url) as telnyx,
    ):
        first = await telnyx.connections.counts()
        by_type = Counter(f"{c.record_type}s" for c in server.connections.values())
        for key in SPEC["counts"]:
            assert getattr(first.counts, key) == by_type.get(key, 0), key
        assert first.counts.ip_connections > 0
        # The fake's body holds the spec's keys and no other (webrtc_connection is not one).
        raw = msgspec.json.decode(server._store.counts_body({"global_limit": 1}))
        assert list(raw["data"]["counts"]) == SPEC["counts"]
        assert first.limits == GlobalConnectionLimit(global_limit=1000)

        server.add_connection({"id": "777", "record_type": "ip_connection"})
        server.connection_limits = {"standard_limit": 10, "texml_limit": 5, "uac_limit": 2}
        second = await telnyx.connections.counts()
        assert second.counts.ip_connections == first.counts.ip_connections + 1
        assert second.limits == PerTypeConnectionLimits(
            standard_limit=10, texml_limit=5, uac_limit=2
        )
        # count() is a listing's total, every type together: a different question.
        assert await telnyx.connections.count() == 61
    assert server.stats.requests == 3


@pytest.mark.parametrize(
    "limits",
    [{"global_limit": 25}, {"standard_limit": 10, "texml_limit": 5, "uac_limit": 2}],
    ids=["global", "per type"],
)
async def test_a_server_answering_as_the_spec_does(
    server: LocalServer, limits: dict[str, int]
) -> None:
    """The path, no query, and either shape of limits decoded to its own Struct."""

    async def answer(request: web.Request, srv: LocalServer) -> web.StreamResponse:
        return web.json_response(spec_body(limits))

    server.handler = answer
    async with TelnyxSession(API_KEY, base_url=server.base_url) as telnyx:
        got = await telnyx.connections.counts()
    assert server.requests[0][0] == "/v2/connections/count"
    assert got.counts.zoom_sbc_connections == len(SPEC["counts"]) - 1
    assert got.record_type == "connections_count"
    expected = GlobalConnectionLimit if "global_limit" in limits else PerTypeConnectionLimits
    assert got.limits == msgspec.convert(limits, expected)


def _neither_shape(data: dict[str, Any]) -> None:
    data["limits"] = {"standard_limit": 1}


def _count_missing(data: dict[str, Any]) -> None:
    del data["counts"]["fax_connections"]


def _count_not_an_int(data: dict[str, Any]) -> None:
    data["counts"]["ip_connections"] = "12"


def _no_limits(data: dict[str, Any]) -> None:
    del data["limits"]


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (_neither_shape, "$.data.limits"),
        (_count_missing, "fax_connections"),
        (_count_not_an_int, "$.data.counts.ip_connections"),
        (_no_limits, "limits"),
    ],
    ids=["limits of neither shape", "a count missing", "a count not an int", "no limits"],
)
async def test_a_body_off_the_spec_is_a_validation_error_naming_the_field(
    server: LocalServer, change: Callable[[dict[str, Any]], None], names: str
) -> None:
    """Nothing made up: a missing or mistyped field fails, and the message says which."""
    body = spec_body({"global_limit": 25})
    change(body["data"])

    async def answer(request: web.Request, srv: LocalServer) -> web.StreamResponse:
        return web.json_response(body)

    server.handler = answer
    async with TelnyxSession(API_KEY, base_url=server.base_url) as telnyx:
        with pytest.raises(ResponseValidationError, match="connection counts") as caught:
            await telnyx.connections.counts()
    assert names in str(caught.value)


async def test_counts_is_retried_and_its_errors_are_typed(server: LocalServer) -> None:
    """A 503 is retried as for get(); a 401 is an AuthenticationError at once."""
    answers = [(503, error_body("10011", "Unavailable", "try later")), (200, None)]

    async def answer(request: web.Request, srv: LocalServer) -> web.StreamResponse:
        status, body = answers.pop(0) if answers else (401, error_body("10009", "Auth", "no"))
        if body is None:
            return web.json_response(spec_body({"global_limit": 3}))
        return web.Response(status=status, body=body, content_type="application/json")

    server.handler = answer
    sleeps = SleepRecorder()
    async with session_with_time(sleeps, API_KEY, base_url=server.base_url) as telnyx:
        got = await telnyx.connections.counts()
        assert got.limits == GlobalConnectionLimit(global_limit=3)
        assert telnyx.stats.retries == 1
        with pytest.raises(AuthenticationError):
            await telnyx.connections.counts()
