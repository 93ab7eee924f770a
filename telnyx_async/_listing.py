"""Walking ``GET /connections``: the query's rules, and the walk that prefetches one page.

The API pages by number (``page[number]``, ``page[size]``), so a listing that
changes during a walk shifts under it: a connection added ahead of the walk's
position pushes one it has already seen onto the next page (seen twice), and one
deleted pulls an unseen one back onto a page already walked (never seen). No
client can prevent that with number-based paging; a walk notices it (the
listing's ``total_results`` moved, a page repeats an id of the pages just
before it, or a page is empty before the last) and says so:
``ConnectionListing.changed`` and one WARNING per walk. Nothing is dropped or
deduplicated on the caller's behalf. A shift that neither changes the total nor
repeats an id (one added after the walk's position, one deleted before it)
cannot be seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from ._bulk import cancel_and_wait
from ._errors import ResponseValidationError
from ._loop import deadline_at
from ._models import Connection, Page

_logger: Final = logging.getLogger("telnyx_async")

SORT_KEYS: Final = ("created_at", "connection_name", "active")
"""What ``GET /connections`` sorts by; a ``-`` in front sorts descending."""
ConnectionSort: TypeAlias = Literal[
    "created_at", "-created_at", "connection_name", "-connection_name", "active", "-active"
]
ConnectionSort.__doc__ = (  # help() and the public API test read it on the alias itself
    "A ``sort`` of ``connections.list()``: a key of ``SORT_KEYS``, ``-`` in front for descending."
)
MAX_PAGE_SIZE: Final = 250
"""The largest ``page[size]`` the API serves (and its default)."""
MIN_NAME_CONTAINS: Final = 3
"""``filter[connection_name][contains]`` needs at least this many characters."""
_RECENT_IDS: Final = 1000
"""A walk checks each page against at least this many ids before it (4 pages at least)."""

FetchPage = Callable[[list[tuple[str, str]], float | None], Awaitable[Page]]
"""Sends one list request with these query parameters, under a loop-clock deadline."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListFilters:
    """The filters of ``GET /connections``, checked against the spec's rules.

    Raises:
        TypeError: a filter is not a ``str``.
        ValueError: ``name_contains`` is shorter than 3 characters, ``fqdn`` is
            empty, or ``outbound_voice_profile_id`` is not a decimal id.
    """

    name_contains: str | None = None
    """Connections whose name contains this, ignoring case (3 characters at least)."""
    fqdn: str | None = None
    """Connections with exactly this FQDN (case-sensitive)."""
    outbound_voice_profile_id: str | None = None
    """Connections using this outbound voice profile (a numeric id)."""

    def __post_init__(self) -> None:
        for name in ("name_contains", "fqdn", "outbound_voice_profile_id"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__}")
        if self.name_contains is not None and len(self.name_contains) < MIN_NAME_CONTAINS:
            raise ValueError(
                f"name_contains needs at least {MIN_NAME_CONTAINS} characters, "
                f"got {self.name_contains!r}"
            )
        if self.fqdn is not None and not self.fqdn:
            raise ValueError("fqdn must not be empty")
        profile = self.outbound_voice_profile_id
        if profile is not None and not (profile.isascii() and profile.isdigit()):
            raise ValueError(
                f"outbound_voice_profile_id must be a numeric id, got {profile[:40]!r}"
            )

    def params(self) -> list[tuple[str, str]]:
        """The query parameters, in the API's deepObject style."""
        params: list[tuple[str, str]] = []
        if self.name_contains is not None:
            params.append(("filter[connection_name][contains]", self.name_contains))
        if self.fqdn is not None:
            params.append(("filter[fqdn]", self.fqdn))
        if self.outbound_voice_profile_id is not None:
            params.append(("filter[outbound_voice_profile_id]", self.outbound_voice_profile_id))
        return params


def check_sort(sort: str | None) -> str | None:
    """Return ``sort`` if the API knows it (``None``: the API's order, newest first)."""
    if sort is None:
        return None
    if not isinstance(sort, str):
        raise TypeError(f"sort must be a str, got {type(sort).__name__}")
    if sort.removeprefix("-") not in SORT_KEYS:
        keys = ", ".join(SORT_KEYS)
        raise ValueError(f"sort must be one of {keys} (a leading - sorts descending), got {sort!r}")
    return sort


def check_page_size(page_size: int) -> int:
    """Return ``page_size`` if it is an int from 1 to 250."""
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise TypeError(f"page_size must be an int, got {type(page_size).__name__}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be from 1 to {MAX_PAGE_SIZE}, got {page_size}")
    return page_size


