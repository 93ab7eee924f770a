"""The sans-I/O protocol: id encoding, request headers, decoding and error mapping."""

from __future__ import annotations

import datetime as dt
import json
import pickle

import pytest
from multidict import CIMultiDict

from telnyx_async import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    Connection,
    InternalServerError,
    InvalidConnectionIdError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    TelnyxError,
    UnprocessableEntityError,
)
from telnyx_async._protocol import (
    USER_AGENT,
    decode_connection,
    encode_id,
    request_headers,
    status_error,
)
from telnyx_async._version import __version__

from .conftest import API_KEY, SPEC_EXAMPLE, connection_body, error_body


@pytest.mark.parametrize(
    ("conn_id", "segment"),
    [
        ("1293384261075731499", "1293384261075731499"),
        ("../balance", "..%2Fbalance"),
        ("a/b", "a%2Fb"),
        ("x?y=1", "x%3Fy%3D1"),
        ("x#frag", "x%23frag"),
        ("%2e%2e", "%252e%252e"),
        (" a b ", "%20a%20b%20"),
        ("a\r\nHost: evil", "a%0D%0AHost%3A%20evil"),
        ("é", "%C3%A9"),
        ("...", "..."),
    ],
)
def test_id_is_one_encoded_segment(conn_id: str, segment: str) -> None:
    """Every reserved, space, control or non-ASCII character is percent-encoded."""
    assert encode_id(conn_id) == segment


@pytest.mark.parametrize("conn_id", ["", ".", ".."])
def test_ids_that_cannot_name_a_connection_are_refused(conn_id: str) -> None:
    """Empty and dot-segment ids raise a ValueError that is also a TelnyxError."""
    with pytest.raises(InvalidConnectionIdError) as info:
        encode_id(conn_id)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, TelnyxError)


@pytest.mark.parametrize("conn_id", [123, None, b"123", 1.5])
def test_non_string_ids_raise_type_error(conn_id: object) -> None:
    """Ids are strings; numbers would lose digits of a 19-digit id."""
    with pytest.raises(TypeError, match="must be a str"):
        encode_id(conn_id)  # type: ignore[arg-type]


def test_request_headers() -> None:
    """Bearer auth, JSON accept and a User-Agent naming the library and version."""
    headers = request_headers(API_KEY)
    assert headers == {
        "Authorization": f"Bearer {API_KEY}",
        "Accept": "application/json",
        "User-Agent": f"telnyx-async/{__version__}",
    }
    assert f"telnyx-async/{__version__}" == USER_AGENT


@pytest.mark.parametrize("key", ["", "KEY\r\nX-Evil: 1", "KEY WITH SPACE", "KEY\x00"])
def test_unsafe_keys_are_refused_without_echoing_them(key: str) -> None:
    """A key that could split a header is refused, and the message does not contain it."""
    with pytest.raises(ValueError, match="API key") as info:
        request_headers(key)
    if key:
        assert key not in str(info.value)


def test_decodes_the_spec_example() -> None:
    """The spec's example decodes into typed, timezone-aware fields."""
    conn = decode_connection(connection_body("1293384261075731499", tags=["a", "b"]))
    assert conn == Connection(
        id="1293384261075731499",
        record_type="ip_connection",
        active=True,
        anchorsite_override="Latency",
        connection_name="string",
        created_at=dt.datetime(2018, 2, 2, 22, 25, 27, 521000, tzinfo=dt.UTC),
        updated_at=dt.datetime(2018, 2, 2, 22, 25, 27, 521000, tzinfo=dt.UTC),
        webhook_event_url="https://example.com",
        webhook_event_failover_url="https://failover.example.com",
        webhook_api_version="1",
        outbound_voice_profile_id="1293384261075731499",
        tags=("a", "b"),
    )
    assert conn.created_at is not None
    assert conn.created_at.utcoffset() == dt.timedelta(0)


