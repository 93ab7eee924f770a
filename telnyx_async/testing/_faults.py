"""What a FakeTelnyx gets wrong: the ``Faults`` settings and the account rate limits."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

TRANSIENT_STATUSES: Final = (500, 502, 503, 504)


@dataclass(frozen=True, kw_only=True)
class Faults:
    """What a FakeTelnyx gets wrong, and how often. Rates are per request, from 0 to 1.

    Each request draws once from the server's seeded stream of faults, so the
    same seed and the same request order give the same faults, whatever the
    latency (which draws from a stream of its own).

    Examples:
        >>> Faults(error_rate=0.05, rate_limit_rate=0.01, latency=(0.001, 0.005))
        Faults(error_rate=0.05, ...)
    """

    error_rate: float = 0.0
    """Transient 500/502/503/504 with a JSON ``ErrorResponse``."""
    html_error_rate: float = 0.0
    """502 with an HTML page, as a proxy in front of the API sends."""
    rate_limit_rate: float = 0.0
    """429 with a ``Retry-After`` of ``retry_after`` seconds (``1.0``: every request,
    an account whose limit never lifts)."""
    drop_rate: float = 0.0
    """The connection is closed in the middle of the response body."""
    retry_after: float | None = 1.0
    """Seconds sent in ``Retry-After`` with injected 429s (``None``: no ``Retry-After``)."""
    rate_limit_reset: float | None = None
    """Seconds sent in ``x-ratelimit-reset`` (with ``x-ratelimit-remaining: 0``) with
    injected 429s; ``None``: not sent."""
    latency: float | tuple[float, float] = 0.0
    """Seconds added to every response: fixed, or uniform in ``(low, high)``."""
    rate_limit_rps: float | None = None
    """A token bucket of this many requests per second (burst of the same size, at
    least 1); over it, 429 with ``x-ratelimit-*`` headers and no ``Retry-After``,
    like the real API. Every response then carries ``x-ratelimit-limit`` (the
    burst), ``x-ratelimit-remaining`` (whole tokens left) and ``x-ratelimit-reset``
    (seconds until the bucket is full again)."""
    window_limit: int | None = None
    """A fixed-window limit, like the real API's: at most this many requests per
    ``window`` seconds (windows start when the server does); over it, 429 with
    code 10011, ``x-ratelimit-*`` headers and no ``Retry-After``. Every response
    carries ``x-ratelimit-limit``, ``x-ratelimit-remaining`` and ``x-ratelimit-reset``
    (seconds until the window ends). Exclusive with ``rate_limit_rps``."""
    window: float = 1.0
    """Seconds per window of ``window_limit``."""
    leaky_bucket: tuple[float, int] | None = None
    """``(rate, burst)``: a leaky bucket as nginx's ``limit_req zone=... burst=B
    nodelay`` keeps it, with ``limit_req_status 429``: requests drain at ``rate`` a
    second, at most ``burst`` beyond it are let through at once, the rest answered
    429 with no ``Retry-After`` and no ``x-ratelimit-*`` headers, as a gateway or a
    proxy in front of the API answers. Exclusive with the other limits."""
    limit_headers: bool = True
    """Whether ``rate_limit_rps`` and ``window_limit`` send their ``x-ratelimit-*``
    headers (``False``: 429s that say nothing, the limit unseen)."""
    outage: tuple[float, float] | None = None
    """``(start, end)`` in seconds since the server started: every request in
    between answers 503 (``(0, math.inf)``: a total outage)."""
    outage_retry_after: float | None = None
    """``Retry-After`` seconds sent with the outage's 503s, if any."""
    hang_rate: float = 0.0
    """Requests that hang for ``hang`` seconds before answering (a client timeout)."""
    hang: float = 10.0
    """Seconds a hanging request hangs."""

    def __post_init__(self) -> None:
        rates = (
            self.error_rate,
            self.html_error_rate,
            self.rate_limit_rate,
            self.drop_rate,
            self.hang_rate,
        )
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates must be between 0 and 1 and add up to at most 1")
        if self.rate_limit_rps is not None and self.rate_limit_rps <= 0:
            raise ValueError("rate_limit_rps must be > 0")
        if self.window_limit is not None and (self.window_limit < 1 or self.window <= 0):
            raise ValueError("window_limit must be >= 1 and window > 0")
        limits = (self.rate_limit_rps, self.window_limit, self.leaky_bucket)
        if sum(limit is not None for limit in limits) > 1:
            raise ValueError("choose one of rate_limit_rps, window_limit and leaky_bucket")
        if self.leaky_bucket is not None and (
            not self.leaky_bucket[0] > 0 or self.leaky_bucket[1] < 0
        ):
            raise ValueError("leaky_bucket needs a rate > 0 and a burst >= 0")
        for advice in (self.retry_after, self.rate_limit_reset):
            if advice is not None and not advice >= 0:
                raise ValueError("retry_after and rate_limit_reset must be >= 0 seconds")


