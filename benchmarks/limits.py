"""Rate limiters we did not write, and 429 storms at default settings.

Three tables:

- **nginx** ``limit_req`` (a leaky bucket; ``burst=B nodelay``, ``limit_req_status
  429``: 429s with no ``Retry-After`` and no ``x-ratelimit-*``, as a gateway or an
  egress proxy answers). Each row starts its own nginx, runs ``gather_many(ids,
  return_exceptions=True)`` with default settings, and reports ids lost, the
  share of requests answered 429 and the throughput over the limit. Needs nginx
  (``apt-get install nginx-light``).
- **silent**: FakeTelnyx's token bucket and fixed window with their
  ``x-ratelimit-*`` headers withheld, the same run and figures.
- **storms**: a ``FakeTelnyx`` that answers every request 429, with each kind of
  advice, at default settings (``max_rate_limit_wait`` 60 s): the requests one
  ``get()`` sends, and a bulk run of 1,000 ids; requests, elapsed time, and
  whether every id ended with ``RateLimitError``.

::

    python -m benchmarks.limits            # both tables (about 3 minutes)
    python -m benchmarks.limits nginx      # only nginx
    python -m benchmarks.limits silent     # only FakeTelnyx's limiters, headers withheld
    python -m benchmarks.limits storms     # only the storms (about 65 s)
"""

from __future__ import annotations

import asyncio
import email.utils
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telnyx_async import Connection, RateLimitError, TelnyxSession
from telnyx_async.testing import FakeTelnyx, Faults

from .server import BODY, NGINX_HEAD, _nginx, free_port

NGINX_CONF = (
    NGINX_HEAD
    + """\
    limit_req_zone $server_port zone=account:1m rate={rate}r/s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {tmp};
        location ~ ^/v2/connections/(\\d+)$ {{
            limit_req zone=account burst={burst} nodelay;
            limit_req_status 429;
            default_type application/json;
            try_files /c/$1.json =404;
        }}
    }}
}}
"""
)
"""``try_files`` serves in the content phase, after ``limit_req``'s (``return`` would
answer before the limit is checked)."""


@dataclass(frozen=True)
class NginxRow:
    """One leaky bucket and the bulk run against it."""

    rate: int
    burst: int
    ids: int
    concurrency: int


NGINX_ROWS = (
    NginxRow(50, 10, 1000, 50),
    NginxRow(200, 20, 2000, 50),
    NginxRow(100, 50, 2000, 100),
    NginxRow(50, 10, 1000, 200),
    NginxRow(200, 50, 2000, 200),
)


async def nginx_row(row: NginxRow) -> dict[str, Any]:
    """Start nginx with the row's limit, run the bulk lookup, stop nginx; the row's figures."""
    nginx = _nginx()
    if nginx is None:
        raise SystemExit("nginx is not installed (apt-get install nginx-light)")
    with tempfile.TemporaryDirectory(prefix="telnyx-limits-") as tmp:
        port = free_port()
        ids = [str(10**18 + n) for n in range(row.ids)]
        conf = _write_site(Path(tmp), ids, port, row)
        proc = subprocess.Popen([nginx, "-c", str(conf), "-p", tmp])  # noqa: ASYNC220
        try:
            await _until_listening(port)
            async with TelnyxSession("KEY", base_url=f"http://127.0.0.1:{port}/v2") as telnyx:
                start = time.perf_counter()
                results = await telnyx.connections.gather_many(
                    ids, concurrency=row.concurrency, return_exceptions=True
                )
                elapsed = time.perf_counter() - start
                stats = telnyx.stats
        finally:
            proc.send_signal(signal.SIGQUIT)
            proc.wait(timeout=10)
    ok = sum(isinstance(r, Connection) for r in results)
    errors = Counter(type(r).__name__ for r in results if not isinstance(r, Connection))
    throttled = stats.responses.get(429, 0)
    return {
        "limiter": f"{row.rate} req/s, burst {row.burst}",
        "ids": row.ids,
        "concurrency": row.concurrency,
        "lost": row.ids - ok,
        "requests": stats.requests,
        "429s": f"{throttled} ({throttled / stats.requests:.1%})",
        # The burst is let through at once: the ideal run takes (ids - burst) / rate.
        "throughput / limit": f"{(row.ids - row.burst) / elapsed / row.rate:.2f}",
        "elapsed": f"{elapsed:.2f}s",
        "errors": dict(errors) or "-",
    }


def _write_site(tmp: Path, ids: list[str], port: int, row: NginxRow) -> Path:
    """One file per id (its body names the id asked for) and the config; returns its path."""
    tmp.chmod(0o755)  # nginx's workers (nobody, when started as root) read it
    (tmp / "c").mkdir()
    for conn_id in ids:
        body = BODY.replace(b"1293384261075731499", conn_id.encode(), 1)
        (tmp / "c" / f"{conn_id}.json").write_bytes(body)
    conf = tmp / "nginx.conf"
    text = NGINX_CONF.format(tmp=tmp, port=port, rate=row.rate, burst=row.burst, affinity="")
    conf.write_text(text)
    return conf


