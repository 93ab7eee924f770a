"""Instructions per request, under callgrind: ``python -m benchmarks.instructions [--c 64]``.

Wall-clock ratios on a shared machine move by 10-15% from round to round; the
number of instructions a client executes per request does not. Each contender's
client process (only it: the server runs natively, outside valgrind) runs under
``valgrind --tool=callgrind --dump-before=getppid``, and the contender calls
``os.getppid()`` between segments (``--mark``), so callgrind writes one profile
per segment of one process:

1. start-up and imports (discarded);
2. a cold pass of ``n1`` requests: opening the client and its C connections (TLS
   handshakes included; ``n1 >= C`` so that all C open);
3. a second pass of ``n1``, for any client that opens more connections after its
   first pass (the official SDK's aiohttp transport does);
4. a warm pass of ``n1`` on the same client;
5. a warm pass of ``n2``.

Instructions per request are ``(Ir(5) - Ir(4)) / (n2 - n1)``: two run lengths
subtracted, so whatever a pass costs once (starting C workers) cancels out and
what is left is the steady-state cost of one request. Connection set-up is
``(Ir(2) - Ir(4))`` divided by the connections the cold pass opened (client
creation included). The contender reports the connections each pass opened;
a client that opens some during passes 4 and 5 (one that keeps fewer idle
connections than it uses) is flagged under the table. The official SDK costs
10-30x more per request, so it runs a fifth of the requests.

Repeatability: ``PYTHONHASHSEED=0`` and address space randomisation off
(``setarch -R``: iteration over ``id()``-hashed sets then repeats). What still
varies is how many ready events each ``select()`` returns, which depends on
timing; ``--repeat 2`` runs every cell twice and prints the spread.

``--profile LABEL ...`` subtracts callgrind_annotate's per-function counts of
segments 4 and 5 in the same way, and groups them by shared object
(interpreter, libssl, libcrypto, aiohttp's and msgspec's extensions, libc).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .contenders import available
from .run import BASELINE, PROTOCOLS, ROOT, label
from .server import BenchServer

# The contenders issue #12 names, on both loops where the library offers both.
CELLS = (
    (BASELINE, "asyncio"),
    ("ours gather_many", "asyncio"),
    ("ours iter_many", "asyncio"),
    ("official SDK (httpx)", "asyncio"),
    ("official SDK (aiohttp)", "asyncio"),
    # The floor: hand-written aiohttp with ours' URL and decoding, no retries or pacing.
    ("bare aiohttp + msgspec, URLs pre-built", "asyncio"),
    (BASELINE, "uvloop"),
    ("ours gather_many", "uvloop"),
    ("ours iter_many", "uvloop"),
)
SDK_SHARE = 5  # the official SDK runs n / SDK_SHARE requests (it costs 10-30x more each)
LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)(?:\s+\[(.*)\])?\s*$")


def sizes(name: str, n1: int, n2: int, c: int) -> tuple[int, int]:
    """The two run lengths of a contender: both at least C, so both open C connections."""
    dn = n2 - n1
    if name.startswith("official SDK"):
        n1, dn = n1 // SDK_SHARE, dn // SDK_SHARE
    n1 = max(n1, c)
    return n1, n1 + dn


def callgrind(
    name: str, loop: str, url: str, ca: Path | None, n1: int, n2: int, c: int, out: Path
) -> tuple[list[int], list[int]]:
    """Run one client under callgrind: the instructions (Ir) of each segment, and the
    connections each pass opened."""
    cmd = [sys.executable, "-m", "benchmarks.contenders", name, url, str(n1), str(c)]
    cmd += ["--loop", loop, "--passes", "3", "--more-n", str(n2), "--mark"]
    if ca is not None:
        cmd += ["--ca", str(ca)]
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    valgrind += ["--dump-before=getppid", "--dump-line=no"]
    if shutil.which("setarch"):
        valgrind = ["setarch", platform.machine(), "-R", *valgrind]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        valgrind + cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600
    )
    if result.returncode:
        raise RuntimeError(f"{label(name, loop)} failed: {result.stderr[-3000:]}")
    counts = []
    for part in range(1, SEGMENTS + 1):
        match = re.search(r"^(?:summary|totals):\s+(\d+)", segment(out, part).read_text(), re.M)
        if match is None:
            raise RuntimeError(f"no instruction total in {segment(out, part)}")
        counts.append(int(match[1]))
    opened = [p["opened"] for p in json.loads(result.stdout)["passes"]]
    return counts, opened


SEGMENTS = 5  # start-up, cold n1, n1, warm n1, warm n2 (the exit: the file without suffix)


def segment(out: Path, part: int) -> Path:
    return out.with_name(f"{out.name}.{part}")


def functions(out: Path) -> dict[tuple[str, str], int]:
    """Exclusive Ir per function of a callgrind output: {(function, shared object): Ir}.

    A segment dumped mid-run lists the frames active through all of it (``main``,
    the event loop's ``run_forever``...) at the segment's total: those are left out.
    """
    text = subprocess.run(
        ["callgrind_annotate", "--auto=no", "--threshold=100", "--inclusive=no", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total_match = re.search(r"^\s*([\d,]+)\s.*PROGRAM TOTALS", text, re.M)
    total = int(total_match[1].replace(",", "")) if total_match else 0
    counts: dict[tuple[str, str], int] = defaultdict(int)
    body = text.split("file:function", 1)[-1].split("\n", 2)[-1]
    for line in body.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        ir = int(match[1].replace(",", ""))
        if ir >= 0.99 * total:
            continue
        file, _, function = match[2].rpartition(":")
        counts[(function.split("'")[0], _object(match[3], file))] += ir
    return counts


def _object(obj: str | None, file: str) -> str:
    """The shared object of a line; inlined code is named by its source file alone."""
    if obj:
        return Path(obj).name
    if "/Python-3" in file:
        return "libpython"
    if file.startswith("./"):
        return "libc.so"  # glibc's sources: ./malloc/..., ./nptl/...
    if "/aiohttp/" in file:
        return "aiohttp " + Path(file).stem
    return "?"


def per_request_profile(short: Path, long: Path, dn: int) -> list[dict[str, Any]]:
    """Instructions per request of each function (code inlined elsewhere counted with it)."""
    a, b = functions(short), functions(long)
    merged: dict[tuple[str, str], float] = defaultdict(float)
    for f, o in set(a) | set(b):
        merged[(f, object_group(o))] += (b.get((f, o), 0) - a.get((f, o), 0)) / dn
    rows = [{"function": f, "object": o, "ir": ir} for (f, o), ir in merged.items()]
    return sorted(rows, key=lambda r: -r["ir"])


GROUPS = (
    ("libpython", "CPython interpreter"),
    ("python3", "CPython interpreter"),
    ("libcrypto", "OpenSSL libcrypto"),
    ("libssl", "OpenSSL libssl"),
    ("_ssl", "_ssl module"),
    ("libc.so", "libc"),
    ("libc-", "libc"),
    ("ld-linux", "dynamic loader"),
    ("uvloop", "uvloop (libuv + Cython)"),
    ("loop.cpython", "uvloop (libuv + Cython)"),
    ("_http_parser", "aiohttp C parser"),
    ("_http_writer", "aiohttp C writer"),
    ("aiohttp _websocket", "aiohttp C websocket"),
    ("multidict", "multidict"),
    ("yarl", "yarl"),
    ("propcache", "propcache"),
    ("frozenlist", "frozenlist"),
    ("msgspec", "msgspec"),
    ("_pydantic_core", "pydantic-core"),
    ("_core.cpython", "msgspec"),  # msgspec/_core.cpython-311-*.so
    ("_json", "json (C)"),
    ("_asyncio", "_asyncio (C)"),
    ("select", "select / epoll"),
)


def object_group(obj: str) -> str:
    """A readable name for the shared object a function lives in."""
    if obj in {name for _, name in GROUPS} or obj.startswith("other ("):
        return obj
    for key, name in GROUPS:
        if key in obj:
            return name
    return f"other ({obj})"


def table(results: dict[tuple[str, str], dict[str, Any]], protocols: list[str]) -> str:
    names = list(dict.fromkeys(name for name, _ in results))
    head, rule = "| contender |", "|---|"
    for protocol in protocols:
        head += f" {protocol.upper()} instructions/request | {protocol.upper()} vs bare |"
        rule += "---|---|"
    if len(protocols) == 2:
        head += " HTTPS - HTTP |"
        rule += "---|"
    for protocol in protocols:
        head += f" {protocol.upper()} set-up per connection |"
        rule += "---|"
    lines = [head, rule]
    for name in names:
        row = f"| {name} |"
        for protocol in protocols:
            cell = results.get((name, protocol))
            bare = results.get((label(BASELINE, _loop(name)), protocol))
            if cell is None:
                row += " - | - |"
                continue
            ratio = f"{cell['per_request'] / bare['per_request']:.2f}x" if bare else "-"
            row += f" {cell['per_request']:,.0f} | {ratio} |"
        if len(protocols) == 2:
            http, https = results.get((name, "http")), results.get((name, "https"))
            extra = f"+{https['per_request'] - http['per_request']:,.0f}" if http and https else "-"
            row += f" {extra} |"
        for protocol in protocols:
            cell = results.get((name, protocol))
            row += f" {cell['setup_per_connection']:,.0f} |" if cell else " - |"
        lines.append(row)
    return "\n".join(lines)


def _loop(labelled: str) -> str:
    return "uvloop" if labelled.endswith("[uvloop]") else "asyncio"


def chart(results: dict[tuple[str, str], dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(dict.fromkeys(name for name, _ in results))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.4
    for i, protocol in enumerate(PROTOCOLS):
        values = [
            results[(n, protocol)]["per_request"] / 1e3 if (n, protocol) in results else 0
            for n in names
        ]
        ax.barh([y + i * width for y in range(len(names))], values, width, label=protocol.upper())
    ax.set_yticks([y + width / 2 for y in range(len(names))], names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("thousand instructions per request (callgrind, client process; lower is better)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--c", type=int, default=64)
    parser.add_argument("--n1", type=int, default=200)
    parser.add_argument("--n2", type=int, default=1_000)
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    parser.add_argument("--only", nargs="+", help="contenders whose label contains one of these")
    parser.add_argument("--server", choices=["auto", "nginx", "aiohttp"], default="auto")
    parser.add_argument("--jobs", type=int, default=2, help="clients under valgrind at once")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each cell (spread check)")
    parser.add_argument(
        "--profile", nargs="*", default=None, help="per-function profile of these labels"
    )
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep callgrind outputs in this directory")
    parser.add_argument("--no-write", action="store_true", help="print only; write no files")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")

    cells = [(n, lp) for n, lp in CELLS if available(n, lp)]
    if args.only:
        cells = [(n, lp) for n, lp in cells if any(o in label(n, lp) for o in args.only)]
    tmp = tempfile.TemporaryDirectory(prefix="telnyx-callgrind-")
    outdir = args.keep or Path(tmp.name)
    outdir.mkdir(parents=True, exist_ok=True)
    server = BenchServer(kind=args.server, core=0 if (os.cpu_count() or 1) >= 2 else None)
    server.start()
    jobs = []
    for protocol in args.protocols:
        for name, loop in cells:
            for rep in range(args.repeat):
                slug = re.sub(r"\W+", "-", f"{label(name, loop)}-{protocol}-{rep}")
                jobs.append((name, loop, protocol, rep, outdir / f"{slug}.out"))
    counts: dict[tuple[str, str, str, int], list[int]] = {}
    opened: dict[tuple[str, str, str, int], list[int]] = {}
    try:
        print(
            f"server: {server.kind}; {len(jobs)} clients under callgrind, {args.jobs} at a time",
            file=sys.stderr,
        )

        def one(job: tuple[str, str, str, int, Path]) -> None:
            name, loop, protocol, rep, out = job
            n1, n2 = sizes(name, args.n1, args.n2, args.c)
            ca = server.ca_file if protocol == "https" else None
            irs, conns = callgrind(name, loop, server.base_url(protocol), ca, n1, n2, args.c, out)
            counts[(name, loop, protocol, rep)] = irs
            opened[(name, loop, protocol, rep)] = conns
            per = (irs[4] - irs[3]) / (n2 - n1)
            print(
                f"  {protocol} {label(name, loop)}: {per:,.0f} Ir/request "
                f"(segments {', '.join(f'{i:,}' for i in irs)}; connections opened {conns})",
                file=sys.stderr,
                flush=True,
            )

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(one, jobs))
    finally:
        server.stop()

    results: dict[tuple[str, str], dict[str, Any]] = {}
    for protocol in args.protocols:
        for name, loop in cells:
            n1, n2 = sizes(name, args.n1, args.n2, args.c)
            runs = [counts[(name, loop, protocol, r)] for r in range(args.repeat)]
            conns = [opened[(name, loop, protocol, r)] for r in range(args.repeat)]
            per = [(irs[4] - irs[3]) / (n2 - n1) for irs in runs]
            # Per connection the cold pass actually opened (C, unless a client keeps fewer).
            setup = [(irs[1] - irs[3]) / max(o[0], 1) for irs, o in zip(runs, conns, strict=True)]
            results[(label(name, loop), protocol)] = {
                "contender": label(name, loop),
                "protocol": protocol,
                "n1": n1,
                "n2": n2,
                "per_request": statistics.median(per),
                "setup_per_connection": statistics.median(setup),
                "runs": per,
                "segments": runs,
                "opened": conns,
                "spread": (max(per) - min(per)) / statistics.median(per),
            }
    text = table(results, args.protocols)
    churn = [r for r in results.values() if any(sum(o[2:]) for o in r["opened"])]
    for r in churn:
        warm = max(sum(o[2:]) for o in r["opened"])
        text += (
            f"\n\n{r['contender']} over {r['protocol'].upper()} opened {warm} connections "
            "during its warm passes, so its count includes opening connections: it keeps fewer "
            "idle connections than it uses at this concurrency."
        )
    print(f"\n## instructions per request (C={args.c})\n\n{text}")
    if args.repeat > 1:
        print("\nspread over repeats (max - min) / median:")
        for key, r in results.items():
            print(f"  {key[1]} {key[0]}: {r['spread']:.2%}")

    profiles: dict[str, Any] = {}
    for wanted in args.profile or []:
        for (name, loop), protocol in ((c, p) for c in cells for p in args.protocols):
            if label(name, loop) != wanted:
                continue
            n1, n2 = sizes(name, args.n1, args.n2, args.c)
            out = outdir / (re.sub(r"\W+", "-", f"{label(name, loop)}-{protocol}-0") + ".out")
            exclusive = per_request_profile(segment(out, 4), segment(out, 5), n2 - n1)
            by_object: dict[str, float] = defaultdict(float)
            for r in exclusive:
                by_object[object_group(r["object"])] += r["ir"]
            total = results[(wanted, protocol)]["per_request"]
            pkey = f"{wanted} {protocol}"
            profiles[pkey] = {
                "by_object": dict(sorted(by_object.items(), key=lambda kv: -kv[1])),
                "exclusive": exclusive[: args.top],
            }
            print(f"\n### {pkey}: {total:,.0f} instructions per request, by shared object\n")
            print("| where | instructions/request | share |\n|---|---|---|")
            for obj, ir in profiles[pkey]["by_object"].items():
                if ir / total >= 0.005:
                    print(f"| {obj} | {ir:,.0f} | {ir / total:.1%} |")
            print(f"\nTop {args.top} functions by their own instructions:\n")
            print("| function | object | instructions/request | share |\n|---|---|---|---|")
            for r in profiles[pkey]["exclusive"]:
                print(
                    f"| `{r['function']}` | {object_group(r['object'])} | {r['ir']:,.0f} "
                    f"| {r['ir'] / total:.1%} |"
                )

    if not args.no_write:
        command = "python -m benchmarks.instructions " + shlex.join(
            argv if argv is not None else sys.argv[1:]
        )
        date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        results_dir = ROOT / "benchmarks" / "results"
        results_dir.mkdir(exist_ok=True)
        report = {
            "command": command,
            "date": date,
            "c": args.c,
            "server": server.kind,
            "results": list(results.values()),
            "profiles": profiles,
        }
        (results_dir / "instructions.json").write_text(json.dumps(report, indent=2))
        chart_ok = chart(results, ROOT / "docs" / "instructions.png")
        write_block(text, command, date, args, server.kind, chart_ok)
    tmp.cleanup()
    return 0


def write_block(
    text: str, command: str, date: str, args: argparse.Namespace, server: str, chart_ok: bool
) -> None:
    """Replace the instructions block of docs/benchmarks.md (added if missing)."""
    picture = (
        "![instructions per request, HTTP and HTTPS](instructions.png)\n\n" if chart_ok else ""
    )
    block = f"""<!-- keep:instructions -->
## Instructions per request (callgrind), HTTP and HTTPS

Generated by `{command}` on {date}: the client process alone under valgrind's callgrind
(server: {server}, natively), each contender at C={args.c} in one process: a cold pass of
n1={args.n1:,} requests (opening the client and its C connections), two more passes of n1 and
a pass of n2={args.n2:,} on the same client (the official SDK runs a fifth of them), each
pass a callgrind segment of its own (start-up and imports are left out). "Instructions/request"
is (Ir(n2 pass) - Ir(last n1 pass)) / (n2 - n1), the steady-state cost of one request; "set-up
per connection" is (Ir(cold n1) - Ir(last n1 pass)) divided by the connections the cold pass
opened: the cost of opening one connection (the TLS handshake included over HTTPS, and creating
the client). Unlike the wall-clock tables, these
counts do not move with the machine's load (see [performance.md](performance.md) for how
closely the same cell repeats). "vs bare" divides by bare aiohttp + `json.loads` on the same
loop and protocol.

{picture}{text}
<!-- /keep:instructions -->"""
    page = ROOT / "docs" / "benchmarks.md"
    current = page.read_text()
    pattern = re.compile(r"<!-- keep:instructions -->.*?<!-- /keep:instructions -->", re.S)
    if pattern.search(current):
        current = pattern.sub(lambda _: block, current)
    else:
        marker = "## Throughput\n"
        at = current.find(marker)
        at = at if at >= 0 else current.find("## Analysis")
        current = current[:at] + block + "\n\n" + current[at:]
    page.write_text(current)


if __name__ == "__main__":
    sys.exit(main())
