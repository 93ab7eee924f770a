"""The fleet proof: four worker processes, one account limit, with and without Redis.

Each row starts four real worker processes (``benchmarks/fleet_worker.py``),
each with its own ``TelnyxSession``, that bulk-fetch their share of the ids
from one ``FakeTelnyx`` limited to 200 requests per one-second window for the
whole account. The clock starts when every worker is ready (imports and set-up
excluded) and stops when the last one reports. ``tests/test_fleet.py`` runs the
same rows, smaller, and asserts each row's bounds; this command prints the table::

    python -m benchmarks.fleet            # every row, 4 x 500 ids
    python -m benchmarks.fleet skew       # rows whose name contains "skew"
    python -m benchmarks.fleet cost       # only the limiter's cost per request
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.redis_server import RedisServer
from telnyx_async import AdaptiveRateLimiter, RateLimiter, RedisRateLimiter
from telnyx_async.testing import FakeTelnyx, Faults

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 200
"""The account's limit at the fake server: requests per one-second window."""
KEY = "telnyx:fleet-bench"


@dataclass(frozen=True, kw_only=True)
class Row:
    """One run of the fleet: how it paces, what goes wrong, and what must hold."""

    name: str
    shared: bool
    """Every worker uses RedisRateLimiter (else each its own rate_limit=LIMIT)."""
    skews: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    """Each worker's clock offset in seconds (its length is the number of workers)."""
    kill_redis: tuple[float, float] | None = None
    """Kill Redis at this share of the expected run time, start it again at the second."""
    max_429_share: float | None = None
    min_throughput_ratio: float | None = None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one run did, from the server's counters and the workers' reports."""

    row: Row
    ids: int
    requests: int
    responses_429: int
    lost: int
    elapsed: float
    round_trips: int
    warnings: int
    """Workers that logged a WARNING."""
    recovered: int
    """Workers that logged that Redis answered again."""
    shared_after_restart: bool
    """The restarted Redis holds the fleet's state: sharing resumed."""
    clock_offsets: tuple[float, ...] = ()
    """Each worker's wall clock minus this process's, when told to go."""
    records: list[list[tuple[str, str]]] = field(default_factory=lambda: [])
    """Each worker's log records (level, message) at INFO and above."""

    @property
    def share_429(self) -> float:
        """429s as a share of the requests."""
        return self.responses_429 / self.requests if self.requests else 0.0

    @property
    def throughput_ratio(self) -> float:
        """Ids per second over the account's limit."""
        return self.ids / self.elapsed / LIMIT

    def violations(self) -> list[str]:
        """Every bound the run broke (empty: the row holds)."""
        r, bad = self.row, []
        if self.lost:
            bad.append(f"{self.lost} ids lost")
        if r.max_429_share is not None and self.share_429 > r.max_429_share:
            bad.append(f"429s are {self.share_429:.1%} of requests (max {r.max_429_share:.0%})")
        if r.min_throughput_ratio is not None and self.throughput_ratio < r.min_throughput_ratio:
            bad.append(
                f"throughput {self.throughput_ratio:.2f} x the limit (min {r.min_throughput_ratio})"
            )
        workers = len(r.skews)
        if r.kill_redis is not None:
            if self.warnings < workers:
                bad.append(f"only {self.warnings} of {workers} workers logged a WARNING")
            if self.recovered < workers or not self.shared_after_restart:
                bad.append(f"sharing resumed in {self.recovered} of {workers} workers")
        elif self.warnings:
            bad.append(f"{self.warnings} workers logged a WARNING")
        return bad


ROWS: tuple[Row, ...] = (
    Row(name="in-process limiters only (rate_limit=200 each)", shared=False),
    Row(
        name="shared through Redis",
        shared=True,
        max_429_share=0.05,
        min_throughput_ratio=0.8,
    ),
    Row(
        name="shared, Redis killed mid-run",
        shared=True,
        kill_redis=(0.25, 0.45),
    ),
    Row(
        name="shared, two clocks skewed by +2 s",
        shared=True,
        skews=(0.0, 2.0, 0.0, 2.0),
        max_429_share=0.05,
        min_throughput_ratio=0.8,
    ),
)


