"""Hostile and broken servers: bombs, malformed HTTP, poisoned headers, echoed secrets.

Raw asyncio servers on 127.0.0.1 send exactly the bytes each case needs; the
library must answer every one with a ``TelnyxError`` (never a raw exception),
hold bounded memory, and never let the key into anything it raises or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import traceback
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path

import brotli
import pytest

import telnyx_async
from telnyx_async import (
    APIConnectionError,
    APITimeoutError,
    Connection,
    InternalServerError,
    InvalidConnectionIdError,
    NotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    TelnyxError,
    TelnyxSession,
)
from telnyx_async.testing import FakeTelnyx

from .conftest import API_KEY, SleepRecorder, connection_body, session_with_time

Respond = Callable[[int, bytes], bytes | None]
"""(request number from 1, raw request head) -> raw answer, or None to close at once."""

MiB = 1 << 20


class RawServer:
    """A TCP server on 127.0.0.1 that answers each request with raw bytes, keep-alive."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests = 0
        self.heads: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                self.heads.append(head)
                answer = self.respond(self.requests, head)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def __aenter__(self) -> RawServer:
        # A large read limit: the huge-id case sends a 1 MB request line.
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=4 * MiB)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()


def http(
    status: int = 200,
    body: bytes = b"",
    *,
    headers: dict[str, str] | None = None,
    reason: str = "X",
) -> bytes:
    """A well-formed HTTP/1.1 response with a Content-Length."""
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if "Content-Length" not in (headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def session(server: RawServer, **kwargs: object) -> TelnyxSession:
    sleeps = kwargs.pop("sleep", None)
    if isinstance(sleeps, SleepRecorder):
        return session_with_time(sleeps, API_KEY, base_url=server.base_url, **kwargs)
    return TelnyxSession(API_KEY, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


# --- 1. decompression bombs --------------------------------------------------------------


def bomb(encoding: str, inflated: int) -> bytes:
    """A JSON body whose connection_name inflates to ``inflated`` bytes."""
    compressor: Callable[[bytes], bytes]
    finish: Callable[[], bytes]
    if encoding == "br":
        br = brotli.Compressor(quality=1)
        compressor, finish = br.process, br.finish
    else:
        z = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
        compressor, finish = z.compress, z.flush
    parts = [compressor(b'{"data": {"id": "1", "connection_name": "')]
    chunk = b"x" * MiB
    parts += [compressor(chunk) for _ in range(inflated // MiB)]
    parts += [compressor(b'"}}'), finish()]
    return b"".join(parts)


BOMB_INFLATED = 64 * MiB
BOMBS = {enc: bomb(enc, BOMB_INFLATED) for enc in ("gzip", "deflate", "br")}


async def peak_memory(work: Callable[[], object]) -> int:
    """Bytes of Python memory at the peak while awaiting ``work()``, above the start."""
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        with contextlib.suppress(TelnyxError):
            await work()  # type: ignore[misc]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
@pytest.mark.parametrize("status", [200, 500])
async def test_a_compressed_bomb_is_capped_after_decoding(encoding: str, status: int) -> None:
    """64 MiB inflated from a small body: the cap holds on decoded bytes, memory stays low."""
    body = BOMBS[encoding]
    assert len(body) < 1 * MiB  # Content-Length is far under the 4 MiB cap
    answer = http(status, body, headers={"Content-Encoding": encoding})
    async with (
        RawServer(lambda n, head: answer) as server,
        session(server, max_retries=0) as telnyx,
    ):
        expected = ResponseTooLargeError if status == 200 else InternalServerError
        with pytest.raises(expected) as info:
            await telnyx.connections.get("1")
        growth = await peak_memory(lambda: telnyx.connections.get("1"))
    assert growth < 16 * MiB, f"peak grew by {growth / MiB:.0f} MiB"
    if status == 500:  # a bounded excerpt of the error body, and its status
        assert len(str(info.value)) < 1000
        assert info.value.status == 500  # type: ignore[attr-defined]


async def test_bulk_over_bombs_stays_bounded() -> None:
    """Ten ids each answered by a bomb: every one fails alone; memory does not multiply."""
    answer = http(200, BOMBS["gzip"], headers={"Content-Encoding": "gzip"})
    async with (
        RawServer(lambda n, head: answer) as server,
        session(server, max_retries=0) as telnyx,
    ):
        results: list[Connection | BaseException] = []

        async def run() -> None:
            results.extend(
                await telnyx.connections.gather_many(
                    [str(i) for i in range(10)], return_exceptions=True
                )
            )

        growth = await peak_memory(run)
    assert len(results) == 10
    assert all(isinstance(r, ResponseTooLargeError) for r in results)
    assert growth < 64 * MiB, f"peak grew by {growth / MiB:.0f} MiB"


async def test_a_small_compressed_answer_still_decodes() -> None:
    """Compression itself is fine: a gzip body under the cap decodes as usual."""
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)
    body = gz.compress(connection_body("42")) + gz.flush()
    answer = http(200, body, headers={"Content-Encoding": "gzip"})
    async with RawServer(lambda n, head: answer) as server, session(server) as telnyx:
        assert (await telnyx.connections.get("42")).id == "42"


# --- 2. absurd Retry-After / x-ratelimit-reset --------------------------------------------

ABSURD_DATES = [
    "Mon, 01 Jan 2020 99999999999999999999:00:00 GMT",
    "Mon, 99999999999 Jan 2020 00:00:00 GMT",
    "Mon, 01 Jan 2020 00:00:00 +99999999999",
    "Mon, 01 Jan 2020 00:00:00 +9999999999999999999999",
    "1e400",
    "nan",
]


@pytest.mark.parametrize("value", ABSURD_DATES)
@pytest.mark.parametrize(
    ("status", "header"), [(503, "Retry-After"), (429, "Retry-After"), (429, "x-ratelimit-reset")]
)
async def test_unreadable_retry_advice_is_ignored(
    status: int, header: str, value: str, sleeps: SleepRecorder
) -> None:
    """The advice is ignored like any unreadable value: normal backoff, then success."""
    first = http(status, b"{}", headers={header: value})
    ok = http(200, connection_body("7"))
    async with (
        RawServer(lambda n, head: first if n == 1 else ok) as server,
        session(server, sleep=sleeps) as telnyx,
    ):
        assert (await telnyx.connections.get("7")).id == "7"
    assert len(sleeps.delays) == 1
    # Not the header: a 503 backs off per the policy (at most 0.5 s first), a 429
    # pauses the session for the default pause when the advice is unreadable.
    assert 0.0 <= sleeps.delays[0] <= (1.0 if status == 429 else 0.5)


# --- 3. deeply nested JSON ------------------------------------------------------------------

# How deep msgspec may nest is the interpreter's C recursion limit, not
# sys.getrecursionlimit(): 3.11 stops near the latter (1,000), 3.12 at 1,500 levels,
# 3.13 at 10,000 (Py_C_RECURSION_LIMIT), and from 3.14 the C stack itself is measured.
# A million levels (2 MB, under the 4 MiB cap on a 200's body) exceed all of them:
# no C stack holds a million nested frames (8 MB would leave 8 bytes a level).
TOO_DEEP = 1_000_000
# An error body is read up to 64 KiB: 30,000 levels fit whole, and exceed the limit
# of every interpreter that counts levels (3.11-3.13).
DEEP_ERROR = 30_000


def nested(depth: int) -> bytes:
    """A JSON array nested ``depth`` levels deep."""
    return b"[" * depth + b"]" * depth


async def test_deep_json_in_a_200_is_a_validation_error() -> None:
    """Nested too deep to decode, in a field it would skip: ResponseValidationError."""
    answer = http(200, b'{"data": {"x": ' + nested(TOO_DEEP) + b"}}")
    async with RawServer(lambda n, head: answer) as server, session(server) as telnyx:
        with pytest.raises(
            ResponseValidationError, match=r"^response body is nested too deeply to decode$"
        ) as caught:
            await telnyx.connections.get("1")
    assert caught.value.status == 200
    assert server.requests == 1  # the same body again would fail again: no retry


@pytest.mark.parametrize(("status", "cls"), [(404, NotFoundError), (500, InternalServerError)])
async def test_deep_json_in_an_error_body_keeps_its_status_error(
    status: int, cls: type[TelnyxError], sleeps: SleepRecorder
) -> None:
    """The status error comes through; a 500 is retried as documented."""
    answer = http(status, b'{"errors": [{"title": "t", "x": ' + nested(DEEP_ERROR) + b"}]}")
    async with RawServer(lambda n, head: answer) as server, session(server, sleep=sleeps) as telnyx:
        with pytest.raises(cls):
            await telnyx.connections.get("1")
    assert server.requests == (3 if status == 500 else 1)


# --- 4. ids that cannot be encoded -------------------------------------------------------


async def test_lone_surrogate_id_is_an_invalid_id_per_id_in_bulk() -> None:
    """A lone surrogate is an InvalidConnectionIdError before any request; the batch goes on."""
    ok: Respond = lambda n, head: http(200, connection_body("x"))  # noqa: E731
    ids = [str(i) for i in range(200)]
    ids[91] = "\ud800"
    async with RawServer(ok) as server, session(server) as telnyx:
        with pytest.raises(InvalidConnectionIdError, match="surrogate"):
            await telnyx.connections.get("a\udfffb")
        assert server.requests == 0
        async with aclosing(telnyx.connections.iter_many(ids, concurrency=8)) as results:
            seen = {conn_id: result async for conn_id, result in results}
        gathered = await telnyx.connections.gather_many(ids, return_exceptions=True)
    assert len(seen) == 200
    assert isinstance(seen["\ud800"], InvalidConnectionIdError)
    assert sum(isinstance(r, Connection) for r in seen.values()) == 199
    assert isinstance(gathered[91], InvalidConnectionIdError)
    assert server.requests == 2 * 199


# --- 5. malformed HTTP: no key reachable from the exception chain -----------------------

MALFORMED = {
    "space in header name": b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\n{}",
    "bad status line": b"HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n",
    "not http": b"SSH-2.0-OpenSSH_9.0\r\n\r\n",
    "bad content-length": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
    "two content-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "bad chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "too many headers": b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"X-%d: y\r\n" % i for i in range(10_000))
    + b"Content-Length: 2\r\n\r\n{}",
    "huge status line": b"HTTP/1.1 200 " + b"O" * MiB + b"\r\nContent-Length: 0\r\n\r\n",
    "huge header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    "short body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
    "bad gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
    "unknown encoding": b"HTTP/1.1 200 OK\r\nContent-Encoding: zz\r\nContent-Length: 2\r\n\r\n{}",
}


def everything_reachable(exc: BaseException, *, with_locals: bool = True) -> str:
    """Text an error reporter could record: messages, reprs, attributes, frame locals.

    ``with_locals=False`` leaves out the frames' locals, which hold the raw
    response a hostile server sent (an echoed key included: see docs/reliability.md).
    """
    tb = traceback.TracebackException.from_exception(exc, capture_locals=with_locals)
    parts: list[str] = list(tb.format())
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        parts += [repr(v) for v in vars(current).values()]
        for name in ("request_info", "history", "headers"):
            parts.append(repr(getattr(current, name, None)))
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


@pytest.mark.parametrize("case", MALFORMED)
async def test_malformed_responses_are_connection_errors_without_the_key(
    case: str, caplog: pytest.LogCaptureFixture, sleeps: SleepRecorder
) -> None:
    """A typed error, after the normal retries, with nothing in its chain holding the key."""
    caplog.set_level(logging.DEBUG, logger="telnyx_async")
    raw = MALFORMED[case]
    async with (
        RawServer(lambda n, head: raw) as server,
        session(server, sleep=sleeps, max_retries=1, timeout=0.5) as telnyx,
    ):
        with pytest.raises(TelnyxError) as info:
            await telnyx.connections.get("1")
    assert isinstance(info.value, APIConnectionError | ResponseValidationError)
    text = everything_reachable(info.value) + caplog.text
    assert API_KEY not in text
    assert "Bearer" not in text or "Bearer [redacted]" in text
    assert len(str(info.value)) < 1000


def test_the_reachability_walk_finds_a_key_in_aiohttp_request_info() -> None:
    """The walk above can fail: an unscrubbed aiohttp error with our headers is caught."""
    import aiohttp
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {API_KEY}"}))
    info = aiohttp.RequestInfo(URL("http://x/"), "GET", headers, URL("http://x/"))
    cause = aiohttp.ClientResponseError(info, (), status=400, message="bad")
    exc = APIConnectionError("failed")
    exc.__cause__ = cause
    assert API_KEY in everything_reachable(exc)


# --- 6. a server that echoes the key --------------------------------------------------------


def echo_key(status: int, how: str) -> Respond:
    def respond(n: int, head: bytes) -> bytes:
        auth = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"authorization:")
        )
        if how == "detail":
            body = json.dumps({"errors": [{"title": "Bad", "detail": f"you sent {auth}"}]})
            return http(status, body.encode())
        if how == "escaped":  # JSON escapes: the raw bytes never hold the key
            escaped = "".join(f"\\u{ord(c):04x}" for c in auth)
            return http(status, f'{{"errors": [{{"title": "{escaped}"}}]}}'.encode())
        if how == "text":
            return http(status, f"<html>you sent {auth}</html>".encode())
        return http(status, b"{}", headers={"x-request-id": f"req-{auth}"})

    return respond


