"""Profile the per-request path: ``python -m benchmarks.profile [--n 20000] [--c 16] [--https]``.

Runs ours (``iter_many``) and bare aiohttp against the local benchmark server
under cProfile and prints, for each, the total client time, the share of it
spent in each package's Python frames (our own, aiohttp, asyncio, ssl, ...) and
the per-request cost of the contender's own frames. Only a warm pass is
profiled: the client is opened and runs ``min(n, 2000)`` requests first, so
connection set-up (and TLS handshakes) stay out of the profile.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
from collections import defaultdict

from .contenders import CONTENDERS, client_context
from .server import BenchServer

OWN_FILES = ("telnyx_async", "benchmarks")
PACKAGES = ("telnyx_async", "benchmarks", "aiohttp", "asyncio", "yarl", "multidict", "ssl", "json")


def package(file: str) -> str:
    """The package a profiled frame belongs to ("C" for built-ins without a file)."""
    if file == "~":
        return "C built-ins"
    parts = file.replace("\\", "/").split("/")
    if parts[-1] == "sslproto.py":
        return "asyncio.sslproto (TLS in Python)"
    for name in PACKAGES:
        if name in parts or f"{name}.py" in parts:
            return name
    return "other"


async def _profiled(name: str, url: str, n: int, c: int, ca: str | None) -> pstats.Stats:
    async with CONTENDERS[name](url, c, client_context(ca)) as run:
        await run(min(n, 2_000))  # warm up: first connections, handshakes, caches
        profiler = cProfile.Profile()
        profiler.enable()
        await run(n)
        profiler.disable()
    return pstats.Stats(profiler)


def profile(name: str, url: str, n: int, c: int, ca: str | None) -> None:
    stats = asyncio.run(_profiled(name, url, n, c, ca))
    entries = stats.stats.items()  # type: ignore[attr-defined]
    own = {
        f"{file.rsplit('/', 1)[-1]}:{func}": tottime
        for (file, _, func), (_, _, tottime, _, _) in entries
        if any(part in file for part in OWN_FILES)
    }
    by_package: dict[str, float] = defaultdict(float)
    for (file, _, _), (_, _, tottime, _, _) in entries:
        by_package[package(file)] += tottime
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{name}: {total:.2f} s profiled, own frames {sum(own.values()) / total:.1%}")
    shares = sorted(by_package.items(), key=lambda kv: -kv[1])
    print("    by package: " + ", ".join(f"{k} {v / total:.0%}" for k, v in shares))
    for where, seconds in sorted(own.items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {where:42s} {seconds / n * 1e6:6.2f} us/request")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--c", type=int, default=16)
    parser.add_argument("--https", action="store_true", help="profile over TLS")
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
        url = server.https_url if args.https else server.url
        ca = str(server.ca_file) if args.https else None
        for name in args.contenders:
            profile(name, url, args.n, args.c, ca)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
