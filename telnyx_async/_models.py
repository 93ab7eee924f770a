"""The Connection model (a frozen msgspec Struct) and the decoders built once for it.

Field list and meanings follow the ``Connection`` schema of
``GET /connections/{id}`` in the Telnyx API spec.
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

    Example:
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

    Example:
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


class _ConnectionEnvelope(msgspec.Struct, frozen=True, gc=False):
    data: Connection


class _ErrorEnvelope(msgspec.Struct, frozen=True, gc=False):
    errors: tuple[ErrorObject, ...] = ()


CONNECTION_DECODER: Final = msgspec.json.Decoder(_ConnectionEnvelope)
"""Decodes a ``{"data": {...}}`` body; built once: building one costs far more than decoding."""
ERROR_DECODER: Final = msgspec.json.Decoder(_ErrorEnvelope)
"""Decodes the API's ``ErrorResponse`` body."""
