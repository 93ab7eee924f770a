"""Configuration from arguments and the environment."""

from __future__ import annotations

import pytest

from telnyx_async import DEFAULT_BASE_URL, AdaptiveRateLimiter, TelnyxError, TelnyxSession
from telnyx_async._config import api_key_from, base_url_from
from telnyx_async.testing import FakeTelnyx

from .conftest import API_KEY


def test_key_falls_back_to_the_environment() -> None:
    """The explicit key wins, then TELNYX_API_KEY; an empty variable counts as unset."""
    assert api_key_from("a", {"TELNYX_API_KEY": "b"}) == "a"
    assert api_key_from(None, {"TELNYX_API_KEY": "b"}) == "b"
    assert api_key_from(None, {"TELNYX_API_KEY": ""}) is None
    assert api_key_from(None, {}) is None


def test_base_url_falls_back_and_loses_its_trailing_slash() -> None:
    """Explicit, then TELNYX_BASE_URL, then the public API; a path prefix is kept."""
    assert base_url_from(None, {}) == DEFAULT_BASE_URL == "https://api.telnyx.com/v2"
    assert base_url_from(None, {"TELNYX_BASE_URL": "http://127.0.0.1:9/v2/"}) == (
        "http://127.0.0.1:9/v2"
    )
    assert base_url_from("http://h/p", {"TELNYX_BASE_URL": "http://x"}) == "http://h/p"


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8080", "ftp://h/v2", "http://", "http://h/v2?x=1", "http://h/#f"]
)
def test_bad_base_urls_are_refused(url: str) -> None:
    """Only absolute http(s) URLs without query or fragment are accepted."""
    with pytest.raises(ValueError, match="base_url"):
        base_url_from(url, {})


def test_missing_key_names_the_variable() -> None:
    """Without a key anywhere the constructor raises TelnyxError naming TELNYX_API_KEY."""
    with pytest.raises(TelnyxError, match="TELNYX_API_KEY"):
        TelnyxSession()


def test_session_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """TELNYX_API_KEY and TELNYX_BASE_URL are used when no arguments are given."""
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", "http://127.0.0.1:1/v2/")
    assert TelnyxSession().base_url == "http://127.0.0.1:1/v2"


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": 0}, {"timeout": -1.0}, {"pool_size": 0}, {"pool_size": True}, {"max_retries": -1}],
)
def test_out_of_range_arguments_are_refused(kwargs: dict[str, object]) -> None:
    """Nonsense settings fail at construction, not at the first request."""
    with pytest.raises(ValueError):  # noqa: PT011 - several messages, one rule
        TelnyxSession(API_KEY, **kwargs)  # type: ignore[arg-type]


def test_created_outside_a_running_loop() -> None:
    """Construction needs no event loop: the HTTP session is created on first use."""
    telnyx = TelnyxSession(API_KEY)
    assert not telnyx.closed


def test_repr_never_shows_the_key() -> None:
    """Repr shows the base URL and state, no part of the key."""
    text = repr(TelnyxSession(API_KEY, base_url="http://127.0.0.1:1/v2"))
    assert text == "<TelnyxSession base_url='http://127.0.0.1:1/v2' open>"
    assert API_KEY[:8] not in text
    assert API_KEY[-6:] not in text


async def test_reprs_say_what_a_thing_is_and_never_the_key() -> None:
    """The resource, the limiter and the fake show their URL or rate, not an address."""
    limiter = AdaptiveRateLimiter(rate_limit=50)
    assert repr(limiter) == "<AdaptiveRateLimiter cap=50/s learned=none yet in_flight=0>"
    fake = FakeTelnyx(connections=3)
    assert repr(fake) == "<FakeTelnyx not serving with 3 connections>"
    async with fake as server:
        async with TelnyxSession(server.api_key, base_url=server.base_url) as telnyx:
            assert repr(telnyx.connections) == f"<Connections of {server.base_url}/connections>"
            await telnyx.connections.get(server.ids[0])
        texts = [repr(server), repr(telnyx.connections), repr(limiter)]
        assert texts[0] == f"<FakeTelnyx at {server.base_url} with 3 connections>"
        assert not any(server.api_key in text for text in texts)
