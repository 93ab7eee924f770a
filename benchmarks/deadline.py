"""How late a bulk call with ``deadline=`` returns, by batch size.

``gather_many(ids, return_exceptions=True, deadline=D)`` and ``iter_many(ids,
deadline=D)`` over distinct ids against the benchmark server (nginx, else aiohttp.web
in its own process), up to far more ids than fit in ``D``. The table gives when
the call returned (median and worst of the rounds), how many ids were answered
in time, and the time past ``D`` divided by the ids the deadline left unstarted
(each gets its own ``APITimeoutError``)::

    python -m benchmarks.deadline                  # 2,000 / 20,000 / 200,000 ids
    python -m benchmarks.deadline --ids 5000 --rounds 5 --deadline 0.25
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from telnyx_async import APITimeoutError, TelnyxSession

from .server import BenchServer


@dataclass(frozen=True)
class Round:
    """One call: its overshoot past the deadline and the ids answered in time."""

    overshoot: float
    answered: int
    timed_out: int


async def _one(base_url: str, way: str, n: int, deadline: float) -> Round:
    ids = [str(10**18 + i) for i in range(n)]
    async with TelnyxSession("KEY-bench", base_url=base_url) as telnyx:
        started = time.perf_counter()
        if way == "gather_many":
            results = await telnyx.connections.gather_many(
                ids, return_exceptions=True, deadline=deadline
            )
        else:
            results = [r async for _, r in telnyx.connections.iter_many(ids, deadline=deadline)]
        elapsed = time.perf_counter() - started
    timed_out = sum(isinstance(r, APITimeoutError) for r in results)
    assert len(results) == n, (len(results), n)  # nothing lost past the deadline
    return Round(elapsed - deadline, n - timed_out, timed_out)


def table(rows: list[tuple[str, int, list[Round]]], deadline: float) -> str:
    """The Markdown table of the runs: when each call returned, and its cost per id left."""
    lines = [
        f"| call (deadline {deadline:g} s) | ids | answered in time | returned after, median "
        "| worst | past the deadline per id left |",
        "|---|---|---|---|---|---|",
    ]
    for way, n, rounds in rows:
        late = sorted(r.overshoot for r in rounds)
        middle = rounds[[r.overshoot for r in rounds].index(late[len(late) // 2])]
        per_id = (
            f"{middle.overshoot / middle.timed_out * 1e6:.1f} µs"
            if middle.timed_out and middle.overshoot > 0
            else "-"
        )
        lines.append(
            f"| {way} | {n:,} | {middle.answered:,} | {deadline + middle.overshoot:.2f} s "
            f"| {deadline + late[-1]:.2f} s | {per_id} |"
        )
    return "\n".join(lines)


async def _main(sizes: list[int], rounds: int, deadline: float) -> str:
    server = BenchServer(core=1)
    server.start()
    try:
        rows = []
        for way in ("gather_many", "iter_many"):
            for n in sizes:
                runs = [await _one(server.url, way, n, deadline) for _ in range(rounds)]
                rows.append((way, n, runs))
        return f"server: {server.kind}\n\n" + table(rows, deadline)
    finally:
        server.stop()


def main() -> None:
    """Run the measurement and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, nargs="+", default=[2_000, 20_000, 200_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deadline", type=float, default=0.5)
    args = parser.parse_args()
    print(asyncio.run(_main(args.ids, args.rounds, args.deadline)))


if __name__ == "__main__":
    main()
