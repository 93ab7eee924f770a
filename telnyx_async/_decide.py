"""The retry and pacing decision: what one attempt's outcome means for its call.

Sans-I/O, in the spirit of ``_protocol``: ``decide()`` reads no clock, never
sleeps and sends nothing. From the attempt's outcome (a status and headers, or
the connection error), the call's state, the session's run of 429s, the retry
policy, the budget, the deadline and the time, it returns what the session's
loop does next:

- ``Retry``: sleep ``delay``, then a new attempt that counts toward ``max_retries``
  and was paid for from the ``RetryBudget``;
- ``Resend``: a 429. Sleep ``delay`` (the server's advice, or the floor below),
  wait for the rate limit, and send again; not a retry;
- ``Raise``: the call ends with ``error``.

Every wait it returns has a bound, whatever the server answers:

- **No storm.** ``ThrottleStreak`` is the session's run of 429s with no other
  answer between them. From its second strike on (a strike: a 429 to a request
  sent after the previous strike, so a burst already in flight counts once), the
  session sends at most one request per *floor*, which starts at
  ``THROTTLE_FLOOR_START`` (50 ms) and doubles on every strike up to
  ``THROTTLE_FLOOR_MAX`` (10 s), whatever ``Retry-After`` says (0, a date in the
  past, a tiny fraction). One call that sees only 429s therefore sends at most
  ``max_throttled_requests(max_rate_limit_wait)`` requests: 14 for the default 60 s.
- **No endless wait.** A call ends with ``RateLimitError`` once waiting longer
  would take it past ``max_rate_limit_wait`` of rate-limit time: the time it spent
  in the limiter before its first 429, then the wall time since. Nor does any
  call wait past ``max_rate_limit_wait`` after the streak began: when the API has
  answered nothing but 429 for that long, every call fails at once, except the
  one that finds the floor's next send free (the probe that notices the limit
  lifting).
- **No lockout.** Advice beyond what the call may wait raises for this call; it
  is never stored for the session here (the limiter refuses advice over its
  ``max_pause`` too), so later calls are not locked out by one absurd header.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from ._budget import RetryBudget
from ._config import THROTTLE_FLOOR_MAX, THROTTLE_FLOOR_START
from ._errors import APIStatusError, APITimeoutError, RateLimitError, TelnyxError, TLSError
from ._loop import deadline_text
from ._retry import RetryPolicy, retry_after_from

Reason = Literal[
    "retry",
    "rate limited",
    "not retryable",
    "max_retries",
    "TLS",
    "retry budget",
    "max_retry_after",
    "max_rate_limit_wait",
    "deadline",
]
"""Why ``decide()`` returned what it did (``Raise.reason`` names the bound that ended the call)."""

_STRIKES_CAP: Final = 64
"""Strikes past this change nothing (the floor is at its ceiling long before)."""


@dataclass(slots=True, kw_only=True)
class ThrottleStreak:
    """A session's run of 429s with no other answer between them: the floor under its sends.

    Pure: every method takes ``now``, the session's monotonic clock in seconds.
    """

    strikes: int = 0
    """429s of the run answering requests sent after the previous strike."""
    epoch: int = 0
    """Strikes ever counted (never reset): a request sent at epoch ``n`` whose 429
    comes while the epoch is still ``n`` is a new strike, else part of a burst."""
    since: float | None = None
    """When the run's first 429 came; ``None``: no run (the last answer was not a 429)."""
    next_send: float = -math.inf
    """No request of the session is sent before this while the run lasts."""

    def floor(self) -> float:
        """Seconds between sends now: 0 for the first strike, then 50 ms doubling up to 10 s."""
        if self.strikes < 2:
            return 0.0
        return min(THROTTLE_FLOOR_MAX, THROTTLE_FLOOR_START * 2.0 ** min(self.strikes - 2, 64))

    def throttled(self, now: float, sent_epoch: int) -> None:
        """A 429 came at ``now`` for a request sent at epoch ``sent_epoch``."""
        if self.since is None:
            self.since = now
        if sent_epoch == self.epoch:
            self.strikes = min(self.strikes + 1, _STRIKES_CAP)
            self.epoch += 1
            self.next_send = max(self.next_send, now + self.floor())

    def hold(self, now: float) -> float:
        """Seconds before a request may be sent; ``0.0``: now, and the send is counted."""
        if self.since is None:
            return 0.0
        if now < self.next_send:
            return self.next_send - now
        self.next_send = now + self.floor()
        return 0.0

    def ended(self) -> None:
        """An answer that is not a 429: the run is over."""
        self.strikes = 0
        self.since = None
        self.next_send = -math.inf