@pytest.mark.parametrize("how", ["detail", "escaped", "text", "request-id"])
@pytest.mark.parametrize("status", [401, 500])
async def test_an_echoed_key_is_redacted(how: str, status: int, sleeps: SleepRecorder) -> None:
    """The key a server sends back never reaches str(), repr() or the attributes."""
    async with RawServer(echo_key(status, how)) as server, session(server, sleep=sleeps) as telnyx:
        with pytest.raises(TelnyxError) as info:
            await telnyx.connections.get("1")
    text = everything_reachable(info.value, with_locals=False)
    text += repr(getattr(info.value, "errors", ()))
    assert API_KEY not in text
    assert "[redacted]" in text


async def test_an_echoed_key_in_a_200_with_bad_json_is_redacted() -> None:
    """The excerpt of an unreadable 200 body is redacted too."""
    answer = http(200, f"not json {API_KEY} here".encode())
    async with RawServer(lambda n, head: answer) as server, session(server) as telnyx:
        with pytest.raises(ResponseValidationError) as info:
            await telnyx.connections.get("1")
    assert API_KEY not in everything_reachable(info.value, with_locals=False)
    assert "[redacted]" in str(info.value)


# --- 7. bounded messages --------------------------------------------------------------------


async def test_a_huge_id_gives_a_bounded_timeout_message(
    caplog: pytest.LogCaptureFixture, sleeps: SleepRecorder
) -> None:
    """A 1 MB id: the message and the DEBUG retry line stay short, with a marker."""
    caplog.set_level(logging.DEBUG, logger="telnyx_async")
    hang: Respond = lambda n, head: b""  # noqa: E731 - answers nothing: the attempt times out
    async with (
        RawServer(hang) as server,
        session(server, sleep=sleeps, timeout=0.05, max_retries=1) as telnyx,
    ):
        with pytest.raises(APITimeoutError) as info:
            await telnyx.connections.get("9" * MiB)
    assert len(str(info.value)) < 1000
    assert "more chars]" in str(info.value)
    lines = [r.getMessage() for r in caplog.records if r.name == "telnyx_async"]
    assert lines
    assert all(len(line) < 1000 for line in lines)


