"""The retry and pacing decision as tables: every 429 variant, the budget, the deadline, TLS.

``decide()`` is pure, so each row is an instant call: no server, no sleeping.
"""

from __future__ import annotations

import email.utils
import itertools
import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telnyx_async import (
    APIConnectionError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RetryBudget,
    RetryPolicy,
    TLSError,
)
from telnyx_async._config import DEFAULT_MAX_RATE_LIMIT_WAIT, THROTTLE_FLOOR_MAX
from telnyx_async._decide import (
    CallState,
    Decision,
    Raise,
    Resend,
    Retry,
    ThrottleStreak,
    decide,
    max_throttled_requests,
)
from telnyx_async._errors import APIStatusError, TelnyxError
from telnyx_async._loop import Deadline
from telnyx_async._pacing import PacingState

WALL = 1_700_000_000.0
REQUEST = "GET /v2/connections/1"


def http_date(offset: float) -> str:
    """An HTTP date ``offset`` seconds from WALL."""
    return email.utils.formatdate(WALL + offset, usegmt=True)


@dataclass
class Call:
    """One call's state, its session's streak and budget, and a clock: a row's world."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    budget: RetryBudget = field(default_factory=RetryBudget)
    streak: ThrottleStreak = field(default_factory=ThrottleStreak)
    state: CallState = field(default_factory=CallState)
    max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT
    now: float = 0.0

    def answer(
        self,
        status: int | None,
        headers: dict[str, str] | None = None,
        *,
        deadline_left: float | None = None,
        error: TelnyxError | None = None,
    ) -> Decision:
        """Decide on an answer (``None``: a connection error) at the row's ``now``."""
        if error is None:
            if status is None:
                error = APIConnectionError("GET /v2/connections/1 failed: reset")
            else:
                cls = RateLimitError if status == 429 else APIStatusError
                error = cls("x", status=status)
        self.state.attempts += 1
        self.state.sent_epoch = self.streak.epoch
        return decide(
            status,
            None if status is None else (headers or {}),
            error,
            self.state,
            self.streak,
            policy=self.policy,
            budget=self.budget,
            max_rate_limit_wait=self.max_rate_limit_wait,
            deadline_left=deadline_left,
            now=self.now,
            wall=WALL + self.now,
            request=REQUEST,
        )

    def follow(self, decision: Decision) -> None:
        """Do what a ``Retry`` or ``Resend`` says: sleep its delay, then pass the floor."""
        assert not isinstance(decision, Raise)
        if isinstance(decision, Retry):
            self.state.retries += 1
        self.now += decision.delay
        hold = self.streak.hold(self.now)
        assert hold == 0.0, "the decision's delay already covers the floor"


# --- the 429 variants, one row each --------------------------------------------------------

ADVICE_ROWS = [
    pytest.param({"Retry-After": "0"}, 0.0, id="Retry-After 0"),
    pytest.param({"Retry-After": "-3"}, 0.0, id="Retry-After negative"),
    pytest.param({"Retry-After": "0.01"}, 0.01, id="Retry-After 0.01"),
    pytest.param({"Retry-After": "2"}, 2.0, id="Retry-After 2"),
    pytest.param({"Retry-After": http_date(-30)}, 0.0, id="Retry-After past date"),
    pytest.param({"Retry-After": http_date(20)}, 20.0, id="Retry-After future date"),
    pytest.param({"Retry-After": "nan"}, 0.0, id="Retry-After nan"),
    pytest.param({"Retry-After": "inf"}, 0.0, id="Retry-After inf"),
    pytest.param({"Retry-After": "soon"}, 0.0, id="Retry-After text"),
    pytest.param({"x-ratelimit-reset": "0"}, 0.0, id="reset 0"),
    pytest.param({"x-ratelimit-reset": "3"}, 3.0, id="reset 3"),
    pytest.param({"x-ratelimit-reset": "-1"}, 0.0, id="reset negative"),
    pytest.param({}, 0.0, id="no advice"),
]


