"""The shared argument checks: each boundary and each message, in one table.

Written after mutmut found that the callers' tests never tried 0 where 0 is allowed,
and never read the messages of two of the three checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from telnyx_async._checks import non_negative, positive, positive_int

Check = Callable[..., Any]


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (positive_int, 1),
        (positive_int, 10**9),
        (positive, 1e-9),
        (positive, 0.5),
        (non_negative, 0),
        (non_negative, 0.0),
        (non_negative, 0.25),
    ],
)
def test_a_value_inside_the_bound_is_returned(check: Check, value: float) -> None:
    """Returned as given (so a call site can use the result)."""
    assert check("x", value) == value


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (positive_int, 0, "pool_size must be a positive int, got 0"),
        (positive_int, -3, "pool_size must be a positive int, got -3"),
        (positive_int, True, "pool_size must be a positive int, got True"),
        (positive_int, 2.0, "pool_size must be a positive int, got 2.0"),
        (positive, 0, "pool_size must be > 0 seconds, got 0"),
        (positive, -1.5, "pool_size must be > 0 seconds, got -1.5"),
        (positive, math.nan, "pool_size must be > 0 seconds, got nan"),
        (non_negative, -0.001, "pool_size must be >= 0 seconds, got -0.001"),
        (non_negative, math.nan, "pool_size must be >= 0 seconds, got nan"),
    ],
)
def test_a_value_outside_is_refused_with_its_name_and_bound(
    check: Check, value: float, message: str
) -> None:
    """The exact message: the argument's name, the rule and the value given."""
    with pytest.raises(ValueError, match=r"^pool_size must be ") as caught:
        check("pool_size", value)
    assert str(caught.value) == message


@pytest.mark.parametrize("check", [positive, non_negative])
def test_the_unit_is_said(check: Check) -> None:
    """Rates say requests per second, not seconds."""
    with pytest.raises(ValueError, match="requests per second"):
        check("rate", -1, "requests per second")
