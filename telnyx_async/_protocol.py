"""Sans-I/O protocol: ids to URL path segments, request headers, responses to data or errors.

Nothing here performs I/O or knows aiohttp: every function takes and returns
plain values, so the hard cases are instant table tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import quote

import msgspec

from ._errors import (
    APIStatusError,
    InvalidConnectionIdError,
    ResponseValidationError,
    status_error_class,
)
from ._models import CONNECTION_DECODER, ERROR_DECODER, Connection
from ._version import __version__

USER_AGENT: Final = f"telnyx-async/{__version__}"

RawResponse = tuple[int, Mapping[str, str], bytes]
"""One HTTP answer: status, headers (looked up case-insensitively), the whole body."""
_MAX_DETAIL_CHARS: Final = 200


def encode_id(conn_id: str) -> str:
    """Percent-encode a connection id as exactly one URL path segment.

    Every character outside the unreserved set is encoded (``/``, ``?``, ``#``,
    ``%``, whitespace, CR/LF, non-ASCII), so an id can never change the
    request's path, query or headers. ``"."`` and ``".."`` are refused: they
    stay unencoded and URL normalisation would resolve them as dot-segments.

    Raises:
        TypeError: ``conn_id`` is not a ``str``.
        InvalidConnectionIdError: (a ``ValueError``) it is empty, ``"."`` or ``".."``.

    Example:
        >>> encode_id("../balance")
        '..%2Fbalance'
    """
    if type(conn_id) is not str:
        if not isinstance(conn_id, str):
            raise TypeError(f"connection id must be a str, got {type(conn_id).__name__}")
        conn_id = str(conn_id)  # a str subclass: drop any overridden behaviour
    if conn_id in ("", ".", ".."):
        raise InvalidConnectionIdError(
            f"connection id must be a non-empty string other than '.' or '..', got {conn_id!r}"
        )
    return quote(conn_id, safe="")


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
    body: bytes, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> Connection:
    """Decode a successful ``{"data": {...}}`` response body into a ``Connection``.

    Raises:
        ResponseValidationError: the body is not JSON, or a field has the wrong
            type; the message names the field as a ``$.data...`` path.
    """
    try:
        return CONNECTION_DECODER.decode(body).data
    except msgspec.ValidationError as exc:
        problem = f"response does not match the Connection schema: {exc}"
    except msgspec.DecodeError as exc:
        problem = f"response body is not valid JSON ({exc}): {_excerpt(body)}"
    raise ResponseValidationError(problem, status=status, request_id=_request_id(headers)) from None


def status_error(status: int, headers: Mapping[str, str], body: bytes) -> APIStatusError:
    """Build the exception for an error response; never raises while doing so.

    The documented ``ErrorResponse`` JSON gives ``.errors`` and a message made
    of the first error's title, detail and code. Any other body (an HTML page
    from a proxy, truncated JSON) gives the right class with an excerpt of it.
    """
    try:
        errors = ERROR_DECODER.decode(body).errors
    except msgspec.DecodeError:
        errors = ()
    if errors:
        first = errors[0]
        message = ": ".join(p for p in (first.title, first.detail) if p) or "error"
        if first.code:
            message += f" (code {first.code})"
        if len(errors) > 1:
            message += f" and {len(errors) - 1} more error(s)"
    else:
        message = _excerpt(body)
    return status_error_class(status)(
        message, status=status, errors=errors, request_id=_request_id(headers)
    )


def _request_id(headers: Mapping[str, str] | None) -> str | None:
    return headers.get("x-request-id") if headers is not None else None


def _excerpt(body: bytes) -> str:
    text = body[: _MAX_DETAIL_CHARS * 4].decode("utf-8", "replace")
    text = " ".join(text.split())  # one line, whatever the body's layout
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[:_MAX_DETAIL_CHARS] + "..."
    return f"unexpected response body: {text!r}" if text else "empty response body"
