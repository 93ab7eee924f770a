"""Request shape, checked with aioresponses: URL, headers, no redirects, hostile ids."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import pytest
from aioresponses import aioresponses
from yarl import URL

from telnyx_async import (
    APIStatusError,
    InvalidConnectionIdError,
    NotFoundError,
    TelnyxSession,
)
from telnyx_async._version import __version__

from .conftest import API_KEY, connection_body, error_body

BASE = "https://api.example.test/v2"


@pytest.fixture
async def telnyx() -> AsyncIterator[TelnyxSession]:
    async with TelnyxSession(API_KEY, base_url=BASE, max_retries=0) as session:
        yield session


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


def _sent(mocked: aioresponses) -> list[tuple[str, URL, dict[str, object]]]:
    assert mocked.requests is not None
    return [
        (method, url, call.kwargs)
        for (method, url), calls in mocked.requests.items()
        for call in calls
    ]


async def test_get_sends_auth_accept_and_user_agent(
    telnyx: TelnyxSession, mocked: aioresponses
) -> None:
    """One GET to {base}/connections/{id} with Bearer auth, JSON accept and our User-Agent."""
    mocked.get(
        f"{BASE}/connections/1293384261075731499", body=connection_body("1293384261075731499")
    )
    conn = await telnyx.connections.get("1293384261075731499")
    assert conn.id == "1293384261075731499"
    [(method, url, kwargs)] = _sent(mocked)
    assert method == "GET"
    assert str(url) == f"{BASE}/connections/1293384261075731499"
    assert kwargs["headers"] == {
        "Authorization": f"Bearer {API_KEY}",
        "Accept": "application/json",
        "User-Agent": f"telnyx-async/{__version__}",
    }
    assert kwargs["allow_redirects"] is False


@pytest.mark.parametrize(
    ("conn_id", "raw_path"),
    [
        ("../balance", "/v2/connections/..%2Fbalance"),
        ("a/b", "/v2/connections/a%2Fb"),
        ("x?y=1", "/v2/connections/x%3Fy%3D1"),
        ("%2e%2e", "/v2/connections/%252e%252e"),
        ("a b\r\nX: y", "/v2/connections/a%20b%0D%0AX%3A%20y"),
        ("ü", "/v2/connections/%C3%BC"),
    ],
)
async def test_hostile_ids_stay_in_one_segment(
    telnyx: TelnyxSession, mocked: aioresponses, conn_id: str, raw_path: str
) -> None:
    """The id can never change the request's path or query."""
    mocked.get(re.compile(".*"), body=connection_body(conn_id))
    await telnyx.connections.get(conn_id)
    [(_, url, _)] = _sent(mocked)
    assert url.raw_path == raw_path
    assert url.query_string == ""
    assert url.host == "api.example.test"


@pytest.mark.parametrize("conn_id", ["", ".", ".."])
async def test_invalid_ids_send_nothing(
    telnyx: TelnyxSession, mocked: aioresponses, conn_id: str
) -> None:
    """A refused id raises before any request is made."""
    with pytest.raises(InvalidConnectionIdError):
        await telnyx.connections.get(conn_id)
    assert _sent(mocked) == []


async def test_non_string_id_raises_type_error(telnyx: TelnyxSession, mocked: aioresponses) -> None:
    """An int id is a TypeError, before any request."""
    with pytest.raises(TypeError):
        await telnyx.connections.get(1293384261075731499)  # type: ignore[arg-type]
    assert _sent(mocked) == []


async def test_redirect_is_not_followed(telnyx: TelnyxSession, mocked: aioresponses) -> None:
    """A 3xx is an error: the key is never sent on to another location."""
    mocked.get(
        f"{BASE}/connections/1",
        status=302,
        headers={"Location": "https://elsewhere.test/steal"},
    )
    with pytest.raises(APIStatusError) as info:
        await telnyx.connections.get("1")
    assert info.value.status == 302
    assert len(_sent(mocked)) == 1


async def test_not_found_is_decoded(telnyx: TelnyxSession, mocked: aioresponses) -> None:
    """A 404 ErrorResponse raises NotFoundError with the API's code and request id."""
    mocked.get(
        f"{BASE}/connections/404",
        status=404,
        body=error_body("10005", "Resource not found", "No such connection."),
        headers={"x-request-id": "rq-1"},
    )
    with pytest.raises(NotFoundError) as info:
        await telnyx.connections.get("404")
    assert info.value.errors[0].code == "10005"
    assert info.value.request_id == "rq-1"
    assert API_KEY not in str(info.value)


@pytest.mark.parametrize(
    "base",
    [
        "https://api.example.test",
        "https://API.Example.test:8443/v2",
        "http://[::1]:9000/deep/er",
        "https://bücher.example/v2/",
    ],
)
async def test_the_url_sent_is_the_base_url_and_the_encoded_path(
    mocked: aioresponses, base: str
) -> None:
    """Each URL is built from the base URL's origin, parsed once: the same URL as the string's."""
    conn_id = "a b/ü"
    expected = f"{base.rstrip('/')}/connections/a%20b%2F%C3%BC"
    mocked.get(URL(expected, encoded=True), body=connection_body(conn_id))
    async with TelnyxSession(API_KEY, base_url=base, max_retries=0) as telnyx:
        await telnyx.connections.get(conn_id)
    [(_, url, _)] = _sent(mocked)
    assert url == URL(expected, encoded=True)
    assert url.raw_path == URL(expected, encoded=True).raw_path