def _redis_has_state(port: int) -> bool:
    """Whether the server on ``port`` holds the fleet's key (what a fresh server lacks)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(f"EXISTS {KEY}\r\n".encode())
        return sock.recv(64).startswith(b":1")


def run(row: Row, *, per_worker: int = 500, concurrency: int = 50) -> Outcome:
    """Run one row against a fresh FakeTelnyx (and a fresh Redis) and report it."""
    workers = len(row.skews)
    total = workers * per_worker
    fake = FakeTelnyx(connections=total, seed=7, faults=Faults(window_limit=LIMIT))
    with fake.serve_in_thread() as server, RedisServer() as redis:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
        env.update(TELNYX_API_KEY=server.api_key, PYTHONPATH=str(ROOT))
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "benchmarks.fleet_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=ROOT,
                env=env,
                text=True,
            )
            for _ in range(workers)
        ]
        try:
            for index, proc in enumerate(procs):
                config = {
                    "ids": server.ids[index * per_worker : (index + 1) * per_worker],
                    "base_url": server.base_url,
                    "redis_url": redis.url,
                    "key": KEY,
                    "rate": LIMIT,
                    "shared": row.shared,
                    "skew": row.skews[index],
                    "concurrency": concurrency,
                }
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(config) + "\n")
                proc.stdin.flush()
            for proc in procs:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if line.strip() != "ready":
                    raise RuntimeError(f"a worker did not start: {line!r}")
            before = server.stats.requests, server.stats.responses.get(429, 0)
            start, went = time.perf_counter(), time.time()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            killer = None
            if row.kill_redis is not None:
                expected = total / LIMIT
                down_at, up_at = (share * expected for share in row.kill_redis)

                def kill_and_restart() -> None:
                    time.sleep(down_at)
                    redis.kill()
                    time.sleep(up_at - down_at)
                    redis.start()

                killer = threading.Thread(target=kill_and_restart)
                killer.start()
            reports, offsets = [], []
            for proc in procs:
                assert proc.stdout is not None
                reports.append(json.loads(proc.stdout.readline()))
                offsets.append(float(reports[-1]["went"]) - went)
            elapsed = time.perf_counter() - start
            if killer is not None:
                killer.join()
            for proc in procs:
                proc.wait(timeout=30)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                for pipe in (proc.stdin, proc.stdout):
                    if pipe is not None:
                        pipe.close()
        shared_after = row.shared and _redis_has_state(redis.port)
        records = [[(level, text) for level, text in r["records"]] for r in reports]
        return Outcome(
            row=row,
            ids=total,
            requests=server.stats.requests - before[0],
            responses_429=server.stats.responses.get(429, 0) - before[1],
            lost=total - sum(int(r["ok"]) for r in reports),
            elapsed=elapsed,
            round_trips=sum(int(r["round_trips"]) for r in reports),
            warnings=sum(any(level == "WARNING" for level, _ in rec) for rec in records),
            recovered=sum(any("answers again" in text for _, text in rec) for rec in records),
            shared_after_restart=shared_after,
            clock_offsets=tuple(offsets),
            records=records,
        )


def table(outcomes: list[Outcome]) -> str:
    """The rows as a Markdown table."""
    head = (
        "| fleet of 4 processes, 200 req/s account limit | ids | requests | 429s | lost "
        "| throughput / limit | Redis round trips / request | elapsed | holds |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for o in outcomes:
        trips = f"{o.round_trips / o.requests:.2f}" if o.row.shared and o.requests else "-"
        bad = o.violations()
        rows.append(
            f"| {o.row.name} | {o.ids:,} | {o.requests:,} | {o.responses_429} ({o.share_429:.1%}) "
            f"| {o.lost} | {o.throughput_ratio:.2f} | {trips} | {o.elapsed:.2f}s "
            f"| {'yes' if not bad else '; '.join(bad)} |"
        )
    return head + "\n".join(rows)


async def _cost_of(limiter: RateLimiter, requests: int, concurrency: int) -> tuple[float, int]:
    """Microseconds of limiter time per request (acquire + observe), with no wait at all."""
    headers = {"x-ratelimit-limit": "1000000", "x-ratelimit-remaining": "999999"}
    queue = iter(range(requests))

    async def worker() -> None:
        for _ in queue:
            await limiter.acquire(max_wait=60.0)
            await limiter.observe(200, headers)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.perf_counter() - start) / requests * 1e6, requests


def cost(requests: int = 5000) -> str:
    """The limiter's own cost per request against a local Redis, as a Markdown table.

    The rate is set far above what is reached, so only the limiter's work is
    timed: one task (every request pays a full round trip) and 50 tasks (requests
    that wait at the same moment share one).
    """

    async def measure(url: str) -> list[tuple[str, float, float]]:
        rows: list[tuple[str, float, float]] = []
        for concurrency in (1, 50):
            local = AdaptiveRateLimiter(1e9)
            micros, _ = await _cost_of(local, requests, concurrency)
            rows.append((f"AdaptiveRateLimiter, {concurrency} task(s)", micros, 0.0))
            async with RedisRateLimiter(url, rate=1e9, key=f"cost:{concurrency}") as shared:
                await _cost_of(shared, 100, concurrency)  # connect, load the script
                before = shared.stats.round_trips
                micros, n = await _cost_of(shared, requests, concurrency)
                trips = (shared.stats.round_trips - before) / n
                rows.append((f"RedisRateLimiter, {concurrency} task(s)", micros, trips))
        return rows

    with RedisServer() as redis:
        rows = asyncio.run(measure(redis.url))
    head = "| limiter (local redis-server) | µs per request | Redis round trips per request |\n"
    head += "|---|---|---|\n"
    return head + "\n".join(f"| {name} | {us:.0f} | {trips:.2f} |" for name, us, trips in rows)


def main(selected: list[str]) -> int:
    """Run the rows (all, or those whose name contains an argument) and print the tables."""
    outcomes = [
        run(row) for row in ROWS if not selected or any(word in row.name for word in selected)
    ]
    if outcomes:
        print(table(outcomes))
    if not selected or "cost" in selected:
        print()
        print(cost())
    return 0 if all(not o.violations() for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
