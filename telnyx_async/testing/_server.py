"""FakeTelnyx: the HTTP server, its handlers, and how it answers (errors, faults, limits)."""

from __future__ import annotations

import asyncio
import random
import ssl
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self

import msgspec
from aiohttp import web

from .._models import ActiveCall, Connection
from ._calls import BadCallsQuery, as_active_call, calls_page_body
from ._faults import TRANSIENT_STATUSES, Faults, FaultState
from ._store import BadQuery, ConnectionStore, ListQuery, encode_json, generate_connections
from ._tls import ThrowawayCA

DEFAULT_API_KEY: Final = "KEYfake-telnyx-test-key"
"""The key a FakeTelnyx accepts unless told otherwise: not a real credential."""
DEFAULT_CONNECTION_LIMIT: Final = 1000
"""The global connection limit ``GET /connections/count`` reports unless told otherwise."""

_ERROR_TITLES: Final = {
    400: ("10015", "Bad Request", "The request failed because it was not well-formed."),
    422: (
        "10015",
        "Invalid value for connection_id (Call Control App ID)",
        "The requested connection_id (Call Control App ID) is either invalid or does not "
        "exist. Only Call Control Apps with valid webhook URL are accepted.",
    ),
    401: ("10009", "Authentication failed", "Could not understand the provided credentials."),
    404: ("10005", "Resource not found", "The requested resource or URL could not be found."),
    429: ("10011", "Too many requests", "Too many requests, please slow down."),
    500: ("10007", "Unexpected error", "An unexpected error occurred."),
    502: ("10007", "Unexpected error", "Bad gateway."),
    503: ("10007", "Unexpected error", "The service is temporarily unavailable."),
    504: ("10007", "Unexpected error", "The upstream service timed out."),
}
_HTML_502: Final = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@dataclass
class FakeStats:
    """What a FakeTelnyx has served so far (live: it changes as requests arrive)."""

    requests: int = 0
    """Requests received, whatever the answer."""
    responses: dict[int, int] = field(default_factory=lambda: dict[int, int]())
    """Responses by status (dropped connections are not responses)."""
    dropped: int = 0
    """Connections closed mid-response on purpose."""
    in_flight: int = 0
    max_in_flight: int = 0
    """The most requests handled at the same instant."""


_Answer = Callable[[ConnectionStore, web.Request], "web.Response | bytes"]
"""Makes a request's 200 body, or its error response, from the store."""