@dataclass(slots=True, kw_only=True)
class CallState:
    """What one call (one ``get``, say, with all its attempts) has done so far."""

    attempts: int = 0
    retries: int = 0
    """Retries spent of ``max_retries`` (429 resends are not retries)."""
    paced: float = 0.0
    """Seconds waited on the rate limit before the first 429."""
    throttled_since: float | None = None
    """When the call's rate-limit time started: its first 429, less ``paced``."""
    sent_epoch: int = 0
    """The streak's ``epoch`` when the last attempt was sent."""
    last_throttle: RateLimitError | None = None
    """The last 429, raised if pacing gives up."""

    def rate_limit_left(self, streak: ThrottleStreak, max_wait: float, now: float) -> float:
        """Seconds the call may still wait on the rate limit (may be negative)."""
        spent = self.paced if self.throttled_since is None else now - self.throttled_since
        if streak.since is not None:
            spent = max(spent, now - streak.since)
        return max_wait - spent


@dataclass(frozen=True, slots=True)
class Retry:
    """Sleep ``delay`` seconds, then try again; it counts toward ``max_retries``."""

    delay: float
    reason: Reason = "retry"


@dataclass(frozen=True, slots=True)
class Resend:
    """A 429: sleep ``delay`` seconds, wait for the rate limit, and send again (not a retry)."""

    delay: float
    reason: Reason = "rate limited"


@dataclass(frozen=True, slots=True)
class Raise:
    """The call ends with ``error``; ``reason`` names why it is not tried again."""

    error: TelnyxError
    reason: Reason


Decision = Retry | Resend | Raise


def decide(
    status: int | None,
    headers: Mapping[str, str] | None,
    error: TelnyxError,
    call: CallState,
    streak: ThrottleStreak,
    *,
    policy: RetryPolicy,
    budget: RetryBudget,
    max_rate_limit_wait: float,
    deadline_left: float | None,
    now: float,
    wall: float,
    request: str,
    deadline_at: float | None = None,
) -> Decision:
    """What to do after an attempt that did not succeed.

    Args:
        status: the answer's status, or ``None`` when none came (``error`` says why).
        headers: the answer's headers (looked up case-insensitively), or ``None``.
        error: what the call raises if it ends here: the ``APIStatusError`` built
            from the answer, or the ``APIConnectionError``.
        call: the call's state; a 429 updates it.
        streak: the session's run of 429s; every answer updates it.
        policy: ``max_retries``, the backoff and ``max_retry_after``.
        budget: retries are paid from it (429 resends are not).
        max_rate_limit_wait: seconds a call may wait on the rate limit in all.
        deadline_left: seconds left before the call's deadline, or ``None``.
        now: the session's monotonic clock, in seconds.
        wall: the Unix time, for a ``Retry-After`` date.
        request: ``"GET /path"``, shown in a deadline's error.
        deadline_at: the call's deadline (a ``Deadline`` says its length in the error).

    Examples:
        >>> call, streak = CallState(), ThrottleStreak()
        >>> error = RateLimitError("Too many requests", status=429)
        >>> decide(429, {"Retry-After": "2"}, error, call, streak, policy=RetryPolicy(),
        ...        budget=RetryBudget(), max_rate_limit_wait=60.0, deadline_left=None,
        ...        now=0.0, wall=0.0, request="GET /v2/connections/1")
        Resend(delay=2.0, reason='rate limited')
    """
    if status is None:
        return _after_no_answer(
            error, call, policy, budget, deadline_left, now, request, deadline_at
        )
    assert isinstance(error, APIStatusError)
    assert headers is not None
    advice = retry_after_from(status, headers, now=wall)
    error.retry_after = advice
    if status == 429:
        return _after_429(error, advice, call, streak, max_rate_limit_wait, deadline_left, now)
    streak.ended()
    if call.retries >= policy.max_retries:
        return Raise(error, "max_retries")
    if not policy.retries_status(status):
        return Raise(error, "not retryable")
    if advice is not None and advice > policy.max_retry_after:
        return Raise(
            advised(error, advice, "the session waits (max_retry_after)"), "max_retry_after"
        )
    delay = policy.delay(call.retries, retry_after=advice)
    if deadline_left is not None and delay > deadline_left:
        error.caller_bound = True
        return Raise(advised(error, delay, "the call's deadline"), "deadline")
    if not budget.try_spend(now=now):
        return Raise(_unbudgeted(error), "retry budget")
    return Retry(delay)