@pytest.mark.parametrize(("headers", "delay"), ADVICE_ROWS)
def test_a_first_429_is_resent_after_its_plausible_advice(
    headers: dict[str, str], delay: float
) -> None:
    """The first 429: a resend (not a retry) after the advice; unreadable advice is 0."""
    call = Call()
    decision = call.answer(429, headers)
    assert isinstance(decision, Resend)
    assert decision.delay == pytest.approx(delay, abs=1.5)
    assert call.state.retries == 0
    assert call.budget.tokens == call.budget.max_tokens  # 429s never touch the budget


@pytest.mark.parametrize(("headers", "delay"), ADVICE_ROWS)
def test_only_429s_end_within_max_rate_limit_wait_whatever_they_advise(
    headers: dict[str, str], delay: float
) -> None:
    """Always 429 with this header: a RateLimitError, within 60 s, after at most 14 requests."""
    call = Call()
    requests = 0
    for _ in range(1000):
        requests += 1
        decision = call.answer(429, headers)
        if isinstance(decision, Raise):
            break
        call.follow(decision)
    else:
        pytest.fail("1,000 429s and the call still goes on")
    assert isinstance(decision.error, RateLimitError)
    assert decision.reason == "max_rate_limit_wait"
    assert decision.error.caller_bound
    assert "later than this call may wait" in str(decision.error)
    assert call.now <= DEFAULT_MAX_RATE_LIMIT_WAIT
    assert requests <= max_throttled_requests(DEFAULT_MAX_RATE_LIMIT_WAIT) == 14


def test_the_floor_doubles_from_50_ms_to_10_s() -> None:
    """Retry-After: 0 on every 429: sleeps of 0, 0.05, 0.1, ... 6.4, then 10 s each."""
    call = Call()
    delays = []
    for _ in range(12):
        decision = call.answer(429, {"Retry-After": "0"})
        assert isinstance(decision, Resend)
        delays.append(decision.delay)
        call.follow(decision)
    assert delays == pytest.approx([0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0])


def test_advice_longer_than_the_floor_wins() -> None:
    """Retry-After: 5 on every 429: 5 s each time until the floor passes 5 s."""
    call = Call()
    delays = []
    for _ in range(10):
        decision = call.answer(429, {"Retry-After": "5"})
        assert isinstance(decision, Resend)
        delays.append(decision.delay)
        call.follow(decision)
    assert delays[:8] == [5.0] * 8
    assert delays[8] == pytest.approx(6.4)
    assert delays[9] == pytest.approx(THROTTLE_FLOOR_MAX)
    assert isinstance(call.answer(429, {"Retry-After": "5"}), Raise)  # 56.4 s: 10 more is past 60


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "61"}, {"Retry-After": http_date(3600)}, {"x-ratelimit-reset": "999999999"}],
    ids=["Retry-After 61", "future date 1 h", "reset absurd"],
)
def test_advice_beyond_the_call_s_bound_raises_for_this_call_at_once(
    headers: dict[str, str],
) -> None:
    """A 429 asking for more than max_rate_limit_wait: RateLimitError now, with the advice."""
    call = Call()
    decision = call.answer(429, headers)
    assert isinstance(decision, Raise)
    assert decision.reason == "max_rate_limit_wait"
    assert isinstance(decision.error, RateLimitError)
    assert decision.error.retry_after is not None
    assert decision.error.retry_after > 60


def test_advice_exactly_at_the_bound_is_obeyed() -> None:
    """Retry-After: 60 with max_rate_limit_wait 60: waited, not refused."""
    decision = Call().answer(429, {"Retry-After": "60"})
    assert decision == Resend(60.0)


def test_a_429_advice_past_the_deadline_raises_naming_it() -> None:
    """Retry-After: 5 with 1 s to the deadline: the 429's error now, caller-bound."""
    decision = Call().answer(429, {"Retry-After": "5"}, deadline_left=1.0)
    assert isinstance(decision, Raise)
    assert decision.reason == "deadline"
    assert decision.error.caller_bound
    assert "the call's deadline" in str(decision.error)


