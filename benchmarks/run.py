"""Run every benchmark and print/record the results: ``python -m benchmarks [--quick]``.

Throughput: each contender in a fresh process, all fetching the same ids at the
same concurrency from one local server, over plain HTTP and over HTTPS (TLS 1.3,
a throwaway CA), interleaved over several rounds (medians reported, with min and
max). Client and server are pinned to different cores when there are two.
Connection set-up: a cold pass of ``--setup-n`` requests (client and connections
opened inside it) against a warm second pass on the same client. Also: decode
cost, memory of bulk lookups, and import cost. Results: tables on stdout,
``benchmarks/results/latest.json``, ``docs/benchmarks.png`` and
``docs/benchmarks.md``. Instruction counts: ``python -m benchmarks.instructions``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shlex
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
SDK_AIOHTTP = "official SDK (aiohttp)"
OURS = ("ours gather_many", "ours iter_many", "ours get + semaphore")
UVLOOP_RUNS = (("ours gather_many", "uvloop"), ("ours iter_many", "uvloop"), (BASELINE, "uvloop"))
# The connection set-up table: the contenders issue #12 names, on both loops.
SETUP_RUNS = (
    (BASELINE, "asyncio"),
    ("ours gather_many", "asyncio"),
    ("ours iter_many", "asyncio"),
    (SDK, "asyncio"),
    (SDK_AIOHTTP, "asyncio"),
    *UVLOOP_RUNS,
)
PROTOCOLS = ("http", "https")


def label(name: str, loop: str) -> str:
    return f"{name} [uvloop]" if loop == "uvloop" else name


def run_contender(
    name: str,
    loop: str,
    server: BenchServer,
    n: int,
    c: int,
    core: int | None,
    protocol: str = "http",
    passes: int = 1,
) -> dict[str, Any]:
    url = server.base_url(protocol)
    cmd = [sys.executable, "-m", "benchmarks.contenders", name, url, str(n), str(c)]
    cmd += ["--loop", loop, "--core", str(-1 if core is None else core), "--passes", str(passes)]
    if protocol == "https":
        cmd += ["--ca", str(server.ca_file)]
    cpu0 = server.cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800)
    if out.returncode:
        raise RuntimeError(f"{label(name, loop)} failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    result["server_busy"] = (server.cpu() - cpu0) / result["elapsed"]
    return result


def selected(args: argparse.Namespace, runs: Any) -> list[tuple[str, str]]:
    chosen = [(n, lp) for n, lp in runs if available(n, lp)]
    if args.only:
        chosen = [(n, lp) for n, lp in chosen if any(o in label(n, lp) for o in args.only)]
    return chosen


def throughput(
    args: argparse.Namespace, server: BenchServer, client_core: int | None
) -> list[dict[str, Any]]:
    runs = selected(args, [(name, "asyncio") for name in CONTENDERS] + list(UVLOOP_RUNS))
    samples: dict[tuple[str, str, int, int], list[dict[str, Any]]] = defaultdict(list)
    for round_no in range(args.rounds):
        for protocol in args.protocols:
            for n in args.n:
                for c in args.c:
                    # Rotate the order each round so no contender always runs first.
                    shift = round_no % len(runs)
                    for name, loop in runs[shift:] + runs[:shift]:
                        if n > args.sdk_max_n and name.startswith("official SDK"):
                            continue
                        result = run_contender(name, loop, server, n, c, client_core, protocol)
                        samples[(label(name, loop), protocol, n, c)].append(result)
                        rate = n / result["elapsed"]
                        print(
                            f"  round {round_no + 1}/{args.rounds} {protocol} N={n} C={c} "
                            f"{label(name, loop)}: {rate:,.0f} req/s",
                            file=sys.stderr,
                            flush=True,
                        )
    rows = []
    for (name, protocol, n, c), results in samples.items():
        rates = [n / r["elapsed"] for r in results]
        rows.append(
            {
                "protocol": protocol,
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
    by_key = {(r["contender"], r["protocol"], r["n"], r["c"]): r for r in rows}
    for row in rows:
        cell = (row["protocol"], row["n"], row["c"])
        for ref, key in (
            (BASELINE, "vs_bare"),
            (BASELINE_KEPT, "vs_bare_kept"),
            (SDK, "vs_sdk"),
            (SDK_AIOHTTP, "vs_sdk_aiohttp"),
        ):
            other = by_key.get((ref, *cell))
            row[key] = row["rps_median"] / other["rps_median"] if other else None
        bare = by_key.get((BASELINE, *cell))
        row["cpu_vs_bare"] = (
            row["cpu_us_per_request"] / bare["cpu_us_per_request"] if bare else None
        )
    rows.sort(key=lambda r: (r["protocol"], r["n"], r["c"], -r["rps_median"]))
    return rows


def setup_cost(
    args: argparse.Namespace, server: BenchServer, client_core: int | None
) -> list[dict[str, Any]]:
    """Cold pass (client and connections opened inside it) vs warm pass, ``--setup-n`` each."""
    runs = selected(args, SETUP_RUNS)
    if args.quick:
        runs = [r for r in runs if r in ((BASELINE, "asyncio"), ("ours iter_many", "asyncio"))]
    n = args.setup_n
    samples: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for round_no in range(args.setup_rounds):
        for protocol in args.protocols:
            for c in args.c:
                shift = round_no % len(runs)
                for name, loop in runs[shift:] + runs[:shift]:
                    result = run_contender(
                        name, loop, server, n, c, client_core, protocol, passes=2
                    )
                    samples[(label(name, loop), protocol, c)].append(result)
                    cold, warm = result["passes"]
                    print(
                        f"  set-up round {round_no + 1}/{args.setup_rounds} {protocol} C={c} "
                        f"{label(name, loop)}: cold {n / cold['elapsed']:,.0f} req/s, "
                        f"warm {n / warm['elapsed']:,.0f} req/s",
                        file=sys.stderr,
                        flush=True,
                    )
    rows = []
    for (name, protocol, c), results in samples.items():
        cold = [r["passes"][0] for r in results]
        warm = [r["passes"][1] for r in results]
        cold_cpu = statistics.median(p["cpu"] for p in cold)
        warm_cpu = statistics.median(p["cpu"] for p in warm)
        rows.append(
            {
                "protocol": protocol,
                "contender": name,
                "n": n,
                "c": c,
                "rounds": len(results),
                "cold_rps": statistics.median(n / p["elapsed"] for p in cold),
                "warm_rps": statistics.median(n / p["elapsed"] for p in warm),
                "cold_ms": statistics.median(p["elapsed"] for p in cold) * 1e3,
                "warm_ms": statistics.median(p["elapsed"] for p in warm) * 1e3,
                "cold_cpu_us_per_request": cold_cpu / n * 1e6,
                "warm_cpu_us_per_request": warm_cpu / n * 1e6,
                "opened": statistics.median(p["opened"] for p in cold),
                "warm_opened": statistics.median(p["opened"] for p in warm),
                # The extra CPU of the cold pass, spread over the connections it opened.
                "setup_cpu_us_per_connection": (cold_cpu - warm_cpu)
                / max(statistics.median(p["opened"] for p in cold), 1)
                * 1e6,
            }
        )
    rows.sort(key=lambda r: (r["protocol"], r["c"], r["contender"]))
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


def _field(row: dict[str, Any] | None, key: str, fmt: str = ",.0f") -> str:
    value = None if row is None else row.get(key)
    if value is None:
        return "-"
    return fmt_ratio(value) if fmt == "x" else format(value, fmt)


def side_by_side_table(rows: list[dict[str, Any]], n: int) -> str:
    """HTTP beside HTTPS for each contender and C, at one N (fastest over HTTPS first)."""
    at_n = [r for r in rows if r["n"] == n]
    cells = {(r["contender"], r["protocol"], r["c"]): r for r in at_n}
    lines = [
        "| C | contender | HTTP req/s | HTTPS req/s | HTTPS/HTTP | HTTP CPU us/req "
        "| HTTPS CPU us/req | HTTP /bare | HTTPS /bare | HTTPS CPU vs bare "
        "| HTTPS /SDK httpx | HTTPS /SDK aiohttp |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in sorted({r["c"] for r in at_n}):
        names = {r["contender"] for r in at_n if r["c"] == c}

        def speed(name: str, c: int = c) -> float:
            row = cells.get((name, "https", c)) or cells[(name, "http", c)]
            return -float(row["rps_median"])

        for name in sorted(names, key=speed):
            http, https = cells.get((name, "http", c)), cells.get((name, "https", c))
            ratio = fmt_ratio(https["rps_median"] / http["rps_median"]) if http and https else "-"
            lines.append(
                f"| {c} | {name} | {_field(http, 'rps_median')} | {_field(https, 'rps_median')} "
                f"| {ratio} | {_field(http, 'cpu_us_per_request')} "
                f"| {_field(https, 'cpu_us_per_request')} | {_field(http, 'vs_bare', 'x')} "
                f"| {_field(https, 'vs_bare', 'x')} | {_field(https, 'cpu_vs_bare', 'x')} "
                f"| {_field(https, 'vs_sdk', 'x')} | {_field(https, 'vs_sdk_aiohttp', 'x')} |"
            )
    return "\n".join(lines)


def setup_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| protocol | C | contender | cold req/s | warm req/s | cold ms | warm ms "
        "| cold CPU us/req | warm CPU us/req | connections opened cold / warm "
        "| set-up CPU us per connection |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['protocol'].upper()} | {r['c']} | {r['contender']} | {r['cold_rps']:,.0f} "
            f"| {r['warm_rps']:,.0f} | {r['cold_ms']:,.0f} | {r['warm_ms']:,.0f} "
            f"| {r['cold_cpu_us_per_request']:,.0f} | {r['warm_cpu_us_per_request']:,.0f} "
            f"| {r['opened']:.0f} / {r['warm_opened']:.0f} "
            f"| {r['setup_cpu_us_per_connection']:,.0f} |"
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
    """Requests/s and client CPU per request, one panel each per protocol, stacked.

    Drawn for the docs' content column (about 800 px at a 1280 px window): 900 px
    wide, one legend for all panels, a colour per contender (tab20, ours first).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    chosen = [r for r in rows if r["n"] == n]
    if not chosen:
        return False
    protocols = [p for p in PROTOCOLS if any(r["protocol"] == p for r in chosen)]
    cs = sorted({r["c"] for r in chosen})
    names = sorted({r["contender"] for r in chosen}, key=lambda s: (not s.startswith("ours"), s))
    tab20 = plt.get_cmap("tab20")
    colours = [tab20(i) for i in range(20)]  # 20 distinct colours: one per contender
    panels = [(p, metric) for metric in ("rps", "cpu") for p in protocols]
    with plt.rc_context({"font.size": 12}):
        fig, axes = plt.subplots(
            len(panels), 1, figsize=(9, 3.4 * len(panels) + 1.6), squeeze=False
        )
        width = 0.8 / len(names)
        top_rps = 1.1 * max(r["rps_median"] for r in chosen)
        cpu_max = max(r["cpu_us_per_request"] for r in chosen)
        cpu_min = min(r["cpu_us_per_request"] for r in chosen)
        for ax, (protocol, metric) in zip((row[0] for row in axes), panels, strict=True):
            cell = {(r["contender"], r["c"]): r for r in chosen if r["protocol"] == protocol}
            key = "rps_median" if metric == "rps" else "cpu_us_per_request"
            for i, name in enumerate(names):
                values = [cell[(name, c)][key] if (name, c) in cell else 0 for c in cs]
                xs = [x + i * width for x in range(len(cs))]
                ax.bar(xs, values, width, label=name, color=colours[i % len(colours)])
            ax.set_xticks([x + 0.4 - width / 2 for x in range(len(cs))], [f"C={c}" for c in cs])
            ax.grid(axis="y", alpha=0.3)
            if metric == "rps":
                ax.set_title(f"{protocol.upper()}: requests/s (median, higher is better), N={n:,}")
                ax.set_ylim(0, top_rps)
            else:
                ax.set_title(f"{protocol.upper()}: client CPU µs per request (lower is better)")
                ax.set_yscale("log")
                # The same scale in every CPU panel, so HTTP and HTTPS compare by eye.
                ax.set_ylim(cpu_min / 2, cpu_max * 2)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=2, frameon=False, fontsize=11)
        legend_rows = -(-len(names) // 2)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.26 * legend_rows / fig.get_figheight()))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return True


KEEP = re.compile(r"<!-- keep:(?P<name>[\w-]+) -->.*?<!-- /keep:(?P=name) -->", re.S)


def kept_blocks(path: Path) -> dict[str, str]:
    """Blocks of a generated page written by other commands, to carry over on a rewrite."""
    text = path.read_text() if path.exists() else ""
    return {m["name"]: m[0] for m in KEEP.finditer(text)}


def write_docs(report: dict[str, Any], tables: dict[str, str], chart_ok: bool) -> None:
    m = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    page = ROOT / "docs" / "benchmarks.md"
    kept = kept_blocks(page)
    n = max(report["n"])
    detail = "\n\n".join(
        f"### {protocol.upper()}\n\n{tables[f'throughput {protocol}']}"
        for protocol in report["protocols"]
    )
    text = f"""# Benchmarks

Generated by `{report["command"]}` on {report["date"]} (this file is rewritten by each full run;
the instruction counts, written by `python -m benchmarks.instructions`, and the listing section
are carried over).

Machine: {m["cpu"]}, {m["cores"]} cores, Python {m["python"]}, {m["platform"]}.
Versions: {versions}.
**A shared machine**: other jobs ran test suites on the same 2 cores during this run, so
absolute numbers are low and noisy (10-15% from round to round); the ratios between
contenders of one run are what count. For figures that load does not move, see the
instruction counts below.

Server: **{report["server"]}** serving the spec's example body with keep-alive on 127.0.0.1,
over plain HTTP on one port and HTTPS on another (TLS 1.3, an ECDSA P-256 certificate from a
throwaway trustme CA that every client trusts through its own public knob: ours
`TelnyxSession(ssl=context)`, bare aiohttp `TCPConnector(ssl=context)`, the official SDK
`DefaultAsyncHttpxClient(verify=context)` / `DefaultAioHttpClient(verify=context)`), pinned to
core {report["server_core"]}; each client runs in a fresh process pinned to core
{report["client_core"]}. {report["rounds"]} interleaved rounds; medians, with min and max.
"CPU us/req" is the client process's CPU time per request; "/bare" divides a contender's
median throughput by bare aiohttp + `json.loads` at the same protocol, N and C; "CPU vs bare"
divides the CPU per request the same way (lower is better); "/bare kept" divides by bare
aiohttp that keeps every decoded result in a list, which is what `gather_many` does (the plain
bare contender drops each result once decoded).

{"![throughput and CPU per request, HTTP and HTTPS](benchmarks.png)" if chart_ok else ""}

## HTTP and HTTPS side by side (N={n:,})

{tables["side by side"]}

## Connection set-up: a cold pass against a warm one

{tables["set-up"]}

Each process opens its client and runs {report["setup_n"]:,} requests (cold: the pool opens C
connections, with a TLS handshake each over HTTPS), then runs the same {report["setup_n"]:,}
again on the same client (warm: every connection reused). "Set-up CPU per connection" is the
cold pass's extra client CPU divided by the connections it opened (client creation
included). Medians of {report["setup_rounds"]} interleaved round(s). On a loaded machine the
cold-minus-warm differences of a few milliseconds are within the noise (some come out
negative): the instruction counts below give the set-up cost per connection without it. The
official SDK's cold pass also does its own lazy first-call work (building its models).

{kept.get("instructions", "")}

## Throughput

{detail}

Bare aiohttp is a fixed pool of C worker tasks over one `aiohttp.ClientSession` (headers set
on the session, `resp.read()` then `json.loads` or the msgspec decoder): the practical floor of
any aiohttp-based client. The official SDK runs the same worker pool over
`client.connections.retrieve`, with its default httpx transport and with `DefaultAioHttpClient`.

## Decoding the example body

{tables["decode"]}

## Memory of bulk lookups (ids from a generator, C=64)

{tables["memory"]}

{kept.get("listing", "")}

## Import cost

{tables["imports"]}

## Analysis

What the figures mean, the profile of the remaining cost, and what each optimisation
bought: [performance.md](performance.md).
"""
    page.write_text(re.sub(r"\n{3,}", "\n\n", text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (small N, 1 round)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--c", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    parser.add_argument("--setup-n", type=int, default=1_000, help="requests per set-up pass")
    parser.add_argument("--setup-rounds", type=int, default=3)
    parser.add_argument("--sdk-max-n", type=int, default=20_000, help="skip the SDK above this N")
    parser.add_argument("--memory-n", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--naive-n", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--server", choices=["auto", "nginx", "aiohttp"], default="auto")
    parser.add_argument("--only", nargs="+", help="contenders whose name contains one of these")
    parser.add_argument(
        "--skip", nargs="+", default=[], choices=["throughput", "decode", "memory", "imports"]
    )
    parser.add_argument("--no-write", action="store_true", help="print only; write no files")
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="only redraw docs/benchmarks.png from benchmarks/results/latest.json",
    )
    args = parser.parse_args(argv)
    if args.redraw:
        saved = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
        if not chart(saved["throughput"], ROOT / "docs" / "benchmarks.png", max(saved["n"])):
            raise SystemExit("matplotlib (the 'bench' extra) is needed to draw the chart")
        return 0
    if args.quick:
        args.rounds, args.n, args.c = 1, [300], [16]
        args.setup_n, args.setup_rounds = 100, 1
        args.memory_n, args.naive_n = [2_000], [2_000]

    two_cores = (os.cpu_count() or 1) >= 2
    server_core, client_core = (0, 1) if two_cores else (None, None)
    server = BenchServer(kind=args.server, core=server_core)
    server.start()
    report: dict[str, Any] = {
        "command": "python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "server": server.kind,
        "server_core": server_core,
        "client_core": client_core,
        "rounds": args.rounds,
        "n": args.n,
        "protocols": args.protocols,
        "setup_n": args.setup_n,
        "setup_rounds": args.setup_rounds,
    }
    tables: dict[str, str] = {}
    try:
        print(
            f"server: {server.kind} at {server.url} and {server.https_url} "
            f"(core {server_core}); "
            f"clients on core {client_core}",
            file=sys.stderr,
        )
        if "throughput" not in args.skip:
            report["throughput"] = throughput(args, server, client_core)
            for protocol in args.protocols:
                tables[f"throughput {protocol}"] = throughput_table(
                    [r for r in report["throughput"] if r["protocol"] == protocol]
                )
            tables["side by side"] = side_by_side_table(report["throughput"], max(args.n))
        if "setup" not in args.skip:
            report["setup"] = setup_cost(args, server, client_core)
            tables["set-up"] = setup_table(report["setup"])
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
        complete = not args.skip and not args.only
        if complete:
            write_docs(report, tables, chart_ok)
        print(
            f"\nwrote {results / 'latest.json'}" + (" and docs/benchmarks.md" if complete else ""),
            file=sys.stderr,
        )
    return 0
