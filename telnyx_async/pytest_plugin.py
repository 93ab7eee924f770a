"""The ``fake_telnyx`` and ``fake_telnyx_tls`` pytest fixtures, registered through ``pytest11``.

Kept tiny and lazy: pytest imports this module at start-up in every project that
has telnyx-async installed, so the server code is imported only when a test
asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import FakeTelnyx


@pytest.fixture
def fake_telnyx(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelnyx]:
    """A running FakeTelnyx (1,000 connections, seed 0, no faults), on 127.0.0.1.

    It runs on its own loop in a thread, so it serves sync tests and any async
    framework alike. ``TELNYX_API_KEY`` and ``TELNYX_BASE_URL`` point at it for
    the test, so a plain ``TelnyxSession()`` talks to it. Set ``fake_telnyx.faults``
    to inject faults.

    Examples:
        >>> async def test_lookup(fake_telnyx):  # doctest: +SKIP
        ...     async with TelnyxSession() as telnyx:
        ...         conn = await telnyx.connections.get(fake_telnyx.ids[0])
    """
    from .testing import FakeTelnyx

    with FakeTelnyx().serve_in_thread() as server:
        monkeypatch.setenv("TELNYX_API_KEY", server.api_key)
        monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def fake_telnyx_tls(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelnyx]:
    """``fake_telnyx`` over HTTPS, with a certificate from a throwaway certificate authority.

    Needs trustme (the ``fake-tls`` extra). ``TELNYX_BASE_URL`` is the fake's
    ``https://`` URL; trust its authority with ``ssl=fake_telnyx_tls.client_ssl_context()``
    (or write ``fake_telnyx_tls.ca_pem`` to a file for ``--ca-file``).

    Examples:
        >>> async def test_lookup_over_https(fake_telnyx_tls):  # doctest: +SKIP
        ...     ssl = fake_telnyx_tls.client_ssl_context()
        ...     async with TelnyxSession(ssl=ssl) as telnyx:
        ...         conn = await telnyx.connections.get(fake_telnyx_tls.ids[0])
    """
    from .testing import FakeTelnyx

    with FakeTelnyx(tls=True).serve_in_thread() as server:
        monkeypatch.setenv("TELNYX_API_KEY", server.api_key)
        monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
        yield server
