"""HTTPS end to end: ssl=, trust_env= and proxies, certificate errors, the fake and CLI."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from telnyx_async import (
    APIConnectionError,
    TelnyxSession,
    TLSError,
)
from telnyx_async._cli import main
from telnyx_async.testing import FakeTelnyx, Faults

from .conftest import stop_process
from .test_cli import jsonl


@pytest.fixture
async def fake_tls() -> AsyncIterator[FakeTelnyx]:
    async with FakeTelnyx(connections=40, seed=3, tls=True) as server:
        yield server


@pytest.fixture
def fake_tls_thread() -> Iterator[FakeTelnyx]:
    with FakeTelnyx(connections=40, seed=3, tls=True).serve_in_thread() as server:
        yield server


async def test_get_list_and_bulk_over_https(fake_tls: FakeTelnyx) -> None:
    assert fake_tls.base_url.startswith("https://127.0.0.1:")
    async with TelnyxSession(
        fake_tls.api_key, base_url=fake_tls.base_url, ssl=fake_tls.client_ssl_context()
    ) as telnyx:
        conn = await telnyx.connections.get(fake_tls.ids[0])
        listed = [c.id async for c in telnyx.connections.list(page_size=15)]
        fetched = await telnyx.connections.gather_many(fake_tls.ids, concurrency=8)
    assert conn == fake_tls.connections[fake_tls.ids[0]]
    assert sorted(listed) == sorted(fake_tls.ids)  # type: ignore[type-var]
    assert [c.id for c in fetched] == fake_tls.ids


async def test_an_untrusted_certificate_is_a_tls_error_not_retried(fake_tls: FakeTelnyx) -> None:
    """The system's CAs do not know the fake's: one attempt, a TLSError naming the cause."""
    async with TelnyxSession(fake_tls.api_key, base_url=fake_tls.base_url) as telnyx:
        with pytest.raises(TLSError) as caught:
            await telnyx.connections.get(fake_tls.ids[0])
        stats = telnyx.stats
    error = caught.value
    assert isinstance(error, APIConnectionError)
    assert "certificate verify failed" in str(error)
    assert "unable to get local issuer certificate" in str(error)
    assert error.attempts == 1
    # No HTTP request was ever written: the attempt is a connection error, not a request.
    assert (stats.requests, stats.connection_errors, stats.retries) == (0, 1, 0)
    assert fake_tls.stats.requests == 0


async def test_a_bulk_run_stops_at_the_first_tls_error(fake_tls: FakeTelnyx) -> None:
    """An untrusted certificate fails every id alike: no storm of 40 failing handshakes."""
    async with TelnyxSession(fake_tls.api_key, base_url=fake_tls.base_url) as telnyx:
        with pytest.raises(TLSError):
            await telnyx.connections.gather_many(
                fake_tls.ids, concurrency=4, return_exceptions=True
            )
        assert telnyx.stats.requests <= 4  # at most what was in flight
        with pytest.raises(TLSError):
            await drain(telnyx.connections.iter_many(fake_tls.ids))


async def drain(results: AsyncGenerator[object]) -> None:
    async with contextlib.aclosing(results) as iterator:
        async for _ in iterator:
            pass


async def test_localhost_matches_and_a_wrong_fingerprint_is_refused(fake_tls: FakeTelnyx) -> None:
    """The certificate names 127.0.0.1 and localhost; a pinned fingerprint must match it."""
    context = fake_tls.client_ssl_context()
    url = fake_tls.base_url.replace("127.0.0.1", "localhost")
    async with TelnyxSession(fake_tls.api_key, base_url=url, ssl=context) as telnyx:
        assert (await telnyx.connections.get(fake_tls.ids[1])).id == fake_tls.ids[1]
    # A fingerprint that is not the server's: refused as TLS, not retried.
    wrong = aiohttp.Fingerprint(b"\x00" * 32)
    async with TelnyxSession(fake_tls.api_key, base_url=fake_tls.base_url, ssl=wrong) as telnyx:
        with pytest.raises(TLSError, match="fingerprint"):
            await telnyx.connections.get(fake_tls.ids[1])
        assert telnyx.stats.retries == 0


async def test_ssl_false_skips_verification(fake_tls: FakeTelnyx) -> None:
    async with TelnyxSession(fake_tls.api_key, base_url=fake_tls.base_url, ssl=False) as telnyx:
        assert (await telnyx.connections.get(fake_tls.ids[2])).id == fake_tls.ids[2]


def test_ssl_and_trust_env_are_for_the_session_the_library_creates() -> None:
    async def check() -> None:
        async with aiohttp.ClientSession() as lent:
            with pytest.raises(ValueError, match="ssl= and trust_env= configure the session"):
                TelnyxSession("KEYx", session=lent, ssl=False)
            with pytest.raises(ValueError, match="ssl= and trust_env="):
                TelnyxSession("KEYx", session=lent, trust_env=True)
        with pytest.raises(TypeError, match=r"ssl must be an ssl\.SSLContext"):
            TelnyxSession("KEYx", ssl="yes")  # type: ignore[arg-type]

    asyncio.run(check())


def test_a_plain_fake_has_no_certificate() -> None:
    server = FakeTelnyx(connections=1)
    with pytest.raises(RuntimeError, match="create it with tls=True"):
        server.client_ssl_context()
    with pytest.raises(RuntimeError, match="tls=True"):
        _ = server.ca_pem


# -- trust_env: proxies from the environment ----------------------------------------------


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that records the targets it was asked for."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._pipes:
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        assert method == "CONNECT", method
        self.targets.append(target)
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._pipes.discard(task)
            for w in (writer, up_writer):
                w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()


@pytest.mark.parametrize(
    ("trust_env", "no_proxy", "proxied"),
    [(True, None, True), (False, None, False), (True, "127.0.0.1", False)],
)
async def test_trust_env_takes_the_proxy_from_the_environment(
    fake_tls: FakeTelnyx,
    monkeypatch: pytest.MonkeyPatch,
    trust_env: bool,
    no_proxy: str | None,
    proxied: bool,
) -> None:
    async with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        for name in ("NO_PROXY", "no_proxy"):
            if no_proxy is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, no_proxy)
        async with TelnyxSession(
            fake_tls.api_key,
            base_url=fake_tls.base_url,
            ssl=fake_tls.client_ssl_context(),
            trust_env=trust_env,
        ) as telnyx:
            conns = await telnyx.connections.gather_many(fake_tls.ids[:5], concurrency=2)
    assert [c.id for c in conns] == fake_tls.ids[:5]
    expected = f"127.0.0.1:{fake_tls.port}"
    assert proxy.targets == ([expected] * len(proxy.targets) if proxied else [])
    assert bool(proxy.targets) == proxied


# -- the CLI over HTTPS -------------------------------------------------------------------


def cli_env(server: FakeTelnyx, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "SSL_CERT"))}
    env.update(TELNYX_API_KEY=server.api_key, TELNYX_BASE_URL=server.base_url, **extra)
    return env


def test_cli_trusts_a_ca_file_or_ssl_cert_file(fake_tls_thread: FakeTelnyx, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(fake_tls_thread.ca_pem)
    conn_id = fake_tls_thread.ids[0]
    command = [sys.executable, "-m", "telnyx_async", "get", conn_id]
    untrusted = subprocess.run(
        command, capture_output=True, text=True, env=cli_env(fake_tls_thread), timeout=60
    )
    assert untrusted.returncode == 1
    assert "TLS: certificate verify failed" in untrusted.stderr
    assert "Traceback" not in untrusted.stderr
    for extra_args, extra_env in (
        (["--ca-file", str(ca)], {}),
        ([], {"SSL_CERT_FILE": str(ca)}),  # Python's default context reads it
    ):
        done = subprocess.run(
            [*command, *extra_args],
            capture_output=True,
            text=True,
            env=cli_env(fake_tls_thread, **extra_env),
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert jsonl(done.stdout)[0]["id"] == conn_id


def test_cli_ca_file_that_cannot_be_read_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.pem"
    assert main(["get", "1", "--api-key", "KEYx", "--ca-file", str(missing)]) == 2
    assert f"cannot read certificate authorities from {missing}" in capsys.readouterr().err


def test_cli_bulk_stops_at_an_untrusted_certificate(
    fake_tls_thread: FakeTelnyx, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(fake_tls_thread.ids))
    args = ["--api-key", fake_tls_thread.api_key, "--base-url", fake_tls_thread.base_url]
    assert main(["bulk", str(ids), "-o", str(tmp_path / "out"), *args]) == 1
    err = capsys.readouterr().err
    assert "stopped: TLS failed" in err
    assert fake_tls_thread.stats.requests == 0


def test_fake_server_and_demo_over_tls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--tls", "--connections", "300", "--error-rate", "0.05"]) == 0
    assert "verified: all 300 connections" in capsys.readouterr().err
    ca = tmp_path / "ca.pem"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "telnyx_async", "fake-server", "--tls", "--port", "0"),
            *("--connections", "5", "--ca-file", str(ca)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        found = re.search(r"at (https://127\.0\.0\.1:\d+/v2)", lines[0])
        assert found, lines
        assert f"--ca-file {ca}" in lines[3]
        key = lines[2].strip().partition("TELNYX_API_KEY=")[2]
        context = ssl.create_default_context(cafile=str(ca))

        async def count() -> int:
            async with TelnyxSession(key, base_url=found.group(1), ssl=context) as telnyx:
                return await telnyx.connections.count()

        assert asyncio.run(count()) == 5
    finally:
        _, err = stop_process(proc)
    assert proc.returncode == 0, err


async def test_https_to_a_plain_http_server_says_so() -> None:
    async with FakeTelnyx(connections=2) as plain:
        url = plain.base_url.replace("http://", "https://")
        async with TelnyxSession(plain.api_key, base_url=url) as telnyx:
            with pytest.raises(TLSError, match="does not speak TLS on this port"):
                await telnyx.connections.get(plain.ids[0])
            assert telnyx.stats.retries == 0


@pytest.mark.parametrize("dropped", [False, True], ids=["answered", "dropped"])
@pytest.mark.parametrize("threaded", [True, False])
def test_stop_closes_a_tls_connection_whose_client_went_quiet(
    threaded: bool, dropped: bool
) -> None:
    """A client that never answers the close_notify must not leave a socket open.

    asyncio closes a TLS socket only after the peer's close_notify (or 30 s):
    a loop closed right after ``stop()`` would leak it, seen as a
    ResourceWarning when the socket is collected. A dropped connection (the
    fake closes it mid-body) is no longer in aiohttp's handler list with its
    transport by then, but is closed all the same.
    """
    faults = Faults(drop_rate=1.0) if dropped else None
    fake = FakeTelnyx(connections=2, tls=True, faults=faults)
    request = (
        f"GET /v2/connections/{fake.ids[0]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {fake.api_key}\r\n\r\n"
    ).encode()
    context = ssl.create_default_context(cadata=fake.ca_pem.decode())
    context.check_hostname = False

    def talk(port: int) -> socket.socket:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        quiet = context.wrap_socket(raw)
        quiet.sendall(request)
        assert quiet.recv(65536).startswith(b"HTTP/1.1 200")
        if dropped:  # the server's close_notify arrives after the half body
            while quiet.recv(65536):
                pass
        return quiet  # kept open, never read again: no close_notify comes back

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        if threaded:
            with fake.serve_in_thread() as server:
                quiet = talk(server.port)
        else:

            async def serve() -> socket.socket:
                async with fake as server:
                    return await asyncio.to_thread(talk, server.port)

            quiet = asyncio.run(serve())
        gc.collect()
        quiet.close()
    leaks = [w for w in seen if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_fake_server_removes_its_own_ca_file_when_stopped(sig: signal.Signals) -> None:
    """No --ca-file: the CA goes to a temporary file of its own, gone after SIGINT or SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "telnyx_async", "fake-server", "--tls", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        found = re.search(r"CA certificate in (\S+fake-telnyx-ca-\d+-\S+\.pem):", lines[3])
        assert found, lines
        ca = Path(found.group(1))
        assert ca.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    finally:
        _, err = stop_process(proc, sig)
    assert proc.returncode == 0, err
    assert not ca.exists()
