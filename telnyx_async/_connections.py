"""The Connections resource: ``get``, ``gather_many``, ``iter_many``, ``list`` and ``count``."""

from __future__ import annotations

import asyncio
import builtins  # Connections.list() hides the builtin inside the class
import copy
import functools
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import Final, Literal, overload
from urllib.parse import urlsplit

from ._active_calls import DEFAULT_ACTIVE_CALLS_PAGE_SIZE, ActiveCallListing
from ._bulk import bounded_each, bounded_map
from ._checks import positive_int
from ._config import DEFAULT_CONCURRENCY
from ._decide import deadline_error
from ._errors import APITimeoutError, AuthenticationError, TelnyxError, TLSError
from ._listing import (
    MAX_PAGE_SIZE,
    ConnectionListing,
    ConnectionSort,
    ListFilters,
    check_page_size,
    check_sort,
)
from ._loop import check_deadline, deadline_at, deadline_text
from ._models import ActiveCallsPage, Connection, ConnectionCounts, Page
from ._protocol import (
    RawResponse,
    decode_active_calls,
    decode_connection,
    decode_counts,
    decode_page,
    encode_id,
    encode_query,
)
from ._text import safe_text

_logger: Final = logging.getLogger("telnyx_async")

_FATAL_IN_BULK: Final = (AuthenticationError, TLSError)
"""Failures that would be the same for every id (a wrong key, an untrusted
certificate): the first one ends a bulk call instead of failing each id in turn."""

Ids = Iterable[str] | AsyncIterable[str]
"""Connection ids: any iterable or async iterable of ``str``."""


