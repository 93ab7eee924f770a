"""A fast local server for the benchmarks: nginx when installed, else aiohttp.web in a process.

Both serve the spec's example body for every ``GET /v2/connections/{id}`` with
keep-alive, over plain HTTP on one port and HTTPS on another (TLS 1.3, a
certificate for 127.0.0.1 from a throwaway trustme CA whose PEM is written to
the server's temporary directory for the clients to trust), pinned to their own
core when the machine has two or more.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = {
    "data": {
        "id": "1293384261075731499",
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
        "tags": ["tag1", "tag2"],
    }
}
BODY = json.dumps(EXAMPLE, separators=(",", ":")).encode()

NGINX_HEAD = """
daemon off;
worker_processes 1;
{affinity}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log crit;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
"""
"""An nginx config up to its ``server`` blocks (one worker, files only in ``{tmp}``);
the rest, ending with the ``http`` block's closing brace, is each benchmark's own."""

NGINX_CONF = (
    NGINX_HEAD
    + """\
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /v2/connections/ {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl backlog=4096;
        ssl_protocols TLSv1.3;
        ssl_certificate {tmp}/server.pem;
        ssl_certificate_key {tmp}/server.key;
        location /v2/connections/ {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def write_certificates(directory: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1, as PEM files; returns the CA's.

    ``server.pem`` (the chain) and ``server.key`` are the server's; ``ca.pem`` is
    what clients trust. ECDSA P-256 keys (trustme's default), as many CAs issue.
    """
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    (directory / "server.pem").write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    (directory / "server.key").write_bytes(leaf.private_key_pem.bytes())
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.cert_pem.bytes())
    return ca_file


class BenchServer:
    """Start with ``start()``; ``url`` / ``https_url`` are the base URLs, ``ca_file`` the
    CA that signed the HTTPS certificate, ``cpu()`` the server's CPU seconds."""

    def __init__(self, *, kind: str = "auto", core: int | None = None) -> None:
        self.kind = kind
        self.core = core
        self.port = free_port()
        self.tls_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v2"
        self.https_url = f"https://127.0.0.1:{self.tls_port}/v2"
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="telnyx-bench-")
        self.ca_file = Path(self._tmp.name) / "ca.pem"
        self.pids: list[int] = []

    def base_url(self, protocol: str) -> str:
        """The base URL for ``"http"`` or ``"https"``."""
        return self.https_url if protocol == "https" else self.url

    def start(self) -> None:
        write_certificates(Path(self._tmp.name))
        nginx = _nginx() if self.kind in ("auto", "nginx") else None
        if self.kind == "nginx" and nginx is None:
            raise SystemExit("nginx was asked for but is not installed")
        if nginx:
            self.kind = "nginx"
            affinity = f"worker_cpu_affinity {1 << self.core:b};" if self.core is not None else ""
            conf = Path(self._tmp.name) / "nginx.conf"
            conf.write_text(
                NGINX_CONF.format(
                    tmp=self._tmp.name,
                    port=self.port,
                    tls_port=self.tls_port,
                    body=BODY.decode(),
                    affinity=affinity,
                )
            )
            self._proc = subprocess.Popen([nginx, "-c", str(conf), "-p", self._tmp.name])
        else:
            self.kind = "aiohttp"
            core = -1 if self.core is None else self.core
            ports = [str(self.port), str(core), str(self.tls_port), self._tmp.name]
            self._proc = subprocess.Popen([sys.executable, "-m", "benchmarks.server", *ports])
        self._wait_ready()
        self.pids = self._worker_pids()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        waiting = [self.port, self.tls_port]
        while waiting and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.2):
                    waiting.pop(0)
            except OSError:
                time.sleep(0.05)
        if waiting:
            raise RuntimeError("the benchmark server did not start")

    def _worker_pids(self) -> list[int]:
        assert self._proc is not None
        children = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children")
        kids = [int(p) for p in children.read_text().split()] if children.exists() else []
        return [self._proc.pid, *kids]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGTERM if self.kind == "aiohttp" else signal.SIGQUIT)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        self._tmp.cleanup()


def _serve(port: int, core: int, tls_port: int, tmp: str) -> None:
    import ssl

    from aiohttp import web

    if core >= 0:
        os.sched_setaffinity(0, {core})

    async def connection(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v2/connections/{id}", connection)
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    import asyncio

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=120)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(f"{tmp}/server.pem", f"{tmp}/server.key")
        await web.TCPSite(runner, "127.0.0.1", tls_port, backlog=4096, ssl_context=context).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