@pytest.mark.parametrize("size", [60_000, 3 * MiB])
async def test_a_huge_title_gives_a_bounded_message(size: int) -> None:
    """A 404 with a huge title: a short message and its status class.

    ``.errors`` keeps the full title while the body fits the 64 KiB kept of an error body.
    """
    title = "t" * size
    answer = http(404, json.dumps({"errors": [{"title": title, "code": "10005"}]}).encode())
    async with RawServer(lambda n, head: answer) as server, session(server) as telnyx:
        with pytest.raises(NotFoundError) as info:
            await telnyx.connections.get("1")
    assert len(str(info.value)) < 1000
    if size < 64 * 1024:
        assert "(code 10005)" in str(info.value)
        assert info.value.errors[0].title == title
    else:
        assert info.value.errors == ()  # cut at 64 KiB: not JSON any more, an excerpt


# --- 8. one session, two event loops -------------------------------------------------------


def test_a_session_used_from_a_second_loop_says_so_and_leaves_no_socket() -> None:
    """asyncio.run twice on one session: a TelnyxError naming the loop; no unclosed socket."""
    with FakeTelnyx(connections=3, seed=0).serve_in_thread() as server:
        telnyx = TelnyxSession(server.api_key, base_url=server.base_url)
        conn_id = server.ids[0]
        assert asyncio.run(telnyx.connections.get(conn_id)).id == conn_id
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(TelnyxError, match="another event loop \\(now closed\\)"):
                asyncio.run(telnyx.connections.get(conn_id))
            asyncio.run(telnyx.close())
            gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
    assert server.stats.requests == 1


