"""The retry budget: retries are earned by successes, so an outage is not amplified.

A pure state machine over (time, outcome): the session asks it before each
retry and tells it of each success. Nothing here sleeps or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._config import (
    DEFAULT_RETRY_BUDGET_FLOOR,
    DEFAULT_RETRY_BUDGET_MAX,
    DEFAULT_RETRY_BUDGET_RATIO,
)


@dataclass(slots=True, kw_only=True)
class RetryBudget:
    """A token bucket for retries: each success earns ``ratio`` tokens, each retry costs one.

    Tokens never exceed ``max_tokens`` (so a long healthy spell buys at most that
    many retries once an outage starts) and trickle in at ``floor_per_second``
    even without successes (so a client that sees only failures still probes
    now and then). The bucket starts full.

    With the defaults (0.5 per success, at most 50, 1 a second): at a failure
    rate ``p`` each success must pay for ``p / (1 - p)`` retries, so every retry
    is allowed up to about 33% failures (0.5 per success); in a total outage,
    a run sends about 50 retries plus one a second, whatever its size.

    Examples:
        >>> budget = RetryBudget(max_tokens=2, floor_per_second=0.0)
        >>> budget.try_spend(now=0.0), budget.try_spend(now=0.0), budget.try_spend(now=0.0)
        (True, True, False)
        >>> budget.on_success(); budget.on_success()
        >>> budget.try_spend(now=0.0)
        True
    """

    ratio: float = DEFAULT_RETRY_BUDGET_RATIO
    max_tokens: float = DEFAULT_RETRY_BUDGET_MAX
    floor_per_second: float = DEFAULT_RETRY_BUDGET_FLOOR
    tokens: float = field(default=-1.0)
    """Tokens now; starts at ``max_tokens``."""
    stamp: float | None = None
    """When the floor was last added (the clock the caller passes as ``now``)."""

    def __post_init__(self) -> None:
        if self.ratio < 0 or self.max_tokens < 1 or self.floor_per_second < 0:
            raise ValueError("retry budget: need ratio >= 0, max_tokens >= 1, floor >= 0")
        if self.tokens < 0:
            self.tokens = self.max_tokens

    def _refill(self, now: float) -> None:
        if self.stamp is not None and now > self.stamp:
            self.tokens = min(
                self.max_tokens, self.tokens + (now - self.stamp) * self.floor_per_second
            )
        if self.stamp is None or now > self.stamp:
            self.stamp = now

    def on_success(self) -> None:
        """A request succeeded: earn ``ratio`` tokens (the hot path: no clock needed)."""
        tokens = self.tokens + self.ratio
        self.tokens = tokens if tokens < self.max_tokens else self.max_tokens

    def try_spend(self, *, now: float) -> bool:
        """Take one token for a retry; ``False`` (and nothing taken) when under one."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
