"""Walking ``GET /connections/{id}/active_calls``: cursor pages, one fetched ahead.

The operation is cursor paginated: each page's ``meta.cursors.after`` (or the
``page[after]`` of its ``meta.next`` path) asks for the next one, and an absent
or empty cursor, or an empty page, ends the walk. A cursor seen before (a page
that comes back with the cursor it was asked with, or a cycle) ends it with
``ResponseValidationError``: following it would ask for the same pages forever,
as the official SDK's page-number walk of this endpoint does against the spec's
cursor meta.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Final
from urllib.parse import parse_qs, urlsplit

from ._bulk import cancel_and_wait
from ._errors import ResponseValidationError, TelnyxError
from ._loop import deadline_at
from ._models import ActiveCall, ActiveCallsPage
from ._text import shorten

DEFAULT_ACTIVE_CALLS_PAGE_SIZE: Final = 20
"""The API's default ``page[size]`` for active calls."""

FetchCalls = Callable[[list[tuple[str, str]], float | None], Awaitable[ActiveCallsPage]]
"""Sends one active-calls request with these query parameters, under a loop-clock deadline."""


def next_cursor(page: ActiveCallsPage) -> str | None:
    """The cursor of the page after ``page``, or ``None`` when it is the last.

    ``meta.cursors.after``, else the ``page[after]`` of ``meta.next``.

    Examples:
        >>> from telnyx_async._models import CursorMeta, Cursors
        >>> next_cursor(ActiveCallsPage(meta=CursorMeta(cursors=Cursors(after="v1:abc"))))
        'v1:abc'
        >>> next_cursor(ActiveCallsPage(meta=CursorMeta(next="/v2/x?page[after]=v1:def")))
        'v1:def'
    """
    meta = page.meta
    after = meta.cursors.after if meta.cursors is not None else None
    if not after and meta.next:
        values = parse_qs(urlsplit(meta.next).query).get("page[after]")
        after = values[0] if values else None
    return after or None


class ActiveCallListing:
    """The calls in progress on one connection: ``async for call in listing``.

    Made by ``telnyx.connections.active_calls(conn_id)``; nothing is requested
    until the walk starts, and each ``async for`` walks again from the first
    page. One page is fetched ahead while you handle the current one; leaving
    the loop early cancels it (at once with ``contextlib.aclosing``).

    Examples:
        >>> calls = telnyx.connections.active_calls("1293384261075731461")  # doctest: +SKIP
        >>> async for call in calls:  # doctest: +SKIP
        ...     print(call.call_control_id, call.call_duration)
    """

    def __init__(
        self, fetch: FetchCalls, *, conn_id: str, page_size: int, deadline: float | None
    ) -> None:
        self._fetch = fetch
        self._conn_id = conn_id
        self._page_size = page_size
        self._deadline = deadline

    def __repr__(self) -> str:
        return f"<ActiveCallListing of connection {shorten(self._conn_id, 40)!r}>"

    def __aiter__(self) -> AsyncIterator[ActiveCall]:
        return self._calls()

    async def _calls(self) -> AsyncGenerator[ActiveCall]:
        async with aclosing(self.pages()) as pages:
            async for page in pages:
                for call in page.data:
                    yield call

    async def pages(self) -> AsyncGenerator[ActiveCallsPage]:
        """Yield whole pages (``.data`` and ``.meta``), following the cursors.

        Raises:
            UnprocessableEntityError: the connection cannot have active calls (code
                10015: it does not exist, or is not a Call Control or TeXML
                application with a webhook); its ``conn_id`` names it.
            APIStatusError, APIConnectionError, APITimeoutError: a page failed after
                its retries; ``APITimeoutError`` too when the ``deadline``, counted
                from the walk's start, runs out.
            ResponseValidationError: a page does not match the schema, or its cursor
                was seen before in this walk.

        Examples:
            >>> listing = telnyx.connections.active_calls("1293384261075731461")  # doctest: +SKIP
            >>> async for page in listing.pages():  # doctest: +SKIP
            ...     print(len(page.data), "of", page.meta.total_items)
        """
        ends_at = deadline_at(self._deadline)
        seen: set[str] = set()
        page = await self._page(None, ends_at)
        ahead: asyncio.Task[ActiveCallsPage] | None = None
        try:
            while True:
                cursor = next_cursor(page) if page.data else None
                if cursor is not None:
                    if cursor in seen:
                        raise ResponseValidationError(
                            f"the active calls of connection {shorten(self._conn_id, 40)!r} "
                            f"gave the cursor {shorten(cursor, 60)!r} again: following it "
                            "would walk the same pages forever",
                            status=200,
                        )
                    seen.add(cursor)
                    ahead = asyncio.ensure_future(self._page(cursor, ends_at))
                yield page
                if ahead is None:
                    return
                page = await ahead
                ahead = None
        finally:
            if ahead is not None:
                # Cancelled and awaited: no request outlives the walk, no warning.
                await cancel_and_wait([ahead])

    async def _page(self, after: str | None, ends_at: float | None) -> ActiveCallsPage:
        params = [("page[after]", after)] if after is not None else []
        params.append(("page[size]", str(self._page_size)))
        try:
            return await self._fetch(params, ends_at)
        except TelnyxError as exc:
            exc.conn_id = self._conn_id
            raise
