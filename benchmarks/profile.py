"""Profile the per-request path: ``python -m benchmarks.profile [--n 20000] [--c 16]``.

Runs ours (``iter_many``) and bare aiohttp against the local benchmark server
under cProfile and prints, for each, the total client time and the share and
per-request cost of the contender's own Python frames (everything else is
aiohttp and the event loop, the same code for both).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats

from .contenders import CONTENDERS
from .server import BenchServer

OWN_FILES = ("telnyx_async", "benchmarks")


def profile(name: str, url: str, n: int, c: int) -> None:
    run = CONTENDERS[name]
    asyncio.run(run(url, min(n, 2_000), c))  # warm up: imports, first connections
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(run(url, n, c))
    profiler.disable()
    stats = pstats.Stats(profiler)
    own = {
        f"{file.rsplit('/', 1)[-1]}:{func}": tottime
        for (file, _, func), (_, _, tottime, _, _) in stats.stats.items()  # type: ignore[attr-defined]
        if any(part in file for part in OWN_FILES)
    }
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{name}: {total:.2f} s profiled, own frames {sum(own.values()) / total:.1%}")
    for where, seconds in sorted(own.items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {where:42s} {seconds / n * 1e6:6.2f} us/request")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--c", type=int, default=16)
    parser.add_argument(
        "contenders", nargs="*", default=["ours iter_many", "bare aiohttp + json.loads"]
    )
    args = parser.parse_args()
    two_cores = (os.cpu_count() or 1) >= 2
    server = BenchServer(core=0 if two_cores else None)
    server.start()
    try:
        if two_cores:
            os.sched_setaffinity(0, {1})
        for name in args.contenders:
            profile(name, server.url, args.n, args.c)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
