"""FakeTelnyx: a real HTTP server that behaves like the Telnyx Connections API.

For this project's tests and for yours: it binds 127.0.0.1, serves
``GET {prefix}/connections/{id}`` and the paginated ``GET {prefix}/connections``
from a deterministic store, answers like the real API (``ErrorResponse``
bodies, ``x-request-id`` on every response, 401 for a wrong key, 400 for a
query the spec refuses, 429 with ``x-ratelimit-*`` headers) and injects
seeded, reproducible faults that can be changed while it runs.

Examples:
    >>> async with FakeTelnyx(connections=100, seed=1) as server:  # doctest: +SKIP
    ...     async with TelnyxSession(server.api_key, base_url=server.base_url) as telnyx:
    ...         conn = await telnyx.connections.get(server.ids[0])
    ...     server.faults = Faults(error_rate=0.2)  # from now on, 20% transient 5xx

With pytest, the ``fake_telnyx`` fixture (installed with this package) gives a
running server and sets ``TELNYX_API_KEY`` / ``TELNYX_BASE_URL`` for the test.

The package's modules: ``_store`` (the connections, generated and listed),
``_faults`` (what goes wrong, and the account's rate limits), ``_server`` (the
HTTP server and its handlers).
"""

from ._faults import Faults
from ._server import DEFAULT_API_KEY, FakeStats, FakeTelnyx
from ._store import EXAMPLE_IDS, RECORD_TYPES, generate_connections

__all__ = [
    "DEFAULT_API_KEY",
    "EXAMPLE_IDS",
    "RECORD_TYPES",
    "FakeStats",
    "FakeTelnyx",
    "Faults",
    "generate_connections",
]
