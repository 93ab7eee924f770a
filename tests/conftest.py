"""Shared fixtures: the spec's example body and a real aiohttp.web server on 127.0.0.1.

Also the guard that keeps the suite hermetic: an audit hook records every file
the tests open in the folder around the repository (where the team's shared folder lives on
the developers' machines), and the run fails if there is any.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, AnyStr

import pytest
from aiohttp import web

if TYPE_CHECKING:
    from benchmarks.redis_server import RedisServer
    from telnyx_async import TelnyxSession

# A shell that starts a job in the background (`cmd &`, nohup) has it ignore SIGINT, and
# every process it starts inherits that: the servers the tests stop with Ctrl-C's signal
# would never stop. A handler (unlike SIG_IGN) is reset by exec, so children get Python's.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def stop_process(
    proc: subprocess.Popen[AnyStr], sig: int = signal.SIGINT, *, timeout: float = 30
) -> tuple[AnyStr, AnyStr]:
    """Send ``sig`` and collect what ``proc`` writes until it exits.

    A process still running after ``timeout`` seconds is killed (no server outlives a
    test, even a failing one) and ``subprocess.TimeoutExpired`` fails the test.
    """
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise


ROOT: Path = Path(__file__).resolve().parents[1]
"""The repository's root: everything the tests read lives under it."""
SPEC_PATH: Path = ROOT / "spec" / "connections-openapi.yml"
"""The project's own copy of the OpenAPI spec (see spec/README.md for its origin)."""

_ALLOWED_ROOTS: tuple[str, ...] = tuple(
    str(Path(p).resolve()) + os.sep
    for p in {str(ROOT), tempfile.gettempdir(), sys.prefix, sys.base_prefix, sys.exec_prefix}
)


def reads_outside_repo(path: object, *, root: Path = ROOT) -> bool:
    """Whether opening ``path`` reads beside the repository (a sibling folder of it).

    Paths in the repository, the temporary directory and the Python installation
    are fine; so is anything not under the repository's parent folder (system
    files, the user's caches). File descriptors are not paths.
    """
    if isinstance(path, int):
        return False
    text = os.fsdecode(path) if isinstance(path, str | bytes) else str(path)
    full = os.path.abspath(text) + os.sep
    if not full.startswith(str(root.parent) + os.sep):
        return False
    parent = str(root.parent) + os.sep
    # A temporary or Python folder that holds the repository's parent (a clone in
    # /tmp, say) would exempt everything beside it: only narrower ones count.
    allowed = (*(a for a in _ALLOWED_ROOTS if not parent.startswith(a)), str(root) + os.sep)
    return not full.startswith(allowed)


OUTSIDE_READS: list[str] = []
"""Paths beside the repository opened during this run; any entry fails the run."""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and args and reads_outside_repo(args[0]):
        OUTSIDE_READS.append(os.fsdecode(args[0]))


def pytest_configure(config: pytest.Config) -> None:
    """Install the audit hook once per run (audit hooks cannot be removed)."""
    if not getattr(sys, "_telnyx_async_audit", False):
        sys.addaudithook(_audit)
        sys._telnyx_async_audit = True  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test or benchmark read a file from beside the repository."""
    if OUTSIDE_READS:
        sys.stderr.write(
            "\nthe suite read files outside the repository (copy them in instead):\n  "
            + "\n  ".join(sorted(set(OUTSIDE_READS)))
            + "\n"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


API_KEY = "KEYtest_0123456789abcdefSECRET"
"""A recognisable fake key: tests assert it never shows up in output."""

SPEC_EXAMPLE: dict[str, Any] = {
    "id": "6a09cdc3-8948-47f0-aa62-74ac943d6c58",
    "record_type": "ip_connection",
    "active": True,
    "anchorsite_override": "Latency",
    "connection_name": "string",
    "created_at": "2018-02-02T22:25:27.521Z",
    "updated_at": "2018-02-02T22:25:27.521Z",
    "webhook_event_url": "https://example.com",
    "webhook_event_failover_url": "https://failover.example.com",
    "webhook_api_version": "1",
    "outbound_voice_profile_id": "1293384261075731499",
}


def connection_body(conn_id: str, **fields: Any) -> bytes:
    """A 200 body for ``conn_id``: the spec's example with the id (and any fields) replaced."""
    return json.dumps({"data": {**SPEC_EXAMPLE, "id": conn_id, **fields}}).encode()


