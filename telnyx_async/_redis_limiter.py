"""RedisRateLimiter: one account's rate limit shared by every process through Redis.

The ``RateLimiter`` seam of ``_pacing.py``, backed by the two Lua scripts of
``_redis_scripts.py``. ``redis`` (redis-py, the ``redis`` extra) is imported
when a limiter is created, never by ``import telnyx_async``.

- ``acquire`` books a slot in the shared schedule and sleeps until it comes.
  The requests of a process that wait at the same moment are booked together:
  one round trip for all of them.
- ``observe`` tells Redis only what the fleet must hear: a 429 (everyone pauses
  for its ``Retry-After`` / ``x-ratelimit-reset``, and the shared rate drops) or
  a window used up (``x-ratelimit-remaining: 0``: everyone waits for its reset).
- When Redis fails or times out, the process paces itself with an in-process
  ``AdaptiveRateLimiter`` (one WARNING), tries Redis again at most once a
  second, and shares again as soon as it answers (one INFO). No request waits
  on a dead Redis for longer than the socket timeout.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self, cast

from yarl import URL

from ._checks import positive
from ._config import DEFAULT_RATE_LIMIT_PAUSE
from ._pacing import (
    _EPISODE,  # pyright: ignore[reportPrivateUsage]  # one episode length for both limiters
    BETA,
    MIN_RATE,
    RATE_INCREASE,
    RATE_MEMORY,
    AdaptiveRateLimiter,
)
from ._redis_scripts import ACQUIRE, OBSERVE
from ._retry import parse_retry_after, retry_after_from
from ._text import SecretStrings, safe_text

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

logger: Final = logging.getLogger("telnyx_async")

DEFAULT_REDIS_TIMEOUT: Final = 0.25
"""Seconds one Redis call may take before the process paces itself instead."""
REDIS_RETRY_INTERVAL: Final = 1.0
"""Seconds between attempts to reach Redis again while it is down."""
MAX_BATCH: Final = 64
"""The most slots one round trip books (the requests of a process waiting at once)."""
_KEY_TTL_MS: Final = int((RATE_MEMORY + 60.0) * 1000)
"""The shared state outlives the learned rate's memory, then Redis drops it."""


@dataclass(frozen=True, slots=True)
class RedisLimiterStats:
    """What a ``RedisRateLimiter`` has done so far, in this process."""

    shared: int
    """Requests paced through Redis."""
    local: int
    """Requests paced in-process because Redis was unreachable."""
    round_trips: int
    """Calls to Redis (failed ones included)."""
    outages: int
    """Times Redis was found unreachable after answering (or before ever answering)."""


class _Waiter:
    """One ``acquire`` waiting for its slot to be booked."""

    __slots__ = ("future", "max_wait")

    def __init__(self, future: asyncio.Future[tuple[bool, float]], max_wait: float) -> None:
        self.future = future
        self.max_wait = max_wait


