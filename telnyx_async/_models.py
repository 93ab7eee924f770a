"""The Connection, Page and ConnectionCounts models (frozen msgspec Structs) and their decoders.

Field list and meanings follow the ``Connection`` schema of
``GET /connections/{id}`` in the Telnyx API spec; ``Page`` and ``PaginationMeta``
follow ``GET /connections`` (the list); ``ConnectionCounts`` follows
``GET /connections/count`` as the official SDK declares it (``spec/connections-count.json``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final

import msgspec

from ._errors import ErrorObject

AwareDatetime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
"""A datetime that must carry a timezone (the API sends UTC with ``Z``)."""


class AnchorsiteOverride:
    """Known values of ``Connection.anchorsite_override``.

    Plain string constants, not an Enum: Telnyx adds sites, and a site this
    release has never heard of must still decode.

    Examples:
        >>> conn.anchorsite_override == AnchorsiteOverride.CHICAGO_IL  # doctest: +SKIP
        True
    """

    LATENCY: Final = "Latency"
    CHICAGO_IL: Final = "Chicago, IL"
    ASHBURN_VA: Final = "Ashburn, VA"
    SAN_JOSE_CA: Final = "San Jose, CA"
    SYDNEY_AUSTRALIA: Final = "Sydney, Australia"
    AMSTERDAM_NETHERLANDS: Final = "Amsterdam, Netherlands"
    LONDON_UK: Final = "London, UK"
    TORONTO_CANADA: Final = "Toronto, Canada"
    VANCOUVER_CANADA: Final = "Vancouver, Canada"
    FRANKFURT_GERMANY: Final = "Frankfurt, Germany"

    ALL: Final = (
        LATENCY,
        CHICAGO_IL,
        ASHBURN_VA,
        SAN_JOSE_CA,
        SYDNEY_AUSTRALIA,
        AMSTERDAM_NETHERLANDS,
        LONDON_UK,
        TORONTO_CANADA,
        VANCOUVER_CANADA,
        FRANKFURT_GERMANY,
    )
    """Every value the spec lists, in its order."""


class Connection(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A Telnyx connection, as returned by ``GET /connections/{id}``.

    Every field defaults to ``None``: the API may omit any of them or send
    ``null``. Fields not declared here are skipped while decoding, so new API
    fields never break an old client.

    Examples:
        >>> conn = await telnyx.connections.get("1293384261075731499")  # doctest: +SKIP
        >>> conn.connection_name, conn.created_at.year  # doctest: +SKIP
        ('office-trunk', 2018)
    """

    id: str | None = None
    """The connection's id: a numeric string (int64 in the API); never parse it as a number."""
    record_type: str | None = None
    """The kind of connection, e.g. ``ip_connection``, ``credential_connection``."""
    active: bool | None = None
    anchorsite_override: str | None = None
    """Where media is anchored; see ``AnchorsiteOverride`` for the known values."""
    connection_name: str | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    webhook_event_url: str | None = None
    webhook_event_failover_url: str | None = None
    webhook_api_version: str | None = None
    """``"1"`` or ``"2"``: the webhook format Telnyx sends to this connection."""
    outbound_voice_profile_id: str | None = None
    tags: tuple[str, ...] | None = None