async def _until_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError("nginx did not start")


SILENT_ROWS: tuple[tuple[str, Faults, float, int, int], ...] = (
    (
        "token bucket 100/s (burst 100)",
        Faults(rate_limit_rps=100, limit_headers=False),
        100,
        1000,
        50,
    ),
    (
        "token bucket 100/s (burst 100)",
        Faults(rate_limit_rps=100, limit_headers=False),
        100,
        1000,
        200,
    ),
    ("fixed window 200 per s", Faults(window_limit=200, limit_headers=False), 200, 2000, 50),
    ("fixed window 50 per s", Faults(window_limit=50, limit_headers=False), 50, 1000, 100),
)
"""FakeTelnyx's other limiters with their headers withheld: only their 429s tell."""


async def silent_row(
    name: str, faults: Faults, rate: float, ids: int, concurrency: int
) -> dict[str, Any]:
    """A bulk run at default settings against a FakeTelnyx limiter that sends no headers."""
    async with (
        FakeTelnyx(connections=ids, faults=faults) as server,
        TelnyxSession(server.api_key, base_url=server.base_url) as telnyx,
    ):
        start = time.perf_counter()
        results = await telnyx.connections.gather_many(
            server.ids, concurrency=concurrency, return_exceptions=True
        )
        elapsed = time.perf_counter() - start
    throttled, requests = server.stats.responses.get(429, 0), server.stats.requests
    return {
        "limiter (no headers)": name,
        "ids": ids,
        "concurrency": concurrency,
        "lost": sum(not isinstance(r, Connection) for r in results),
        "requests": requests,
        "429s": f"{throttled} ({throttled / requests:.1%})",
        "throughput / limit": f"{ids / elapsed / rate:.2f}",
        "elapsed": f"{elapsed:.2f}s",
    }


STORMS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("Retry-After: 0", {"retry_after": 0.0}),
    ("Retry-After: 0.01", {"retry_after": 0.01}),
    ("x-ratelimit-reset: 0", {"retry_after": None, "rate_limit_reset": 0.0}),
    ("no advice", {"retry_after": None}),
)


async def storm_row(advice: str, headers: dict[str, Any], ids: int) -> dict[str, Any]:
    """Every request answered 429 with this advice: what one run at default settings sends."""
    faults = Faults(rate_limit_rate=1.0, **headers)
    async with (
        FakeTelnyx(connections=ids, faults=faults) as server,
        TelnyxSession(server.api_key, base_url=server.base_url) as telnyx,
    ):
        start = time.perf_counter()
        results = await telnyx.connections.gather_many(server.ids, return_exceptions=True)
        elapsed = time.perf_counter() - start
    limited = sum(isinstance(r, RateLimitError) for r in results)
    return {
        "429 advice": advice,
        "call": "get()" if ids == 1 else f"gather_many({ids:,} ids)",
        "requests": server.stats.requests,
        "elapsed": f"{elapsed:.1f}s",
        "ended with RateLimitError": f"{limited} of {ids}",
    }


async def storms() -> list[dict[str, Any]]:
    """All storm rows at once: each mostly sleeps, on its own server."""
    rows = [storm_row(advice, faults, 1) for advice, faults in STORMS]
    rows.append(storm_row("Retry-After: 0", {"retry_after": 0.0}, 1000))
    # A Retry-After date in the past (a client clock ahead of the server's) is a
    # header the Faults knobs cannot make: a raw server answers it.
    rows.append(_past_date_row())
    return list(await asyncio.gather(*rows))


async def _past_date_row() -> dict[str, Any]:
    from aiohttp import web

    requests = 0
    past = email.utils.formatdate(time.time() - 3600, usegmt=True)

    async def always_429(request: web.Request) -> web.Response:
        nonlocal requests
        requests += 1
        return web.Response(status=429, headers={"Retry-After": past})

    app = web.Application()
    app.router.add_get("/v2/connections/{id}", always_429)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with TelnyxSession("KEY", base_url=f"http://127.0.0.1:{port}/v2") as telnyx:
            start = time.perf_counter()
            try:
                await telnyx.connections.get("1")
                limited = 0
            except RateLimitError:
                limited = 1
            elapsed = time.perf_counter() - start
    finally:
        await runner.cleanup()
    return {
        "429 advice": "Retry-After: a date an hour ago",
        "call": "get()",
        "requests": requests,
        "elapsed": f"{elapsed:.1f}s",
        "ended with RateLimitError": f"{limited} of 1",
    }


def table(rows: list[dict[str, Any]]) -> str:
    """Rows of equal keys as a Markdown table."""
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(row[k]) for k in head) + " |" for row in rows]
    return "\n".join(lines)


async def main(selected: list[str]) -> int:
    """Print the tables asked for (all by default)."""
    if not selected or "nginx" in selected:
        rows = []
        for row in NGINX_ROWS:
            rows.append(await nginx_row(row))
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
        print(table(rows) + "\n")
    if not selected or "silent" in selected:
        print(table([await silent_row(*row) for row in SILENT_ROWS]) + "\n")
    if not selected or "storms" in selected:
        print(table(await storms()))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
