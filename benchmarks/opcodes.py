"""Python bytecodes per request, by package and function: ``python -m benchmarks.opcodes``.

callgrind sees the interpreter's C functions, not which Python function it was
running; this counts the bytecode instructions each Python function executes
(``sys.settrace`` with ``f_trace_opcodes``) over a warm pass of ``--n`` requests
on an open client, after a warm-up pass of ``3 * C`` (so no connection is opened
while counting). Like instruction counts, the figures do not depend on the
machine's load; a bytecode costs about 25-35 machine instructions on CPython 3.11,
so the tables say where the interpreter's share of the callgrind counts goes.
Tracing makes the run ~50x slower: keep ``--n`` in the hundreds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from types import FrameType
from typing import Any

from .contenders import CONTENDERS, client_context
from .server import BenchServer

Key = tuple[str, int, str]


def where(filename: str) -> str:
    """A short name for a source file: a package path or ``stdlib:module``."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    for marker in ("/telnyx_async/", "/benchmarks/"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.split(marker, 1)[1]
    if "/lib/python3" in filename:
        return "stdlib:" + filename.split("/lib/python3", 1)[1].split("/", 1)[1]
    return filename


def package(short: str) -> str:
    if short.startswith("stdlib:"):
        return "stdlib:" + short[7:].split("/")[0].removesuffix(".py")
    return short.split("/")[0]


async def _count(name: str, url: str, ca: str | None, n: int, c: int) -> Counter[Key]:
    counts: Counter[Key] = Counter()

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            counts[(where(code.co_filename), code.co_firstlineno, code.co_name)] += 1
        return tracer

    async with CONTENDERS[name](url, c, client_context(ca)) as run:
        await run(3 * c)
        sys.settrace(tracer)
        try:
            await run(n)
        finally:
            sys.settrace(None)
    return counts


def report(name: str, protocol: str, counts: Counter[Key], n: int, top: int) -> None:
    total = sum(counts.values()) / n
    print(f"\n### {name}, {protocol.upper()}: {total:,.0f} bytecodes per request\n")
    by_package: Counter[str] = Counter()
    for (short, _, _), value in counts.items():
        by_package[package(short)] += value
    print("| package | bytecodes/request |\n|---|---|")
    for pkg, value in by_package.most_common():
        if value / n >= 1:
            print(f"| {pkg} | {value / n:,.0f} |")
    own = [(v, k) for k, v in counts.items() if k[0].startswith(("telnyx_async", "benchmarks"))]
    print(f"\n| our own function (top {top}) | bytecodes/request |\n|---|---|")
    for value, (short, line, func) in sorted(own, reverse=True)[:top]:
        print(f"| `{short}:{line} {func}` | {value / n:,.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.opcodes", description=__doc__)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--c", type=int, default=64)
    parser.add_argument("--https", action="store_true", help="over TLS")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "contenders", nargs="*", default=["ours gather_many", "bare aiohttp + json.loads"]
    )
    args = parser.parse_args()
    protocol = "https" if args.https else "http"
    server = BenchServer(core=0 if (os.cpu_count() or 1) >= 2 else None)
    server.start()
    try:
        ca = str(server.ca_file) if args.https else None
        results = {
            name: asyncio.run(_count(name, server.base_url(protocol), ca, args.n, args.c))
            for name in args.contenders
        }
    finally:
        server.stop()
    for name, counts in results.items():
        report(name, protocol, counts, args.n, args.top)


if __name__ == "__main__":
    main()