class ConnectionListing:
    """Every connection of a listing, page by page: ``async for conn in listing``.

    Made by ``telnyx.connections.list()``; nothing is requested until the walk
    starts, and each ``async for`` walks the listing again from page 1. While
    you handle page *k*, page *k + 1* is already being fetched (never more than
    one ahead), so a walk costs about one round trip per page, less when your
    loop is the slower side. Leaving the loop early cancels the page in flight;
    ``contextlib.aclosing(aiter(listing))`` (or ``aclosing(listing.pages())``)
    makes that happen at once rather than when the loop next collects the
    abandoned iterator.

    Examples:
        >>> async for conn in telnyx.connections.list(name_contains="office"):  # doctest: +SKIP
        ...     print(conn.id, conn.connection_name)
    """

    def __init__(
        self,
        fetch: FetchPage,
        params: list[tuple[str, str]],
        *,
        page_size: int,
        deadline: float | None,
    ) -> None:
        self._fetch = fetch
        self._params = params
        self._page_size = page_size
        self._deadline = deadline
        self.changed = False
        """Whether the last walk saw the listing change under it (see the module notes):
        connections may have been repeated or skipped. Reset when a walk starts."""
        self.repeated = 0
        """Connections the last walk yielded twice because pages shifted (those it
        could see: an id repeated from the last 1,000 ids, 4 pages at least)."""

    def __aiter__(self) -> AsyncIterator[Connection]:
        return self._connections()

    async def _connections(self) -> AsyncGenerator[Connection]:
        async with aclosing(self.pages()) as pages:
            async for page in pages:
                for conn in page.data:
                    yield conn

    async def pages(self) -> AsyncGenerator[Page]:
        """Yield whole pages (``Page``: ``.data`` and ``.meta``), prefetching one ahead.

        The walk ends after the page the latest ``meta.total_pages`` says is the
        last, or at the first empty page.

        Raises:
            APIStatusError, APIConnectionError, APITimeoutError: a page failed after
                its retries (raised when the walk reaches it); ``APITimeoutError``
                too when the ``deadline``, counted from the walk's start, runs out.
            ResponseValidationError: a page does not match the schema.

        Examples:
            >>> async for page in telnyx.connections.list().pages():  # doctest: +SKIP
            ...     print(page.meta.page_number, "of", page.meta.total_pages)
        """
        self.changed, self.repeated = False, 0
        ends_at = deadline_at(self._deadline)
        number = 1
        page = self._checked(await self._page(number, ends_at), number)
        first_total = page.meta.total_results
        # Ids of the last pages walked: repeats from a shift of up to a few pages
        # are seen, in memory that does not grow with the listing.
        recent: deque[frozenset[str]] = deque(maxlen=max(4, -(-_RECENT_IDS // self._page_size)))
        ahead: asyncio.Task[Page] | None = None
        try:
            while True:
                total_pages = page.meta.total_pages or 0
                ids = frozenset(c.id for c in page.data if c.id is not None)
                repeats = sum(1 for i in ids if any(i in seen for seen in recent))
                if repeats:
                    self.repeated += repeats
                    self._note_change(f"page {number} repeats {repeats} connections")
                if page.meta.total_results != first_total:
                    self._note_change(
                        f"total_results went from {first_total} to {page.meta.total_results}"
                    )
                if not page.data and number < total_pages:
                    self._note_change(f"page {number} of {total_pages} is empty")
                elif page.data and total_pages < number:
                    self._note_change(f"page {number} holds data past total_pages={total_pages}")
                last = not page.data or number >= total_pages
                if not last:
                    ahead = asyncio.ensure_future(self._page(number + 1, ends_at))
                yield page
                if ahead is None:
                    return
                recent.append(ids)
                page = self._checked(await ahead, number + 1)
                ahead = None
                number += 1
        finally:
            if ahead is not None:
                # Cancelled and awaited: no request outlives the walk, no warning.
                await cancel_and_wait([ahead])

    @staticmethod
    def _checked(page: Page, number: int) -> Page:
        """``page`` if it is the page asked for.

        A server that ignored ``page[number]`` would otherwise serve one page forever.
        """
        served = page.meta.page_number
        if served is not None and served != number:
            raise ResponseValidationError(
                f"asked for page {number} of the list of connections, got page {served}",
                status=200,
            )
        return page

    def _page(self, number: int, ends_at: float | None) -> Awaitable[Page]:
        params = [
            *self._params,
            ("page[number]", str(number)),
            ("page[size]", str(self._page_size)),
        ]
        return self._fetch(params, ends_at)

    def _note_change(self, why: str) -> None:
        if self.changed:
            return
        self.changed = True
        _logger.warning(
            "the listing changed during the walk (%s): connections may be repeated or "
            "skipped; walk again, or sort by a key that new connections do not precede",
            why,
        )
