"""The served connections: generated or given, encoded once, listed like the API lists them.

``ConnectionStore`` is an immutable snapshot: adding or deleting a connection
makes a new one (encodings are shared), swapped into the server as one
reference, so a request on the server's thread sees one consistent store.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from .._listing import MAX_PAGE_SIZE, MIN_NAME_CONTAINS, SORT_KEYS
from .._models import AnchorsiteOverride, Connection

RECORD_TYPES: Final = (
    "ip_connection",
    "credential_connection",
    "fqdn_connection",
    "external_connection",
    "webrtc_connection",
)
"""The ``record_type`` values generated connections take."""

_TAGS: Final = ("office", "production", "staging", "emea", "us-east", "failover", "sip", "trunk")
_NAMES: Final = ("office", "trunk", "pbx", "callcenter", "lab", "branch", "sales", "support")
_CACHED_QUERIES: Final = 32


EXAMPLE_IDS: Final = ("1293384261075731499", "1293384261075731500")
"""The ids the README and the docs look up by name (the first is the API reference's
example): ``telnyx-async fake-server`` serves them, so the examples run against it."""


def with_example_ids(connections: list[Connection]) -> list[Connection]:
    """``connections`` with the first ones renamed to ``EXAMPLE_IDS`` (as many as fit)."""
    renamed = [
        msgspec.structs.replace(conn, id=conn_id)
        for conn, conn_id in zip(connections, EXAMPLE_IDS, strict=False)
    ]
    return [*renamed, *connections[len(renamed) :]]


def generate_connections(count: int, *, seed: int = 0) -> list[Connection]:
    """Make ``count`` realistic connections, the same ones for the same seed.

    Ids are distinct 19-digit strings like real ones; record types, every
    anchorsite, tags, webhook settings and timestamps vary.
    """
    rng = random.Random(seed)
    epoch = dt.datetime(2018, 1, 1, tzinfo=dt.UTC)
    ids: set[str] = set()
    result: list[Connection] = []
    for n in range(count):
        conn_id = str(rng.randrange(10**18, 2**63))
        while conn_id in ids:
            conn_id = str(rng.randrange(10**18, 2**63))
        ids.add(conn_id)
        created = epoch + dt.timedelta(
            seconds=rng.randrange(0, 8 * 365 * 86400), milliseconds=rng.randrange(1000)
        )
        updated = created + dt.timedelta(seconds=rng.randrange(0, 365 * 86400))
        has_webhook = rng.random() < 0.7
        result.append(
            Connection(
                id=conn_id,
                record_type=rng.choice(RECORD_TYPES),
                active=rng.random() < 0.9,
                anchorsite_override=AnchorsiteOverride.ALL[n % len(AnchorsiteOverride.ALL)],
                connection_name=f"{rng.choice(_NAMES)}-{n}",
                created_at=created,
                updated_at=updated,
                webhook_event_url=f"https://hooks.example.com/{n}" if has_webhook else None,
                webhook_event_failover_url=(
                    f"https://failover.example.com/{n}"
                    if has_webhook and rng.random() < 0.5
                    else None
                ),
                webhook_api_version=rng.choice(("1", "2")),
                outbound_voice_profile_id=str(rng.randrange(10**18, 2**63)),
                tags=tuple(rng.sample(_TAGS, rng.randrange(0, 4))),
            )
        )
    return result


def _encode_time(value: object) -> Any:
    # The API's format: milliseconds and a Z, as in the spec's example.
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    raise NotImplementedError(type(value))


_ENCODER: Final = msgspec.json.Encoder(enc_hook=_encode_time)
encode_json: Final = _ENCODER.encode
"""Encode as the API does (timestamps in milliseconds with a Z)."""


class BadQuery(ValueError):
    """A list query the API would refuse with 400; ``parameter`` names the culprit."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One ``GET /connections`` request's filters, sort and page."""

    name_contains: str | None = None
    fqdn: str | None = None
    outbound_voice_profile_id: str | None = None
    sort: str | None = None
    page_number: int = 1
    page_size: int = MAX_PAGE_SIZE

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ListQuery:
        """Read the query string's deepObject parameters as the spec defines them.

        Raises:
            BadQuery: a value the spec does not allow.
        """
        name = params.get("filter[connection_name][contains]")
        if name is not None and len(name) < MIN_NAME_CONTAINS:
            raise BadQuery(
                "filter[connection_name][contains]",
                f"filter[connection_name][contains] requires at least {MIN_NAME_CONTAINS} "
                "characters.",
            )
        sort = params.get("sort")
        if sort is not None and sort.removeprefix("-") not in SORT_KEYS:
            raise BadQuery("sort", f"sort must be one of {', '.join(SORT_KEYS)}.")
        return cls(
            name_contains=name,
            fqdn=params.get("filter[fqdn]"),
            outbound_voice_profile_id=params.get("filter[outbound_voice_profile_id]"),
            sort=sort,
            page_number=_int_param(params, "page[number]", 1, 1, None),
            page_size=_int_param(params, "page[size]", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        )


def _int_param(
    params: Mapping[str, str], name: str, default: int, low: int, high: int | None
) -> int:
    text = params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise BadQuery(name, f"{name} must be an integer {bound}.")
    return value


def _sort_key(field: str) -> Any:
    def key(conn: Connection) -> tuple[bool, Any, str]:
        value = getattr(conn, field)
        return (value is None, value if value is not None else 0, conn.id or "")

    return key


COUNTED_TYPES: Final = (
    "call_control_applications",
    "credential_connections",
    "external_connections",
    "fax_connections",
    "fqdn_connections",
    "ip_connections",
    "microsoft_teams_sbc_connections",
    "mobile_voice_connections",
    "operator_connect_connections",
    "texml_applications",
    "third_party_provider_connections",
    "uac_connections",
    "zoom_sbc_connections",
)
"""The keys of ``GET /connections/count``'s ``counts``, the fake's own copy of the spec's.

A connection counts under its ``record_type`` plus ``s`` (``ip_connection`` under
``ip_connections``); a type with no such key (``webrtc_connection``) is not counted,
as the API leaves forward-only connections out.
"""

COUNTS_RECORD_TYPE: Final = "connections_count"
"""The ``record_type`` the fake gives its ``GET /connections/count`` answer (the spec's is
an open string)."""


class ConnectionStore:
    """The connections a FakeTelnyx serves, encoded once; an immutable snapshot.

    ``fqdns`` gives connections their FQDN (the ``filter[fqdn]`` filter): the
    ``Connection`` schema has no such field. Generated ``fqdn_connection``
    records get ``{connection_name}.sip.example.com``.
    """

    def __init__(
        self,
        connections: Iterable[Connection],
        fqdns: Mapping[str, str] | None = None,
        *,
        encoded: Mapping[str, bytes] | None = None,
    ) -> None:
        self.connections: Final[dict[str, Connection]] = {}
        self.fqdns: Final[dict[str, str]] = dict(fqdns or {})
        self._encoded: dict[str, bytes] = {}
        for conn in connections:
            if not conn.id:
                raise ValueError("every served connection needs an id")
            self.connections[conn.id] = conn
            known = encoded.get(conn.id) if encoded is not None else None
            self._encoded[conn.id] = known if known is not None else _ENCODER.encode(conn)
            if (
                conn.id not in self.fqdns
                and conn.record_type == "fqdn_connection"
                and conn.connection_name
            ):
                self.fqdns[conn.id] = f"{conn.connection_name}.sip.example.com"
        self.ids: Final = list(self.connections)
        self._orders: dict[tuple[str | None, str | None, str | None, str | None], list[str]] = {}

    def retrieve_body(self, conn_id: str) -> bytes | None:
        """The body of ``GET /connections/{id}``, or ``None`` when there is no such id."""
        encoded = self._encoded.get(conn_id)
        return None if encoded is None else b'{"data":' + encoded + b"}"

    def list_body(self, query: ListQuery) -> bytes:
        """The body of ``GET /connections`` for ``query``: one page and the totals."""
        order = self._order(query)
        size = query.page_size
        start = (query.page_number - 1) * size
        meta = {
            "page_number": query.page_number,
            "page_size": size,
            "total_pages": math.ceil(len(order) / size),
            "total_results": len(order),
        }
        encoded = self._encoded
        page = b",".join(encoded[i] for i in order[start : start + size])
        return b'{"data":[' + page + b'],"meta":' + _ENCODER.encode(meta) + b"}"

    def counts_body(self, limits: Mapping[str, int]) -> bytes:
        """The body of ``GET /connections/count``: the connections by type, and ``limits``."""
        counts = dict.fromkeys(COUNTED_TYPES, 0)
        for conn in self.connections.values():
            key = f"{conn.record_type}s"
            if key in counts:
                counts[key] += 1
        data = {"counts": counts, "limits": dict(limits), "record_type": COUNTS_RECORD_TYPE}
        return _ENCODER.encode({"data": data})

    def with_connection(self, conn: Connection, fqdn: str | None = None) -> ConnectionStore:
        """A new store with ``conn`` added (or replaced, when its id is served)."""
        if not conn.id:
            raise ValueError("every served connection needs an id")
        fqdns = dict(self.fqdns)
        fqdns.pop(conn.id, None)
        if fqdn is not None:
            fqdns[conn.id] = fqdn
        # A replaced connection keeps its place; a new one goes last.
        conns = {**self.connections, conn.id: conn}
        encoded = {k: v for k, v in self._encoded.items() if k != conn.id}
        return ConnectionStore(conns.values(), fqdns, encoded=encoded)

    def without(self, conn_id: str) -> ConnectionStore:
        """A new store without ``conn_id``.

        Raises:
            KeyError: it is not served.
        """
        if conn_id not in self.connections:
            raise KeyError(conn_id)
        fqdns = {k: v for k, v in self.fqdns.items() if k != conn_id}
        rest = (c for c in self.connections.values() if c.id != conn_id)
        return ConnectionStore(rest, fqdns, encoded=self._encoded)

    def _order(self, query: ListQuery) -> list[str]:
        """The ids matching the query's filters, sorted; cached per filters and sort."""
        cache_key = (query.sort, query.name_contains, query.fqdn, query.outbound_voice_profile_id)
        order = self._orders.get(cache_key)
        if order is not None:
            return order
        conns: Iterable[Connection] = self.connections.values()
        if query.name_contains is not None:
            needle = query.name_contains.casefold()
            conns = [c for c in conns if needle in (c.connection_name or "").casefold()]
        if query.fqdn is not None:
            conns = [c for c in conns if c.id is not None and self.fqdns.get(c.id) == query.fqdn]
        if query.outbound_voice_profile_id is not None:
            profile = query.outbound_voice_profile_id
            conns = [c for c in conns if c.outbound_voice_profile_id == profile]
        # Without a sort, the API lists the newest first.
        sort = query.sort or "-created_at"
        descending = sort.startswith("-")
        ordered = sorted(conns, key=_sort_key(sort.removeprefix("-")), reverse=descending)
        order = [c.id for c in ordered if c.id is not None]
        if len(self._orders) >= _CACHED_QUERIES:
            self._orders.clear()
        self._orders[cache_key] = order
        return order
