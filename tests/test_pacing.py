"""The pacing state machine and the retry budget: pure tables and properties, no sleeping."""

from __future__ import annotations

import asyncio
import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telnyx_async._budget import RetryBudget
from telnyx_async._pacing import (
    BOOK_AHEAD,
    FIRST_SPAN,
    INITIAL_WINDOW,
    MIN_RATE,
    RECOVERY,
    SLOW_START_DOUBLING,
    WINDOW_DOUBLING,
    AdaptiveRateLimiter,
    PacingState,
)

from .conftest import SleepRecorder

WALL = 1_700_000_000.0


def test_a_429_pauses_every_request_until_the_reset() -> None:
    """One 429 with x-ratelimit-reset: 2 holds back the next request by 2 s, whoever sends it."""
    state = PacingState()
    state.take(0.0)
    state.observe(429, {"x-ratelimit-reset": "2"}, 0.0, wall=lambda: WALL)
    assert state.delay(0.0) == 2.0
    assert state.delay(2.0) <= 0.0


def test_remaining_zero_waits_for_the_window_and_the_limit_refills_it() -> None:
    """A remaining of 0 blocks until the window ends; then `limit` requests may start again."""
    state = PacingState()
    state.take(0.0)
    headers = {"x-ratelimit-limit": "3", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "0.5"}
    state.observe(200, headers, 0.1, wall=lambda: WALL)
    assert state.delay(0.2) == 0.5 + 0.1 - 0.2
    for _ in range(3):
        assert state.delay(0.7) <= 0.0
        state.take(0.7)
    assert state.delay(0.7) > 0.0  # the fourth waits for the next (estimated) window


def test_the_first_429_learns_the_delivered_rate_then_slow_starts() -> None:
    """100 successes in 1 s, then a 429: 100/s, doubling per SLOW_START_DOUBLING s of answers."""
    state = PacingState()
    for i in range(100):
        state.take(i / 100)
        state.observe(200, {}, i / 100, wall=lambda: WALL)
    state.observe(429, {}, 1.0, wall=lambda: WALL)
    assert state.rate is not None
    assert 95 <= state.rate <= 105
    learned = state.rate
    assert state.book_ahead() < BOOK_AHEAD  # slots booked at a rate about to double come late
    now = 1.0
    while now < 1.0 + SLOW_START_DOUBLING:  # answers delivered at the rate, as it grows
        now += 1.0 / state.rate
        state.take(now)
        state.observe(200, {}, now, wall=lambda: WALL)
    assert state.rate == pytest.approx(2 * learned, rel=0.05)


def test_slow_start_grows_with_answers_not_with_time() -> None:
    """A limit shut for a second (a fixed window, say) grows nothing meanwhile."""
    state = PacingState()
    for i in range(50):
        state.take(i / 1000)
        state.observe(200, {}, i / 1000, wall=lambda: WALL)
    state.take(0.05)
    state.observe(429, {}, 0.05, wall=lambda: WALL)
    learned = state.rate
    assert learned is not None
    assert learned == pytest.approx(50 / FIRST_SPAN)  # a burst says little of a rate
    state.take(1.05)
    state.observe(200, {}, 1.05, wall=lambda: WALL)  # the first answer after the quiet
    assert state.rate == pytest.approx(learned * 2 ** (1 / (learned * SLOW_START_DOUBLING)))


def test_the_start_up_window_doubles_at_most_every_window_doubling_seconds() -> None:
    """Answers every millisecond grow the window by time, not by their number."""
    state = PacingState()
    now = 0.0
    while now < 3 * WINDOW_DOUBLING:
        while not state.window_full():
            state.take(now)
        state.observe(200, {}, now, wall=lambda: WALL)
        now += 0.001
    assert state.window is not None
    assert state.window <= INITIAL_WINDOW * 2**3 * 1.01
    assert state.window >= INITIAL_WINDOW * 2**3 * 0.9


