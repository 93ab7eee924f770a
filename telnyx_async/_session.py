"""TelnyxSession: configuration, the pooled transport and the retry loop."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Final, Self

import aiohttp
from yarl import URL

from ._config import (
    API_KEY_ENV,
    DEFAULT_MAX_RETRIES,
    DEFAULT_POOL_SIZE,
    DEFAULT_TIMEOUT,
    api_key_from,
    base_url_from,
)
from ._connections import Connections
from ._errors import APIConnectionError, TelnyxError
from ._protocol import RawResponse, request_headers, status_error
from ._retry import RetryPolicy, retry_after_from
from ._stats import SessionStats
from ._text import SecretStrings, safe_text
from ._transport import Transport

logger: Final = logging.getLogger("telnyx_async")


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
        timeout: seconds allowed for one attempt, connecting included.
        max_retries: retries after the first attempt (2 means at most 3 attempts);
            ignored when ``retry_policy`` is given.
        pool_size: the most TCP connections kept open at once (reused with keep-alive).
        session: an ``aiohttp.ClientSession`` to use instead of creating one; it is
            never closed by this library.
        retry_policy: when and how long to wait between attempts; see ``RetryPolicy``.
        sleep: the coroutine used to wait between attempts; tests pass a fake one.

    Raises:
        TelnyxError: no API key was given and ``TELNYX_API_KEY`` is not set.
        ValueError: an argument is out of range, or the key holds whitespace.

    Example:
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
        max_retries: int = DEFAULT_MAX_RETRIES,
        pool_size: int = DEFAULT_POOL_SIZE,
        session: aiohttp.ClientSession | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        key = api_key_from(api_key, os.environ)
        if key is None:
            raise TelnyxError(
                f"no API key: pass TelnyxSession(api_key=...) or set the {API_KEY_ENV} "
                "environment variable"
            )
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"pool_size must be a positive int, got {pool_size!r}")
        self._base_url = base_url_from(base_url, os.environ)
        self._policy = (
            retry_policy if retry_policy is not None else RetryPolicy(max_retries=max_retries)
        )
        self._sleep = sleep
        secrets = _secrets_of(key, self._base_url)
        self._secrets = secrets
        self._transport = Transport(
            headers=request_headers(key),
            timeout=timeout,
            pool_size=pool_size,
            session=session,
            secrets=secrets,
        )
        self._retries = 0
        self._connection_errors = 0
        self._responses: dict[int, int] = {}
        self.connections: Final = Connections(
            self._send,
            prefix=f"{self._base_url}/connections/",
            pool_limit=lambda: self._transport.pool_limit,
            secrets=secrets,
        )
        """The Connections resource: ``get``, ``gather_many``, ``iter_many``."""

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
            connection_errors=self._connection_errors,
            responses=dict(self._responses),
        )

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._transport.closed

    async def _send(self, url: str) -> RawResponse:
        """GET ``url``, retrying per the policy; return the first 2xx answer or raise."""
        transport, policy = self._transport, self._policy
        retries = 0
        while True:
            try:
                status, headers, body = await transport.get(url)
            except APIConnectionError as exc:
                self._connection_errors += 1
                if retries >= policy.max_retries:
                    raise
                delay = policy.delay(retries)
                reason: object = exc
            else:
                self._responses[status] = self._responses.get(status, 0) + 1
                if 200 <= status < 300:
                    return status, headers, body
                error = status_error(status, headers, body, secrets=self._secrets)
                if retries >= policy.max_retries or not policy.retries_status(status):
                    raise error
                delay = policy.delay(
                    retries, retry_after=retry_after_from(status, headers, now=time.time())
                )
                reason = f"HTTP {status}"
            retries += 1
            self._retries += 1
            logger.debug(
                "retry %d of %d for GET %s in %.3fs after %s",
                retries,
                policy.max_retries,
                safe_text(url[len(self._base_url) :], self._secrets),
                delay,
                reason,
            )
            await self._sleep(delay)

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

    def __repr__(self) -> str:
        # Never the key, not even a part of it.
        state = "closed" if self.closed else "open"
        return f"<TelnyxSession base_url={self._base_url!r} {state}>"


def _secrets_of(key: str, base_url: str) -> SecretStrings:
    """What must never appear in a message: the key, and any password in the base URL."""
    return SecretStrings(key, URL(base_url).password or "")
