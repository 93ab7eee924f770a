"""TelnyxSession: configuration, the pooled transport and the retry loop."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from ssl import SSLContext
from types import TracebackType
from typing import Final, Self, TypeVar

import aiohttp
from yarl import URL

from ._budget import RetryBudget
from ._checks import non_negative, positive, positive_int
from ._config import (
    API_KEY_ENV,
    DEFAULT_MAX_RATE_LIMIT_WAIT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_POOL_SIZE,
    DEFAULT_TIMEOUT,
    api_key_from,
    base_url_from,
    configure_logging,
)
from ._connections import Connections
from ._decide import (
    CallState,
    Decision,
    Raise,
    Resend,
    Retry,
    ThrottleStreak,
    advised,
    deadline_error,
    decide,
)
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    NotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    TelnyxError,
)
from ._loop import session_time
from ._pacing import AdaptiveRateLimiter, RateLimiter
from ._protocol import RawResponse, request_headers, status_error
from ._retry import RetryPolicy
from ._stats import SessionStats
from ._text import SecretStrings, safe_text
from ._transport import SSLSetting, Transport, url_path

logger: Final = logging.getLogger("telnyx_async")
E = TypeVar("E", bound=TelnyxError)


class TelnyxSession:
    """An async client session for the Telnyx API: one connection pool, retries, typed results.

    Create it anywhere (even outside a running loop); the underlying
    ``aiohttp.ClientSession`` is created on first use. Close it with
    ``async with`` or ``await telnyx.close()``.

    Args:
        api_key: the Telnyx API key; defaults to the ``TELNYX_API_KEY`` environment variable.
        base_url: the API root; defaults to ``TELNYX_BASE_URL``, then
            ``https://api.telnyx.com/v2``. A path prefix is kept: requests go to
            ``{base_url}/connections/{id}``.
        timeout: seconds allowed for one attempt, connecting included, counted from
            the moment it has a pooled connection (time queued for one is not).
        max_retries: retries after the first attempt (default 2: at most 3 attempts);
            give it or ``retry_policy``, not both (the policy holds its own).
        pool_size: the most TCP connections kept open at once (reused with keep-alive).
        session: an ``aiohttp.ClientSession`` to use instead of creating one; it is
            never closed by this library.
        retry_policy: when and how long to wait between attempts; see ``RetryPolicy``.
        rate_limit: a cap on the session's requests per second (``None``: only what
            the API's 429s and ``x-ratelimit-*`` headers teach); see docs/reliability.md.
        rate_limiter: a ``RateLimiter`` to pace the session instead of the built-in
            ``AdaptiveRateLimiter`` (one shared by several processes, say).
        max_rate_limit_wait: the longest one call waits on the rate limit, in seconds
            (60); a longer wait raises the ``RateLimitError`` at once.
        retry_budget: the ``RetryBudget`` retries draw on (default: 0.5 per success,
            at most 50, 1 a second), so that an outage is not amplified.
        trace_configs: ``aiohttp.TraceConfig`` objects for the session this library
            creates (OpenTelemetry's aiohttp instrumentation, your own tracing).
        ssl: how the server's certificate is checked, as aiohttp takes it: ``True``
            (default: against the system's certificate authorities, which
            ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` replace), an ``ssl.SSLContext`` (a
            company CA bundle, a client certificate), ``False`` (no check: for tests
            only) or an ``aiohttp.Fingerprint``. A failed check raises ``TLSError``,
            never retried.
        trust_env: read ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` (and ``~/.netrc``
            for proxy credentials) from the environment, as aiohttp does; off by
            default, as in aiohttp.

    Logging: DEBUG records on the ``telnyx_async`` logger for every attempt and
    retry, their fields also as ``extra`` attributes (``http_method``,
    ``http_path``, ``http_status``, ``attempt``, ``elapsed``, ``request_id``,
    ``retry_delay``, ``retry_reason``); never the key. ``TELNYX_LOG=debug`` (or
    ``info``) sends them to stderr.

    Raises:
        TelnyxError: no API key was given and ``TELNYX_API_KEY`` is not set.
        ValueError: an argument is out of range, or the key holds whitespace.

    Examples:
        >>> async with TelnyxSession() as telnyx:  # doctest: +SKIP
        ...     conn = await telnyx.connections.get("1293384261075731499")
        ...     print(conn.connection_name)
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        session: aiohttp.ClientSession | None = None,
        retry_policy: RetryPolicy | None = None,
        rate_limit: float | None = None,
        rate_limiter: RateLimiter | None = None,
        max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT,
        retry_budget: RetryBudget | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        ssl: SSLSetting = True,
        trust_env: bool = False,
    ) -> None:
        key = api_key_from(api_key, os.environ)
        if key is None:
            raise TelnyxError(
                f"no API key: pass TelnyxSession(api_key=...) or set the {API_KEY_ENV} "
                "environment variable"
            )
        positive("timeout", timeout)
        positive_int("pool_size", pool_size)
        non_negative("max_rate_limit_wait", max_rate_limit_wait)
        if retry_policy is not None and max_retries is not None:
            raise ValueError(
                "pass max_retries= or retry_policy=, not both: "
                "use RetryPolicy(max_retries=...) to set it on the policy"
            )
        if rate_limiter is not None and rate_limit is not None:
            raise ValueError("pass rate_limit= or rate_limiter=, not both")
        if trace_configs and session is not None:
            raise ValueError(
                "trace_configs= applies to the session this library creates; "
                "give them to your own aiohttp.ClientSession(trace_configs=...) instead"
            )
        if session is not None and (ssl is not True or trust_env):
            raise ValueError(
                "ssl= and trust_env= configure the session this library creates; with "
                "session=, set them on your own aiohttp.ClientSession and its connector"
            )
        if not isinstance(ssl, bool | SSLContext | aiohttp.Fingerprint):
            raise TypeError(
                "ssl must be an ssl.SSLContext, True, False or an aiohttp.Fingerprint, "
                f"got {type(ssl).__name__}"
            )
        configure_logging(os.environ)
        self._base_url = base_url_from(base_url, os.environ)
        # Every path of the API starts with its version: without one, every id looks
        # missing. Said in each 404's message rather than refused (a proxy may add it).
        self._unversioned = (
            ""
            if "/v2" in URL(self._base_url).path
            else f"base_url {self._base_url!r} has no /v2: did you mean {self._base_url}/v2?"
        )
        self._warned_unversioned = False
        self._policy = (
            retry_policy
            if retry_policy is not None
            else RetryPolicy(
                max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries
            )
        )
        # Real time, but in tests (injected_time: off the public signature).
        self._sleep, self._clock = session_time()
        self._limiter: RateLimiter = (
            rate_limiter
            if rate_limiter is not None
            else AdaptiveRateLimiter(
                rate_limit, max_pause=max_rate_limit_wait, clock=self._clock, sleep=self._sleep
            )
        )
        # The default limiter is also called without coroutines on the hot path
        # (a subclass may override acquire/observe: it gets the protocol's calls).
        self._local_limiter = self._limiter if type(self._limiter) is AdaptiveRateLimiter else None
        self._max_rate_limit_wait = max_rate_limit_wait
        self._budget = retry_budget if retry_budget is not None else RetryBudget()
        self._streak = ThrottleStreak()
        # Where it was made, for the unclosed-session warning: only under
        # `python -X dev` (tracemalloc gives it too, through the warning's source).
        self._created_at = (
            "".join(traceback.format_stack(limit=8)[:-1]) if sys.flags.dev_mode else ""
        )
        secrets = _secrets_of(key, self._base_url)
        self._secrets = secrets
        self._transport = Transport(
            base_url=self._base_url,
            headers=request_headers(key),
            timeout=timeout,
            pool_size=pool_size,
            session=session,
            secrets=secrets,
            trace_configs=trace_configs,
            ssl=ssl,
            trust_env=trust_env,
        )
        self._retries = 0
        self._connection_errors = 0
        self._rate_limited = 0
        self._budget_refusals = 0
        self._responses: Counter[int] = Counter()
        self._connections = Connections(
            self._send,
            prefix=f"{self._base_url}/connections/",
            pool_limit=lambda: self._transport.pool_limit,
            secrets=secrets,
        )

    @property
    def connections(self) -> Connections:
        """The Connections resource: ``get``, ``gather_many``, ``iter_many``, ``list``, ``count``.

        Examples:
            >>> conn = await telnyx.connections.get("1293384261075731499")  # doctest: +SKIP
        """
        return self._connections

    @property
    def base_url(self) -> str:
        """The API root requests are sent to, without a trailing slash."""
        return self._base_url

    @property
    def stats(self) -> SessionStats:
        """A snapshot of the requests, retries and responses so far."""
        return SessionStats(
            requests=self._transport.sends,
            retries=self._retries,
            resends=self._transport.resends,
            rate_limited=self._rate_limited,
            budget_refusals=self._budget_refusals,
            connection_errors=self._connection_errors,
            responses=dict(self._responses),
        )

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._transport.closed

    def _send(self, url: str, deadline_at: float | None = None) -> Awaitable[RawResponse]:
        """GET ``url`` under the session's pacing, retry policy and budget.

        Returns the first 2xx answer or raises. ``deadline_at`` (on the loop's
        clock) bounds everything: pacing, attempts and backoff. Without one, the
        retry loop's own coroutine is returned: no extra frame on the hot path.
        """
        if deadline_at is None:
            return self._attempts(url, None, None)
        return self._send_by(url, deadline_at)

    async def _send_by(self, url: str, deadline_at: float) -> RawResponse:
        tally = [0]  # attempts so far, for the deadline's error
        scope = asyncio.timeout_at(deadline_at)
        try:
            async with scope:
                return await self._attempts(url, deadline_at, tally)
        except TimeoutError as exc:
            if isinstance(exc, APITimeoutError) or not scope.expired():
                raise
            error = deadline_error(self._request(url), deadline_at)
            raise self._finish(error, url, tally[0]) from None

    async def _attempts(
        self, url: str, deadline_at: float | None, tally: list[int] | None
    ) -> RawResponse:
        """The loop: acquire, hold for the 429 floor, send, observe, decide, sleep."""
        transport, limiter, local = self._transport, self._limiter, self._local_limiter
        clock, streak = self._clock, self._streak
        call = CallState()
        debug = logger.isEnabledFor(logging.DEBUG)
        log_from = 0.0
        while True:
            if deadline_at is not None and deadline_at <= asyncio.get_running_loop().time():
                # Checked, not only left to the timeout scope: a cancellation that
                # aiohttp's own attempt timeout consumed at the same instant is lost.
                cut = deadline_error(self._request(url), deadline_at)
                raise self._finish(cut, url, call.attempts)
            if local is None or not local.take_now():
                before = clock()
                need = await limiter.acquire(max_wait=max(0.0, self._allowed(call, deadline_at)))
                if need > 0.0:
                    raise self._gave_up(call, need, url)
                if call.throttled_since is None:
                    call.paced += clock() - before
            if streak.since is not None:
                # The floor is checked as the request is about to go, after the
                # limiter: a request queued there before the last 429 waits too.
                hold = streak.hold(clock())
                if hold > 0.0:
                    await limiter.observe(None, None)  # the acquired slot goes unused
                    if hold > self._allowed(call, deadline_at):
                        raise self._gave_up(call, hold, url)
                    await self._sleep(hold)
                    if call.throttled_since is None:
                        call.paced += hold
                    continue
            call.attempts += 1
            if tally is not None:
                tally[0] = call.attempts
            call.sent_epoch = streak.epoch
            if debug:
                log_from = time.perf_counter()
            try:
                status, headers, body = await transport.get(
                    url, timeout=None if deadline_at is None else self._attempt_timeout(deadline_at)
                )
            except APIConnectionError as exc:
                await limiter.observe(None, None)
                if transport.closed:
                    # close() cut it: nothing is retried on a closed session.
                    closed = TelnyxError("this TelnyxSession was closed during the call")
                    raise self._finish(closed, url, call.attempts) from exc
                # Not counted when the caller's deadline cut it (asyncio fires timers
                # up to its clock resolution early: a millisecond of slack).
                if deadline_at is None or asyncio.get_running_loop().time() < deadline_at - 1e-3:
                    self._connection_errors += 1
                if debug:
                    self._log_attempt(url, call.attempts, None, None, log_from, exc)
                decision = self._decide(None, None, exc, call, url, deadline_at)
                cause: object = exc
            except ResponseTooLargeError as exc:
                await limiter.observe(None, None)
                raise self._finish(exc, url, call.attempts) from None  # the same body again
            except BaseException:
                await limiter.observe(None, None)
                raise
            else:
                if local is None:
                    await limiter.observe(status, headers)
                else:
                    local.record(status, headers)
                self._responses[status] += 1
                if debug:
                    self._log_attempt(url, call.attempts, status, headers, log_from, None)
                if 200 <= status < 300:
                    if streak.since is not None:
                        streak.ended()
                    self._budget.on_success()
                    return status, headers, body
                if status == 429:
                    self._rate_limited += 1
                error = status_error(status, headers, body, secrets=self._secrets)
                decision = self._decide(status, headers, error, call, url, deadline_at)
                cause = f"HTTP {status}"
            if isinstance(decision, Raise):
                if decision.reason == "retry budget":
                    self._budget_refusals += 1
                failure = self._finish(decision.error, url, call.attempts)
                if self._unversioned and isinstance(failure, NotFoundError):
                    failure.args = (f"{failure.args[0]}; {self._unversioned}", *failure.args[1:])
                    if not self._warned_unversioned:
                        # Once per session: a bulk run of 404s says it once, not per id.
                        self._warned_unversioned = True
                        logger.warning("404 on %s; %s", self._request(url), self._unversioned)
                if not isinstance(cause, APIConnectionError):
                    raise failure
                raise failure from (cause.__cause__ if failure is cause else cause)
            if isinstance(decision, Retry):
                call.retries += 1
                self._retries += 1
            if debug:
                self._log_wait(url, call, decision, cause)
            await self._sleep(decision.delay)

    def _decide(
        self,
        status: int | None,
        headers: Mapping[str, str] | None,
        error: TelnyxError,
        call: CallState,
        url: str,
        deadline_at: float | None,
    ) -> Decision:
        """``decide()`` with the session's policy, budget, bounds and clocks."""
        return decide(
            status,
            headers,
            error,
            call,
            self._streak,
            policy=self._policy,
            budget=self._budget,
            max_rate_limit_wait=self._max_rate_limit_wait,
            deadline_left=(
                None if deadline_at is None else deadline_at - asyncio.get_running_loop().time()
            ),
            now=self._clock(),
            wall=time.time(),
            request=self._request(url),
            deadline_at=deadline_at,
        )

    def _allowed(self, call: CallState, deadline_at: float | None) -> float:
        """Seconds this call may still wait on the rate limit, its deadline included."""
        allowed = call.rate_limit_left(self._streak, self._max_rate_limit_wait, self._clock())
        if deadline_at is None:
            return allowed
        return min(allowed, deadline_at - asyncio.get_running_loop().time())

    def _gave_up(self, call: CallState, need: float, url: str) -> TelnyxError:
        """The error of a call whose next wait on the rate limit is longer than it may wait."""
        error = call.last_throttle or RateLimitError(
            "the session is pacing for the API's rate limit", status=429
        )
        error.caller_bound = True  # this call's limits, not the API's answer
        return self._finish(advised(error, need, "this call may wait"), url, call.attempts)

    def _log_wait(self, url: str, call: CallState, decision: Retry | Resend, cause: object) -> None:
        """One DEBUG record per retry or 429 resend, its fields also as ``extra`` attributes."""
        path = safe_text(url_path(url), self._secrets)
        if isinstance(decision, Retry):
            what = f"retry {call.retries} of {self._policy.max_retries}"
        else:
            what = "resend (rate limited)"
        logger.debug(
            "%s for GET %s in %.3fs after %s",
            what,
            path,
            decision.delay,
            cause,
            extra={
                "http_method": "GET",
                "http_path": path,
                "attempt": call.attempts,
                "retry_delay": decision.delay,
                "retry_reason": str(cause),
            },
        )

    def _request(self, url: str) -> str:
        """``"GET /path"`` for messages: the path only, never a secret."""
        return f"GET {safe_text(url_path(url), self._secrets)}"

    def _log_attempt(
        self,
        url: str,
        attempt: int,
        status: int | None,
        headers: Mapping[str, str] | None,
        sent_at: float,
        error: TelnyxError | None,
    ) -> None:
        """One DEBUG record per attempt, its fields also as ``extra`` attributes."""
        path = safe_text(url_path(url), self._secrets)
        elapsed = time.perf_counter() - sent_at
        request_id = headers.get("x-request-id") if headers is not None else None
        if request_id is not None:
            request_id = safe_text(request_id, self._secrets)
        outcome = f"HTTP {status}" if status is not None else f"no answer ({error})"
        logger.debug(
            "GET %s attempt %d: %s in %.3fs%s",
            path,
            attempt,
            outcome,
            elapsed,
            f" [request {request_id}]" if request_id else "",
            extra={
                "http_method": "GET",
                "http_path": path,
                "http_status": status,
                "attempt": attempt,
                "elapsed": elapsed,
                "request_id": request_id,
            },
        )

    def _attempt_timeout(self, deadline_at: float | None) -> float | None:
        if deadline_at is None:
            return None
        left = deadline_at - asyncio.get_running_loop().time()
        return left if left < self._transport.timeout else None

    def _finish(self, error: E, url: str, attempts: int) -> E:
        error.request = self._request(url)
        error.attempts = attempts
        return error

    async def close(self) -> None:
        """Close the connection pool (unless it was lent via ``session=``); idempotent."""
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        # aiohttp's own "Unclosed client session" names none of our objects; this
        # says which TelnyxSession and, under `python -X dev`, where it was made.
        transport = getattr(self, "_transport", None)
        if transport is None or transport.closed or not transport.has_open_pool:
            return
        where = f"; created at:\n{self._created_at}" if self._created_at else ""
        _warn(
            f"unclosed {self!r}: use 'async with TelnyxSession(...)' or await close(){where}",
            ResourceWarning,
            source=self,
        )

    def __repr__(self) -> str:
        # Never the key, not even a part of it.
        state = "closed" if self.closed else "open"
        return f"<TelnyxSession base_url={self._base_url!r} {state}>"


def _secrets_of(key: str, base_url: str) -> SecretStrings:
    """What must never appear in a message: the key, and any password in the base URL."""
    return SecretStrings(key, URL(base_url).password or "")
