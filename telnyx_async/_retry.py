"""The retry policy: a pure value that decides whether to retry and how long to wait.

It performs no I/O and reads no clock of its own: the time and the random
source are parameters, so tests assert exact delays and never sleep.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from ._config import DEFAULT_MAX_RETRIES

RETRYABLE_STATUSES: Final = frozenset({408, 429})
"""Statuses retried besides every 5xx: request timeout and rate limiting."""
MAX_RETRY_AFTER: Final = 60.0
"""Longest server-advised wait obeyed, in seconds. A session raises the error at once,
with the advice in its message, when a server asks for longer: it never retries sooner
than asked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Decides whether to retry and how long to wait. Performs no I/O. Times in seconds.

    Backoff is exponential with full jitter: before retry ``n`` (0-based) the
    wait is uniform in ``[0, min(max_delay, initial_delay * 2**n)]``, unless the
    server said how long to wait (``Retry-After``, or ``x-ratelimit-reset`` on
    a 429) and that advice is between 0 and ``max_retry_after``.

    Examples:
        >>> policy = RetryPolicy(max_retries=5, initial_delay=0.1)
        >>> policy.delay(3, rand=lambda: 1.0)
        0.8
        >>> policy.delay(0, retry_after=2.0)
        2.0
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    """Retries after the first attempt: 2 means at most 3 attempts."""
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = MAX_RETRY_AFTER

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if not 0.0 <= self.initial_delay <= self.max_delay:
            raise ValueError("delays must satisfy 0 <= initial_delay <= max_delay")

    @staticmethod
    def retries_status(status: int) -> bool:
        """Whether a response with this status is worth another attempt."""
        return status >= 500 or status in RETRYABLE_STATUSES

    def delay(
        self,
        retries_done: int,
        *,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before the retry that follows ``retries_done`` earlier retries."""
        if retry_after is not None and 0.0 <= retry_after <= self.max_retry_after:
            return retry_after
        try:
            ceiling = min(self.max_delay, self.initial_delay * 2.0**retries_done)
        except OverflowError:  # 2.0**1024 and beyond: long past the cap (as stamina does)
            ceiling = self.max_delay
        return ceiling * rand()


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value (RFC 9110 section 10.2.3).

    Accepts delay-seconds (``"120"``, also ``"1.5"``) or an HTTP-date, taken
    relative to ``now`` (a Unix time). Returns ``None`` for anything unreadable
    (a date with an absurd field included: it is ignored, never raised);
    a date in the past gives ``0.0``.

    Examples:
        >>> parse_retry_after("3", now=0.0)
        3.0
        >>> parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=4.0)
        6.0
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            if when.tzinfo is None:  # RFC 9110 dates are always GMT
                return None
            seconds = when.timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            # OverflowError: a field too large for a C long or a datetime.
            return None
        return max(0.0, seconds) if math.isfinite(seconds) else None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def retry_after_from(status: int, headers: Mapping[str, str], *, now: float) -> float | None:
    """The server's advice on when to retry, from a response's headers, or ``None``.

    ``Retry-After`` wins. Telnyx does not document it, so a 429 without it
    falls back to ``x-ratelimit-reset`` (seconds until the window resets).
    ``headers`` must look names up case-insensitively (aiohttp's headers do).
    """
    advice = parse_retry_after(headers.get("Retry-After"), now=now)
    if advice is None and status == 429:
        reset = headers.get("x-ratelimit-reset")
        advice = parse_retry_after(reset, now=now) if reset is not None else None
    return advice
