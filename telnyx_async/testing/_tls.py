"""A throwaway certificate authority for a FakeTelnyx serving HTTPS, made with trustme.

trustme (an optional dependency: the ``fake-tls`` extra) makes a CA and a
server certificate for ``127.0.0.1`` and ``localhost`` in memory; nothing is
written to disk unless you write the CA's PEM yourself, and nothing is trusted
system-wide: clients trust it through the context or CA file they are given.
"""

from __future__ import annotations

import ssl
from typing import Any


class ThrowawayCA:
    """A certificate authority and one server certificate, for loopback tests only.

    Raises:
        ImportError: trustme is not installed (``pip install 'telnyx-async[fake-tls]'``).
    """

    def __init__(self, *hosts: str) -> None:
        try:
            import trustme
        except ImportError as exc:
            raise ImportError(
                "FakeTelnyx(tls=True) makes its certificates with trustme: "
                "pip install 'telnyx-async[fake-tls]' (or pip install trustme)"
            ) from exc
        self._ca: Any = trustme.CA()
        self._leaf: Any = self._ca.issue_cert(*hosts)

    @property
    def pem(self) -> bytes:
        """The CA's certificate, PEM-encoded: what a client's CA file holds."""
        pem: bytes = self._ca.cert_pem.bytes()
        return pem

    def server_context(self) -> ssl.SSLContext:
        """The server's side: its certificate chain and key, TLS 1.2 at least."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA (and only it)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self._ca.configure_trust(context)
        return context