def test_time_waited_in_the_limiter_before_the_first_429_counts() -> None:
    """50 s paced before any 429: Retry-After 20 is past the call's 60 s."""
    call = Call()
    call.state.paced = 50.0
    decision = call.answer(429, {"Retry-After": "20"})
    assert isinstance(decision, Raise)
    assert decision.reason == "max_rate_limit_wait"
    assert isinstance(Call().answer(429, {"Retry-After": "20"}), Resend)


def test_a_call_joining_a_long_streak_may_wait_only_what_is_left_of_it() -> None:
    """The API answered only 429 for 55 s: a new call may wait 5 s more, not 60."""
    first = Call()
    first.answer(429, {})
    joining = Call(streak=first.streak, now=55.0)
    decision = joining.answer(429, {"Retry-After": "6"})
    assert isinstance(decision, Raise)
    assert decision.reason == "max_rate_limit_wait"
    assert joining.state.rate_limit_left(joining.streak, 60.0, 55.0) == pytest.approx(5.0)


def test_any_answer_but_a_429_ends_the_streak() -> None:
    """A 404 between 429s: the floor starts over, so does the streak's clock."""
    call = Call()
    for _ in range(5):
        call.follow(call.answer(429, {}))
    assert call.streak.floor() > 0.0
    assert isinstance(call.answer(404, {}, error=NotFoundError("x", status=404)), Raise)
    assert call.streak.since is None
    assert call.streak.floor() == 0.0


def test_429s_of_one_burst_are_one_strike() -> None:
    """Fifty requests sent together, fifty 429s: one strike, no floor yet."""
    streak = ThrottleStreak()
    calls = [Call(streak=streak) for _ in range(50)]
    for call in calls:
        call.state.sent_epoch = streak.epoch
    for call in calls:
        decide(
            429,
            {},
            RateLimitError("x", status=429),
            call.state,
            streak,
            policy=call.policy,
            budget=call.budget,
            max_rate_limit_wait=60.0,
            deadline_left=None,
            now=0.0,
            wall=WALL,
            request=REQUEST,
        )
    assert streak.strikes == 1
    assert streak.floor() == 0.0


def test_the_floor_spaces_every_send_of_the_session() -> None:
    """After five strikes (floor 0.4 s) the session's sends go one per 0.4 s, whoever sends."""
    call = Call()
    for _ in range(5):
        call.follow(call.answer(429, {}))
    streak, now = call.streak, call.now
    assert streak.floor() == pytest.approx(0.4)
    assert streak.hold(now) > 0.0  # the last send took the slot
    sends = [t / 100 for t in range(200) if streak.hold(now + t / 100) == 0.0]
    assert len(sends) == 4  # at 0.4, 0.8, 1.2 and 1.6 s (sampled each 10 ms)
    assert all(b - a >= 0.4 - 1e-9 for a, b in itertools.pairwise(sends))


# --- the other statuses and connection errors ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (503, {}, Retry),
        (503, {"Retry-After": "2"}, Retry),
        (503, {"Retry-After": "60"}, Retry),  # exactly max_retry_after: obeyed
        (503, {"Retry-After": "61"}, Raise),
        (408, {}, Retry),
        (404, {}, Raise),
        (400, {"Retry-After": "1"}, Raise),
    ],
)
def test_other_statuses(
    status: int, headers: dict[str, str], expected: type[Retry] | type[Raise]
) -> None:
    """5xx and 408 retry (Retry-After up to max_retry_after); other 4xx never do."""
    decision = Call().answer(status, headers)
    assert type(decision) is expected
    if isinstance(decision, Retry) and "Retry-After" in headers:
        assert decision.delay == float(headers["Retry-After"])
    if status == 503 and "61" in headers.values():
        assert isinstance(decision, Raise)
        assert decision.reason == "max_retry_after"
        assert "max_retry_after" in str(decision.error)


def test_max_retries_ends_the_call() -> None:
    """Two retries spent: the third 503 is raised."""
    call = Call()
    call.follow(call.answer(503))
    call.follow(call.answer(503))
    decision = call.answer(503, error=InternalServerError("x", status=503))
    assert isinstance(decision, Raise)
    assert decision.reason == "max_retries"


