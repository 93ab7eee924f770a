"""Session-wide pacing: one rate limit for every request of a session.

Two layers, so that the state machine stays pure:

- ``PacingState`` decides, from the time and what responses said, when the
  next request may start. It reads no clock and never sleeps: every method
  takes ``now`` (seconds, any monotonic clock), so tests drive it as a table.
- ``AdaptiveRateLimiter`` is the in-process ``RateLimiter``: it owns a
  ``PacingState``, reads the clock and sleeps.

``RateLimiter`` is the seam: a session asks ``acquire`` before each request
and reports each response to ``observe``. A limiter shared by several
processes (through Redis, say) implements the same two coroutines.

What a 429 does (Telnyx answers 429 with ``x-ratelimit-limit``,
``x-ratelimit-remaining`` and ``x-ratelimit-reset``, in seconds, and no
``Retry-After``):

1. every request of the session pauses until the server's advice runs out
   (``Retry-After``, else ``x-ratelimit-reset``, else ``DEFAULT_RATE_LIMIT_PAUSE``);
2. the send rate drops multiplicatively (``BETA``) from what the server
   accepted over the last second (a measurement, so random 429s that are not
   about load cost a little throughput, not a collapse), once per episode;
3. without 429s the rate grows back by ``RATE_INCREASE`` (5%) a second, and is
   forgotten after ``RATE_MEMORY`` seconds: additive-increase/multiplicative-
   decrease as TCP does. CUBIC (botocore) recovers faster toward the old rate
   after a loss, which suits a limit that moves; an account's limit is a fixed
   number, so the simple probe is enough, and easier to reason about.

Besides, ``x-ratelimit-remaining`` on any response says how many requests are
left in the server's window: once it reaches what is already in flight, new
requests wait for the window to reset instead of being refused; when the
window resets, ``x-ratelimit-limit`` requests may start again.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from ._config import DEFAULT_RATE_LIMIT_PAUSE
from ._retry import parse_retry_after, retry_after_from

BETA: Final = 0.9
"""Factor applied to the send rate on a throttling episode after the first."""
RATE_INCREASE: Final = 0.05
"""Fraction by which the learned rate grows per second without a 429."""
RATE_MEMORY: Final = 60.0
"""Seconds without a 429 after which the learned rate is forgotten."""
MIN_RATE: Final = 1.0
"""The lowest learned rate, in requests per second."""
_EPISODE: Final = 1.0
"""429s within this many seconds of a rate decrease belong to the same episode."""


@runtime_checkable
class RateLimiter(Protocol):
    """Paces every request of a session; the seam for a limiter shared between processes.

    The session calls ``acquire`` before each attempt and ``observe`` after it,
    exactly once per ``acquire`` that returned 0. (The built-in
    ``AdaptiveRateLimiter`` itself is called through its plain ``take_now()`` and
    ``record()`` on the hot path, ``acquire`` only when it must wait: to see every
    call, subclass it rather than patch an instance.)
    """

    async def acquire(self, *, max_wait: float) -> float:
        """Wait until a request may start and return ``0.0``.

        When that would take longer than ``max_wait`` seconds, return at once
        the wait it would need (> ``max_wait``), having taken nothing.
        """
        ...

    async def observe(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """See the outcome of an acquired request: its status and headers.

        Both are ``None`` when no response came (a network failure, a cancellation).
        """
        ...


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number >= 0 else None


@dataclass(slots=True, kw_only=True)
class PacingState:
    """When the next request may start: a pure function of time and past responses.

    Times are seconds on the caller's monotonic clock; rates in requests per second.
    """

    cap: float | None = None
    """The user's explicit limit (``rate_limit=``), never exceeded."""
    max_pause: float = 3600.0
    """Longest pause one response can impose (a larger advice is clipped)."""
    rate: float | None = None
    """The learned rate, or ``None`` before any 429."""
    next_slot: float = 0.0
    """Earliest start of the next request at the current rate (spacing)."""
    paused_until: float = 0.0
    """No request starts before this (a 429's advice)."""
    window_end: float = 0.0
    """When the server's current window resets, per ``x-ratelimit-reset``."""
    allowance: int | None = None
    """Requests we may still start in the server's window, when known."""
    limit: int | None = None
    """Requests per window, per ``x-ratelimit-limit``, when the server says."""
    window_length: float = 0.0
    """The longest ``x-ratelimit-reset`` seen: an estimate of the window's length."""
    in_flight: int = 0
    """Requests started and not yet observed."""
    last_throttle: float = -math.inf
    last_growth: float = 0.0
    second_start: float = -math.inf
    """Start of the current one-second bucket of successes (none yet: minus infinity)."""
    successes_now: int = 0
    """Successes in the current bucket."""
    successes_before: int = 0
    """Successes in the bucket before it (0 if that was not the one just before)."""
    first_success: float | None = None
    """When the first success was seen: a rate is measured over a second at least."""

    def effective_rate(self) -> float | None:
        """The rate requests are spaced at now: the smaller of the learned rate and the cap."""
        if self.rate is None:
            return self.cap
        return self.rate if self.cap is None else min(self.rate, self.cap)

    def delay(self, now: float) -> float:
        """Seconds until a request may start (0 or less: now). Changes nothing."""
        start = max(self.paused_until, self.next_slot if self.effective_rate() else 0.0)
        if self.allowance is not None and self.allowance <= 0 and now < self.window_end:
            start = max(start, self.window_end)
        return start - now

    def take(self, now: float) -> None:
        """Start a request now: use a slot, and one of the window's allowance."""
        rate = self.effective_rate()
        if rate:
            self.next_slot = max(self.next_slot, now) + 1.0 / rate
        if self.allowance is not None:
            if now >= self.window_end:
                # A new window: it holds `limit` requests, some of them perhaps
                # already taken by requests still in flight. Its end is estimated
                # until a response says.
                self.allowance = None if self.limit is None else self.limit - self.in_flight
                self.window_end = max(now, self.window_end + self.window_length)
            if self.allowance is not None:
                self.allowance -= 1
        self.in_flight += 1

    def observe(
        self,
        status: int | None,
        headers: Mapping[str, str] | None,
        now: float,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """Learn from one response (``status`` ``None``: none came).

        ``wall`` gives the Unix time, read only for a ``Retry-After`` date.
        """
        if self.in_flight > 0:
            self.in_flight -= 1
        if status is None or headers is None:
            return
        if 200 <= status < 300:
            if self.rate is None and now - self.second_start < 1.0:
                self.successes_now += 1  # what _succeeded() does then, without the call
            else:
                self._succeeded(now)
        reset_value = headers.get("x-ratelimit-reset")
        if reset_value is not None:
            self._window(headers, parse_retry_after(reset_value, now=wall()), now)
        if status == 429:
            self._throttled(now, retry_after_from(status, headers, now=wall()))

    def _window(self, headers: Mapping[str, str], reset: float | None, now: float) -> None:
        remaining = _header_int(headers, "x-ratelimit-remaining")
        limit = _header_int(headers, "x-ratelimit-limit")
        if limit is not None:
            self.limit = limit
        if reset is not None and remaining is not None:
            reset = min(reset, self.max_pause)
            self.window_length = max(self.window_length, reset)
            self.window_end = now + reset
            self.allowance = max(0, remaining - self.in_flight)

    def _succeeded(self, now: float) -> None:
        # Two one-second buckets: enough to tell what was accepted lately, O(1).
        if now - self.second_start >= 1.0:
            recent = now - self.second_start < 2.0
            self.successes_before = self.successes_now if recent else 0
            self.successes_now = 0
            self.second_start = now
        self.successes_now += 1
        if self.first_success is None:
            self.first_success = now
        if self.rate is not None:
            if now - self.last_throttle > RATE_MEMORY:
                self.rate = None  # a long quiet: forget, the limit may have been raised
            elif now > self.last_growth:
                self.rate *= 1.0 + RATE_INCREASE * min(now - self.last_growth, 1.0)
                self.last_growth = now

    def accepted_rate(self, now: float) -> float:
        """Successes per second lately, from the two buckets (a burst counts over >= 50 ms)."""
        into = now - self.second_start
        if into >= 2.0:
            return 0.0
        if into >= 1.0:
            return float(self.successes_now)
        # The current bucket, plus the part of the previous one still within the last second.
        count = self.successes_now + self.successes_before * (1.0 - into)
        span = into if self.successes_before == 0 else 1.0
        return count / max(0.05, span)

    def _throttled(self, now: float, advice: float | None) -> None:
        pause = min(DEFAULT_RATE_LIMIT_PAUSE if advice is None else advice, self.max_pause)
        self.paused_until = max(self.paused_until, now + pause)
        if now - self.last_throttle < _EPISODE:
            return  # the rest of a burst that was already answered for
        if self.rate is None and (self.first_success is None or now - self.first_success < 1.0):
            # Less than a second of successes says nothing about a rate (a few
            # answers during start-up would pace the session far too slowly): pause only.
            return
        accepted = self.accepted_rate(now)
        current = accepted if self.rate is None else min(self.rate, accepted)
        self.rate = max(MIN_RATE, current * BETA)
        self.last_throttle = now
        self.last_growth = now
        self.next_slot = max(self.next_slot, self.paused_until)


class AdaptiveRateLimiter:
    """The default ``RateLimiter``: session-wide pacing inside one process.

    Args:
        rate_limit: an explicit cap in requests per second (``None``: only what
            the server's 429s and ``x-ratelimit-*`` headers teach).
        clock: a monotonic clock in seconds (tests pass a fake one).
        sleep: the coroutine used to wait (tests pass a fake one).

    Example:
        >>> limiter = AdaptiveRateLimiter(rate_limit=50)  # doctest: +SKIP
        >>> TelnyxSession(rate_limiter=limiter)  # doctest: +SKIP
    """

    def __init__(
        self,
        rate_limit: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate_limit is not None and not rate_limit > 0:
            raise ValueError(f"rate_limit must be > 0 requests per second, got {rate_limit!r}")
        self.state = PacingState(cap=rate_limit)
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep

    async def acquire(self, *, max_wait: float) -> float:
        """Wait for a slot and take it (``0.0``), or return the wait when over ``max_wait``."""
        if self.take_now():
            return 0.0
        state, clock = self.state, self._clock
        while True:
            now = clock()
            wait = state.delay(now)
            if wait <= 0.0:
                state.take(now)
                return 0.0
            if wait > max_wait:
                return wait
            if state.paused_until <= now and not (
                state.allowance is not None and state.allowance <= 0 and now < state.window_end
            ):
                # Only spacing holds us back: book the slot now, so that waiting
                # tasks line up one per slot instead of all waking together.
                state.take(now + wait)
                try:
                    await self._sleep(wait)
                except BaseException:
                    state.in_flight = max(0, state.in_flight - 1)  # no observe() will come
                    raise
                return 0.0
            await self._sleep(wait)
            max_wait -= wait

    def take_now(self) -> bool:
        """Take a slot at once if nothing paces the session; ``False``: ``acquire()`` must wait.

        ``TelnyxSession`` calls this first, and ``acquire()`` only when it returns
        ``False``: a plain call instead of a coroutine on every request while the
        API has never throttled and no ``rate_limit`` is set.
        """
        state = self.state
        if (
            state.rate is None
            and state.cap is None
            and state.allowance is None
            and state.paused_until <= self._clock()
        ):
            # What delay() and take() would conclude, without their two calls.
            state.in_flight += 1
            return True
        return False

    async def observe(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """Feed one outcome to the pacing state."""
        self.record(status, headers)

    def record(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """``observe()`` without the coroutine: what ``TelnyxSession`` calls on its hot path."""
        self.state.observe(status, headers, self._clock(), wall=self._wall)