def test_a_later_episode_drops_to_0_9_of_delivered_then_climbs_back_on_cubic_s_curve() -> None:
    """0.9 x what was delivered; back at it after RECOVERY s (flat near it), then past it."""
    state = PacingState()
    now = 0.0
    for _ in range(100):
        state.take(now)
        state.observe(200, {}, now, wall=lambda: WALL)
        now += 0.01
    state.observe(429, {}, now, wall=lambda: WALL)
    for _ in range(100):  # one more second at 100/s, the rate doubling meanwhile
        now += 0.01
        state.take(now)
        state.observe(200, {}, now, wall=lambda: WALL)
    state.take(now)
    state.observe(429, {}, now, wall=lambda: WALL)
    assert state.rate == pytest.approx(90, rel=0.03)
    assert not state.slow_start
    limit = state.plateau
    assert limit == pytest.approx(100, rel=0.03)
    curve = []
    for later in (RECOVERY / 2, RECOVERY, 2 * RECOVERY):
        state.observe(200, {}, now + later, wall=lambda: WALL)
        curve.append(state.rate)
    assert curve == pytest.approx([limit * (1 - 0.1 / 8), limit, limit * 1.1])


def test_429s_of_requests_already_in_flight_belong_to_the_episode() -> None:
    """Ten requests in flight when the rate drops: their answers, 429s too, drop it no further."""
    state = PacingState()
    for i in range(100):
        state.take(i / 100)
        state.observe(200, {}, i / 100, wall=lambda: WALL)
    for _ in range(11):
        state.take(1.0)
    state.observe(429, {}, 1.0, wall=lambda: WALL)
    learned = state.rate
    for status in [200] * 5 + [429] * 5:  # sent before the drop, answered after it
        state.observe(status, {}, 1.001, wall=lambda: WALL)
    assert learned is not None
    assert state.rate is not None
    assert state.rate >= learned  # grown by its slow start, not dropped
    assert state.last_throttle == 1.0
    state.take(1.01)
    state.observe(200, {}, 1.015, wall=lambda: WALL)  # the new rate works...
    state.take(1.02)
    state.observe(429, {}, 1.03, wall=lambda: WALL)  # ...until a later 429: a new episode
    assert state.rate < learned


def test_the_cap_is_never_exceeded() -> None:
    """rate_limit=10 spaces requests 0.1 s apart."""
    state = PacingState(cap=10.0)
    state.take(0.0)
    assert abs(state.delay(0.0) - 0.1) < 1e-9


async def test_waiters_line_up_one_per_slot() -> None:
    """With a known rate, waiting callers book consecutive slots instead of waking together."""
    sleeps = SleepRecorder()
    limiter = AdaptiveRateLimiter(rate_limit=4, clock=sleeps.clock, sleep=sleeps)
    start = sleeps.now
    results = await asyncio.gather(*(limiter.acquire(max_wait=10) for _ in range(4)))
    assert results == [0.0] * 4
    assert len(sleeps.delays) == 3  # each waiter slept once, for its own slot
    assert limiter.state.next_slot == start + 4 * 0.25


async def test_a_wait_over_max_wait_is_returned_not_slept() -> None:
    """An acquire returns the needed wait at once when it exceeds max_wait, taking nothing."""
    sleeps = SleepRecorder()
    limiter = AdaptiveRateLimiter(clock=sleeps.clock, sleep=sleeps)
    limiter.state.observe(429, {"Retry-After": "30"}, sleeps.now, wall=lambda: WALL)
    assert await limiter.acquire(max_wait=5) == 30.0
    assert sleeps.delays == []
    assert limiter.state.in_flight == 0


header_values = st.one_of(
    st.none(), st.text(max_size=12), st.floats(-1e6, 1e6).map(str), st.integers(-5, 10**6).map(str)
)
events = st.lists(
    st.tuples(
        st.floats(0, 5),  # seconds since the previous event
        st.sampled_from([None, 200, 404, 429, 503]),
        st.fixed_dictionaries(
            {},
            optional={
                "Retry-After": header_values.filter(lambda v: v is not None),
                "x-ratelimit-limit": header_values.filter(lambda v: v is not None),
                "x-ratelimit-remaining": header_values.filter(lambda v: v is not None),
                "x-ratelimit-reset": header_values.filter(lambda v: v is not None),
            },
        ),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(events=events, cap=st.none() | st.floats(0.5, 1000), max_pause=st.floats(0.1, 120))
def test_pacing_waits_are_bounded_whatever_the_server_says(
    events: list[tuple[float, int | None, dict[str, str]]], cap: float | None, max_pause: float
) -> None:
    """Taking only when allowed, a wait is never negative nor longer than the bounds allow."""
    state = PacingState(cap=cap, max_pause=max_pause)
    now = 0.0
    for gap, status, headers in events:
        now += gap
        wait = max(0.0, state.delay(now))
        rate = state.effective_rate()
        assert wait <= max(max_pause, 1.0 / min(rate, MIN_RATE) if rate else 0.0) + 1e-6
        if wait == 0.0:
            state.take(now)
        state.observe(status, headers, now, wall=functools.partial(float, WALL + now))
        assert state.in_flight >= 0
        assert state.rate is None or state.rate >= MIN_RATE


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(0, 10), st.booleans()), max_size=200),
    ratio=st.floats(0, 2),
    max_tokens=st.floats(1, 50),
    floor=st.floats(0, 5),
)
def test_the_budget_stays_between_zero_and_its_cap(
    steps: list[tuple[float, bool]], ratio: float, max_tokens: float, floor: float
) -> None:
    """Whatever the order of successes and retries, 0 <= tokens <= max_tokens."""
    budget = RetryBudget(ratio=ratio, max_tokens=max_tokens, floor_per_second=floor)
    now = 0.0
    for gap, success in steps:
        now += gap
        if success:
            budget.on_success()
        else:
            budget.try_spend(now=now)
        assert 0.0 <= budget.tokens <= max_tokens


