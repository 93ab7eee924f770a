"""Decode, memory and import-time measurements (each run in a fresh process where it matters)."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

from .server import BODY

DECODE_LOOPS = 100_000


def decode_ns(loops: int = DECODE_LOOPS) -> dict[str, float | None]:
    """Nanoseconds per decode of the example body, for each decoder installed."""
    from .contenders import connection_decoder

    candidates: dict[str, Any] = {
        "json.loads": json.loads,
        "msgspec -> Connection (ours)": connection_decoder(),
    }
    try:
        import orjson

        candidates["orjson.loads"] = orjson.loads
    except ImportError:
        candidates["orjson.loads"] = None
    try:
        from telnyx._models import construct_type
        from telnyx.types.connection_retrieve_response import ConnectionRetrieveResponse

        # What the SDK does with a 200: json.loads, then construct its pydantic model.
        candidates["official SDK (json + pydantic)"] = lambda b: construct_type(
            type_=ConnectionRetrieveResponse, value=json.loads(b)
        )
    except ImportError:
        candidates["official SDK (json + pydantic)"] = None
    results: dict[str, float | None] = {}
    for name, fn in candidates.items():
        if fn is None:
            results[name] = None
            continue
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter_ns()
            for _ in range(loops // 5):
                fn(BODY)
            best = min(best, (time.perf_counter_ns() - start) / (loops // 5))
        results[name] = best
    return results


MEMORY_SCRIPT = """
import asyncio, resource, sys, json
n, mode, url, c = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
from telnyx_async import TelnyxSession, Connection
def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
async def main():
    async with TelnyxSession("k", base_url=url, pool_size=c) as telnyx:
        await telnyx.connections.get("1")
        base = rss_kb()
        ids = (str(i) for i in range(n))
        done = 0
        if mode == "iter_many":
            async for _, r in telnyx.connections.iter_many(ids, concurrency=c):
                done += isinstance(r, Connection)
        else:
            sem = asyncio.Semaphore(c)
            async def one(i):
                async with sem:
                    await telnyx.connections.get(i)
                    return 1
            done = sum(await asyncio.gather(*[one(i) for i in ids]))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"done": done, "base_kb": base, "peak_kb": peak}))
asyncio.run(main())
"""


def memory(url: str, n: int, mode: str, c: int = 64, core: int | None = None) -> dict[str, Any]:
    """Peak RSS growth of looking up ``n`` ids from a generator, in a fresh process."""
    cmd = [sys.executable, "-c", MEMORY_SCRIPT, str(n), mode, url, str(c)]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    result.update(n=n, mode=mode, seconds=time.perf_counter() - start)
    result["growth_mb"] = (result["peak_kb"] - result["base_kb"]) / 1024
    return result


def import_cost(module: str, runs: int = 5) -> dict[str, Any] | None:
    """Median wall time of ``import module`` in a fresh interpreter, and modules it loads."""
    code = (
        "import sys, time; n = len(sys.modules); t = time.perf_counter(); "
        f"import {module}; print(time.perf_counter() - t, len(sys.modules) - n)"
    )
    times, modules = [], 0
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            return None
        seconds, modules_text = out.stdout.split()
        times.append(float(seconds))
        modules = int(modules_text)
    importtime = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    ).stderr
    self_us = sum(int(m) for m in re.findall(r"import time:\s+(\d+) \|", importtime))
    return {
        "module": module,
        "seconds": statistics.median(times),
        "modules": modules,
        "importtime_self_total_s": self_us / 1e6,
    }