def _after_no_answer(
    error: TelnyxError,
    call: CallState,
    policy: RetryPolicy,
    budget: RetryBudget,
    deadline_left: float | None,
    now: float,
    request: str,
    deadline_at: float | None,
) -> Decision:
    if isinstance(error, TLSError):
        return Raise(error, "TLS")  # fails the same way every time
    if call.retries >= policy.max_retries:
        return Raise(error, "max_retries")
    delay = policy.delay(call.retries)
    if deadline_left is not None and delay >= deadline_left:
        return Raise(deadline_error(request, deadline_at), "deadline")
    if not budget.try_spend(now=now):
        return Raise(_unbudgeted(error), "retry budget")
    return Retry(delay)


def _after_429(
    error: APIStatusError,
    advice: float | None,
    call: CallState,
    streak: ThrottleStreak,
    max_rate_limit_wait: float,
    deadline_left: float | None,
    now: float,
) -> Decision:
    if call.throttled_since is None:
        call.throttled_since = now - call.paced
    if isinstance(error, RateLimitError):
        call.last_throttle = error
    streak.throttled(now, call.sent_epoch)
    wait = max(0.0, advice or 0.0, streak.next_send - now)
    if wait > call.rate_limit_left(streak, max_rate_limit_wait, now):
        error.caller_bound = True
        return Raise(advised(error, wait, "this call may wait"), "max_rate_limit_wait")
    if deadline_left is not None and wait > deadline_left:
        error.caller_bound = True
        return Raise(advised(error, wait, "the call's deadline"), "deadline")
    return Resend(wait)


def max_throttled_requests(max_rate_limit_wait: float) -> int:
    """The most requests one call sends while it sees only 429s (its first included).

    The floor's sleeps between them are 0, 0.05, 0.1, ... 6.4, then 10 s each;
    every request is sent within ``max_rate_limit_wait`` of the first 429.

    Examples:
        >>> max_throttled_requests(60.0)
        14
    """
    sent, elapsed, streak = 1, 0.0, ThrottleStreak()
    while True:
        streak.strikes += 1
        elapsed += streak.floor()
        if elapsed > max_rate_limit_wait:
            return sent
        sent += 1


def deadline_error(request: str, deadline_at: float | None = None) -> APITimeoutError:
    """The error of a call whose deadline ran out (its length said, when known)."""
    error = APITimeoutError(f"{request} did not complete within {deadline_text(deadline_at)}")
    error.caller_bound = True  # this call's limits, not the API's answer
    return error


def advised(error: APIStatusError, wait: float, limit: str) -> APIStatusError:
    """The error, its message saying the wait needed and why it was not waited."""
    error.args = (
        f"{error.args[0]}; the next attempt could start in {wait:.3g}s, later than {limit}",
        *error.args[1:],
    )
    return error


def _unbudgeted(error: TelnyxError) -> TelnyxError:
    error.args = (
        f"{error.args[0]}; not retried: the session's retry budget is spent "
        "(too many failures recently)",
        *error.args[1:],
    )
    return error
