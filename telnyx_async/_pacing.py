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

What the server says, and what the state does with it:

1. **Advice**: a 429's ``Retry-After`` (else its ``x-ratelimit-reset``) pauses
   every request of the session until it runs out; ``x-ratelimit-remaining`` on
   any answer holds new requests back once what is in flight uses up the window,
   until ``x-ratelimit-reset``, when ``x-ratelimit-limit`` may start again. Advice
   longer than ``max_pause`` (the session's ``max_rate_limit_wait``) is refused,
   not clipped: one absurd header must not lock the session out. (The session's
   ``ThrottleStreak`` puts a floor under advice that is too short.)
2. **A start-up window**, as TCP's: until the first 429, at most ``INITIAL_WINDOW``
   (4) requests are in flight before answers come, then ``WINDOW_GROWTH`` (0.5) more
   per answer, doubling at most every ``WINDOW_DOUBLING`` (0.1) s however fast
   answers come: the first burst a limiter may refuse is that, not the concurrency.
3. **A learned rate**, for limiters that say nothing but 429 (a leaky bucket in a
   gateway, say). Requests are spaced evenly at it, booked at most ``BOOK_AHEAD``
   seconds ahead. The first 429 sets it to the rate answers were delivered at (over
   the last second, or since the first answer, counted over ``FIRST_SPAN`` (0.5 s)
   at least: a limiter's burst answered at once is not its rate), then it
   *slow-starts*: clocked by answers as TCP's by ACKs, it doubles every
   ``SLOW_START_DOUBLING`` (0.15) s of answers delivered at the rate, until the next
   429; slots are then booked only a few milliseconds ahead, or sending would lag
   the rate. Each later throttling episode measures the
   limit as the rate delivered over the last second (what a policer lets through
   once exceeded is its rate, as BBR measures a bottleneck), sets the rate to
   ``BETA`` (0.9) x that, and climbs back on CUBIC's curve: concave up to the
   measured limit in ``RECOVERY`` seconds, flat near it, then probing past it ever
   faster. One episode is a 429 plus the 429s of the requests already in flight
   when it came (sent before the rate dropped); a 429 before any answer got through
   since the last drop drops nothing (the limit is shut for now: the advice and the
   session's floor answer that). Any answer but a 429 counts as delivered.
   ``RATE_MEMORY`` seconds without a 429 forget the rate: the limit may have been
   raised. botocore's adaptive mode also uses CUBIC, with the plateau at the rate
   of the loss; here the plateau is the measured delivered rate, because in slow
   start the rate of the loss overshoots the limit by up to 2 x.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

from ._checks import non_negative, positive
from ._config import DEFAULT_MAX_RATE_LIMIT_WAIT
from ._retry import parse_retry_after, retry_after_from

BETA: Final = 0.9
"""Factor applied to the delivered rate on a throttling episode."""
RATE_INCREASE: Final = 0.05
"""Fraction by which a ``RedisRateLimiter`` fleet's shared rate grows per second."""
RECOVERY: Final = 1.5
"""Seconds the learned rate takes to climb back from ``BETA`` x the measured limit
to the limit itself (CUBIC's ``K``); it then probes beyond it, slowly at first."""
SLOW_START_DOUBLING: Final = 0.15
"""Seconds in which the rate learned from a session's first 429 doubles until the next."""
RATE_MEMORY: Final = 60.0
"""Seconds without a 429 after which the learned rate is forgotten."""
MIN_RATE: Final = 1.0
"""The lowest learned rate, in requests per second."""
_EPISODE: Final = 1.0
"""(``RedisRateLimiter``) 429s within this many seconds of a rate decrease are one episode."""
INITIAL_WINDOW: Final = 4.0
"""Requests a new session keeps in flight before any answer (TCP's initial window):
the first burst a limiter may refuse is this large, not the whole concurrency."""
WINDOW_GROWTH: Final = 0.5
"""Growth of the start-up window per success (x1.5 per round trip)."""
WINDOW_DOUBLING: Final = 0.1
"""The start-up window at most doubles in this many seconds, however fast answers
come: against a server answering in 2 ms, growth per answer alone would reach any
concurrency within a tenth of a second, and every request in flight when a limiter's
burst runs out is refused."""
FIRST_SPAN: Final = 0.5
"""The first 429's rate counts what was delivered as if over this many seconds at
least: a limiter's burst answered at once says little about its rate. Not longer:
slow start must climb from there, and a leaky bucket's small burst read over 1 s
starts it at a seventh of a 200/s limit."""
MAX_WINDOW: Final = 256.0
"""Past this many, the start-up window is dropped: it no longer bounds anything."""
BOOK_AHEAD: Final = 0.25
"""Seconds ahead a waiting request books its slot at the learned rate."""
_BUCKET: Final = 0.1
"""Seconds per bucket of the delivered-rate window (ten buckets: the last second)."""
_BUCKETS: Final = 10
_UNKNOWN_WAIT: Final = 1e-3
"""Added to a wait ``acquire()`` cannot know (no answer came to free the window)."""
_MIN_SPAN: Final = 0.1
"""Shortest time a later episode's delivered rate is measured over: a burst
answered at once is counted as if spread over this long."""


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


def _grown_window(window: float, since_first_answer: float) -> float | None:
    """The start-up window after one more answer (``None``: past ``MAX_WINDOW``, dropped)."""
    doublings = min(since_first_answer / WINDOW_DOUBLING, 16.0)
    grown = min(window + WINDOW_GROWTH, INITIAL_WINDOW * 2.0**doublings)
    return None if grown > MAX_WINDOW else grown


@dataclass(slots=True, kw_only=True)
class PacingState:
    """When the next request may start: a pure function of time and past responses.

    Times are seconds on the caller's monotonic clock; rates in requests per second.
    """

    cap: float | None = None
    """The user's explicit limit (``rate_limit=``), never exceeded."""
    max_pause: float = DEFAULT_MAX_RATE_LIMIT_WAIT
    """Longest pause one response may impose; longer advice is refused (ignored)."""
    rate: float | None = None
    """The learned rate, or ``None`` before any 429."""
    slow_start: bool = False
    """Whether the learned rate doubles (after the first 429) or grows additively."""
    plateau: float = 0.0
    """The limit measured at the last episode: the rate climbs back to it, then past it."""
    dropped_to: float = 0.0
    """The rate set at the last episode."""
    next_slot: float = 0.0
    """Earliest start of the next request at the current rate (spacing)."""
    paused_until: float = 0.0
    """No request starts before this (a 429's advice)."""
    epoch: int = 0
    """Bumped when a pause or a lower rate makes slots booked earlier wrong."""
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
    booked: int = 0
    """Slots taken by requests that wait for them (not sent yet)."""
    window: float | None = INITIAL_WINDOW
    """Most requests in flight until the first 429 (slow start), or ``None``."""
    episode_left: int = 0
    """Answers still due to requests in flight at the last rate decrease (their 429s
    belong to that episode)."""
    tested: bool = False
    """Whether a request succeeded since the rate was last set (a 429 before one
    says the limit is still shut, not that the rate is too high)."""
    last_throttle: float = -math.inf
    counting_since: float | None = None
    """When the first answer came: the delivered rate is counted from then at the earliest."""
    bucket: int = -(2**62)
    """Index of the current ``_BUCKET``-second bucket of successes."""
    counts: list[int] = field(default_factory=lambda: [0] * _BUCKETS)
    """Successes per bucket over the last second (a ring)."""

    def effective_rate(self) -> float | None:
        """The rate requests are spaced at now: the smaller of the learned rate and the cap."""
        if self.rate is None:
            return self.cap
        return self.rate if self.cap is None else min(self.rate, self.cap)

    def delay(self, now: float) -> float:
        """Seconds until a request may start (0 or less: now). Changes nothing."""
        start = max(self.paused_until, self.next_slot if self.effective_rate() else 0.0)
        if self.window_closed(now):
            start = max(start, self.window_end)
        return start - now

    def window_full(self) -> bool:
        """Whether the start-up window holds back new requests until an answer comes."""
        return self.window is not None and self.in_flight + self.booked >= self.window

    def window_closed(self, now: float) -> bool:
        """Whether the server's window is used up until ``window_end``."""
        return self.allowance is not None and self.allowance <= 0 and now < self.window_end

    def book_ahead(self) -> float:
        """How far ahead a waiting request books its slot: less while the rate doubles.

        A slot is spaced at the rate when it is booked; in slow start the rate
        doubles every ``SLOW_START_DOUBLING`` s, so slots booked ``BOOK_AHEAD``
        ahead would hold sending to the rate of a quarter second ago, about half.
        """
        ahead = SLOW_START_DOUBLING / 8.0 if self.slow_start else BOOK_AHEAD
        return max(ahead, 2.0 / (self.effective_rate() or 1.0))

    def take(self, now: float) -> None:
        """Start a request now: use a slot, and one of the window's allowance."""
        self._use_slot(now)
        self.in_flight += 1

    def book(self, at: float) -> None:
        """Take the slot at ``at`` for a request that waits for it (then ``send``/``unbook``)."""
        self._use_slot(at)
        self.booked += 1

    def send(self) -> None:
        """A booked request is sent now."""
        self.booked -= 1
        self.in_flight += 1

    def unbook(self) -> None:
        """A booked slot goes unused (a pause or a lower rate came, or the waiter left)."""
        self.booked -= 1

    def _use_slot(self, now: float) -> None:
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
        in_episode = self.episode_left > 0  # sent before the last rate decrease
        if in_episode:
            self.episode_left -= 1
        if status is None or headers is None:
            return
        if status != 429:
            # Any answer but a 429 got through the limit: a 404 is delivered too.
            self._succeeded(now)
            if self.window is not None:
                since = now - (now if self.counting_since is None else self.counting_since)
                self.window = _grown_window(self.window, since)
        reset_value = headers.get("x-ratelimit-reset")
        if reset_value is not None:
            self._window(headers, parse_retry_after(reset_value, now=wall()), now)
        if status == 429:
            self._throttled(now, retry_after_from(status, headers, now=wall()), in_episode)

    def _window(self, headers: Mapping[str, str], reset: float | None, now: float) -> None:
        remaining = _header_int(headers, "x-ratelimit-remaining")
        limit = _header_int(headers, "x-ratelimit-limit")
        if limit is not None:
            self.limit = limit
        if reset is not None and remaining is not None and reset <= self.max_pause:
            self.window_length = max(self.window_length, reset)
            self.window_end = now + reset
            self.allowance = max(0, remaining - self.in_flight)

    def _succeeded(self, now: float) -> None:
        bucket = int(now // _BUCKET)
        if bucket != self.bucket:
            self._rotate(bucket)
        self.counts[bucket % _BUCKETS] += 1
        if self.counting_since is None:
            self.counting_since = now
        self.tested = True
        rate = self.rate
        if rate is None:
            return
        if now - self.last_throttle > RATE_MEMORY:
            self.rate = None  # a long quiet: forget, the limit may have been raised
        elif self.slow_start:
            # Clocked by answers, as TCP's slow start by ACKs: delivered at the
            # rate, it doubles every SLOW_START_DOUBLING s; a shut limit grows nothing.
            self.rate = rate * 2.0 ** min(1.0, 1.0 / (rate * SLOW_START_DOUBLING))
        else:
            # CUBIC's curve: concave up to the plateau, flat near it, then convex.
            since = (min(now - self.last_throttle, RATE_MEMORY) - RECOVERY) / RECOVERY
            self.rate = self.plateau + (self.plateau - self.dropped_to) * since**3

    def _rotate(self, bucket: int) -> None:
        """Move the ring to ``bucket``, emptying the buckets skipped over."""
        for skipped in range(max(self.bucket + 1, bucket - _BUCKETS + 1), bucket + 1):
            self.counts[skipped % _BUCKETS] = 0
        self.bucket = bucket

    def delivered_rate(self, now: float, *, at_least: float = _MIN_SPAN) -> float:
        """Successes per second over the last second (or since the first, ``at_least`` s)."""
        bucket = int(now // _BUCKET)
        if bucket != self.bucket:
            self._rotate(bucket)
        if self.counting_since is None:
            return 0.0
        counted_from = max((bucket - _BUCKETS + 1) * _BUCKET, self.counting_since)
        return sum(self.counts) / max(at_least, now - counted_from)

    def _throttled(self, now: float, advice: float | None, in_episode: bool) -> None:
        self.window = None  # the limit is found: a rate paces from here on
        if advice is not None and advice <= self.max_pause and now + advice > self.paused_until:
            self.paused_until = now + advice
            self.epoch += 1
        if in_episode:
            return  # a request sent before the last decrease: answered for already
        if not self.tested:
            # Nothing delivered since the rate was set (or ever): the limit is shut
            # for now, which the advice and the session's floor answer, not the rate.
            return
        if self.rate is None:
            # What came through, counted over FIRST_SPAN at least (a burst says
            # little of a rate); slow start finds more, if any.
            self.rate = max(MIN_RATE, self.delivered_rate(now, at_least=FIRST_SPAN))
            self.slow_start = True
        else:
            self.plateau = max(MIN_RATE, min(self.rate, self.delivered_rate(now)))
            self.rate = max(MIN_RATE, BETA * self.plateau)
            self.slow_start = False
        self.dropped_to = self.rate
        self.tested = False
        self.episode_left = self.in_flight
        self.last_throttle = now
        # Slots booked at the old rate are given up and booked again at the new one.
        self.next_slot = max(self.paused_until, now + 1.0 / self.rate)
        self.epoch += 1


class AdaptiveRateLimiter:
    """The default ``RateLimiter``: session-wide pacing inside one process.

    Args:
        rate_limit: an explicit cap in requests per second (``None``: only what
            the server's 429s and ``x-ratelimit-*`` headers teach).
        max_pause: the longest pause one answer's advice may impose, in seconds;
            longer advice is refused (a ``TelnyxSession`` passes its
            ``max_rate_limit_wait``).
        clock: a monotonic clock in seconds (tests pass a fake one).
        sleep: the coroutine used to wait (tests pass a fake one).

    Examples:
        >>> limiter = AdaptiveRateLimiter(rate_limit=50)  # doctest: +SKIP
        >>> TelnyxSession(rate_limiter=limiter)  # doctest: +SKIP
    """

    def __init__(
        self,
        rate_limit: float | None = None,
        *,
        max_pause: float = DEFAULT_MAX_RATE_LIMIT_WAIT,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate_limit is not None:
            positive("rate_limit", rate_limit, "requests per second")
        non_negative("max_pause", max_pause)
        self.state = PacingState(cap=rate_limit, max_pause=max_pause)
        self._answer_waiters: deque[asyncio.Future[None]] = deque()
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep

    def __repr__(self) -> str:
        state, now = self.state, self._clock()
        cap = "none" if state.cap is None else f"{state.cap:g}/s"
        learned = "none yet" if state.rate is None else f"{state.rate:.4g}/s"
        paused = state.paused_until - now
        tail = f" paused {paused:.3g}s" if paused > 0 else ""
        return (
            f"<AdaptiveRateLimiter cap={cap} learned={learned} in_flight={state.in_flight}{tail}>"
        )

    async def acquire(self, *, max_wait: float) -> float:
        """Wait for a slot and take it (``0.0``), or return the wait when over ``max_wait``."""
        if self.take_now():
            return 0.0
        state, clock = self.state, self._clock
        give_up_at = clock() + max_wait
        while True:
            now = clock()
            if state.window_full():
                if not await self._an_answer(within=give_up_at - now):
                    return max(0.0, give_up_at - clock()) + _UNKNOWN_WAIT
                continue
            wait = state.delay(now)
            if wait <= 0.0:
                state.take(now)
                return 0.0
            if now + wait > give_up_at:
                return wait
            if state.paused_until > now or state.window_closed(now):
                await self._sleep(wait)
                continue
            ahead = state.book_ahead()
            if wait > ahead:
                # Not booked this far ahead: the rate may grow meanwhile (slow start),
                # and a slot booked at today's rate would come late.
                await self._sleep(wait - ahead)
                continue
            # Only spacing holds us back: book the slot now, so that waiting tasks
            # line up one per slot instead of all waking together.
            epoch = state.epoch
            state.book(now + wait)
            try:
                await self._sleep(wait)
            except BaseException:
                state.unbook()
                raise
            if state.epoch == epoch:
                state.send()
                return 0.0
            # A pause or a lower rate came while this slot was coming: book again.
            state.unbook()

    async def _an_answer(self, *, within: float) -> bool:
        """Wait for the next answer to free the start-up window; ``False``: none came in time."""
        if within <= 0.0:
            return False
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._answer_waiters.append(answered)
        try:
            async with asyncio.timeout(within):
                await answered
        except TimeoutError:
            return False
        finally:
            if not answered.done():
                answered.cancel()
        return True

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
            and (state.window is None or state.in_flight + state.booked < state.window)
            and not self._answer_waiters  # first come, first served
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
        waiters = self._answer_waiters
        if waiters:
            # Wake as many as the window now lets through (all once it is gone); the
            # rest wait for more answers.
            state = self.state
            if state.window is None:
                wake = len(waiters)
            else:
                wake = max(1, int(state.window) - state.in_flight - state.booked)
            for _ in range(min(wake, len(waiters))):
                answered = waiters.popleft()
                if not answered.done():
                    answered.set_result(None)
