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
