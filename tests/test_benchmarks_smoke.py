"""The benchmark harness still runs end to end (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