def test_unknown_fields_nulls_and_new_sites_decode() -> None:
    """New API fields are skipped, nulls become None, an unlisted site is kept as is."""
    body = json.dumps(
        {
            "data": {
                "id": "1",
                "brand_new_field": {"x": [1, 2]},
                "webhook_event_url": None,
                "tags": None,
                "anchorsite_override": "Mars, Olympus Mons",
            },
            "meta": {"also": "ignored"},
        }
    ).encode()
    conn = decode_connection(body)
    assert conn.id == "1"
    assert conn.webhook_event_url is None
    assert conn.tags is None
    assert conn.anchorsite_override == "Mars, Olympus Mons"
    assert conn.connection_name is None


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b'{"data": {"active": "yes"}}', "$.data.active"),
        (b'{"data": {"created_at": "2018-02-02T22:25:27"}}', "$.data.created_at"),
        (b'{"data": {"tags": [1]}}', "$.data.tags[0]"),
        (b'{"data": {"id": 1293384261075731499}}', "$.data.id"),
        (b'{"data": null}', "$.data"),
        (b'{"nodata": {}}', "data"),
        (b"[]", "array"),
    ],
)
def test_schema_mismatch_names_the_field(body: bytes, names: str) -> None:
    """A 200 body of the wrong shape raises ResponseValidationError naming the path."""
    with pytest.raises(ResponseValidationError, match=r"schema") as info:
        decode_connection(body, headers=CIMultiDict({"X-Request-Id": "r-9"}))
    assert names in str(info.value)
    assert info.value.request_id == "r-9"
    assert info.value.__cause__ is None  # no raw decode traceback chained


@pytest.mark.parametrize(
    "body", [b"", b"<html>502</html>", b'{"data": {"id": "1"', b"\xff\xfe\x00"]
)
def test_non_json_success_body_is_a_readable_error(body: bytes) -> None:
    """Truncated, HTML, empty or binary bodies give a readable ResponseValidationError."""
    with pytest.raises(ResponseValidationError, match="not valid JSON"):
        decode_connection(body)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (599, InternalServerError),
        (418, APIStatusError),
        (301, APIStatusError),
    ],
)
def test_status_maps_to_one_class(status: int, cls: type[APIStatusError]) -> None:
    """The status -> exception table, with every 5xx an InternalServerError."""
    error = status_error(status, CIMultiDict(), b"")
    assert type(error) is cls
    assert error.status == status


def test_error_response_is_decoded() -> None:
    """The documented ErrorResponse fills .errors, the message and the request id."""
    body = json.dumps(
        {
            "errors": [
                {
                    "code": "10005",
                    "title": "Resource not found",
                    "detail": "The requested resource or URL could not be found.",
                    "source": {"pointer": "/"},
                    "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10005"},
                },
                {"code": "10015", "title": "Bad Request"},
            ]
        }
    ).encode()
    error = status_error(404, CIMultiDict({"X-Request-ID": "abc-123"}), body)
    assert isinstance(error, NotFoundError)
    assert error.request_id == "abc-123"
    assert [e.code for e in error.errors] == ["10005", "10015"]
    first = error.errors[0]
    assert first.source is not None
    assert first.source.pointer == "/"
    assert first.meta is not None
    assert first.meta.url is not None
    assert first.meta.url.endswith("/10005")
    assert str(error) == (
        "HTTP 404: Resource not found: The requested resource or URL could not be found. "
        "(code 10005) and 1 more error(s) [request abc-123]"
    )


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway"),
        (b'{"errors": [{"code": "1000', "errors"),
        (b"", "empty response body"),
        (b'{"errors": "not a list"}', "not a list"),
        (b"x" * 5000, "..."),
    ],
)
def test_undocumented_error_bodies_keep_their_status_class(body: bytes, shown: str) -> None:
    """HTML from a proxy, truncated JSON or junk still give the status class and an excerpt."""
    error = status_error(502, CIMultiDict(), body)
    assert isinstance(error, InternalServerError)
    assert error.errors == ()
    assert shown in str(error)
    assert len(str(error)) < 300


def test_status_errors_pickle() -> None:
    """Errors survive pickling (multiprocessing, task queues) with their attributes."""
    error = status_error(404, CIMultiDict({"x-request-id": "r1"}), error_body("10005", "Nf", "d"))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is NotFoundError
    assert (copy.status, copy.request_id, copy.errors, str(copy)) == (
        404,
        "r1",
        error.errors,
        str(error),
    )
    validation = ResponseValidationError("bad", status=200, request_id="r2")
    assert pickle.loads(pickle.dumps(validation)).request_id == "r2"


def test_spec_example_is_unchanged() -> None:
    """Guard for the fixture itself: it is the spec's example, every field present."""
    assert set(SPEC_EXAMPLE) == set(Connection.__struct_fields__) - {"tags"}