def test_a_spent_budget_refuses_the_retry_and_says_so() -> None:
    """No token left: the 503 is raised, its message naming the budget."""
    call = Call(budget=RetryBudget(max_tokens=1, floor_per_second=0.0))
    call.follow(call.answer(503))
    decision = call.answer(503)
    assert isinstance(decision, Raise)
    assert decision.reason == "retry budget"
    assert "retry budget is spent" in str(decision.error)


def test_a_retry_past_the_deadline_is_not_made() -> None:
    """Retry-After: 5 on a 503 with 1 s left: raised now, no token spent."""
    call = Call()
    decision = call.answer(503, {"Retry-After": "5"}, deadline_left=1.0)
    assert isinstance(decision, Raise)
    assert decision.reason == "deadline"
    assert call.budget.tokens == call.budget.max_tokens


def test_a_connection_error_backs_off_then_gives_up_at_the_deadline() -> None:
    """A reset retries with backoff; with no time left, the deadline's timeout error."""
    policy = RetryPolicy(initial_delay=1.0, max_delay=1.0)
    assert isinstance(Call(policy=policy).answer(None), Retry)
    decision = Call(policy=policy).answer(None, deadline_left=0.0)
    assert isinstance(decision, Raise)
    assert decision.reason == "deadline"
    assert isinstance(decision.error, TimeoutError)
    assert "did not complete within its deadline" in str(decision.error)
    call = Call(policy=policy)
    call.state.attempts += 1
    named = decide(
        None,
        None,
        APIConnectionError("GET /v2/connections/1 failed: reset"),
        call.state,
        call.streak,
        policy=policy,
        budget=RetryBudget(),
        max_rate_limit_wait=60.0,
        deadline_left=0.0,
        now=0.0,
        wall=WALL,
        request="GET /v2/connections/1",
        deadline_at=Deadline(100.0, 0.5),
    )
    assert isinstance(named, Raise)
    assert "GET /v2/connections/1 did not complete within its 0.5s deadline" in str(named.error)


def test_a_tls_failure_is_never_retried() -> None:
    """A certificate that failed once fails every time."""
    decision = Call().answer(None, error=TLSError("certificate verify failed"))
    assert isinstance(decision, Raise)
    assert decision.reason == "TLS"


def test_a_huge_max_retries_never_overflows() -> None:
    """retries_done past 1024 (2.0**1024 overflows): the cap, not an OverflowError."""
    policy = RetryPolicy(max_retries=5000)
    assert policy.delay(1024, rand=lambda: 1.0) == policy.max_delay
    assert policy.delay(10**6, rand=lambda: 1.0) == policy.max_delay
    call = Call(policy=policy, budget=RetryBudget(max_tokens=10**6))
    call.state.retries = 2000
    decision = call.answer(503)
    assert isinstance(decision, Retry)
    assert 0.0 <= decision.delay <= policy.max_delay


# --- whatever the server says: properties ---------------------------------------------------

header_values = st.one_of(
    st.sampled_from(["0", "-1", "0.01", "nan", "inf", "1e400", "999999999", "", "x"]),
    st.floats(-1e3, 1e4, allow_nan=False).map(str),
    st.integers(-(10**6), 10**9).map(str),
    st.integers(-(10**5), 10**5).map(http_date),
)
advice = st.fixed_dictionaries(
    {}, optional={"Retry-After": header_values, "x-ratelimit-reset": header_values}
)


@settings(max_examples=300, deadline=None)
@given(
    answers=st.lists(advice, min_size=1, max_size=40),
    max_wait=st.floats(0, 300),
    work=st.floats(0, 2),
)
def test_a_call_that_sees_only_429s_is_bounded(
    answers: list[dict[str, str]], max_wait: float, work: float
) -> None:
    """Any 429 advice: no negative wait; requests and time within max_rate_limit_wait's bounds.

    ``work`` is the time each attempt takes. The call sends at most
    ``max_throttled_requests(max_rate_limit_wait)`` requests and never waits
    past ``max_rate_limit_wait`` after its first 429.
    """
    call = Call(max_rate_limit_wait=max_wait)
    requests, first_429 = 0, None
    for headers in (answers * 1000)[:1000]:
        requests += 1
        if first_429 is None:
            first_429 = call.now
        decision = call.answer(429, headers)
        if isinstance(decision, Raise):
            assert isinstance(decision.error, RateLimitError)
            break
        assert isinstance(decision, Resend)
        assert decision.delay >= 0.0
        assert math.isfinite(decision.delay)
        call.follow(decision)
        assert call.now - first_429 <= max_wait + 1e-9
        call.now += work * 1e-3
    else:
        pytest.fail("1,000 429s and the call still goes on")
    assert requests <= max_throttled_requests(max_wait)


