"""The fake's active calls: per connection, served in cursor pages as the API does.

Cursors are opaque to clients (``v1:`` and a base64 offset), pages hold ``page[size]``
calls (1 to 250, default 20), and the last page has no ``after`` cursor and no
``next`` path.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from .._models import ActiveCall

DEFAULT_CALLS_PAGE_SIZE: Final = 20
MAX_CALLS_PAGE_SIZE: Final = 250
"""``page[size]`` of active calls: 1 to 250, 20 unless asked (the spec's limits)."""

_ENCODER: Final = msgspec.json.Encoder()


class BadCallsQuery(ValueError):
    """A ``page[...]`` parameter the API would refuse: says which, and why."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter
        self.detail = detail


def cursor_at(offset: int) -> str:
    """The opaque cursor of the page starting at ``offset``."""
    return "v1:" + base64.urlsafe_b64encode(str(offset).encode()).decode()


def offset_of(cursor: str) -> int:
    """The offset a cursor of ``cursor_at`` points at.

    Raises:
        BadCallsQuery: not a cursor this fake made.
    """
    try:
        if not cursor.startswith("v1:"):
            raise ValueError(cursor)
        offset = int(base64.urlsafe_b64decode(cursor[3:].encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCallsQuery("page[after]", "The page cursor is not valid.") from None
    if offset < 0:
        raise BadCallsQuery("page[after]", "The page cursor is not valid.")
    return offset


def as_active_call(call: ActiveCall | Mapping[str, Any]) -> ActiveCall:
    """``call`` as an ``ActiveCall``, checked against the schema."""
    return call if isinstance(call, ActiveCall) else msgspec.convert(call, ActiveCall)


def calls_page_body(calls: Sequence[ActiveCall], query: Mapping[str, str], path: str) -> bytes:
    """The body of ``GET {path}`` (a connection's active calls) for these query parameters.

    Raises:
        BadCallsQuery: ``page[size]`` or ``page[after]`` is not one the API takes.
    """
    raw_size = query.get("page[size]", str(DEFAULT_CALLS_PAGE_SIZE))
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_CALLS_PAGE_SIZE:
        raise BadCallsQuery("page[size]", f"page[size] must be from 1 to {MAX_CALLS_PAGE_SIZE}.")
    size = int(raw_size)
    after = query.get("page[after]")
    start = offset_of(after) if after else 0
    end = start + size
    cursors: dict[str, str] = {}
    meta: dict[str, Any] = {"cursors": cursors, "total_items": len(calls)}
    if end < len(calls):
        cursors["after"] = cursor_at(end)
        meta["next"] = f"{path}?page[after]={cursors['after']}&page[size]={size}"
    if start > 0:
        cursors["before"] = cursor_at(max(0, start - size))
        meta["previous"] = f"{path}?page[before]={cursors['before']}&page[size]={size}"
    return _ENCODER.encode({"data": list(calls[start:end]), "meta": meta})
