"""Run every benchmark and print/record the results: ``python -m benchmarks [--quick]``.

Throughput: each contender in a fresh process, all fetching the same ids at the
same concurrency from one local server, interleaved over several rounds
(medians reported, with min and max). Client and server are pinned to
different cores when there are two. Also: decode cost, memory of bulk lookups,
and import cost. Results: a table on stdout, ``benchmarks/results/latest.json``,
``docs/benchmarks.png`` and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

from .contenders import CONTENDERS, available
from .micro import decode_ns, import_cost, memory
from .server import BenchServer

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "bare aiohttp + json.loads"
BASELINE_KEPT = "bare aiohttp + json.loads, results kept"
SDK = "official SDK (httpx)"
OURS = ("ours gather_many", "ours iter_many", "ours get + semaphore")
UVLOOP_RUNS = (("ours iter_many", "uvloop"), (BASELINE, "uvloop"))


def label(name: str, loop: str) -> str:
    return f"{name} [uvloop]" if loop == "uvloop" else name


def run_contender(
    name: str, loop: str, server: BenchServer, n: int, c: int, core: int | None
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.contenders", name, server.url, str(n), str(c)]
    cmd += ["--loop", loop, "--core", str(-1 if core is None else core)]
    cpu0 = server.cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    if out.returncode:
        raise RuntimeError(f"{label(name, loop)} failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    result["server_busy"] = (server.cpu() - cpu0) / result["elapsed"]
    return result


def throughput(
    args: argparse.Namespace, server: BenchServer, client_core: int | None
) -> list[dict[str, Any]]:
    runs = [(name, "asyncio") for name in CONTENDERS] + list(UVLOOP_RUNS)
    runs = [(n, lp) for n, lp in runs if available(n, lp)]
    if args.only:
        runs = [(n, lp) for n, lp in runs if any(o in label(n, lp) for o in args.only)]
    samples: dict[tuple[str, int, int], list[dict[str, Any]]] = defaultdict(list)
    for round_no in range(args.rounds):
        for n in args.n:
            for c in args.c:
                # Rotate the order each round so no contender always runs first.
                shift = round_no % len(runs)
                for name, loop in runs[shift:] + runs[:shift]:
                    if n > args.sdk_max_n and name.startswith("official SDK"):
                        continue
                    result = run_contender(name, loop, server, n, c, client_core)
                    samples[(label(name, loop), n, c)].append(result)
                    rate = n / result["elapsed"]
                    print(
                        f"  round {round_no + 1}/{args.rounds} N={n} C={c} "
                        f"{label(name, loop)}: {rate:,.0f} req/s",
                        file=sys.stderr,
                        flush=True,
                    )
    rows = []
    for (name, n, c), results in samples.items():
        rates = [n / r["elapsed"] for r in results]
        rows.append(
            {
                "contender": name,
                "n": n,
                "c": c,
                "rounds": len(results),
                "rps_median": statistics.median(rates),
                "rps_min": min(rates),
                "rps_max": max(rates),
                "cpu_us_per_request": statistics.median(r["cpu"] / n * 1e6 for r in results),
                "rss_peak_mb": statistics.median(r["rss_peak_kb"] for r in results) / 1024,
                "server_busy": statistics.median(r["server_busy"] for r in results),
                "client_busy": statistics.median(r["cpu"] / r["elapsed"] for r in results),
            }
        )
    by_key = {(r["contender"], r["n"], r["c"]): r for r in rows}
    for row in rows:
        for ref, key in ((BASELINE, "vs_bare"), (BASELINE_KEPT, "vs_bare_kept"), (SDK, "vs_sdk")):
            other = by_key.get((ref, row["n"], row["c"]))
            row[key] = row["rps_median"] / other["rps_median"] if other else None
        bare = by_key.get((BASELINE, row["n"], row["c"]))
        row["cpu_vs_bare"] = (
            row["cpu_us_per_request"] / bare["cpu_us_per_request"] if bare else None
        )
    rows.sort(key=lambda r: (r["n"], r["c"], -r["rps_median"]))
    return rows


def fmt_ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def throughput_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| N | C | contender | req/s median | min | max | CPU us/req | peak RSS MB "
        "| ours/bare | CPU vs bare | /bare kept | /official SDK |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['c']} | {r['contender']} | {r['rps_median']:,.0f} "
            f"| {r['rps_min']:,.0f} | {r['rps_max']:,.0f} | {r['cpu_us_per_request']:,.0f} "
            f"| {r['rss_peak_mb']:.0f} | {fmt_ratio(r['vs_bare'])} | {fmt_ratio(r['cpu_vs_bare'])} "
            f"| {fmt_ratio(r['vs_bare_kept'])} | {fmt_ratio(r['vs_sdk'])} |"
        )
    return "\n".join(lines)


def decode_table(results: dict[str, float | None]) -> str:
    ours = results["msgspec -> Connection (ours)"]
    lines = ["| decoder | ns per decode | vs ours |", "|---|---|---|"]
    for name, ns in sorted(results.items(), key=lambda kv: kv[1] or float("inf")):
        if ns is None:
            lines.append(f"| {name} | not installed | - |")
        else:
            lines.append(f"| {name} | {ns:,.0f} | {ns / ours:.1f}x |" if ours else "")
    return "\n".join(lines)


def memory_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| pattern | ids | peak RSS growth MB | bytes per id | seconds |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        per_id = r["growth_mb"] * 1024 * 1024 / r["n"]
        lines.append(
            f"| {r['mode']} | {r['n']:,} | {r['growth_mb']:.1f} | {per_id:,.0f} "
            f"| {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def import_table(results: list[dict[str, Any]]) -> str:
    lines = ["| import | seconds (median of 5) | modules loaded |", "|---|---|---|"]
    for r in results:
        lines.append(f"| `import {r['module']}` | {r['seconds']:.3f} | {r['modules']:,} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    versions: dict[str, str | None] = {}
    for dist in ("telnyx-async", "aiohttp", "msgspec", "telnyx", "httpx", "pydantic", "uvloop"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def chart(rows: list[dict[str, Any]], path: Path, n: int) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    chosen = [r for r in rows if r["n"] == n]
    if not chosen:
        return False
    cs = sorted({r["c"] for r in chosen})
    names = sorted({r["contender"] for r in chosen}, key=lambda s: (not s.startswith("ours"), s))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        rps = [
            next((r["rps_median"] for r in chosen if r["contender"] == name and r["c"] == c), 0)
            for c in cs
        ]
        cpu = [
            next(
                (r["cpu_us_per_request"] for r in chosen if r["contender"] == name and r["c"] == c),
                0,
            )
            for c in cs
        ]
        xs = [x + i * width for x in range(len(cs))]
        top.bar(xs, rps, width, label=name)
        bottom.bar(xs, cpu, width, label=name)
    for ax, title in (
        (top, f"requests/s (median), N={n:,}"),
        (bottom, "client CPU us per request (lower is better)"),
    ):
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(cs))], [f"C={c}" for c in cs])
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    bottom.set_yscale("log")
    # Head room above the bars so the legend never covers one.
    top.set_ylim(0, 1.45 * max(r["rps_median"] for r in chosen))
    top.legend(fontsize=8, ncol=3, loc="upper center")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return True


def write_docs(report: dict[str, Any], tables: dict[str, str], chart_ok: bool) -> None:
    m = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    text = f"""# Benchmarks