class Connections:
    """Look up connections by id: one at a time or in bulk. Reached as ``telnyx.connections``."""

    def __init__(
        self,
        send: Callable[[str, float | None], Awaitable[RawResponse]],
        *,
        prefix: str,
        pool_limit: Callable[[], int | None],
        secrets: Iterable[str] = (),
    ) -> None:
        self._send = send
        self._secrets = secrets
        self._warned_pool = False
        # Single flight: the lookup in progress for each URL, shared by concurrent callers
        # (None until a second caller asks for the same URL).
        self._in_flight: dict[str, asyncio.Future[Connection] | None] = {}
        self._prefix = prefix
        self._path_prefix = urlsplit(prefix).path  # messages name the path, never the host
        self._list_url = prefix.rstrip("/")
        self._counts_url = self._list_url + "/count"
        self._pool_limit = pool_limit

    def __repr__(self) -> str:
        return f"<Connections of {self._list_url}>"

    async def get(self, conn_id: str, *, deadline: float | None = None) -> Connection:
        """Retrieve one connection (``GET /connections/{id}``), retrying transient failures.

        Concurrent calls for the same id on one session share one HTTP request
        (single flight): a service resolving the same connection for many
        incoming calls at once sends one request.

        Args:
            conn_id: the connection's id, e.g. ``"1293384261075731499"``. It is
                percent-encoded as one path segment, whatever it contains.
            deadline: seconds the whole call may take (pacing, attempts and
                backoff together); ``None`` for no bound beyond each attempt's
                ``timeout``. A wait that would end after it fails at once.

        Returns:
            The decoded ``Connection``.

        Raises:
            TypeError: ``conn_id`` is not a ``str``.
            InvalidConnectionIdError: (a ``ValueError``) it is empty, ``"."``, ``".."``
                or not valid Unicode.
            NotFoundError: no such connection (and the other ``APIStatusError`` subclasses).
            APIConnectionError: the network failed on every attempt.
            APITimeoutError: an attempt timed out every time, or ``deadline`` ran out.
            ResponseValidationError: the API's answer does not match the schema.

        Examples:
            >>> conn = await telnyx.connections.get("1293384261075731499")  # doctest: +SKIP
        """
        return await self._get(conn_id, deadline_at(deadline))

    async def _get(self, conn_id: str, deadline_at: float | None) -> Connection:
        url = self._prefix + encode_id(conn_id)
        in_flight = self._in_flight
        while url in in_flight:
            shared = in_flight[url]
            if shared is None:
                # The first follower makes the future the lookup's result goes to:
                # a lookup nobody shares (nearly all) never allocates one.
                shared = in_flight[url] = asyncio.get_running_loop().create_future()
            try:
                return await _follow(shared, deadline_at)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if shared.cancelled() and task is not None and not task.cancelling():
                    continue  # the caller that was fetching it was cancelled: take over
                raise
        in_flight[url] = None
        try:
            status, headers, body = await self._send(url, deadline_at)
            conn = decode_connection(body, status=status, headers=headers, secrets=self._secrets)
        except asyncio.CancelledError:
            if (shared := in_flight.pop(url)) is not None:
                shared.cancel()
            raise
        except BaseException as exc:
            shared = in_flight.pop(url)
            if isinstance(exc, TelnyxError):
                exc.conn_id = conn_id
                if exc.caller_bound:
                    # Out of *this* caller's time: the others try again under their own.
                    if shared is not None:
                        shared.cancel()
                    raise
            if shared is not None:
                shared.set_exception(exc)
                shared.exception()  # retrieved: no "never retrieved" warning if followers left
            raise
        else:
            if (shared := in_flight.pop(url)) is not None:
                shared.set_result(conn)
            return conn

    @overload
    async def gather_many(
        self,
        ids: Ids,
        *,
        concurrency: int = ...,
        return_exceptions: Literal[False] = ...,
        deadline: float | None = ...,
    ) -> list[Connection]: ...

    @overload
    async def gather_many(
        self,
        ids: Ids,
        *,
        concurrency: int = ...,
        return_exceptions: bool,
        deadline: float | None = ...,
    ) -> list[Connection | TelnyxError]: ...

    async def gather_many(
        self,
        ids: Ids,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        return_exceptions: bool = False,
        deadline: float | None = None,
    ) -> list[Connection] | list[Connection | TelnyxError]:
        """Retrieve many connections concurrently; results in the order of ``ids``.

        Each distinct id is fetched once, and every position it holds gets the
        result. At most ``concurrency`` requests are in flight at any instant
        (never more than the session's pool size, since waiting for a pooled
        connection would count against the timeout).

        Args:
            ids: the connection ids; duplicates allowed.
            concurrency: the most requests in flight at once.
            return_exceptions: ``False`` (default): the first failure, after its
                retries, cancels the other requests and is raised. ``True``: each
                failed position holds its ``TelnyxError`` and every id is tried
                (as ``iter_many`` does); anything else (a bug, a non-``str`` id)
                still ends the call and is raised.
            deadline: seconds the whole call may take; ids still pending when it
                runs out fail with ``APITimeoutError``.

        Raises:
            TypeError: ``ids`` is a single string, or holds something other than ``str``.
            AuthenticationError: a 401, even with ``return_exceptions=True``: the key
                is wrong for every id, so the run stops at the first one.
            TLSError: likewise: the server's certificate is not trusted.

        Examples:
            >>> conns = await telnyx.connections.gather_many(ids, concurrency=64)  # doctest: +SKIP
        """
        if isinstance(ids, AsyncIterable):
            ordered = [i async for i in ids]
        else:
            _reject_single_string(ids)
            ordered = list(ids)
        for conn_id in ordered:
            if not isinstance(conn_id, str):
                raise TypeError(f"connection ids must be str, got {type(conn_id).__name__}")
        found: dict[str, Connection | TelnyxError] = {}
        ends_at = deadline_at(deadline)
        distinct = dict.fromkeys(ordered)
        await bounded_each(
            distinct if ends_at is None else _until(distinct, ends_at),
            functools.partial(self._get, deadline_at=ends_at),
            found.__setitem__,
            concurrency=self._concurrency(concurrency),
            capture=TelnyxError if return_exceptions else (),
            fatal=_FATAL_IN_BULK,
        )
        if len(found) < len(distinct):
            # The deadline ran out before these started: their errors are made here,
            # not by a lookup each (200,000 of those took 6.5 s past a 0.5 s deadline).
            missing = (conn_id for conn_id in distinct if conn_id not in found)
            if not return_exceptions:
                raise self._unstarted(next(missing), ends_at)
            for conn_id in missing:
                found[conn_id] = self._unstarted(conn_id, ends_at)
        return [found[conn_id] for conn_id in ordered]

    def _unstarted(self, conn_id: str, ends_at: float | None) -> APITimeoutError:
        """The error of an id a bulk call's deadline left no time to look up."""
        request = f"GET {safe_text(self._path_prefix + encode_id(conn_id), self._secrets)}"
        error = deadline_error(request, ends_at)
        error.request, error.attempts, error.conn_id = request, 0, conn_id
        return error

    async def _get_by(self, conn_id: str, ends_at: float) -> Connection:
        """``_get``, but an id reached after the deadline fails at once, without a lookup."""
        if asyncio.get_running_loop().time() >= ends_at:
            raise self._unstarted(conn_id, ends_at)
        return await self._get(conn_id, ends_at)

    def iter_many(
        self,
        ids: Ids,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        deadline: float | None = None,
    ) -> AsyncGenerator[tuple[str, Connection | TelnyxError], None]:
        """Yield ``(id, Connection or TelnyxError)`` pairs as lookups complete.

        ``ids`` is consumed lazily: never more than ``2 * concurrency`` ids are
        pulled beyond what has been yielded (``concurrency`` in flight, at most as
        many again finished and waiting for your loop), so a generator of
        millions of ids runs in constant memory. A failed lookup (after its
        retries) is yielded as its ``TelnyxError`` and the others go on;
        anything else (a non-``str`` id, an error raised by ``ids`` itself) stops
        the iteration and is raised. So does an ``AuthenticationError`` (401)
        or a ``TLSError``: a wrong key or an untrusted certificate fails every id
        the same way.

        ``deadline`` bounds the whole iteration, in seconds from the call: every
        id still pending when it runs out is yielded with an ``APITimeoutError``.

        Leaving the loop early cancels the requests in flight. Wrap the iterator
        in ``contextlib.aclosing`` to have that happen at once rather than when
        the loop next collects the abandoned generator.

        Examples:
            >>> from contextlib import aclosing  # doctest: +SKIP
            >>> async with aclosing(telnyx.connections.iter_many(ids)) as results:
            ...     async for conn_id, result in results:
            ...         if isinstance(result, TelnyxError):
            ...             print(conn_id, "failed:", result)
        """
        _reject_single_string(ids)
        ends_at = deadline_at(deadline)
        return bounded_map(
            ids,
            (
                functools.partial(self._get, deadline_at=None)
                if ends_at is None
                else functools.partial(self._get_by, ends_at=ends_at)
            ),
            concurrency=self._concurrency(concurrency),
            capture=TelnyxError,
            fatal=_FATAL_IN_BULK,
        )

    def list(
        self,
        *,
        name_contains: str | None = None,
        fqdn: str | None = None,
        outbound_voice_profile_id: str | None = None,
        sort: ConnectionSort | None = None,
        page_size: int = MAX_PAGE_SIZE,
        deadline: float | None = None,
    ) -> ConnectionListing:
        """Walk the account's connections (``GET /connections``), every page, lazily.

        ``async for conn in telnyx.connections.list()`` yields one ``Connection``
        at a time; ``.pages()`` yields whole ``Page`` objects. One page is fetched
        ahead while you handle the current one; pages are retried, paced and
        budgeted as ``get()`` is. The arguments are checked here, before any request.

        Args:
            name_contains: only names containing this, ignoring case (3 characters
                at least).
            fqdn: only connections with exactly this FQDN.
            outbound_voice_profile_id: only connections using this profile.
            sort: ``created_at``, ``connection_name`` or ``active``, ``-`` in front
                for descending; ``None``: the API's order (newest first).
            page_size: connections per request, 1 to 250 (fewer requests when larger).
            deadline: seconds a whole walk may take, counted from its first request.

        Raises:
            ValueError: a filter the API refuses, an unknown sort key, a page
                size out of range, a ``deadline`` <= 0.
            TypeError: an argument of the wrong type.

        Examples:
            >>> async for conn in telnyx.connections.list(sort="connection_name"):  # doctest: +SKIP
            ...     print(conn.id)
        """
        filters = ListFilters(
            name_contains=name_contains,
            fqdn=fqdn,
            outbound_voice_profile_id=outbound_voice_profile_id,
        )
        params = filters.params()
        if (order := check_sort(sort)) is not None:
            params.append(("sort", order))
        check_deadline(deadline)
        encode_query(params)  # a value that cannot be sent fails now, not mid-walk
        return ConnectionListing(
            self._fetch_page, params, page_size=check_page_size(page_size), deadline=deadline
        )

    async def count(
        self,
        *,
        name_contains: str | None = None,
        fqdn: str | None = None,
        outbound_voice_profile_id: str | None = None,
        deadline: float | None = None,
    ) -> int:
        """How many connections match the filters: ``total_results`` of one 1-item page.

        The filters are those of ``list()``; so are the errors. For the account's
        connections by type and its limits, see ``counts()``.

        Examples:
            >>> await telnyx.connections.count(name_contains="office")  # doctest: +SKIP
            42
        """
        filters = ListFilters(
            name_contains=name_contains,
            fqdn=fqdn,
            outbound_voice_profile_id=outbound_voice_profile_id,
        )
        params = [*filters.params(), ("page[number]", "1"), ("page[size]", "1")]
        page = await self._fetch_page(params, deadline_at(deadline))
        return page.meta.total_results or 0

    def active_calls(
        self,
        conn_id: str,
        *,
        page_size: int = DEFAULT_ACTIVE_CALLS_PAGE_SIZE,
        deadline: float | None = None,
    ) -> ActiveCallListing:
        """The calls in progress on a connection (``GET /connections/{id}/active_calls``).

        ``async for call in telnyx.connections.active_calls(conn_id)`` yields
        ``ActiveCall`` Structs, following the API's cursors one page ahead;
        ``.pages()`` yields whole pages. Pages are retried, paced and budgeted as
        ``get()`` is. The arguments are checked here, before any request.

        Args:
            conn_id: the connection (a Call Control or TeXML application, or a SIP
                connection with a webhook URL).
            page_size: calls per request, 1 to 250 (the API's default: 20).
            deadline: seconds a whole walk may take, counted from its first request.

        Raises:
            InvalidConnectionIdError: ``conn_id`` is not a usable id.
            ValueError: a page size out of range, a ``deadline`` <= 0.
            TypeError: an argument of the wrong type.

        Examples:
            >>> calls = telnyx.connections.active_calls("1293384261075731461")  # doctest: +SKIP
            >>> async for call in calls:  # doctest: +SKIP
            ...     print(call.call_control_id)
        """
        url = f"{self._prefix}{encode_id(conn_id)}/active_calls"
        check_deadline(deadline)

        async def fetch(
            params: builtins.list[tuple[str, str]], ends_at: float | None
        ) -> ActiveCallsPage:
            status, headers, body = await self._send(f"{url}?{encode_query(params)}", ends_at)
            return decode_active_calls(body, status=status, headers=headers, secrets=self._secrets)

        return ActiveCallListing(
            fetch, conn_id=conn_id, page_size=check_page_size(page_size), deadline=deadline
        )

    async def counts(self, *, deadline: float | None = None) -> ConnectionCounts:
        """The account's connections by type and its connection limits (``GET /connections/count``).

        Not ``count()``: that is how many connections a listing's filters match;
        this is every connection of the account, by type (forward-only ones are
        not counted), with the limits on how many it may have. Retried, paced and
        budgeted as ``get()`` is.

        Examples:
            >>> counts = await telnyx.connections.counts()  # doctest: +SKIP
            >>> match counts.limits:  # doctest: +SKIP
            ...     case GlobalConnectionLimit(global_limit=limit):
            ...         print(f"{counts.counts.ip_connections} IP connections of {limit}")
            ...     case PerTypeConnectionLimits(standard_limit=limit):
            ...         print(f"standard connections: at most {limit}")
        """
        status, headers, body = await self._send(self._counts_url, deadline_at(deadline))
        return decode_counts(body, status=status, headers=headers, secrets=self._secrets)

    async def _fetch_page(
        self, params: builtins.list[tuple[str, str]], ends_at: float | None
    ) -> Page:
        status, headers, body = await self._send(
            f"{self._list_url}?{encode_query(params)}", ends_at
        )
        return decode_page(body, status=status, headers=headers, secrets=self._secrets)

    def _concurrency(self, requested: int) -> int:
        positive_int("concurrency", requested)
        limit = self._pool_limit()
        if limit and requested > limit and not self._warned_pool:
            self._warned_pool = True
            _logger.warning(
                "concurrency=%d is more than the pool holds (pool_size=%d): %d requests run "
                "at once; pass TelnyxSession(pool_size=%d) for more",
                requested,
                limit,
                limit,
                requested,
            )
        return min(requested, limit) if limit else requested


def _reject_single_string(ids: object) -> None:
    # A str is an iterable of one-character ids: almost certainly a mistake.
    if isinstance(ids, str | bytes):
        raise TypeError(
            "ids must be an iterable of connection ids, not a single string; use get() for one id"
        )


async def _follow(shared: asyncio.Future[Connection], deadline_at: float | None) -> Connection:
    """Wait for another caller's lookup of the same id; its error is raised as a copy."""
    try:
        if deadline_at is None:
            return await asyncio.shield(shared)
        async with asyncio.timeout_at(deadline_at):
            return await asyncio.shield(shared)
    except TelnyxError as exc:
        raise copy.copy(exc) from exc.__cause__
    except TimeoutError:  # our own deadline: the shared lookup goes on for the others
        raise APITimeoutError(
            f"the lookup did not complete within {deadline_text(deadline_at)}"
        ) from None


def _until(ids: Iterable[str], ends_at: float) -> Iterator[str]:
    """``ids`` until the loop's clock reaches ``ends_at``.

    A bulk call's deadline stops it taking more, instead of failing each of the
    rest through a lookup.
    """
    clock = asyncio.get_running_loop().time
    for conn_id in ids:
        if clock() >= ends_at:
            return
        yield conn_id
