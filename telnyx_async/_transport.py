"""The only module that uses aiohttp's client: one GET attempt -> (status, headers, body).

It owns the pooled ``aiohttp.ClientSession`` (created lazily, inside the running
loop) unless the caller lent one, and turns network failures into
``APIConnectionError`` / ``APITimeoutError`` / ``TLSError``. It neither retries nor interprets
statuses: that is the session's and the protocol's job.

What it guarantees against a hostile or broken server:

- at most ``max_body`` bytes of a body are ever held, counted after
  decompression (gzip, deflate, br: aiohttp inflates incrementally and we stop
  reading at the cap), whatever ``Content-Length`` or the framing says;
- nothing reachable from an exception it raises holds a secret: aiohttp's
  exceptions in the chain lose their tracebacks (whose frames hold the request
  headers) and their request info is redacted; messages are redacted and bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ssl as ssl_module
import time
import weakref
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from typing import Any, Final

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._config import MAX_ERROR_BODY_BYTES, MAX_RESPONSE_BYTES
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    ResponseTooLargeError,
    TelnyxError,
    TLSError,
)
from ._protocol import RawResponse
from ._slots import Slots
from ._text import REDACTED, SecretStrings, redact, safe_text

_SENDS: Final[contextvars.ContextVar[list[bool] | None]] = contextvars.ContextVar(
    "telnyx_async_sends", default=None
)
"""Inside ``Transport.get``: empty until aiohttp sends the attempt, then ``[True]``."""
_READ_CHUNK: Final = 65536

SSLSetting = ssl_module.SSLContext | bool | aiohttp.Fingerprint
"""What ``ssl=`` takes, as aiohttp does: a context, ``True`` (verify with the
system's certificate authorities), ``False`` (no verification) or a fingerprint."""


class Transport:
    """One pooled HTTP client for GET requests with fixed headers and timeout.

    Headers, the timeout object and the connector settings are built once here,
    never per request.

    Counters (read by the session for its stats): ``sends`` counts requests that
    went to the network, including the one re-send aiohttp makes on its own when
    a reused keep-alive connection turns out to be closed; ``resends`` counts
    those re-sends alone. Both are exact for our own pool; through a lent
    ``session=`` aiohttp's re-sends cannot be seen, so ``sends`` counts attempts.
    """

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        timeout: float,
        pool_size: int,
        session: aiohttp.ClientSession | None = None,
        max_body: int = MAX_RESPONSE_BYTES,
        secrets: SecretStrings | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        ssl: SSLSetting = True,
        trust_env: bool = False,
    ) -> None:
        # Built once: aiohttp copies session headers into each request's own
        # CIMultiDict, and converts a plain dict passed per request first.
        self._headers = CIMultiDict(headers)
        # Our own session carries the headers itself; a lent one gets them per request.
        self._request_headers: CIMultiDict[str] | None = None if session is None else self._headers
        # Every URL sent is base_url + a path: the origin is parsed once, here, and a
        # request's URL made from it (yarl then need not split each URL string).
        cut = base_url.find("/", base_url.index("://") + 3)
        self._origin_length = len(base_url) if cut < 0 else cut
        self._origin = URL(base_url[: self._origin_length], encoded=True)
        self._timeout_seconds = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._pool_size = pool_size
        self._session = session
        self._owns_session = session is None
        self._max_body = max_body
        self._max_error_body = min(max_body, MAX_ERROR_BODY_BYTES)
        self._secrets = secrets if secrets is not None else SecretStrings()
        self._trace_configs = list(trace_configs)
        self._ssl = ssl
        self._trust_env = trust_env
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncGenerator[None, None] | None = None
        self._slots: Slots | None = None
        self._connector: _CountingConnector | None = None
        self._lent_sends = 0  # attempts through a lent session (its connector is not ours)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    @property
    def has_open_pool(self) -> bool:
        """Whether this transport owns a pool that is open now."""
        return self._owns_session and self._session is not None and not self._session.closed

    @property
    def timeout(self) -> float:
        """Seconds allowed for one attempt, once it has a pooled connection."""
        return self._timeout_seconds

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
        loop = asyncio.get_running_loop()
        if self._session is None:
            # Created here, on first use, so that the TelnyxSession itself can be
            # built outside a running loop (aiohttp binds a session to its loop).
            self._connector = _CountingConnector(limit=self._pool_size, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=self._connector,
                timeout=self._timeout,
                headers=self._headers,
                trace_configs=self._trace_configs or None,
                trust_env=self._trust_env,
            )
            self._loop = loop
            self._slots = Slots(self._pool_size)
            self._closer = _close_at_loop_shutdown(self._session)
        return self._session

    @property
    def sends(self) -> int:
        """Requests that went to the network, aiohttp's silent re-sends included."""
        connector = self._connector
        return self._lent_sends + (0 if connector is None else connector.sends)

    @property
    def resends(self) -> int:
        """Re-sends aiohttp made on its own (0 through a lent session: they cannot be seen)."""
        return 0 if self._connector is None else self._connector.resends

    async def get(self, url: str, *, timeout: float | None = None) -> RawResponse:  # noqa: ASYNC109
        """Send one GET to ``url`` and read the whole body.

        ``url`` is the transport's ``base_url`` followed by a percent-encoded path
        and perhaps a query (nothing else is ever sent).

        Redirects are not followed: an API answer is never a redirect, and
        following one could send the key's request somewhere unexpected.

        ``timeout`` (default: the session's) bounds the attempt from the moment
        it has a pooled connection slot: time spent queued behind other requests
        for one is not counted (a call's ``deadline`` covers that).

        Raises:
            APITimeoutError: the attempt took longer than the timeout.
            APIConnectionError: no complete HTTP response arrived.
            ResponseTooLargeError: a successful response's body exceeds the limit.
            TelnyxError: the session is closed, or bound to another event loop.
        """
        session = self._session
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            raise self._wrong_loop()
        if session is None:
            session = self._open()
        if not self._owns_session:
            if session.closed:
                # aiohttp would raise a bare RuntimeError; name the cause instead.
                raise TelnyxError("the aiohttp session passed as session= has been closed")
            self._lent_sends += 1
        slots = self._slots
        queued = 0.0
        if slots is not None:
            if slots.free:
                slots.free -= 1
            else:
                started = time.monotonic()
                await slots.wait()
                queued = time.monotonic() - started
        token = _SENDS.set([])
        try:
            async with session.get(
                URL(url, encoded=True)
                if "?" in url
                else self._origin.with_path(url[self._origin_length :], encoded=True),
                headers=self._request_headers,
                timeout=self._timeout if timeout is None else aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
                raise_for_status=False,
            ) as resp:
                status, headers = resp.status, resp.headers
                cap = self._max_body if status < 400 else self._max_error_body
                # Read from the headers, not resp.content_length: one Python call less.
                # aiohttp's parser has already refused a Content-Length not all digits.
                length = headers.get(hdrs.CONTENT_LENGTH)
                if (
                    length is not None
                    and int(length) <= cap
                    and hdrs.CONTENT_ENCODING not in headers
                ):
                    body = await resp.read()
                else:
                    # Unknown length, too long, or compressed: Content-Length
                    # then counts the compressed bytes, not what they inflate to.
                    body = await self._read_capped(resp, cap)
                return status, headers, body
        except TimeoutError as exc:
            _scrub_chain(exc, self._secrets)
            seconds = self._timeout_seconds if timeout is None else timeout
            where = (
                f", after {queued:.3g}s queued for a pooled connection" if queued >= 0.001 else ""
            )
            raise APITimeoutError(
                f"GET {self._path(url)} timed out: no complete answer within {seconds:g}s{where}"
            ) from exc
        except (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch) as exc:
            _scrub_chain(exc, self._secrets)
            raise TLSError(
                f"GET {self._path(url)} failed: TLS: {safe_text(_tls_cause(exc), self._secrets)}"
            ) from exc
        except aiohttp.ClientError as exc:
            _scrub_chain(exc, self._secrets)
            raise APIConnectionError(
                f"GET {self._path(url)} failed: {safe_text(_describe(exc), self._secrets)}"
            ) from exc
        except asyncio.CancelledError as exc:
            # The caller's own timeout or cancellation: aiohttp's frames, which
            # hold the request headers as locals, must not travel with it.
            _scrub_chain(exc, self._secrets)
            raise
        except RuntimeError as exc:
            if self._owns_session:
                raise
            # A lent session bound to another (closed) loop: aiohttp says only
            # "Event loop is closed".
            _scrub_chain(exc, self._secrets)
            raise TelnyxError(
                "the aiohttp session passed as session= cannot be used in this event loop "
                f"({safe_text(str(exc), self._secrets)}); create it inside the loop that uses it"
            ) from exc
        finally:
            _SENDS.reset(token)
            if slots is not None:
                if slots.waiting:
                    slots.release()
                else:
                    slots.free += 1

    def _wrong_loop(self) -> TelnyxError:
        assert self._loop is not None
        return TelnyxError(
            "this TelnyxSession was first used in another event loop"
            + (" (now closed)" if self._loop.is_closed() else "")
            + "; aiohttp binds its connections to one loop, so create the TelnyxSession "
            "inside the loop that uses it (e.g. in main() under asyncio.run)"
        )

    async def _read_capped(self, resp: aiohttp.ClientResponse, cap: int) -> bytes:
        """Read at most ``cap`` decoded bytes, for bodies of unknown or excessive length.

        An error response keeps its first ``cap`` bytes (enough for a message) so
        that the caller still gets the right status error; a successful one raises.
        """
        chunks: list[bytes] = []
        size = 0
        while chunk := await resp.content.read(min(_READ_CHUNK, cap - size + 1)):
            size += len(chunk)
            if size > cap:
                resp.close()  # the rest is never read: drop the connection now
                if resp.status >= 400:
                    chunks.append(chunk[: len(chunk) - (size - cap)])
                    break
                raise ResponseTooLargeError(
                    f"response body exceeds {cap} bytes after decoding (HTTP {resp.status})",
                    status=resp.status,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _path(self, url: str) -> str:
        return safe_text(url_path(url), self._secrets)

    async def close(self) -> None:
        """Close the pool if this transport created it; idempotent."""
        self._closed = True
        session, self._session = self._session, None
        closer, self._closer = self._closer, None
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            # The pool's loop is gone; asyncio.run closed the pool as it shut down.
            # (A loop closed without loop.shutdown_asyncgens() could not: close the
            # session inside its loop then.)
            return
        if closer is not None:
            await closer.aclose()  # closes the pool
        if session is not None and self._owns_session and not session.closed:
            await session.close()


class _CountingConnector(aiohttp.TCPConnector):
    """A TCPConnector that counts the connections it hands out: one per request sent.

    aiohttp takes one connection per request it sends, including the one re-send
    it makes on its own when a reused keep-alive connection turns out closed; a
    client middleware would see the same, at a much higher cost per request. A
    request counts once it has its connection, when aiohttp writes it at once: one
    cancelled or refused while connecting (a caller's break, a fail-fast bulk
    call, ``close()``) never reached the server and is not counted.

    ``close()`` also ends the connects in progress, which aiohttp's own close
    leaves running (a TLS handshake with a silent server would hold its call for
    the whole attempt timeout): each fails with ``ClientConnectionError``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType]
        self.sends = 0
        self.resends = 0
        self._connecting: set[asyncio.Task[Any] | None] = set()
        self._cut: set[asyncio.Task[Any] | None] = set()

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Any],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
    ) -> aiohttp.connector.Connection:
        task = asyncio.current_task()
        self._connecting.add(task)
        try:
            connection = await _tcp_connect(self, req, traces, timeout)
        except asyncio.CancelledError:
            if self._was_cut(task):
                raise aiohttp.ClientConnectionError(_CUT) from None
            raise  # the caller's own cancellation, or a timeout's
        finally:
            self._connecting.discard(task)
        if self._cut and self._was_cut(task):  # aiohttp finished connecting regardless
            connection.close()
            raise aiohttp.ClientConnectionError(_CUT)
        self.sends += 1
        sent = _SENDS.get()
        if sent is not None:  # inside Transport.get: this attempt's sends so far
            if sent:
                self.resends += 1
            else:
                sent.append(True)
        return connection

    def _was_cut(self, task: asyncio.Task[Any] | None) -> bool:
        """Whether close() cancelled ``task`` and no one else did too (then it stays cancelled)."""
        if task not in self._cut:
            return False
        self._cut.discard(task)
        return task is not None and task.uncancel() == 0

    async def close(self, *, abort_ssl: bool = False) -> None:
        """Cancel the connects in progress, then close the pool as aiohttp does."""
        for task in self._connecting:
            if task is not None and task is not asyncio.current_task():
                self._cut.add(task)
                task.cancel()
        await super().close(abort_ssl=abort_ssl)


_tcp_connect: Final = aiohttp.TCPConnector.connect
_CUT: Final = "the pool was closed while connecting"


async def _pool_closer(
    session_ref: weakref.ref[aiohttp.ClientSession],
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        session = session_ref()
        if session is not None and not session.closed:
            await session.close()


def _close_at_loop_shutdown(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Have the running loop close ``session`` when it shuts down; return the closer.

    A started async generator is registered with its loop (the loop's
    ``firstiter`` hook), and ``loop.shutdown_asyncgens()``, which ``asyncio.run``
    and ``asyncio.Runner`` call after every task has finished, closes it: its
    ``finally`` then closes the pool inside the loop that owns the sockets, for
    a TelnyxSession that outlives its loop. No task is created, and only a weak
    reference is held, so a forgotten session is still collected (with
    aiohttp's "Unclosed client session" warning).
    """
    closer = _pool_closer(weakref.ref(session))
    step = closer.asend(None)  # registers the generator with the running loop
    with contextlib.suppress(StopIteration):
        step.send(None)  # runs it to its first yield, synchronously: nothing to await yet
    return closer


def url_path(url: str) -> str:
    """The path of an absolute URL (no scheme, host or credentials), for messages."""
    # The path is enough to tell requests apart, and it keeps host names and
    # any credentials a base URL might carry out of messages.
    scheme_sep = url.find("://")
    slash = url.find("/", scheme_sep + 3 if scheme_sep >= 0 else 0)
    return url[slash:] if slash >= 0 else "/"


def _tls_cause(exc: aiohttp.ClientError) -> str:
    """What went wrong in TLS, in OpenSSL's words where it gave some."""
    cause = getattr(exc, "certificate_error", None) or getattr(exc, "os_error", None)
    if isinstance(cause, ssl_module.SSLError) and cause.reason:
        if cause.reason == "WRONG_VERSION_NUMBER":
            return "the server does not speak TLS on this port (an http:// URL given as https://?)"
        verify = getattr(cause, "verify_message", None)
        text = cause.reason.lower().replace("_", " ") + (f": {verify}" if verify else "")
        if isinstance(cause, ssl_module.SSLCertVerificationError):
            text += "; trust the server's certificate authority with TelnyxSession(ssl=...)"
        return text
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return "the certificate's fingerprint does not match the one expected"
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    # ClientResponseError's str() appends the request URL; its message is enough.
    text = exc.message if isinstance(exc, aiohttp.ClientResponseError) else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _scrub_chain(exc: BaseException, secrets: Iterable[str]) -> None:
    """Make aiohttp's exceptions safe to keep as our exception's cause.

    Their tracebacks are dropped (aiohttp's frames hold the request headers as
    locals, which ``traceback`` with ``capture_locals`` or an error reporter
    would record) and any ``RequestInfo`` they carry gets redacted headers;
    type and message stay.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        if isinstance(current, aiohttp.ClientResponseError):
            info = current.request_info
            clean = aiohttp.RequestInfo(
                info.url, info.method, _redacted_headers(info.headers, secrets), info.real_url
            )
            current.request_info = clean
            current.history = ()
            current.args = tuple(clean if a is info else a for a in current.args)
        current = current.__cause__ or current.__context__


def _redacted_headers(headers: Mapping[str, str], secrets: Iterable[str]) -> CIMultiDictProxy[str]:
    clean: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        sensitive = name.lower() in ("authorization", "proxy-authorization", "cookie")
        clean.add(name, REDACTED if sensitive else redact(value, secrets))
    return CIMultiDictProxy(clean)