Generated by `{report["command"]}` on {report["date"]} (this file is rewritten by each full run).

Machine: {m["cpu"]}, {m["cores"]} cores, Python {m["python"]}, {m["platform"]}.
Versions: {versions}.

Server: **{report["server"]}** serving the spec's example body with keep-alive on 127.0.0.1,
pinned to core {report["server_core"]}; each client runs in a fresh process pinned to core
{report["client_core"]}. {report["rounds"]} interleaved rounds; medians, with min and max.
"CPU us/req" is the client process's CPU time per request; "ours/bare" divides a contender's
median throughput by bare aiohttp + `json.loads` at the same N and C; "CPU vs bare" divides the
CPU per request the same way (lower is better); "/bare kept" divides by bare aiohttp that keeps
every decoded result in a list, which is what `gather_many` does (the plain bare contender
drops each result once decoded).

{"![throughput and CPU per request](benchmarks.png)" if chart_ok else ""}

## Throughput

{tables["throughput"]}

Bare aiohttp is a fixed pool of C worker tasks over one `aiohttp.ClientSession` (headers set
on the session, `resp.read()` then `json.loads` or the msgspec decoder): the practical floor of
any aiohttp-based client. The official SDK runs the same worker pool over
`client.connections.retrieve`, with its default httpx transport and with `DefaultAioHttpClient`.