class FakeTelnyx:
    """A fake Telnyx Connections API on a real socket, with seeded fault injection.

    Serves ``GET {prefix}/connections/{id}`` and ``GET {prefix}/connections``
    (filters, sort and pagination as the spec defines them); every response,
    listing pages included, goes through the same faults, latency and limits.

    Args:
        connections: how many connections to generate, or the connections to serve
            (``Connection`` objects, or mappings with an ``id`` and, for
            ``filter[fqdn]``, an optional ``fqdn``).
        seed: seeds the generated store and, apart, each of the random streams of
            fault draws, latencies and request ids: turning latency on does not
            change which requests fail.
        faults: the faults to inject from the start; assign ``server.faults`` to change
            them, even from another thread while ``serve_in_thread`` runs.
        api_key: the only Bearer token accepted.
        prefix: the path prefix of the API (``/v2`` like the real one).
        host: the address to listen on.
        port: the port to listen on; 0 picks a free one.
        tls: serve HTTPS with a certificate from a throwaway certificate authority
            made for this server (needs trustme: the ``fake-tls`` extra). Clients
            trust it through ``client_ssl_context()`` or a file holding ``ca_pem``.

    Attributes:
        stats: live counters (requests, responses by status, max in flight).
    """

    def __init__(
        self,
        connections: int | Sequence[Connection | Mapping[str, Any]] = 1000,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        api_key: str = DEFAULT_API_KEY,
        prefix: str = "/v2",
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
    ) -> None:
        if isinstance(connections, int):
            store = ConnectionStore(generate_connections(connections, seed=seed))
        else:
            conns: list[Connection] = []
            fqdns: dict[str, str] = {}
            for c in connections:
                conn = c if isinstance(c, Connection) else msgspec.convert(c, Connection)
                conns.append(conn)
                fqdn = None if isinstance(c, Connection) else c.get("fqdn")
                if isinstance(fqdn, str) and conn.id:
                    fqdns[conn.id] = fqdn
            store = ConnectionStore(conns, fqdns)
        self._store = store
        # Writers (add/delete) take the lock; requests read the reference once, lock-free.
        self._store_lock = threading.Lock()
        self.api_key: Final = api_key
        self._auth = f"Bearer {api_key}"
        self._prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self._host = host
        self._port = port
        # One stream per use: drawing a latency must not shift the fault draws.
        self._fault_rng = random.Random(f"{seed}/faults")
        self._latency_rng = random.Random(f"{seed}/latency")
        self._id_rng = random.Random(f"{seed}/request-ids")
        self._state = FaultState(faults or Faults())
        self._started = time.monotonic()
        self.stats = FakeStats()
        self._calls: dict[str, tuple[ActiveCall, ...]] = {}
        self.connection_limits: dict[str, int] = {"global_limit": DEFAULT_CONNECTION_LIMIT}
        """What ``GET /connections/count`` says of the account's limits: ``global_limit``,
        or ``standard_limit``, ``texml_limit`` and ``uac_limit``; settable (even bad
        shapes, to test a client)."""
        self._ca = ThrowawayCA(host, "localhost") if tls else None
        self._runner: web.AppRunner | None = None
        self._transports: weakref.WeakSet[asyncio.Transport] = weakref.WeakSet()
        self.port = 0

    @property
    def connections(self) -> Mapping[str, Connection]:
        """The connections served now, by id (a snapshot: it does not change under you)."""
        return self._store.connections

    @property
    def ids(self) -> list[str]:
        """The ids served now, in the order they were added (do not modify the list)."""
        return self._store.ids

    def fqdn_of(self, conn_id: str) -> str | None:
        """The FQDN ``filter[fqdn]`` matches for a connection (``None``: it has none)."""
        return self._store.fqdns.get(conn_id)

    def add_connection(
        self, connection: Connection | Mapping[str, Any], *, fqdn: str | None = None
    ) -> Connection:
        """Serve one more connection (or replace the one with its id), even while running.

        Safe from any thread, like ``faults``. A listing walked meanwhile shifts,
        as the real API's does. Returns the connection as served.
        """
        conn = (
            connection
            if isinstance(connection, Connection)
            else msgspec.convert(connection, Connection)
        )
        if fqdn is None and not isinstance(connection, Connection):
            given = connection.get("fqdn")
            fqdn = given if isinstance(given, str) else None
        with self._store_lock:  # read, build, swap: one writer at a time
            self._store = self._store.with_connection(conn, fqdn)
        return conn

    def delete_connection(self, conn_id: str) -> None:
        """Stop serving a connection (later lookups get 404), even while running.

        Raises:
            KeyError: no connection has that id.
        """
        with self._store_lock:
            self._store = self._store.without(conn_id)

    @property
    def faults(self) -> Faults:
        """The faults injected now; assign a new ``Faults`` to change them while running.

        Safe from any thread: the faults and the rate limiter built from them are
        swapped as one reference, which each request reads once when it arrives.
        Requests already in progress finish under the faults they started with.
        """
        return self._state.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._state = FaultState(faults)

    def __repr__(self) -> str:
        # Never the API key it accepts.
        where = f"at {self.base_url}" if self.port and self._runner else "not serving"
        return f"<FakeTelnyx {where} with {len(self.connections)} connections>"

    @property
    def base_url(self) -> str:
        """The URL to pass as ``base_url`` (``TELNYX_BASE_URL``): ``https://`` with ``tls=True``."""
        if not self.port:
            raise RuntimeError("the FakeTelnyx is not started")
        scheme = "https" if self._ca is not None else "http"
        return f"{scheme}://{self._host}:{self.port}{self._prefix}"

    @property
    def ca_pem(self) -> bytes:
        """The PEM certificate of the server's throwaway CA (``tls=True`` only), for a CA file.

        Raises:
            RuntimeError: the server does not serve HTTPS.
        """
        return self._tls().pem

    def client_ssl_context(self) -> ssl.SSLContext:
        """A new client ``SSLContext`` that trusts this server (``tls=True`` only).

        Examples:
            >>> async with FakeTelnyx(tls=True) as server:  # doctest: +SKIP
            ...     telnyx = TelnyxSession(server.api_key, base_url=server.base_url,
            ...                            ssl=server.client_ssl_context())

        Raises:
            RuntimeError: the server does not serve HTTPS.
        """
        return self._tls().client_context()

    def _tls(self) -> ThrowawayCA:
        if self._ca is None:
            raise RuntimeError("this FakeTelnyx serves plain HTTP: create it with tls=True")
        return self._ca

    def app(self) -> web.Application:
        """The ``aiohttp.web`` application, to mount or run yourself."""
        app = web.Application()
        app.router.add_get(self._prefix + "/connections", self._list)
        app.router.add_get(self._prefix + "/connections/count", self._counts)
        app.router.add_get(self._prefix + "/connections/{id}", self._retrieve)
        app.router.add_get(self._prefix + "/connections/{id}/active_calls", self._active_calls)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def start(self) -> None:
        """Start listening; ``base_url`` is valid from now on (and outages count from now)."""
        self._started = time.monotonic()
        self._runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        self._track_transports(self._runner)
        site = web.TCPSite(
            self._runner,
            self._host,
            self._port,
            ssl_context=None if self._ca is None else self._ca.server_context(),
        )
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and close every connection; idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        # Every connection is aborted before cleanup() closes it gracefully: asyncio
        # closes a TLS socket only once the client answers the close_notify (or
        # after 30 s), and a second close() (aiohttp's, after its own) forgets the
        # socket, so a loop closed right after stop() would leak it. Every transport
        # ever made, not aiohttp's handler list, which a closed handler has left.
        self._abort_connections()
        await runner.cleanup()
        self._abort_connections()
        for _ in range(3):  # abort() closes the socket in a callback: let it run
            await asyncio.sleep(0)

    def _abort_connections(self) -> None:
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    def _track_transports(self, runner: web.AppRunner) -> None:
        """Remember each connection's transport as aiohttp's server accepts it."""
        server = runner.server
        assert server is not None  # set by setup()
        accept = server.connection_made

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            self._transports.add(transport)
            accept(handler, transport)

        server.connection_made = connection_made  # type: ignore[method-assign]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @contextmanager
    def serve_in_thread(self) -> Generator[Self]:
        """Run the server on its own event loop in a daemon thread, for sync code and fixtures.

        Examples:
            >>> with FakeTelnyx(connections=10).serve_in_thread() as server:  # doctest: +SKIP
            ...     print(server.base_url)
        """
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="FakeTelnyx", daemon=True)
        thread.start()
        ready.wait()
        try:
            if failure:
                raise failure[0]
            yield self
        finally:
            if not failure:
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result()
                loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    def _respond(
        self, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> web.Response:
        responses = self.stats.responses
        responses[status] = responses.get(status, 0) + 1
        response = web.Response(status=status, body=body, content_type="application/json")
        response.headers["x-request-id"] = str(
            uuid.UUID(int=self._id_rng.getrandbits(128), version=4)
        )
        if headers:
            response.headers.update(headers)
        return response

    def _error(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        *,
        parameter: str | None = None,
        detail: str | None = None,
        pointer: str = "/",
    ) -> web.Response:
        code, title, default_detail = _ERROR_TITLES[status]
        error = {
            "code": code,
            "title": title,
            "detail": detail or default_detail,
            "source": {"pointer": pointer} if parameter is None else {"parameter": parameter},
            "meta": {"url": f"https://developers.telnyx.com/docs/overview/errors/{code}"},
        }
        return self._respond(status, encode_json({"errors": [error]}), headers)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        return self._error(404)

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        return await self._counted(request, self._retrieve_body)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        return await self._counted(request, self._list_body)

    async def _active_calls(self, request: web.Request) -> web.StreamResponse:
        return await self._counted(request, self._active_calls_body)

    def _active_calls_body(
        self, store: ConnectionStore, request: web.Request
    ) -> web.Response | bytes:
        conn_id = request.match_info["id"]
        if conn_id not in store.connections:
            return self._error(422, pointer="/connection_id")
        try:
            return calls_page_body(self._calls.get(conn_id, ()), request.query, request.path)
        except BadCallsQuery as exc:
            return self._error(400, parameter=exc.parameter, detail=exc.detail)

    def set_active_calls(
        self, conn_id: str, calls: Sequence[ActiveCall | Mapping[str, Any]]
    ) -> list[ActiveCall]:
        """Serve these calls as ``conn_id``'s active calls (replacing any), even while running.

        ``conn_id`` must be a served connection: for any other id the fake answers
        422 (code 10015), as the API does. Safe from any thread. Returns the calls
        as served.
        """
        checked = [as_active_call(c) for c in calls]
        with self._store_lock:
            self._calls = {**self._calls, conn_id: tuple(checked)}
        return checked

    async def _counts(self, request: web.Request) -> web.StreamResponse:
        limits = self.connection_limits
        return await self._counted(request, lambda store, _: store.counts_body(limits))

    def _retrieve_body(self, store: ConnectionStore, request: web.Request) -> web.Response | bytes:
        body = store.retrieve_body(request.match_info["id"])
        return self._error(404) if body is None else body

    def _list_body(self, store: ConnectionStore, request: web.Request) -> web.Response | bytes:
        try:
            query = ListQuery.from_params(request.query)
        except BadQuery as exc:
            return self._error(400, parameter=exc.parameter, detail=exc.detail)
        return store.list_body(query)

    async def _counted(self, request: web.Request, answer: _Answer) -> web.StreamResponse:
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            return await self._answer(request, answer)
        finally:
            stats.in_flight -= 1

    async def _answer(self, request: web.Request, answer: _Answer) -> web.StreamResponse:
        """Latency, auth, rate limit, outage and the seeded fault draw; then ``answer``."""
        state = self._state  # read once: a swap mid-request changes nothing for it
        faults = state.faults
        latency = faults.latency
        if latency:
            await asyncio.sleep(
                latency if isinstance(latency, float | int) else self._latency_rng.uniform(*latency)
            )
        if request.headers.get("Authorization") != self._auth:
            return self._error(401)
        limits: dict[str, str] | None = None
        if state.limiter is not None:
            allowed, limits = state.limiter.take()
            if not allowed:
                return self._error(429, limits)
        if faults.outage is not None:
            since = time.monotonic() - self._started
            if faults.outage[0] <= since < faults.outage[1]:
                advice = faults.outage_retry_after
                return self._error(503, None if advice is None else {"Retry-After": f"{advice:g}"})
        draw = self._fault_rng.random()
        if draw < faults.error_rate:
            return self._error(self._fault_rng.choice(TRANSIENT_STATUSES))
        draw -= faults.error_rate
        if draw < faults.html_error_rate:
            response = self._respond(502, _HTML_502)
            response.content_type = "text/html"
            return response
        draw -= faults.html_error_rate
        if draw < faults.rate_limit_rate:
            return self._error(429, _injected_429_headers(faults))
        draw -= faults.rate_limit_rate
        body = answer(self._store, request)
        if draw < faults.drop_rate and isinstance(body, bytes):
            return await self._drop(request, body)
        draw -= faults.drop_rate
        if draw < faults.hang_rate:
            await asyncio.sleep(faults.hang)
        if not isinstance(body, bytes):
            if limits:
                body.headers.update(limits)
            return body
        return self._respond(200, body, limits)

    async def _drop(self, request: web.Request, body: bytes) -> web.StreamResponse:
        self.stats.dropped += 1
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        if request.transport is not None:
            # An abrupt end, as a reset connection has: no TLS close_notify.
            request.transport.abort()
        return response


def _injected_429_headers(faults: Faults) -> dict[str, str]:
    """The advice an injected 429 carries: ``Retry-After``, ``x-ratelimit-reset``, or none."""
    headers: dict[str, str] = {}
    if faults.retry_after is not None:
        headers["Retry-After"] = f"{faults.retry_after:g}"
    if faults.rate_limit_reset is not None:
        headers["x-ratelimit-remaining"] = "0"
        headers["x-ratelimit-reset"] = f"{faults.rate_limit_reset:g}"
    return headers
