"""The Connections resource: ``get``, ``gather_many`` and ``iter_many``."""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
)
from typing import Literal, overload

from ._bulk import bounded_each, bounded_map
from ._config import DEFAULT_CONCURRENCY
from ._errors import TelnyxError
from ._models import Connection
from ._protocol import RawResponse, decode_connection, encode_id

Ids = Iterable[str] | AsyncIterable[str]
"""Connection ids: any iterable or async iterable of ``str``."""


class Connections:
    """Look up connections by id: one at a time or in bulk. Reached as ``telnyx.connections``."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[RawResponse]],
        *,
        prefix: str,
        pool_limit: Callable[[], int | None],
        secrets: Iterable[str] = (),
    ) -> None:
        self._send = send
        self._secrets = secrets
        self._prefix = prefix
        self._pool_limit = pool_limit

    async def get(self, conn_id: str) -> Connection:
        """Retrieve one connection (``GET /connections/{id}``), retrying transient failures.

        Args:
            conn_id: the connection's id, e.g. ``"1293384261075731499"``. It is
                percent-encoded as one path segment, whatever it contains.

        Returns:
            The decoded ``Connection``.

        Raises:
            TypeError: ``conn_id`` is not a ``str``.
            InvalidConnectionIdError: (a ``ValueError``) it is empty, ``"."`` or ``".."``.
            NotFoundError: no such connection (and the other ``APIStatusError`` subclasses).
            APIConnectionError: the network failed on every attempt.
            ResponseValidationError: the API's answer does not match the schema.

        Example:
            >>> conn = await telnyx.connections.get("1293384261075731499")  # doctest: +SKIP
        """
        status, headers, body = await self._send(self._prefix + encode_id(conn_id))
        return decode_connection(body, status=status, headers=headers, secrets=self._secrets)

    @overload
    async def gather_many(
        self,
        ids: Ids,
        *,
        concurrency: int = ...,
        return_exceptions: Literal[False] = ...,
    ) -> list[Connection]: ...

    @overload
    async def gather_many(
        self,
        ids: Ids,
        *,
        concurrency: int = ...,
        return_exceptions: bool,
    ) -> list[Connection | BaseException]: ...

    async def gather_many(
        self,
        ids: Ids,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        return_exceptions: bool = False,
    ) -> list[Connection] | list[Connection | BaseException]:
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
                failed position holds its exception and every id is tried.

        Raises:
            TypeError: ``ids`` is a single string, or holds something other than ``str``.

        Example:
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
        found: dict[str, Connection | BaseException] = {}
        await bounded_each(
            dict.fromkeys(ordered),
            self.get,
            found.__setitem__,
            concurrency=self._concurrency(concurrency),
            capture=Exception if return_exceptions else (),
        )
        return [found[conn_id] for conn_id in ordered]

    def iter_many(
        self, ids: Ids, *, concurrency: int = DEFAULT_CONCURRENCY
    ) -> AsyncGenerator[tuple[str, Connection | TelnyxError], None]:
        """Yield ``(id, Connection or TelnyxError)`` pairs as lookups complete.

        ``ids`` is consumed lazily: never more than ``2 * concurrency`` ids are
        pulled beyond what has been yielded (``concurrency`` in flight, at most as
        many again finished and waiting for your loop), so a generator of
        millions of ids runs in constant memory. A failed lookup (after its
        retries) is yielded as its ``TelnyxError`` and the others go on;
        anything else (a non-``str`` id, an error raised by ``ids`` itself) stops
        the iteration and is raised.

        Leaving the loop early cancels the requests in flight. Wrap the iterator
        in ``contextlib.aclosing`` to have that happen at once rather than when
        the loop next collects the abandoned generator.

        Example:
            >>> from contextlib import aclosing  # doctest: +SKIP
            >>> async with aclosing(telnyx.connections.iter_many(ids)) as results:
            ...     async for conn_id, result in results:
            ...         if isinstance(result, TelnyxError):
            ...             print(conn_id, "failed:", result)
        """
        _reject_single_string(ids)
        return bounded_map(
            ids, self.get, concurrency=self._concurrency(concurrency), capture=TelnyxError
        )

    def _concurrency(self, requested: int) -> int:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ValueError(f"concurrency must be a positive int, got {requested!r}")
        limit = self._pool_limit()
        return min(requested, limit) if limit else requested


def _reject_single_string(ids: object) -> None:
    # A str is an iterable of one-character ids: almost certainly a mistake.
    if isinstance(ids, str | bytes):
        raise TypeError(
            "ids must be an iterable of connection ids, not a single string; use get() for one id"
        )
