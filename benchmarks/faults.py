"""The fault matrix: bulk runs against a FakeTelnyx that limits, fails and hangs.

Each row runs ``iter_many`` over its ids with default settings (unless the row
says otherwise) and reports requests sent, amplification, 429s, lost and
duplicated ids, and the elapsed time. ``tests/test_fault_matrix.py`` runs the
same rows and asserts each row's bounds; this command prints the table::

    python -m benchmarks.faults            # every row
    python -m benchmarks.faults outage     # rows whose name contains "outage"
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import Counter
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import telnyx_async
from telnyx_async import Connection, InternalServerError, RateLimitError, TelnyxSession
from telnyx_async._decide import max_throttled_requests
from telnyx_async.testing import FakeTelnyx, Faults


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One row: the server's faults, the client's settings, and what must hold."""

    name: str
    ids: int
    faults: Faults
    session: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 50
    deadline: float | None = None
    limit_rps: float | None = None
    """The server's rate, for the throughput ratio."""
    all_fail: type[BaseException] | None = None
    """Every id must fail with this class (the outage rows); else none may fail."""
    max_429_share: float | None = None
    min_throughput_ratio: float | None = None
    max_amplification: float | None = None
    max_elapsed: float | None = None
    max_requests: int | None = None
    """The most requests the server may see in all (the storm rows)."""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one run did."""

    scenario: Scenario
    requests: int
    responses_429: int
    lost: int
    duplicated: int
    wrong: int
    elapsed: float
    errors: dict[str, int]
    leftover_tasks: int
    texts: tuple[str, ...] = ()
    """str() and repr() of every error yielded, for the key check."""

    @property
    def amplification(self) -> float:
        """Requests at the server per id."""
        return self.requests / self.scenario.ids

    @property
    def share_429(self) -> float:
        """429s as a share of the requests."""
        return self.responses_429 / self.requests if self.requests else 0.0

    @property
    def throughput_ratio(self) -> float | None:
        """Ids completed per second over the server's rate, for the rate-limited rows."""
        if self.scenario.limit_rps is None:
            return None
        return (self.scenario.ids / self.elapsed) / self.scenario.limit_rps

    def violations(self) -> list[str]:
        """Every bound of the row that this run broke (empty: the row holds)."""
        s, bad = self.scenario, []
        if s.all_fail is None and self.lost:
            bad.append(f"{self.lost} ids lost")
        if s.all_fail is not None and self.errors.get(s.all_fail.__name__, 0) != s.ids:
            bad.append(f"not every id failed with {s.all_fail.__name__}: {self.errors}")
        if self.duplicated or self.wrong:
            bad.append(f"{self.duplicated} duplicated, {self.wrong} wrong results")
        if s.max_429_share is not None and self.share_429 > s.max_429_share:
            bad.append(f"429s are {self.share_429:.1%} of requests (max {s.max_429_share:.0%})")
        ratio = self.throughput_ratio
        if (
            s.min_throughput_ratio is not None
            and ratio is not None
            and (ratio < s.min_throughput_ratio)
        ):
            bad.append(f"throughput {ratio:.2f} x the limit (min {s.min_throughput_ratio})")
        if s.max_amplification is not None and self.amplification > s.max_amplification:
            bad.append(f"amplification {self.amplification:.2f} (max {s.max_amplification})")
        if s.max_elapsed is not None and self.elapsed > s.max_elapsed:
            bad.append(f"took {self.elapsed:.2f}s (max {s.max_elapsed}s)")
        if s.max_requests is not None and self.requests > s.max_requests:
            bad.append(f"{self.requests} requests (max {s.max_requests})")
        if self.leftover_tasks:
            bad.append(f"{self.leftover_tasks} tasks left behind")
        return bad


