"""The fleet proof (benchmarks/fleet.py) as tests: four real processes, one account limit.

Each row starts four worker processes that share (or do not share) one Redis
limiter against one FakeTelnyx limited to 200 requests a second for the whole
account; the rows here are smaller than ``python -m benchmarks.fleet`` prints
(docs/reliability.md records the full-size table) and assert the same bounds.
"""

from __future__ import annotations

import pytest

from benchmarks.fleet import ROWS, Row, run
from benchmarks.redis_server import RedisServer
from telnyx_async.testing import DEFAULT_API_KEY

PER_WORKER = {"shared, Redis killed mid-run": 250}
"""Ids per worker: 150 (0.75 s of the limit each), more where Redis must die and come back."""


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_fleet_row_holds(row: Row, redis_server: RedisServer) -> None:
    """No id lost; 429s, throughput, the WARNING and the recovery within the row's bounds.

    ``redis_server`` is not used by the row (it starts its own, to kill it), but
    makes a missing redis-server fail here with the install hint.
    """
    outcome = run(row, per_worker=PER_WORKER.get(row.name, 150))
    assert outcome.violations() == [], outcome
    assert outcome.lost == 0
    for skew, offset in zip(row.skews, outcome.clock_offsets, strict=True):
        assert offset == pytest.approx(skew, abs=0.5), "the worker's clock was not skewed"
    texts = "\n".join(text for records in outcome.records for _, text in records)
    assert DEFAULT_API_KEY not in texts
    if row.shared and row.kill_redis is None:
        # At most one Redis round trip per request, and the WARNING-free run had none.
        assert outcome.round_trips <= outcome.requests