async def test_no_background_task_is_left_by_a_session() -> None:
    """The loop-shutdown closer is an async generator, not a task: all_tasks() is unchanged."""
    server = FakeTelnyx(connections=2, seed=0)
    async with server, TelnyxSession(server.api_key, base_url=server.base_url) as telnyx:
        await telnyx.connections.get(server.ids[0])
        package = str(Path(telnyx_async.__file__).parent)
        ours = [
            t
            for t in asyncio.all_tasks()
            if getattr(getattr(t.get_coro(), "cr_code", None), "co_filename", "").startswith(
                package
            )
        ]
        assert ours == []


# --- 9. requests aiohttp re-sends on its own ----------------------------------------------


async def test_aiohttp_resends_are_counted() -> None:
    """A reused keep-alive connection closed by the server: aiohttp re-sends; stats say so."""
    per_connection: dict[int, int] = {}

    class OneAnswerPerConnection(RawServer):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # Answers the first request of each connection; drops the second unanswered.
            key = id(writer)
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                while True:
                    await reader.readuntil(b"\r\n\r\n")
                    self.requests += 1
                    per_connection[key] = per_connection.get(key, 0) + 1
                    if per_connection[key] > 1:
                        break
                    writer.write(http(200, connection_body("1")))
                    await writer.drain()
            writer.close()

    failed = 0
    async with (
        OneAnswerPerConnection(lambda n, h: None) as server,
        session(server, max_retries=0) as telnyx,
    ):
        for _ in range(10):
            try:
                await telnyx.connections.get("1")
            except APIConnectionError:
                failed += 1  # now and then aiohttp does not re-send: it must still add up
        stats = telnyx.stats
    assert stats.requests == server.requests
    assert stats.resends == server.requests - 10
    assert stats.resends >= 1
    assert stats.retries == 0
    assert failed < 10


