"""Listing benchmarks: what the one-page prefetch saves, and a 100,000-connection walk.

    python -m benchmarks.listing              # both tables
    python -m benchmarks.listing prefetch     # only the prefetch table
    python -m benchmarks.listing walk         # only the big walk

Prefetch: 20 pages from a FakeTelnyx with 50 ms of latency per request, walked by
``list().pages()`` (one page ahead) and, beside it in the same run, by the same
session fetching page after page with nothing ahead, for a consumer that takes
0, 50 and 100 ms per page. The ideal with prefetch is about 20 x max(latency,
consume time); without it, 20 x (latency + consume time).

Walk: every connection of a FakeTelnyx serving N connections (in a subprocess,
so that its memory is not the client's), in pages of 250; connections/s, and the
client's CPU time per page, and (in a second walk: tracemalloc slows the client
several times over) its peak Python heap during the walk, for N = 10,000 and
100,000: constant memory means the same peak for both. The fake server, not the
client, sets the pace.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import aclosing, contextmanager

from telnyx_async import TelnyxSession
from telnyx_async.testing import DEFAULT_API_KEY, FakeTelnyx, Faults

PAGES = 20
PAGE_SIZE = 50
LATENCY = 0.05


async def _prefetch_row(consume: float) -> tuple[float, float]:
    """(seconds with prefetch, seconds page after page) for one consumer speed."""
    async with (
        FakeTelnyx(connections=PAGES * PAGE_SIZE, faults=Faults(latency=LATENCY)) as server,
        TelnyxSession(server.api_key, base_url=server.base_url) as telnyx,
    ):
        await telnyx.connections.count()  # the connection is open: both walks start warm
        started = time.perf_counter()
        async with aclosing(telnyx.connections.list(page_size=PAGE_SIZE).pages()) as pages:
            async for _ in pages:
                await asyncio.sleep(consume)
        ahead = time.perf_counter() - started

        started = time.perf_counter()
        for number in range(1, PAGES + 1):
            params = [("page[number]", str(number)), ("page[size]", str(PAGE_SIZE))]
            await telnyx.connections._fetch_page(params, None)  # one page, nothing ahead
            await asyncio.sleep(consume)
        one_by_one = time.perf_counter() - started
    return ahead, one_by_one


def prefetch_table() -> None:
    print(f"## Prefetch: {PAGES} pages, {LATENCY * 1000:.0f} ms latency per request\n")
    print("| consumer per page | with prefetch | page after page | ideal (prefetch) | saved |")
    print("|---|---|---|---|---|")
    for consume in (0.0, 0.05, 0.1):
        ahead, one_by_one = asyncio.run(_prefetch_row(consume))
        ideal = PAGES * max(LATENCY, consume)
        print(
            f"| {consume * 1000:.0f} ms | {ahead:.2f}s | {one_by_one:.2f}s | {ideal:.2f}s "
            f"| {1 - ahead / one_by_one:.0%} |",
            flush=True,
        )
    print()


@contextmanager
def _fake_in_subprocess(connections: int) -> Iterator[str]:
    """A `telnyx-async fake-server` on a free port; yields its base URL."""
    command = [sys.executable, "-m", "telnyx_async", "fake-server", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--connections", str(connections)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        found = re.search(r"at (http://\S+)", proc.stdout.readline())
        if not found:
            raise RuntimeError("the fake server did not start")
        yield found.group(1)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


async def _walk(base_url: str, *, trace: bool) -> tuple[int, float, float, int]:
    """(connections, seconds, client CPU seconds, peak heap bytes; 0 unless ``trace``)."""
    async with TelnyxSession(DEFAULT_API_KEY, base_url=base_url) as telnyx:
        await telnyx.connections.count()  # warm: the first request is not the walk's
        if trace:
            tracemalloc.start()
        started, cpu = time.perf_counter(), time.process_time()
        count = 0
        async for _ in telnyx.connections.list():
            count += 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        tracemalloc.stop()
    return count, elapsed, cpu, peak


def walk_table() -> None:
    print("## Walking every connection, pages of 250 (fake server in a subprocess)\n")
    print(
        "| connections | pages | elapsed | connections/s | pages/s "
        "| client CPU per page | peak client heap |"
    )
    print("|---|---|---|---|---|---|---|")
    for total in (10_000, 100_000):
        with _fake_in_subprocess(total) as base_url:
            count, elapsed, cpu, _ = asyncio.run(_walk(base_url, trace=False))
            # Apart: tracing every allocation slows the client several times over.
            *_, peak = asyncio.run(_walk(base_url, trace=True))
        if count != total:
            raise RuntimeError(f"walked {count} of {total} connections")
        pages = -(-total // 250)
        print(
            f"| {total:,} | {pages} | {elapsed:.2f}s | {count / elapsed:,.0f} | "
            f"{pages / elapsed:,.0f} | {cpu / pages * 1000:.2f} ms | {peak / 2**20:.1f} MiB |",
            flush=True,
        )
    print()


def main(argv: list[str]) -> int:
    chosen = set(argv) or {"prefetch", "walk"}
    if "prefetch" in chosen:
        prefetch_table()
    if "walk" in chosen:
        walk_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
