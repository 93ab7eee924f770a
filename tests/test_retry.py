"""The pure retry policy: decisions and delays, asserted exactly without sleeping."""

from __future__ import annotations

import email.utils

import pytest
from multidict import CIMultiDict

from telnyx_async import RetryPolicy
from telnyx_async._retry import parse_retry_after, retry_after_from


def test_backoff_doubles_and_caps() -> None:
    """Each retry doubles the ceiling from 0.5 s up to max_delay (8 s)."""
    policy = RetryPolicy()
    assert [policy.delay(n, rand=lambda: 1.0) for n in range(7)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        8.0,
        8.0,
    ]


def test_jitter_is_full_and_below_the_ceiling() -> None:
    """Full jitter: the delay is the ceiling times the random draw."""
    policy = RetryPolicy()
    assert policy.delay(0, rand=lambda: 0.5) == 0.25
    assert policy.delay(2, rand=lambda: 0.0) == 0.0
    assert all(0.0 <= policy.delay(3) <= 4.0 for _ in range(200))


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(2.0, 2.0), (0.0, 0.0), (60.0, 60.0), (61.0, 0.5), (-1.0, 0.5), (None, 0.5)],
)
def test_server_advice_is_obeyed_only_when_sane(retry_after: float | None, expected: float) -> None:
    """Retry-After between 0 and 60 s wins; otherwise the backoff applies."""
    assert RetryPolicy().delay(0, retry_after=retry_after, rand=lambda: 1.0) == expected


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (422, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
    ],
)
def test_which_statuses_are_retried(status: int, retried: bool) -> None:
    """408, 429 and every 5xx are retried; no other 4xx ever is."""
    assert RetryPolicy.retries_status(status) is retried


def test_policy_rejects_nonsense() -> None:
    """Negative retries or inverted delays are refused at construction."""
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="delay"):
        RetryPolicy(initial_delay=10.0, max_delay=1.0)


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        ("0", 0.0),
        (email.utils.formatdate(NOW + 7, usegmt=True), 7.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        ("-5", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 99 Foo 2015 07:28:00", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Delay-seconds or an HTTP-date relative to now; anything else is None."""
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_header_wins_over_rate_limit_reset() -> None:
    """Retry-After, when present, is the advice even on a 429."""
    headers = CIMultiDict({"Retry-After": "2", "x-ratelimit-reset": "9"})
    assert retry_after_from(429, headers, now=NOW) == 2.0


def test_rate_limit_reset_is_used_on_429_only() -> None:
    """Without Retry-After a 429 waits for x-ratelimit-reset; a 503 ignores that header."""
    headers = CIMultiDict({"X-RateLimit-Reset": "4"})
    assert retry_after_from(429, headers, now=NOW) == 4.0
    assert retry_after_from(503, headers, now=NOW) is None
    assert retry_after_from(429, CIMultiDict(), now=NOW) is None