## Decoding the example body

{tables["decode"]}

## Memory of bulk lookups (ids from a generator, C=64)

{tables["memory"]}

## Import cost

{tables["imports"]}

## Analysis

What the figures mean, the profile of the remaining cost, and what each optimisation
bought: [performance.md](performance.md).
"""
    (ROOT / "docs" / "benchmarks.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (small N, 1 round)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--c", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--sdk-max-n", type=int, default=20_000, help="skip the SDK above this N")
    parser.add_argument("--memory-n", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--naive-n", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--server", choices=["auto", "nginx", "aiohttp"], default="auto")
    parser.add_argument("--only", nargs="+", help="contenders whose name contains one of these")
    parser.add_argument(
        "--skip", nargs="+", default=[], choices=["throughput", "decode", "memory", "imports"]
    )
    parser.add_argument("--no-write", action="store_true", help="print only; write no files")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.n, args.c = 1, [300], [16]
        args.memory_n, args.naive_n = [2_000], [2_000]

    two_cores = (os.cpu_count() or 1) >= 2
    server_core, client_core = (0, 1) if two_cores else (None, None)
    server = BenchServer(kind=args.server, core=server_core)
    server.start()
    report: dict[str, Any] = {
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "server": server.kind,
        "server_core": server_core,
        "client_core": client_core,
        "rounds": args.rounds,
    }
    tables: dict[str, str] = {}
    try:
        print(
            f"server: {server.kind} at {server.url} (core {server_core}); "
            f"clients on core {client_core}",
            file=sys.stderr,
        )
        if "throughput" not in args.skip:
            report["throughput"] = throughput(args, server, client_core)
            tables["throughput"] = throughput_table(report["throughput"])
        if "memory" not in args.skip:
            report["memory"] = [
                memory(server.url, n, "iter_many", core=client_core) for n in args.memory_n
            ]
            report["memory"] += [
                memory(server.url, n, "naive gather", core=client_core) for n in args.naive_n
            ]
            tables["memory"] = memory_table(report["memory"])
    finally:
        server.stop()
    if "decode" not in args.skip:
        report["decode_ns"] = decode_ns(1_000 if args.quick else 100_000)
        tables["decode"] = decode_table(report["decode_ns"])
    if "imports" not in args.skip:
        report["imports"] = [
            r
            for m in ("telnyx_async", "aiohttp, msgspec", "telnyx")
            if (r := import_cost(m, 1 if args.quick else 5))
        ]
        tables["imports"] = import_table(report["imports"])

    for title, table in tables.items():
        print(f"\n## {title}\n\n{table}")
    if not args.no_write:
        results = ROOT / "benchmarks" / "results"
        results.mkdir(exist_ok=True)
        (results / "latest.json").write_text(json.dumps(report, indent=2))
        n_chart = max(args.n)
        chart_ok = "throughput" in report and chart(
            report["throughput"], ROOT / "docs" / "benchmarks.png", n_chart
        )
        if len(tables) == 4:
            write_docs(report, tables, chart_ok)
        print(
            f"\nwrote {results / 'latest.json'}"
            + (" and docs/benchmarks.md" if len(tables) == 4 else ""),
            file=sys.stderr,
        )
    return 0
