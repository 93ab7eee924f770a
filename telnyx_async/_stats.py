"""A read-only snapshot of what a session has sent and received."""

from __future__ import annotations

import msgspec


class SessionStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of one ``TelnyxSession``, as of the moment ``telnyx.stats`` was read.

    Examples:
        >>> telnyx.stats  # doctest: +SKIP
        SessionStats(requests=10003, retries=3, connection_errors=1, responses={200: 9999, 503: 3})
    """

    requests: int = 0
    """HTTP requests sent, retries and aiohttp's own re-sends included.

    A request counts once it has its connection and is written: one cancelled
    or cut by ``close()`` while still connecting never reached the server and
    is not counted, so this equals what the server saw.

    Through a lent ``session=``, aiohttp's re-sends cannot be seen: there it
    counts the attempts this library made.
    """
    retries: int = 0
    """Attempts that were retries of an earlier one, by this library's retry policy."""
    resends: int = 0
    """Requests aiohttp sent a second time on its own (counted in ``requests``).

    aiohttp re-sends a GET once, at once, when a reused keep-alive connection
    turns out to have been closed by the server before any answer (RFC 9112
    section 9.3.1); this costs the server a request without any retry of ours.
    """
    rate_limited: int = 0
    """429 answers: each paused the whole session and was retried without using a retry."""
    budget_refusals: int = 0
    """Retries refused because the session's retry budget was spent (an outage)."""
    connection_errors: int = 0
    """Attempts that got no HTTP answer (network failure or timeout)."""
    responses: dict[int, int] = msgspec.field(default_factory=lambda: dict[int, int]())
    """Responses received, by HTTP status (a copy: changing it changes nothing)."""

    @property
    def failed_responses(self) -> int:
        """Responses with a status of 400 or more."""
        return sum(n for status, n in self.responses.items() if status >= 400)