@settings(max_examples=200, deadline=None)
@given(
    outcomes=st.lists(
        st.tuples(st.sampled_from([None, 408, 429, 500, 503, 404]), advice, st.floats(0, 3)),
        min_size=1,
        max_size=60,
    ),
    deadline=st.none() | st.floats(0, 30),
    max_retries=st.integers(0, 10),
)
def test_no_decision_waits_past_the_call_s_bounds(
    outcomes: list[tuple[int | None, dict[str, str], float]],
    deadline: float | None,
    max_retries: int,
) -> None:
    """Any mix of answers: every wait is >= 0, within the deadline, and retries <= max_retries."""
    call = Call(policy=RetryPolicy(max_retries=max_retries))
    for status, headers, work in outcomes:
        left = None if deadline is None else deadline - call.now
        decision = call.answer(status, headers, deadline_left=left)
        if isinstance(decision, Raise):
            return
        assert decision.delay >= 0.0
        if left is not None:
            assert decision.delay <= left
        if status == 429:
            assert isinstance(decision, Resend)
        call.follow(decision)
        call.now += work
        assert call.state.retries <= max_retries


# --- the session-wide pacing: implausible advice never locks the session out ---------------


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "999999999"}),
        (200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "61"}),
        (429, {"Retry-After": "3600"}),
        (429, {"x-ratelimit-reset": "999999999", "x-ratelimit-remaining": "0"}),
        (429, {"Retry-After": http_date(7200)}),
    ],
)
def test_advice_past_max_pause_is_refused_not_obeyed(status: int, headers: dict[str, str]) -> None:
    """One absurd reset or Retry-After: the next request may start at once, not in an hour."""
    state = PacingState(max_pause=60.0)
    state.take(0.0)
    state.observe(status, headers, 0.0, wall=lambda: WALL)
    assert state.delay(0.0) <= 0.0


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "60"}, 60.0),
        (429, {"Retry-After": "60"}, 60.0),
        (429, {"Retry-After": "0.5"}, 0.5),
        (429, {"x-ratelimit-reset": "2"}, 2.0),
    ],
)
def test_advice_up_to_max_pause_is_obeyed(
    status: int, headers: dict[str, str], wait: float
) -> None:
    """Advice at or under max_pause pauses the session for exactly that long."""
    state = PacingState(max_pause=60.0)
    state.take(0.0)
    state.observe(status, headers, 0.0, wall=lambda: WALL)
    assert state.delay(0.0) == wait


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "-inf", "soon", "", "1e400"])
@pytest.mark.parametrize("status", [200, 429])
def test_unreadable_window_values_change_nothing(status: int, value: str) -> None:
    """Negative, NaN, infinite and non-numeric x-ratelimit-* values: no pause, no window."""
    state = PacingState()
    state.take(0.0)
    headers = {
        "x-ratelimit-remaining": value,
        "x-ratelimit-reset": value,
        "x-ratelimit-limit": value,
    }
    state.observe(status, headers, 0.0, wall=lambda: WALL)
    assert state.delay(0.0) <= 0.0
    assert state.allowance is None
    assert state.limit is None


def test_a_later_shorter_advice_never_shortens_a_pause_in_force() -> None:
    """Retry-After 5, then Retry-After 1 a moment later: still 5."""
    state = PacingState()
    state.take(0.0)
    state.take(0.0)
    state.observe(429, {"Retry-After": "5"}, 0.0, wall=lambda: WALL)
    state.observe(429, {"Retry-After": "1"}, 0.1, wall=lambda: WALL)
    assert state.delay(0.1) == pytest.approx(4.9)
