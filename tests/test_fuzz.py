"""Property-based fuzzing: whatever a server or a caller sends, only TelnyxErrors escape.

Responses (arbitrary bytes, arbitrary JSON, with and without the envelope), ids
and header values go through the sans-I/O functions the session uses, so each
example costs microseconds and hypothesis can try thousands.
"""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telnyx_async import (
    APIStatusError,
    Connection,
    InvalidConnectionIdError,
    ResponseValidationError,
)
from telnyx_async._protocol import decode_connection, encode_id, status_error
from telnyx_async._retry import parse_retry_after, retry_after_from
from telnyx_async._text import SecretStrings

from .conftest import API_KEY

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECRETS = SecretStrings(API_KEY)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)
# Bodies a server might send: raw bytes, any JSON, JSON shaped like ours with any values.
bodies = st.one_of(
    st.binary(max_size=2048),
    json_values.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps({"data": v}).encode()),
    json_values.map(lambda v: json.dumps({"errors": [v]}).encode()),
    st.dictionaries(
        st.sampled_from(["title", "detail", "code", "source", "meta"]), json_values
    ).map(lambda e: json.dumps({"errors": [e]}).encode()),
    # Nesting deep enough to exhaust the decoder's recursion limit, where it is skipped.
    st.integers(min_value=1, max_value=3000)
    .map(lambda n: b"[" * n + b"]" * n)
    .flatmap(
        lambda deep: st.sampled_from(
            [deep, b'{"data": {"x": ' + deep + b"}}", b'{"errors": [{"x": ' + deep + b"}]}"]
        )
    ),
)


@FUZZ
@given(body=bodies, status=st.integers(min_value=200, max_value=299))
def test_any_success_body_is_a_connection_or_a_validation_error(body: bytes, status: int) -> None:
    """decode_connection returns a Connection or raises ResponseValidationError, nothing else."""
    result: object
    try:
        result = decode_connection(body, status=status, headers={}, secrets=SECRETS)
    except ResponseValidationError as exc:
        result = exc
    assert isinstance(result, Connection | ResponseValidationError)
    assert len(str(result)) < 2000 or isinstance(result, Connection)


@FUZZ
@given(
    body=bodies | bodies.map(lambda b: b.replace(b"x", API_KEY.encode())),
    status=st.integers(min_value=300, max_value=599),
    request_id=st.none() | st.text(max_size=300),
)
def test_any_error_body_gives_its_status_error_without_raising(
    body: bytes, status: int, request_id: str | None
) -> None:
    """status_error never raises, picks a class by status, stays short and key-free."""
    headers = {} if request_id is None else {"x-request-id": request_id + API_KEY}
    exc = status_error(status, headers, body, secrets=SECRETS)
    assert isinstance(exc, APIStatusError)
    assert exc.status == status
    assert len(str(exc)) < 2000
    assert API_KEY not in str(exc)
    assert API_KEY not in repr(exc.errors)


@FUZZ
@given(
    conn_id=st.text() | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
)
def test_any_id_is_one_path_segment_or_an_invalid_id_error(conn_id: str) -> None:
    """encode_id gives one segment with no delimiter, or InvalidConnectionIdError."""
    try:
        segment = encode_id(conn_id)
    except InvalidConnectionIdError:
        return
    assert segment not in ("", ".", "..")
    assert not set("/?#\r\n ") & set(segment)
    assert segment.isascii()


@FUZZ
@given(value=st.text(max_size=80), status=st.sampled_from([429, 503]), now=st.floats(0, 4e9))
def test_any_retry_header_gives_a_finite_non_negative_wait_or_none(
    value: str, status: int, now: float
) -> None:
    """Retry-After and x-ratelimit-reset never raise and never advise a negative wait."""
    for advice in (
        parse_retry_after(value, now=now),
        retry_after_from(status, {"x-ratelimit-reset": value}, now=now),
    ):
        assert advice is None or (math.isfinite(advice) and advice >= 0)


@FUZZ
@given(
    day=st.integers(0, 10**25),
    hour=st.integers(0, 10**25),
    zone=st.integers(-(10**25), 10**25),
)
def test_absurd_http_dates_are_ignored_not_raised(day: int, hour: int, zone: int) -> None:
    """Huge fields in an HTTP-date never raise OverflowError or ValueError."""
    advice = parse_retry_after(f"Mon, {day} Jan 2020 {hour}:00:00 {zone:+05d}", now=0.0)
    assert advice is None or (math.isfinite(advice) and advice >= 0)