class RedisRateLimiter:
    """A ``RateLimiter`` shared by every process that uses the same Redis and key.

    Install the extra first: ``pip install 'telnyx-async[redis]'``.

    Args:
        url: the Redis URL (``redis://host:6379/0``, ``rediss://`` for TLS,
            ``unix:///path``); a password in it is never logged or shown.
        rate: the account's limit in requests per second, for the whole fleet.
            The fleet never exceeds it; after a 429 it goes slower, then grows
            back by 5% a second (the in-process limiter's AIMD, shared).
        key: the Redis key of the shared state: one per Telnyx account.
        fallback_rate: each process's cap while Redis is unreachable (default:
            ``rate``, and the in-process limiter's 429 pauses bring it down; pass
            ``rate / processes`` if you know how many there are, to spare those 429s).
        timeout: seconds a Redis call may take (connecting included) before this
            process paces itself instead.
        clock: a monotonic clock in seconds (tests pass a fake one).
        sleep: the coroutine used to wait (tests pass a fake one).

    Raises:
        ImportError: redis-py is not installed.
        ValueError: a rate or the timeout is not positive, or the key is empty.

    Examples:
        >>> limiter = RedisRateLimiter("redis://localhost:6379/0", rate=200,
        ...                            key="telnyx:acct-1")  # doctest: +SKIP
        >>> async with limiter, TelnyxSession(rate_limiter=limiter) as telnyx:  # doctest: +SKIP
        ...     ...
    """

    def __init__(
        self,
        url: str,
        *,
        rate: float,
        key: str = "telnyx-async:rate",
        fallback_rate: float | None = None,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if math.isinf(positive("rate", rate, "requests per second")):
            raise ValueError(f"rate must be > 0 requests per second, got {rate!r}")
        if fallback_rate is not None:
            positive("fallback_rate", fallback_rate, "requests per second")
        positive("timeout", timeout)
        if not key:
            raise ValueError("key must not be empty")
        try:
            # Here, so that a missing extra fails at set-up, not on the first request.
            importlib.import_module("redis.asyncio")
        except ImportError as exc:
            raise ImportError(
                "RedisRateLimiter needs redis-py: pip install 'telnyx-async[redis]'"
            ) from exc
        parsed = URL(url)
        self._url = url
        self._secrets = SecretStrings(parsed.password or "")
        self._shown_url = str(parsed.with_password("***")) if parsed.password else url
        self.rate: Final = float(rate)
        """The fleet's cap, in requests per second."""
        self.key: Final = key
        """The Redis key of the shared state."""
        self._timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._local = AdaptiveRateLimiter(
            fallback_rate if fallback_rate is not None else rate, clock=clock, sleep=sleep
        )
        self._client: Redis | None = None
        self._acquire_script: AsyncScript | None = None
        self._observe_script: AsyncScript | None = None
        self._queue: deque[_Waiter] = deque()
        self._booker: asyncio.Task[None] | None = None
        self._paused_until = -math.inf  # on our clock: the latest shared pause we heard of
        self._down = False
        self._next_try = -math.inf
        self._shared = self._local_count = self._round_trips = self._outages = 0

    @property
    def stats(self) -> RedisLimiterStats:
        """A snapshot of the requests paced through Redis or in-process, and the round trips."""
        return RedisLimiterStats(
            shared=self._shared,
            local=self._local_count,
            round_trips=self._round_trips,
            outages=self._outages,
        )

    @property
    def sharing(self) -> bool:
        """Whether the last call to Redis succeeded (``False``: pacing in-process)."""
        return not self._down

    async def acquire(self, *, max_wait: float) -> float:
        """Wait for a slot of the shared schedule and take it (``0.0``).

        Returns at once the wait it would need when that exceeds ``max_wait``,
        having booked nothing. While Redis is down, the in-process limiter decides.
        """
        while True:
            outcome = await self._book(max_wait) if self._may_try() else None
            if outcome is None:
                self._local_count += 1
                return await self._local.acquire(max_wait=max_wait)
            booked, wait = outcome
            if not booked:
                return wait
            known = self._paused_until  # the slot already comes after this pause
            if wait > 0.0:
                await self._sleep(wait)
            if self._paused_until <= known or self._paused_until <= self._clock():
                self._shared += 1
                return 0.0
            # A new pause was heard of (a 429 here, or in another process and told
            # by a reply) while this slot was coming: the slot is given up, and a
            # new one booked after the pause.
            max_wait = max(0.0, max_wait - wait)

    async def observe(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """Feed the in-process limiter, and tell the fleet of a 429 or a used-up window."""
        await self._local.observe(status, headers)
        if status is None or headers is None:
            return
        throttled = status == 429
        longest = self._local.state.max_pause  # longer advice is refused, not obeyed
        if throttled:
            advice = retry_after_from(status, headers, now=time.time())
            plausible = advice is not None and advice <= longest
            pause = advice if advice is not None and plausible else DEFAULT_RATE_LIMIT_PAUSE
        elif headers.get("x-ratelimit-remaining", "").strip() == "0":
            reset = headers.get("x-ratelimit-reset")
            advice = None if reset is None else parse_retry_after(reset, now=time.time())
            if advice is None or not 0.0 < advice <= longest:
                return
            pause = advice
        else:
            return
        if not self._may_try():
            return
        pause_left = _number(await self._call(self._observe_args(pause, throttled), observe=True))
        if pause_left is not None:
            self._heard_pause(pause_left)

    async def close(self) -> None:
        """Close the connections to Redis; idempotent.

        Requests still waiting for a slot to be booked pace in-process instead; the
        limiter connects again if it is used after this.
        """
        booker, self._booker = self._booker, None
        if booker is not None and not booker.done():
            booker.cancel()
            await asyncio.gather(booker, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        # Never the URL's password.
        state = "sharing" if not self._down else "pacing in-process (Redis unreachable)"
        return f"<RedisRateLimiter {self._shown_url} key={self.key!r} rate={self.rate:g}/s {state}>"

    # -- booking: the waiting requests of this process, one round trip per batch --

    async def _book(self, max_wait: float) -> tuple[bool, float] | None:
        """Book a slot: ``(True, wait)``, ``(False, wait needed)``, or ``None``: Redis failed."""
        future: asyncio.Future[tuple[bool, float]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiter(future, max_wait))
        if self._booker is None or self._booker.done():
            self._booker = asyncio.create_task(self._book_batches(), name="telnyx-async redis")
        try:
            return await future
        except _RedisDown:
            return None

    async def _book_batches(self) -> None:
        """Book slots for everyone waiting, a batch per round trip, until no one waits."""
        queue = self._queue
        while queue:
            batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
            batch = [w for w in batch if not w.future.done()]  # cancelled meanwhile
            if not batch:
                continue
            longest = max(w.max_wait for w in batch)
            try:
                reply = await self._call(self._acquire_args(len(batch), longest), observe=False)
            except asyncio.CancelledError:
                # close(): whoever waits paces in-process rather than hang.
                for waiter in [*batch, *queue]:
                    if not waiter.future.done():
                        waiter.future.set_exception(_RedisDown())
                queue.clear()
                raise
            parsed = _booking(reply)
            if parsed is None:
                for waiter in batch:
                    if not waiter.future.done():
                        waiter.future.set_exception(_RedisDown())
                continue
            booked, first, interval, pause_left = parsed
            self._heard_pause(pause_left)
            for index, waiter in enumerate(batch):
                wait = first + index * interval
                if waiter.future.done():
                    continue  # cancelled while the call ran: its slot goes unused
                if index < booked and wait <= waiter.max_wait:
                    waiter.future.set_result((True, wait))
                else:
                    # Slots past one's own max_wait are left unused: the fleet only ever
                    # goes slower for it, never faster.
                    waiter.future.set_result((False, max(wait, waiter.max_wait + 1e-9)))

    def _acquire_args(self, slots: int, max_wait: float) -> list[str | float | int]:
        return [self.rate, slots, max_wait, RATE_INCREASE, RATE_MEMORY, _KEY_TTL_MS]

    def _observe_args(self, pause: float, throttled: bool) -> list[str | float | int]:
        return [
            self.rate,
            pause,
            "1" if throttled else "0",
            BETA,
            MIN_RATE,
            _EPISODE,
            RATE_INCREASE,
            RATE_MEMORY,
            _KEY_TTL_MS,
        ]

    def _heard_pause(self, pause_left: float) -> None:
        if pause_left > 0.0:
            self._paused_until = max(self._paused_until, self._clock() + pause_left)

    # -- Redis itself, and what happens when it fails --

    def _may_try(self) -> bool:
        """Whether to call Redis now: always while it answers, once a second while it does not."""
        if not self._down:
            return True
        now = self._clock()
        if now < self._next_try:
            return False
        self._next_try = now + REDIS_RETRY_INTERVAL  # this caller tries; the others wait
        return True

    async def _call(self, args: list[str | float | int], *, observe: bool) -> object | None:
        """Run one script; ``None`` when Redis failed (and the failure was dealt with)."""
        from redis.exceptions import RedisError

        self._round_trips += 1
        try:
            script = self._scripts()[1 if observe else 0]
            reply: object = await script(keys=[self.key], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None
        if self._down:
            self._down = False
            logger.info(
                "Redis at %s answers again: the rate limit is shared again", self._shown_url
            )
        return reply

    def _failed(self, exc: BaseException) -> None:
        self._next_try = self._clock() + REDIS_RETRY_INTERVAL
        if self._down:
            return
        self._down = True
        self._outages += 1
        logger.warning(
            "Redis at %s is unreachable (%s): this process paces itself at %g requests/s "
            "until it answers again",
            self._shown_url,
            safe_text(f"{type(exc).__name__}: {exc}", self._secrets),
            self._local.state.cap,
        )

    def _scripts(self) -> tuple[AsyncScript, AsyncScript]:
        """The client and its two scripts, made on first use (inside the running loop)."""
        if self._acquire_script is None or self._observe_script is None or self._client is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # One immediate retry (a pooled connection may have died with a restarted
            # server); redis-py's default retries for seconds with backoff, which
            # would hold requests on a dead Redis instead of falling back.
            self._client = Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
                self._url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                retry=Retry(NoBackoff(), 1),
            )
            self._acquire_script = self._client.register_script(ACQUIRE)
            self._observe_script = self._client.register_script(OBSERVE)
        return self._acquire_script, self._observe_script


def _booking(reply: object) -> tuple[int, float, float, float] | None:
    """``ACQUIRE``'s reply as numbers, or ``None`` if it is not what the script returns."""
    if not isinstance(reply, list):
        return None
    items = [_number(item) for item in cast("list[object]", reply)]
    if len(items) != 4 or None in items:
        return None
    booked, first, interval, pause_left = cast("list[float]", items)
    return int(booked), first, interval, pause_left


def _number(value: object) -> float | None:
    """A number Redis sent (an integer, or a string the script formatted), else ``None``."""
    if isinstance(value, bytes | str | int | float):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class _RedisDown(Exception):
    """Internal: the batch's round trip failed; the waiter paces in-process."""
