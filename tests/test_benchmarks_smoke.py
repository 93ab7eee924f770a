"""The benchmark harness still runs end to end (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_run_prints_every_table() -> None:
    """`python -m benchmarks --quick --no-write` finishes and reports ours beside bare aiohttp."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-write", "--server", "aiohttp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for heading in ("## throughput", "## memory", "## decode", "## imports"):
        assert heading in out
    for contender in ("bare aiohttp + json.loads", "ours gather_many", "ours iter_many"):
        assert f"| 300 | 16 | {contender} |" in out
    assert "| iter_many | 2,000 |" in out
    assert "msgspec -> Connection (ours)" in out
    assert "server: aiohttp" in result.stderr


async def test_listing_benchmark_rows_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing benchmark's two walks (tiny: 3 pages, 1 ms latency) each read every page."""
    from benchmarks import listing

    monkeypatch.setattr(listing, "PAGES", 3)
    monkeypatch.setattr(listing, "LATENCY", 0.001)
    ahead, one_by_one = await listing._prefetch_row(0.001)
    assert ahead > 0.003
    assert one_by_one > 0.003
    with listing._fake_in_subprocess(600) as base_url:
        count, _, _, peak = await listing._walk(base_url, trace=True)
    assert count == 600
    assert peak > 0


def test_https_contender_reports_each_pass_and_the_connections_it_opened() -> None:
    """A contender over HTTPS (the bench CA passed as a file) runs cold, warm and a longer pass."""
    import json

    from benchmarks.server import BenchServer

    server = BenchServer(kind="aiohttp")
    server.start()
    try:
        args = [
            "ours iter_many",
            server.https_url,
            "12",
            "3",
            "--passes",
            "2",
            "--more-n",
            "20",
            "--mark",
        ]
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.contenders", *args, "--ca", str(server.ca_file)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    passes = json.loads(result.stdout)["passes"]
    assert [p["n"] for p in passes] == [12, 12, 20]
    assert 1 <= passes[0]["opened"] <= 3


def test_instruction_table_divides_by_bare_aiohttp_on_the_same_loop() -> None:
    """The callgrind table's ratios use bare aiohttp of the same loop and protocol."""
    from benchmarks.instructions import sizes, table

    def cell(name: str, protocol: str, per: float) -> dict[str, object]:
        return {
            "contender": name,
            "protocol": protocol,
            "per_request": per,
            "setup_per_connection": 1000.0,
        }

    results = {
        (name, protocol): cell(name, protocol, per)
        for name, protocol, per in (
            ("bare aiohttp + json.loads", "http", 400_000.0),
            ("bare aiohttp + json.loads", "https", 800_000.0),
            ("ours iter_many", "http", 380_000.0),
            ("ours iter_many", "https", 760_000.0),
            ("bare aiohttp + json.loads [uvloop]", "http", 200_000.0),
            ("ours iter_many [uvloop]", "http", 210_000.0),
        )
    }
    text = table(results, ["http", "https"])
    assert "| ours iter_many | 380,000 | 0.95x | 760,000 | 0.95x | +380,000 |" in text
    assert "| ours iter_many [uvloop] | 210,000 | 1.05x |" in text
    assert sizes("ours iter_many", 200, 1000, 64) == (200, 1000)
    assert sizes("official SDK (httpx)", 200, 1000, 64) == (64, 224)


def test_deadline_benchmark_accounts_for_every_id() -> None:
    """`python -m benchmarks.deadline` (tiny): a row per call and size, every id answered or cut."""
    command = ["-m", "benchmarks.deadline", "--ids", "50", "20000", "--rounds", "1"]
    result = subprocess.run(
        [sys.executable, *command, "--deadline", "0.1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    for way in ("gather_many", "iter_many"):
        small = next(r for r in rows if r.startswith(f"| {way} | 50 |"))
        assert small.split(" | ")[2] == "50"  # all answered in time
        large = next(r for r in rows if r.startswith(f"| {way} | 20,000 |"))
        assert large.endswith(" µs |")  # the deadline left ids unstarted