# --- a rate limit with a reset the hostile server made up --------------------------------


async def test_a_429_with_a_negative_reset_is_retried_with_backoff(sleeps: SleepRecorder) -> None:
    """x-ratelimit-reset: -5 is unreadable advice: backoff applies, never a negative wait."""
    first = http(429, b"{}", headers={"x-ratelimit-reset": "-5"})
    async with RawServer(lambda n, head: first) as server, session(server, sleep=sleeps) as telnyx:
        with pytest.raises(RateLimitError):
            await telnyx.connections.get("1")
    assert all(d >= 0 for d in sleeps.delays)


# --- 10. requests that never reached the server --------------------------------------------


@pytest.mark.parametrize("end", ["cancelled", "closed", "deadline"])
async def test_a_call_ended_while_still_connecting_counts_no_request(end: str) -> None:
    """Requests stuck in the TLS handshake when the call ends were never sent: stats say 0.

    The server accepts TCP and never answers the ClientHello, so every lookup is still
    connecting when the caller cancels, closes the session, or the deadline runs out;
    a ``close()`` ends them at once, whatever the attempt timeout.
    """
    ids = [str(n) for n in range(1, 41)]
    async with RawServer(lambda n, h: None) as server:
        https = server.base_url.replace("http://", "https://")
        # An attempt timeout far beyond the test's: only the end of the call ends them.
        telnyx = TelnyxSession(API_KEY, base_url=https, max_retries=0, timeout=600)
        try:
            if end == "deadline":
                results = await telnyx.connections.gather_many(
                    ids, concurrency=10, return_exceptions=True, deadline=0.3
                )
                assert all(isinstance(r, APITimeoutError) for r in results)
            else:
                call = asyncio.ensure_future(
                    telnyx.connections.gather_many(ids, concurrency=10, return_exceptions=True)
                )
                for _ in range(500):  # until lookups are connected and in the handshake
                    if server._writers:
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)  # and more of them start theirs
                assert server._writers
                if end == "cancelled":
                    call.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await call
                else:
                    await telnyx.close()
                    # close() ends the handshakes too, not only the pool's idle sockets.
                    async with asyncio.timeout(30):
                        results = await call
                    assert all(isinstance(r, TelnyxError) for r in results)
                    assert "closed during the call" in str(results[0])
            stats = telnyx.stats
        finally:
            await telnyx.close()
    assert server.requests == 0
    assert (stats.requests, stats.connection_errors, stats.retries) == (0, 0, 0)
