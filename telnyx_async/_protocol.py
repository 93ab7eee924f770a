"""Sans-I/O protocol: ids to URL path segments, request headers, responses to data or errors.

Nothing here performs I/O or knows aiohttp: every function takes and returns
plain values, so the hard cases are instant table tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, TypeVar, cast
from urllib.parse import quote

import msgspec

from ._errors import (
    APIStatusError,
    ErrorObject,
    InvalidConnectionIdError,
    ResponseValidationError,
    status_error_class,
)
from ._models import (
    ACTIVE_CALLS_DECODER,
    CONNECTION_DECODER,
    COUNTS_DECODER,
    ERROR_DECODER,
    PAGE_DECODER,
    ActiveCallsPage,
    Connection,
    ConnectionCounts,
    ConnectionLimits,
    GlobalConnectionLimit,
    Page,
    PerTypeConnectionLimits,
)
from ._text import redact, safe_text, shorten
from ._version import __version__

USER_AGENT: Final = f"telnyx-async/{__version__}"

RawResponse = tuple[int, Mapping[str, str], bytes]
"""One HTTP answer: status, headers (looked up case-insensitively), the whole body."""
Secrets = Iterable[str]
"""Strings that must never appear in a message (the API key): redacted wherever met.

Pass a ``SecretStrings``, whose ``repr`` never shows them."""
_EXCERPT_BYTES: Final = 4096


def encode_id(conn_id: str) -> str:
    """Percent-encode a connection id as exactly one URL path segment.

    Every character outside the unreserved set is encoded (``/``, ``?``, ``#``,
    ``%``, whitespace, CR/LF, non-ASCII), so an id can never change the
    request's path, query or headers. ``"."`` and ``".."`` are refused: they
    stay unencoded and URL normalisation would resolve them as dot-segments.
    So is a ``str`` that is not valid Unicode text (a lone surrogate such as
    ``U+D800``): it has no UTF-8 form, so it cannot be put in a URL.

    Raises:
        TypeError: ``conn_id`` is not a ``str``.
        InvalidConnectionIdError: (a ``ValueError``) it is empty, ``"."``, ``".."``
            or holds a lone surrogate.

    Examples:
        >>> encode_id("../balance")
        '..%2Fbalance'
    """
    if type(conn_id) is not str:
        if not isinstance(conn_id, str):
            raise TypeError(f"connection id must be a str, got {type(conn_id).__name__}")
        # A str subclass: take its plain value; str() would call an overridden __str__.
        conn_id = str.__str__(conn_id)
    if conn_id in ("", ".", ".."):
        raise InvalidConnectionIdError(
            f"connection id must be a non-empty string other than '.' or '..', got {conn_id!r}"
        )
    if conn_id.isascii() and conn_id.isalnum():
        # Letters and digits only (every real id: 19 digits): quote() would return
        # it unchanged, at several times the cost of these two checks.
        return conn_id
    try:
        return quote(conn_id, safe="")
    except UnicodeEncodeError:
        raise InvalidConnectionIdError(
            "connection id is not valid Unicode text (it holds a lone surrogate): "
            + shorten(ascii(conn_id))
        ) from None


def request_headers(api_key: str) -> dict[str, str]:
    """The headers sent with every request: auth, content negotiation and our name.

    Raises:
        ValueError: the key is empty or contains whitespace or control characters
            (it could split the header). The key itself is never in the message.
    """
    if not api_key or not api_key.isprintable() or any(c.isspace() for c in api_key):
        raise ValueError("the API key must be non-empty, without whitespace or control characters")
    return {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }


def decode_connection(
    body: bytes,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    secrets: Secrets = (),
) -> Connection:
    """Decode a successful ``{"data": {...}}`` response body into a ``Connection``.

    Raises:
        ResponseValidationError: the body is not JSON, is nested too deeply to
            decode, or a field has the wrong type; the message names the field
            as a ``$.data...`` path.
    """
    return _decode(CONNECTION_DECODER, body, "Connection", status, headers, secrets).data


def decode_page(
    body: bytes,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    secrets: Secrets = (),
) -> Page:
    """Decode a successful ``GET /connections`` body into a ``Page``.

    Raises:
        ResponseValidationError: as ``decode_connection``, or the page has no
            ``meta`` totals, without which a walk cannot know where it ends.
    """
    page = _decode(PAGE_DECODER, body, "list of connections", status, headers, secrets)
    meta = page.meta
    if meta.total_pages is None or meta.total_results is None:
        raise ResponseValidationError(
            "response does not match the list of connections: $.meta lacks total_pages "
            "or total_results",
            status=status,
            request_id=_request_id(headers, secrets),
        )
    return page


def decode_active_calls(
    body: bytes,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    secrets: Secrets = (),
) -> ActiveCallsPage:
    """Decode a successful ``GET /connections/{id}/active_calls`` body into a page.

    Raises:
        ResponseValidationError: as ``decode_connection``.
    """
    return _decode(ACTIVE_CALLS_DECODER, body, "active calls page", status, headers, secrets)


def decode_counts(
    body: bytes,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    secrets: Secrets = (),
) -> ConnectionCounts:
    """Decode a successful ``GET /connections/count`` body into ``ConnectionCounts``.

    ``limits`` is one of two shapes with no tag: ``global_limit`` alone says a
    ``GlobalConnectionLimit``, anything else must be the three per-type limits.

    Raises:
        ResponseValidationError: as ``decode_connection``, or ``limits`` is neither shape.
    """
    raw = _decode(COUNTS_DECODER, body, "connection counts", status, headers, secrets).data
    try:
        limits: ConnectionLimits = (
            msgspec.convert(raw.limits, GlobalConnectionLimit)
            if "global_limit" in raw.limits
            else msgspec.convert(raw.limits, PerTypeConnectionLimits)
        )
    except msgspec.ValidationError as exc:
        raise ResponseValidationError(
            f"response does not match the connection counts schema: {exc} - at `$.data.limits`",
            status=status,
            request_id=_request_id(headers, secrets),
        ) from None
    return ConnectionCounts(counts=raw.counts, limits=limits, record_type=raw.record_type)


_T = TypeVar("_T")


def _decode(
    decoder: msgspec.json.Decoder[_T],
    body: bytes,
    schema: str,
    status: int,
    headers: Mapping[str, str] | None,
    secrets: Secrets,
) -> _T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        problem = f"response does not match the {schema} schema: {exc}"
    except msgspec.DecodeError as exc:
        problem = f"response body is not valid JSON ({exc}): {_excerpt(body, secrets)}"
    except RecursionError:
        problem = "response body is nested too deeply to decode"
    raise ResponseValidationError(
        problem, status=status, request_id=_request_id(headers, secrets)
    ) from None


def encode_query(params: Iterable[tuple[str, str]]) -> str:
    """Percent-encode query parameters (brackets too: ``page%5Bsize%5D=250``).

    Every character outside the unreserved set is encoded, so a filter value
    can never add a parameter or end the URL.

    Raises:
        ValueError: a value holds a lone surrogate (it has no UTF-8 form).

    Examples:
        >>> encode_query([("page[size]", "250"), ("sort", "-created_at")])
        'page%5Bsize%5D=250&sort=-created_at'
    """
    try:
        return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
    except UnicodeEncodeError:
        raise ValueError("a query value is not valid Unicode text (a lone surrogate)") from None


def status_error(
    status: int, headers: Mapping[str, str], body: bytes, *, secrets: Secrets = ()
) -> APIStatusError:
    """Build the exception for an error response; never raises while doing so.

    The documented ``ErrorResponse`` JSON gives ``.errors`` and a message made
    of the first error's title, detail and code. Any other body (an HTML page
    from a proxy, truncated or too deeply nested JSON) gives the right class
    with an excerpt of it. Server text is shortened in the message (the full,
    redacted values stay in ``.errors``), and ``secrets`` are redacted everywhere.
    """
    try:
        errors = ERROR_DECODER.decode(body).errors
    except (msgspec.DecodeError, RecursionError):
        errors = ()
    if errors:
        if secrets:
            errors = tuple(_redact_error(err, secrets) for err in errors)
        first = errors[0]
        parts = (shorten(p) for p in (first.title, first.detail) if p)
        message = ": ".join(parts) or "error"
        if first.code:
            message += f" (code {shorten(first.code)})"
        if len(errors) > 1:
            message += f" and {len(errors) - 1} more error(s)"
    else:
        message = _excerpt(body, secrets)
    return status_error_class(status)(
        message, status=status, errors=errors, request_id=_request_id(headers, secrets)
    )


def _redact_error(err: ErrorObject, secrets: Secrets) -> ErrorObject:
    # Error path only: walking the few strings of one error object is cheap.
    tree = msgspec.to_builtins(err)
    cleaned = _redact_tree(tree, secrets)
    return err if cleaned == tree else msgspec.convert(cleaned, ErrorObject)


def _redact_tree(value: object, secrets: Secrets) -> object:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        tree = cast("dict[str, object]", value)
        return {key: _redact_tree(item, secrets) for key, item in tree.items()}
    return value


def _request_id(headers: Mapping[str, str] | None, secrets: Secrets = ()) -> str | None:
    value = headers.get("x-request-id") if headers is not None else None
    return safe_text(value, secrets) if value is not None else None


def _excerpt(body: bytes, secrets: Secrets = ()) -> str:
    # Redacted before it is cut, so a cut never leaves part of a secret behind.
    text = redact(body[:_EXCERPT_BYTES].decode("utf-8", "replace"), secrets)
    text = " ".join(text.split())  # one line, whatever the body's layout
    text = shorten(text)
    return f"unexpected response body: {text!r}" if text else "empty response body"