class TokenBucket:
    """A token bucket: ``rate`` tokens a second, holding at most ``burst``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = self.burst
        self.stamp = time.monotonic()

    def take(self) -> tuple[bool, dict[str, str]]:
        """Take a token if there is one; return whether, and the ``x-ratelimit-*`` headers."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        allowed = self.tokens >= 1.0
        if allowed:
            self.tokens -= 1.0
        return allowed, {
            "x-ratelimit-limit": str(int(self.burst)),
            "x-ratelimit-remaining": str(int(self.tokens)),
            "x-ratelimit-reset": f"{(self.burst - self.tokens) / self.rate:.3f}",
        }


class FixedWindow:
    """At most ``limit`` requests per ``window`` seconds, windows counted from creation."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.start = time.monotonic()
        self.index = 0
        self.count = 0

    def take(self) -> tuple[bool, dict[str, str]]:
        """Count a request; return whether it is within the limit, and the headers."""
        elapsed = time.monotonic() - self.start
        index = int(elapsed // self.window)
        if index != self.index:
            self.index, self.count = index, 0
        allowed = self.count < self.limit
        if allowed:
            self.count += 1
        return allowed, {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.limit - self.count),
            "x-ratelimit-reset": f"{(index + 1) * self.window - elapsed:.3f}",
        }


class LeakyBucket:
    """nginx's ``limit_req`` with ``burst`` and ``nodelay``: the excess drains at ``rate``.

    As ``ngx_http_limit_req_module`` computes it: a request raises the excess by one
    after the drain since the last accepted request; over ``burst`` it is refused
    and changes nothing.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.excess = 0.0
        self.last: float | None = None

    def take(self) -> tuple[bool, dict[str, str]]:
        """Count a request; return whether it is let through (and no headers, ever)."""
        now = time.monotonic()
        if self.last is None:
            self.last = now
            return True, {}
        excess = max(0.0, self.excess - self.rate * (now - self.last) + 1.0)
        if excess > self.burst:
            return False, {}
        self.excess, self.last = excess, now
        return True, {}


class Silent:
    """Another limiter with its headers withheld: only its 429s tell."""

    def __init__(self, limiter: TokenBucket | FixedWindow) -> None:
        self.limiter = limiter

    def take(self) -> tuple[bool, dict[str, str]]:
        """The limiter's verdict, without its headers."""
        return self.limiter.take()[0], {}


Limiter = TokenBucket | FixedWindow | LeakyBucket | Silent


class FaultState:
    """Faults and the limiter built from them, swapped together as one reference.

    Assigning one attribute is atomic, so a request on the server's thread sees
    either the old pair or the new one, never new faults with the old limiter.
    """

    __slots__ = ("faults", "limiter")

    def __init__(self, faults: Faults) -> None:
        self.faults: Final = faults
        self.limiter: Final = limiter_for(faults)


def limiter_for(faults: Faults) -> Limiter | None:
    """The account limiter the faults describe, or ``None``."""
    if faults.leaky_bucket is not None:
        return LeakyBucket(*faults.leaky_bucket)
    limiter: TokenBucket | FixedWindow
    if faults.rate_limit_rps:
        limiter = TokenBucket(faults.rate_limit_rps)
    elif faults.window_limit:
        limiter = FixedWindow(faults.window_limit, faults.window)
    else:
        return None
    return limiter if faults.limit_headers else Silent(limiter)
