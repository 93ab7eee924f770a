"""FakeTelnyx: a real HTTP server that behaves like the Telnyx Connections API.

For this project's tests and for yours: it binds 127.0.0.1, serves
``GET {prefix}/connections/{id}`` from a deterministic store, answers like the
real API (``ErrorResponse`` bodies, ``x-request-id`` on every response, 401 for
a wrong key, 429 with ``x-ratelimit-*`` headers from a token bucket) and
injects seeded, reproducible faults that can be changed while it runs.

Example:
    >>> async with FakeTelnyx(connections=100, seed=1) as server:  # doctest: +SKIP
    ...     async with TelnyxSession(server.api_key, base_url=server.base_url) as telnyx:
    ...         conn = await telnyx.connections.get(server.ids[0])
    ...     server.faults = Faults(error_rate=0.2)  # from now on, 20% transient 5xx

With pytest, the ``fake_telnyx`` fixture (installed with this package) gives a
running server and sets ``TELNYX_API_KEY`` / ``TELNYX_BASE_URL`` for the test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import threading
import time
import uuid
from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self

import msgspec
from aiohttp import web

from ._models import AnchorsiteOverride, Connection

DEFAULT_API_KEY: Final = "KEYfake-telnyx-test-key"
"""The key a FakeTelnyx accepts unless told otherwise: not a real credential."""

RECORD_TYPES: Final = (
    "ip_connection",
    "credential_connection",
    "fqdn_connection",
    "external_connection",
    "webrtc_connection",
)
"""The ``record_type`` values generated connections take."""

_TAGS: Final = ("office", "production", "staging", "emea", "us-east", "failover", "sip", "trunk")
_NAMES: Final = ("office", "trunk", "pbx", "callcenter", "lab", "branch", "sales", "support")
_TRANSIENT_STATUSES: Final = (500, 502, 503, 504)
_ERROR_TITLES: Final = {
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


@dataclass(frozen=True, kw_only=True)
class Faults:
    """What a FakeTelnyx gets wrong, and how often. Rates are per request, from 0 to 1.

    Each request draws once from the server's seeded stream of faults, so the
    same seed and the same request order give the same faults, whatever the
    latency (which draws from a stream of its own).

    Example:
        >>> Faults(error_rate=0.05, rate_limit_rate=0.01, latency=(0.001, 0.005))
        Faults(error_rate=0.05, ...)
    """

    error_rate: float = 0.0
    """Transient 500/502/503/504 with a JSON ``ErrorResponse``."""
    html_error_rate: float = 0.0
    """502 with an HTML page, as a proxy in front of the API sends."""
    rate_limit_rate: float = 0.0
    """429 with a ``Retry-After`` of ``retry_after`` seconds."""
    drop_rate: float = 0.0
    """The connection is closed in the middle of the response body."""
    retry_after: float = 1.0
    """Seconds sent in ``Retry-After`` with injected 429s."""
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
        if self.window_limit is not None and self.rate_limit_rps is not None:
            raise ValueError("choose rate_limit_rps or window_limit, not both")


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


class _Bucket:
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


class _FixedWindow:
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


def generate_connections(count: int, *, seed: int = 0) -> list[Connection]:
    """Make ``count`` realistic connections, the same ones for the same seed.

    Ids are distinct 19-digit strings like real ones; record types, every
    anchorsite, tags, webhook settings and timestamps vary.
    """
    rng = random.Random(seed)
    epoch = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
    ids: set[str] = set()
    result: list[Connection] = []
    for n in range(count):
        conn_id = str(rng.randrange(10**18, 2**63))
        while conn_id in ids:
            conn_id = str(rng.randrange(10**18, 2**63))
        ids.add(conn_id)
        created = epoch + dt.timedelta(
            seconds=rng.randrange(0, 8 * 365 * 86400), milliseconds=rng.randrange(1000)
        )
        updated = created + dt.timedelta(seconds=rng.randrange(0, 365 * 86400))
        has_webhook = rng.random() < 0.7
        result.append(
            Connection(
                id=conn_id,
                record_type=rng.choice(RECORD_TYPES),
                active=rng.random() < 0.9,
                anchorsite_override=AnchorsiteOverride.ALL[n % len(AnchorsiteOverride.ALL)],
                connection_name=f"{rng.choice(_NAMES)}-{n}",
                created_at=created,
                updated_at=updated,
                webhook_event_url=f"https://hooks.example.com/{n}" if has_webhook else None,
                webhook_event_failover_url=(
                    f"https://failover.example.com/{n}"
                    if has_webhook and rng.random() < 0.5
                    else None
                ),
                webhook_api_version=rng.choice(("1", "2")),
                outbound_voice_profile_id=str(rng.randrange(10**18, 2**63)),
                tags=tuple(rng.sample(_TAGS, rng.randrange(0, 4))),
            )
        )
    return result


def _encode_time(value: object) -> Any:
    # The API's format: milliseconds and a Z, as in the spec's example.
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    raise NotImplementedError(type(value))


_ENCODER: Final = msgspec.json.Encoder(enc_hook=_encode_time)


class _FaultState:
    """Faults and the limiter built from them, swapped together as one reference.

    Assigning one attribute is atomic, so a request on the server's thread sees
    either the old pair or the new one, never new faults with the old limiter.
    """

    __slots__ = ("faults", "limiter")

    def __init__(self, faults: Faults) -> None:
        self.faults: Final = faults
        self.limiter: Final = _limiter_for(faults)


def _limiter_for(faults: Faults) -> _Bucket | _FixedWindow | None:
    if faults.rate_limit_rps:
        return _Bucket(faults.rate_limit_rps)
    if faults.window_limit:
        return _FixedWindow(faults.window_limit, faults.window)
    return None


class FakeTelnyx:
    """A fake Telnyx Connections API on a real socket, with seeded fault injection.

    Args:
        connections: how many connections to generate, or the connections to serve
            (``Connection`` objects or mappings with an ``id``).
        seed: seeds the generated store and, apart, each of the random streams of
            fault draws, latencies and request ids: turning latency on does not
            change which requests fail.
        faults: the faults to inject from the start; assign ``server.faults`` to change
            them, even from another thread while ``serve_in_thread`` runs.
        api_key: the only Bearer token accepted.
        prefix: the path prefix of the API (``/v2`` like the real one).
        host: the address to listen on.
        port: the port to listen on; 0 picks a free one.

    Attributes:
        base_url: ``http://127.0.0.1:{port}/v2`` once started.
        ids: the ids in the store, in order.
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
    ) -> None:
        if isinstance(connections, int):
            store = generate_connections(connections, seed=seed)
        else:
            store = [
                c if isinstance(c, Connection) else msgspec.convert(c, Connection)
                for c in connections
            ]
        self._bodies: dict[str, bytes] = {}
        for conn in store:
            if not conn.id:
                raise ValueError("every served connection needs an id")
            self._bodies[conn.id] = _ENCODER.encode({"data": conn})
        self.connections: Final = {c.id: c for c in store if c.id}
        self.ids: Final = list(self._bodies)
        self.api_key: Final = api_key
        self._auth = f"Bearer {api_key}"
        self._prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self._host = host
        self._port = port
        # One stream per use: drawing a latency must not shift the fault draws.
        self._fault_rng = random.Random(f"{seed}/faults")
        self._latency_rng = random.Random(f"{seed}/latency")
        self._id_rng = random.Random(f"{seed}/request-ids")
        self._state = _FaultState(faults or Faults())
        self._started = time.monotonic()
        self.stats = FakeStats()
        self._runner: web.AppRunner | None = None
        self.port = 0

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
        self._state = _FaultState(faults)

    @property
    def base_url(self) -> str:
        """The URL to pass as ``base_url`` (``TELNYX_BASE_URL``)."""
        if not self.port:
            raise RuntimeError("the FakeTelnyx is not started")
        return f"http://{self._host}:{self.port}{self._prefix}"

    def app(self) -> web.Application:
        """The ``aiohttp.web`` application, to mount or run yourself."""
        app = web.Application()
        app.router.add_get(self._prefix + "/connections/{id}", self._retrieve)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def start(self) -> None:
        """Start listening; ``base_url`` is valid from now on (and outages count from now)."""
        self._started = time.monotonic()
        self._runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and close every connection; idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

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

        Example:
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

    def _error(self, status: int, headers: dict[str, str] | None = None) -> web.Response:
        code, title, detail = _ERROR_TITLES[status]
        error = {
            "code": code,
            "title": title,
            "detail": detail,
            "source": {"pointer": "/"},
            "meta": {"url": f"https://developers.telnyx.com/docs/overview/errors/{code}"},
        }
        return self._respond(status, _ENCODER.encode({"errors": [error]}), headers)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        return self._error(404)

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            return await self._answer(request)
        finally:
            stats.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
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
            return self._error(self._fault_rng.choice(_TRANSIENT_STATUSES))
        draw -= faults.error_rate
        if draw < faults.html_error_rate:
            response = self._respond(502, _HTML_502)
            response.content_type = "text/html"
            return response
        draw -= faults.html_error_rate
        if draw < faults.rate_limit_rate:
            return self._error(429, {"Retry-After": f"{faults.retry_after:g}"})
        draw -= faults.rate_limit_rate
        body = self._bodies.get(request.match_info["id"])
        if draw < faults.drop_rate and body is not None:
            return await self._drop(request, body)
        draw -= faults.drop_rate
        if draw < faults.hang_rate:
            await asyncio.sleep(faults.hang)
        if body is None:
            return self._error(404, limits)
        return self._respond(200, body, limits)

    async def _drop(self, request: web.Request, body: bytes) -> web.StreamResponse:
        self.stats.dropped += 1
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.close()
        return response