def error_body(code: str, title: str, detail: str) -> bytes:
    """An ``ErrorResponse`` body as the spec documents it."""
    meta = {"url": f"https://developers.telnyx.com/docs/overview/errors/{code}"}
    return json.dumps(
        {"errors": [{"code": code, "title": title, "detail": detail, "meta": meta}]}
    ).encode()


pytest_plugins = ["pytester"]

Handler = Callable[[web.Request, "LocalServer"], Awaitable[web.StreamResponse]]


async def ok_handler(request: web.Request, server: LocalServer) -> web.StreamResponse:
    """Answer every lookup with the example connection, its id taken from the path."""
    return web.Response(
        body=connection_body(request.match_info["tail"].rpartition("/")[2]),
        content_type="application/json",
        headers={"x-request-id": f"req-{server.served}"},
    )


class LocalServer:
    """A real HTTP server on 127.0.0.1 with a swappable handler and counters.

    ``handler(request, server)`` answers each request; the server records the raw
    path and headers of every request, the number in flight and its high-water
    mark, and the client ports seen (one per pooled TCP connection).
    """

    def __init__(self, handler: Handler = ok_handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.served = 0
        self.cancelled = 0
        self.client_ports: set[int] = set()
        self.gate = asyncio.Event()
        self.gate_at = 0
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """The URL to pass as ``base_url``, with the ``/v2`` prefix."""
        return f"http://127.0.0.1:{self.port}/v2"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.raw_path, dict(request.headers)))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.client_ports.add(peer[1])
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._changed.set()
        try:
            response = await self.handler(request, self)
            self.served += 1
            return response
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
            self._changed.set()

    async def until(self, predicate: Callable[[LocalServer], bool]) -> None:
        """Wait until ``predicate(self)`` holds, checked as requests start and end (no polling)."""
        async with asyncio.timeout(10):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    async def start(self) -> None:
        """Bind a free port on 127.0.0.1 and start serving."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a request whose client went away is cancelled
        # server-side too, so tests can see cancellations arrive.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    """A started ``LocalServer``, stopped after the test."""
    srv = LocalServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a key or base URL from the developer's environment."""
    monkeypatch.delenv("TELNYX_API_KEY", raising=False)
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)


class SleepRecorder:
    """A fake ``sleep`` that records the delays asked for and returns at once.

    ``clock`` is the matching fake monotonic clock: each sleep advances it by
    the delay, so code that waits for an instant sees it arrive.
    """

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 1000.0

    def clock(self) -> float:
        """The fake monotonic time, in seconds."""
        return self.now

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += max(0.0, delay)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> SleepRecorder:
    """A fresh ``SleepRecorder``."""
    return SleepRecorder()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on 127.0.0.1 for the whole run, killed at its end.

    The Redis limiter is tested against the real thing, never a mock: without
    ``redis-server`` these tests fail (not skip), saying how to install it.
    """
    from benchmarks.redis_server import RedisServer, RedisServerMissing

    try:
        server = RedisServer()
    except RedisServerMissing as exc:
        pytest.fail(str(exc))
    with server:
        yield server


def session_with_time(sleeps: SleepRecorder, *args: Any, **kwargs: Any) -> TelnyxSession:
    """A ``TelnyxSession`` that waits with ``sleeps`` and reads its clock (no real sleeping)."""
    from telnyx_async import TelnyxSession
    from telnyx_async._loop import injected_time

    with injected_time(sleeps, sleeps.clock):
        return TelnyxSession(*args, **kwargs)
