"""The fault matrix (benchmarks/faults.py) as tests: every row's bounds hold, in CI.

Each row is a bulk run against a FakeTelnyx that rate-limits, fails or hangs;
``python -m benchmarks.faults`` prints the same rows as a table.
"""

from __future__ import annotations

import logging

import pytest

from benchmarks.faults import SCENARIOS, Scenario, run
from telnyx_async.testing import DEFAULT_API_KEY


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_fault_matrix_row_holds(scenario: Scenario, caplog: pytest.LogCaptureFixture) -> None:
    """No id lost or duplicated, 429s, amplification and time within the row's bounds.

    And the key appears in no error, repr or log record (DEBUG included) of the run.
    """
    caplog.set_level(logging.DEBUG, logger="telnyx_async")
    outcome = await run(scenario)
    assert outcome.violations() == [], outcome
    assert outcome.duplicated == 0
    assert outcome.wrong == 0
    assert DEFAULT_API_KEY not in "\n".join(outcome.texts) + caplog.text