class PaginationMeta(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Where a page sits in a listing, as ``GET /connections`` reports it.

    ``total_pages`` and ``total_results`` describe the listing when the page
    was served: they change when connections are added or deleted during a walk.
    """

    page_number: int | None = None
    """The page's number, from 1."""
    page_size: int | None = None
    """The most connections a page holds."""
    total_pages: int | None = None
    """Pages in the listing (0 when nothing matches)."""
    total_results: int | None = None
    """Connections matching the filters, over all pages."""


class Page(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One page of ``GET /connections``: its connections and where it sits.

    Examples:
        >>> async for page in telnyx.connections.list().pages():  # doctest: +SKIP
        ...     print(page.meta.page_number, len(page.data))
    """

    data: tuple[Connection, ...] = ()
    """The page's connections, in the listing's order."""
    meta: PaginationMeta = msgspec.field(default_factory=PaginationMeta)
    """The page's number and the listing's totals."""


class ActiveCall(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One call in progress on a connection (``GET /connections/{id}/active_calls``)."""

    call_control_id: str
    """The token for controlling the call (Call Control commands)."""
    call_leg_id: str
    """Unique to the call; correlates webhook events."""
    call_session_id: str
    """Unique to the call session (related legs of one phone call, e.g. a transfer)."""
    client_state: str
    """The state received from a command."""
    call_duration: int
    """How long the call has lasted, in seconds."""
    record_type: str
    """``"call"`` today; an open string, so a new kind does not fail decoding."""


class Cursors(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The opaque cursors of a cursor-paginated page."""

    after: str | None = None
    """Ask for ``page[after]=`` this for the next page; absent on the last."""
    before: str | None = None
    """Ask for ``page[before]=`` this for the previous page."""


class CursorMeta(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Where a cursor-paginated page sits: its cursors, the total, the next path."""

    cursors: Cursors | None = None
    total_items: int | None = None
    """Items over all pages."""
    next: str | None = None
    """The path of the next page (``...?page[after]=...``)."""
    previous: str | None = None
    """The path of the previous page."""


class ActiveCallsPage(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One page of a connection's active calls, and its cursors."""

    data: tuple[ActiveCall, ...] = ()
    """The page's calls."""
    meta: CursorMeta = msgspec.field(default_factory=CursorMeta)
    """The cursors and the total."""


class ConnectionTypeCounts(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """How many connections of each type the account has (forward-only ones not counted)."""

    call_control_applications: int
    credential_connections: int
    external_connections: int
    fax_connections: int
    fqdn_connections: int
    ip_connections: int
    microsoft_teams_sbc_connections: int
    mobile_voice_connections: int
    operator_connect_connections: int
    texml_applications: int
    third_party_provider_connections: int
    uac_connections: int
    zoom_sbc_connections: int


class GlobalConnectionLimit(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One limit on all the account's connections together."""

    global_limit: int


class PerTypeConnectionLimits(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Separate limits: standard connections, TeXML applications and UAC connections."""

    standard_limit: int
    texml_limit: int
    uac_limit: int


ConnectionLimits = GlobalConnectionLimit | PerTypeConnectionLimits
"""The account's connection limits: a global one, or one per kind (the API sends either)."""


class ConnectionCounts(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """``GET /connections/count``: the account's connections by type, and its limits.

    Unlike ``connections.count()`` (how many a listing's filters match), this counts
    every connection of the account, by type, and says how many it may have.

    Examples:
        >>> counts = await telnyx.connections.counts()  # doctest: +SKIP
        >>> counts.counts.ip_connections, counts.limits  # doctest: +SKIP
        (12, GlobalConnectionLimit(global_limit=1000))
    """

    counts: ConnectionTypeCounts
    """The number of connections of each type."""
    limits: ConnectionLimits
    """A ``GlobalConnectionLimit`` or ``PerTypeConnectionLimits``: match on its type."""
    record_type: str
    """What the API calls this record (an open string)."""


class _RawCounts(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    counts: ConnectionTypeCounts
    limits: dict[str, int]
    record_type: str


class _CountsEnvelope(msgspec.Struct, frozen=True, gc=False):
    data: _RawCounts


class _ConnectionEnvelope(msgspec.Struct, frozen=True, gc=False):
    data: Connection


class _ErrorEnvelope(msgspec.Struct, frozen=True, gc=False):
    errors: tuple[ErrorObject, ...] = ()


CONNECTION_DECODER: Final = msgspec.json.Decoder(_ConnectionEnvelope)
"""Decodes a ``{"data": {...}}`` body; built once: building one costs far more than decoding."""
PAGE_DECODER: Final = msgspec.json.Decoder(Page)
"""Decodes a ``{"data": [...], "meta": {...}}`` page of ``GET /connections``."""
ACTIVE_CALLS_DECODER: Final = msgspec.json.Decoder(ActiveCallsPage)
"""Decodes a page of ``GET /connections/{id}/active_calls``."""
COUNTS_DECODER: Final = msgspec.json.Decoder(_CountsEnvelope)
"""Decodes ``GET /connections/count``; its ``limits`` are told apart after (untagged)."""
ERROR_DECODER: Final = msgspec.json.Decoder(_ErrorEnvelope)
"""Decodes the API's ``ErrorResponse`` body."""