STORM_WAIT = 5.0
"""max_rate_limit_wait of the storm rows (60 s by default: ``--full`` runs them so)."""
STORMS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("Retry-After: 0", {"retry_after": 0.0}),
    ("x-ratelimit-reset: 0", {"retry_after": None, "rate_limit_reset": 0.0}),
    ("no advice", {"retry_after": None}),
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="fixed window 50/s, concurrency 100",
        ids=500,
        faults=Faults(window_limit=50),
        concurrency=100,
        limit_rps=50,
        max_429_share=0.15,
        min_throughput_ratio=0.8,
    ),
    Scenario(
        name="fixed window 200/s, concurrency 50",
        ids=2000,
        faults=Faults(window_limit=200),
        concurrency=50,
        limit_rps=200,
        max_429_share=0.10,
        min_throughput_ratio=0.8,
    ),
    Scenario(
        name="token bucket 100/s, concurrency 200",
        ids=1000,
        faults=Faults(rate_limit_rps=100),
        concurrency=200,
        limit_rps=100,
        max_429_share=0.10,
        min_throughput_ratio=0.8,
    ),
    Scenario(
        name="total outage (every request 503)",
        ids=1000,
        faults=Faults(outage=(0.0, math.inf)),
        all_fail=InternalServerError,
        max_amplification=1.1,
        max_elapsed=10.0,
    ),
    Scenario(
        name="5% transient 5xx / drops",
        ids=5000,
        faults=Faults(error_rate=0.03, drop_rate=0.02),
        session={"max_retries": 5},
        max_amplification=1.1,
    ),
    Scenario(
        name="20% transient 5xx / drops",
        ids=5000,
        faults=Faults(error_rate=0.12, drop_rate=0.08),
        session={"max_retries": 8},
        max_amplification=1.35,
    ),
    Scenario(
        name="timeouts (5% hang past timeout)",
        ids=1000,
        faults=Faults(hang_rate=0.05, hang=2.0),
        session={"timeout": 0.2, "max_retries": 5},
    ),
    *(
        Scenario(
            name=f"leaky bucket {rate}/s burst {burst}, no headers, concurrency 50",
            ids=ids,
            faults=Faults(leaky_bucket=(float(rate), burst)),
            concurrency=50,
            limit_rps=rate,
            max_429_share=0.03,
            min_throughput_ratio=0.9,
        )
        for rate, burst, ids in ((50, 10, 1000), (200, 20, 2000))
    ),
    *(
        Scenario(
            name=f"always 429 with {advice}, {what}, max_rate_limit_wait 5",
            ids=ids,
            faults=Faults(rate_limit_rate=1.0, **faults),
            session={"max_rate_limit_wait": STORM_WAIT},
            all_fail=RateLimitError,
            max_requests=most,
            max_elapsed=STORM_WAIT + (1.0 if ids == 1 else 2.0),
        )
        for ids, what, most in (
            (1, "1 id (get)", max_throttled_requests(STORM_WAIT)),
            # The first burst (one per worker), once more at the first strike's zero
            # floor, then the floor's probes: never one per id.
            (1000, "1,000 ids", 2 * 50 + max_throttled_requests(STORM_WAIT) + 2),
        )
        for advice, faults in STORMS
    ),
    Scenario(
        name="deadline 1.0 vs 503 + Retry-After: 5",
        ids=100,
        faults=Faults(outage=(0.0, math.inf), outage_retry_after=5.0),
        deadline=1.0,
        all_fail=InternalServerError,
        max_elapsed=1.2,
    ),
)


_PACKAGE = str(Path(telnyx_async.__file__).parent)


def _is_ours(task: asyncio.Task[Any]) -> bool:
    """Whether a task runs the library's code (a worker or anything it started)."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_filename.startswith(_PACKAGE)


async def run(scenario: Scenario) -> Outcome:
    """Run one row against a fresh FakeTelnyx and report what happened."""
    async with FakeTelnyx(connections=scenario.ids, seed=7, faults=scenario.faults) as server:
        seen: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        ok_ids: set[str] = set()
        texts: list[str] = []
        wrong = 0
        start = time.perf_counter()
        async with TelnyxSession(
            server.api_key, base_url=server.base_url, **scenario.session
        ) as telnyx:
            results = telnyx.connections.iter_many(
                server.ids, concurrency=scenario.concurrency, deadline=scenario.deadline
            )
            async with aclosing(results):
                async for conn_id, result in results:
                    seen[conn_id] += 1
                    if isinstance(result, Connection):
                        ok_ids.add(conn_id)
                        wrong += result != server.connections[conn_id]
                    else:
                        errors[type(result).__name__] += 1
                        if len(texts) < 200:
                            texts.extend((str(result), repr(result)))
        elapsed = time.perf_counter() - start
        leftover = [t for t in asyncio.all_tasks() if _is_ours(t)]
        answered = ok_ids if scenario.all_fail is None else set(seen)
        return Outcome(
            scenario=scenario,
            requests=server.stats.requests,
            responses_429=server.stats.responses.get(429, 0),
            lost=scenario.ids - len(answered),
            duplicated=sum(n - 1 for n in seen.values() if n > 1),
            wrong=wrong,
            elapsed=elapsed,
            errors=dict(errors),
            leftover_tasks=len(leftover),
            texts=(*texts, repr(telnyx), str(telnyx.stats)),
        )


def table(outcomes: list[Outcome]) -> str:
    """The matrix as a Markdown table."""
    head = (
        "| scenario | ids | requests | amplification | 429s | lost | duplicated "
        "| throughput / limit | elapsed | holds |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for o in outcomes:
        ratio = o.throughput_ratio
        rows.append(
            f"| {o.scenario.name} | {o.scenario.ids:,} | {o.requests:,} | {o.amplification:.2f} "
            f"| {o.responses_429} ({o.share_429:.1%}) | {o.lost} | {o.duplicated} "
            f"| {'-' if ratio is None else f'{ratio:.2f}'} | {o.elapsed:.2f}s "
            f"| {'yes' if not o.violations() else '; '.join(o.violations())} |"
        )
    return head + "\n".join(rows)


async def main(selected: list[str]) -> int:
    """Run the rows (all, or those whose name contains an argument) one after another."""
    outcomes = []
    for scenario in SCENARIOS:
        if selected and not any(word in scenario.name for word in selected):
            continue
        outcomes.append(await run(scenario))
        print(table(outcomes[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(table(outcomes))
    return 1 if any(o.violations() for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
