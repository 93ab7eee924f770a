"""The only module that uses aiohttp's client: one GET attempt -> (status, headers, body).

It owns the pooled ``aiohttp.ClientSession`` (created lazily, inside the running
loop) unless the caller lent one, and turns network failures into
``APIConnectionError`` / ``APITimeoutError``. It neither retries nor interprets
statuses: that is the session's and the protocol's job.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from ._config import MAX_RESPONSE_BYTES
from ._errors import APIConnectionError, APITimeoutError, ResponseTooLargeError, TelnyxError
from ._protocol import RawResponse


class Transport:
    """One pooled HTTP client for GET requests with fixed headers and timeout.

    Headers, the timeout object and the connector settings are built once here,
    never per request.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout: float,
        pool_size: int,
        session: aiohttp.ClientSession | None = None,
        max_body: int = MAX_RESPONSE_BYTES,
    ) -> None:
        # Built once: aiohttp copies session headers into each request's own
        # CIMultiDict, and converts a plain dict passed per request first.
        self._headers = CIMultiDict(headers)
        # Our own session carries the headers itself; a lent one gets them per request.
        self._request_headers: CIMultiDict[str] | None = None if session is None else self._headers
        self._timeout_seconds = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._pool_size = pool_size
        self._session = session
        self._owns_session = session is None
        self._max_body = max_body
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    @property
    def pool_limit(self) -> int | None:
        """Most connections the pool opens at once, or ``None`` for no limit."""
        if self._session is not None and not self._owns_session:
            limit = self._session.connector.limit if self._session.connector else 0
            return limit or None
        return self._pool_size

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise TelnyxError("this TelnyxSession is closed; create a new one")
        if self._session is None:
            # Created here, on first use, so that the TelnyxSession itself can be
            # built outside a running loop (aiohttp binds a session to its loop).
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                timeout=self._timeout,
                headers=self._headers,
            )
        return self._session

    async def get(self, url: str) -> RawResponse:
        """Send one GET to an already percent-encoded URL and read the whole body.

        Redirects are not followed: an API answer is never a redirect, and
        following one could send the key's request somewhere unexpected.

        Raises:
            APITimeoutError: the attempt took longer than the timeout.
            APIConnectionError: no complete HTTP response arrived.
            ResponseTooLargeError: a successful response's body exceeds the limit.
        """
        session = self._session if self._session is not None else self._open()
        if not self._owns_session and session.closed:
            # aiohttp would raise a bare RuntimeError; name the cause instead.
            raise TelnyxError("the aiohttp session passed as session= has been closed")
        try:
            async with session.get(
                URL(url, encoded=True),
                headers=self._request_headers,
                timeout=self._timeout,
                allow_redirects=False,
                raise_for_status=False,
            ) as resp:
                length = resp.content_length
                if length is not None and length <= self._max_body:
                    body = await resp.read()
                else:
                    body = await self._read_capped(resp)
                return resp.status, resp.headers, body
        except TimeoutError as exc:
            raise APITimeoutError(
                f"GET {_path(url)} timed out after {self._timeout_seconds:g}s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise APIConnectionError(f"GET {_path(url)} failed: {_describe(exc)}") from exc

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        """Read at most ``max_body`` bytes, for bodies of unknown or excessive length.

        An error response keeps its first bytes (enough for a message) so that
        the caller still gets the right status error; a successful one raises.
        """
        chunks: list[bytes] = []
        size = 0
        while chunk := await resp.content.read(65536):
            size += len(chunk)
            if size > self._max_body:
                if resp.status >= 400:
                    chunks.append(chunk)
                    break
                raise ResponseTooLargeError(
                    f"GET {_path(str(resp.url))}: response body exceeds "
                    f"{self._max_body} bytes (HTTP {resp.status})"
                )
            chunks.append(chunk)
        return b"".join(chunks)[: self._max_body]

    async def close(self) -> None:
        """Close the pool if this transport created it; idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()


def _path(url: str) -> str:
    # The path is enough to tell requests apart, and it keeps host names and
    # any credentials a base URL might carry out of messages.
    scheme_sep = url.find("://")
    slash = url.find("/", scheme_sep + 3 if scheme_sep >= 0 else 0)
    return url[slash:] if slash >= 0 else "/"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