def test_an_outage_spends_the_budget_then_only_the_floor() -> None:
    """50 banked retries, then one a second; successes earn half a retry each."""
    budget = RetryBudget()
    assert sum(budget.try_spend(now=0.0) for _ in range(100)) == 50
    assert sum(budget.try_spend(now=3.0) for _ in range(100)) == 3
    for _ in range(4):
        budget.on_success()
    assert sum(budget.try_spend(now=3.0) for _ in range(100)) == 2


def test_a_429_during_start_up_learns_a_rate_over_first_span_at_least() -> None:
    """Two successes at once, then a 429: counted over FIRST_SPAN (2/s), not over no time."""
    state = PacingState()
    for t in (0.0, 0.001):
        state.take(t)
        state.observe(200, {}, t, wall=lambda: WALL)
    state.observe(429, {"Retry-After": "0.2"}, 0.001, wall=lambda: WALL)
    rate = state.rate
    assert rate == pytest.approx(2.0 / FIRST_SPAN)
    assert rate is not None
    assert state.delay(0.001) == pytest.approx(max(0.2, 1.0 / rate))


def test_a_429_before_any_success_learns_no_rate() -> None:
    """Nothing delivered yet says nothing about a rate: the advice only."""
    state = PacingState()
    state.take(0.0)
    state.observe(429, {"Retry-After": "0.5"}, 0.0, wall=lambda: WALL)
    assert state.rate is None
    assert state.delay(0.0) == 0.5


async def test_the_start_up_window_holds_the_fifth_request_until_an_answer() -> None:
    """Four in flight before any answer; an answer lets more go (half a request per answer)."""
    sleeps = SleepRecorder()
    limiter = AdaptiveRateLimiter(clock=sleeps.clock, sleep=sleeps)
    for _ in range(4):
        assert await limiter.acquire(max_wait=10) == 0.0
    fifth = asyncio.ensure_future(limiter.acquire(max_wait=10))
    await asyncio.sleep(0)
    assert not fifth.done()
    await limiter.observe(200, {})
    assert await fifth == 0.0
    assert limiter.state.in_flight == 4


async def test_a_learned_rate_turns_the_fast_path_off() -> None:
    """Once a 429 has taught a rate, take_now() refuses: every request is spaced."""
    limiter = AdaptiveRateLimiter()
    limiter.state.window = None
    assert limiter.take_now()
    limiter.record(200, {})
    limiter.state.in_flight += 1
    limiter.record(429, {})
    assert limiter.state.rate is not None
    assert not limiter.take_now()


async def test_a_pause_turns_the_fast_path_off() -> None:
    """Retry-After: 5 before any success: take_now() refuses, acquire() waits the 5 s."""
    sleeps = SleepRecorder()
    limiter = AdaptiveRateLimiter(clock=sleeps.clock, sleep=sleeps)
    assert await limiter.acquire(max_wait=10) == 0.0
    limiter.record(429, {"Retry-After": "5"})
    assert not limiter.take_now()
    assert await limiter.acquire(max_wait=10) == 0.0
    assert sleeps.delays == [5.0]


def test_any_answer_but_a_429_counts_as_delivered() -> None:
    """A 404 got through the limit too: a hundred of them in 1 s teach 100/s at the next 429."""
    state = PacingState()
    for i in range(100):
        state.take(i / 100)
        state.observe(404, {}, i / 100, wall=lambda: WALL)
    state.take(1.0)
    state.observe(429, {}, 1.0, wall=lambda: WALL)
    assert state.rate == pytest.approx(100, rel=0.05)
