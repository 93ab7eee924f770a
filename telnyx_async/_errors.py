"""Every exception the library raises on purpose, and the API's error objects.

The tree::

    TelnyxError                      root: ``except TelnyxError`` catches them all
    ├── InvalidConnectionIdError     also a ValueError; raised before any request
    ├── ResponseValidationError      a 2xx body that is not the documented JSON
    ├── ResponseTooLargeError        a body over the size limit
    ├── APIConnectionError           the request never got an HTTP answer
    │   ├── TLSError                 ... because the certificate is not trusted (not retried)
    │   └── APITimeoutError          ... because an attempt ran out of time
    └── APIStatusError               the API answered 3xx/4xx/5xx (.status, .errors, .request_id)
        ├── BadRequestError              400
        ├── AuthenticationError          401
        ├── PermissionDeniedError        403
        ├── NotFoundError                404
        ├── UnprocessableEntityError     422
        ├── RateLimitError               429
        └── InternalServerError          >= 500

No message ever contains the API key: errors are built from the status, the
response body and the request path, never from request headers.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec


class ErrorSource(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Where in the request an error was found (a JSON pointer)."""

    pointer: str | None = None
    parameter: str | None = None


class ErrorMeta(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Extra details of an error: a link to its documentation."""

    url: str | None = None


class ErrorObject(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One entry of the ``errors`` list of the API's ``ErrorResponse``.

    Examples:
        >>> err.code, err.title, err.detail  # doctest: +SKIP
        ('10005', 'Resource not found', 'The requested resource or URL could not be found.')
    """

    code: str | None = None
    title: str | None = None
    detail: str | None = None
    source: ErrorSource | None = None
    meta: ErrorMeta | None = None


class TelnyxError(Exception):
    """Root of every exception this library raises on purpose.

    Errors about a request also say which one and how hard the library tried:

    Attributes:
        request: e.g. ``"GET /v2/connections/1293384261075731499"`` (the id shortened
            when long), or ``None``.
        conn_id: the connection id looked up, or ``None``.
        attempts: HTTP attempts made for it (retries included), or ``0``.
    """

    request: str | None = None
    conn_id: str | None = None
    attempts: int = 0
    caller_bound: bool = False
    """Whether the error comes from the caller's own limits (its ``deadline``, the
    session's longest wait) rather than from the API's answer."""

    def _context(self) -> str:
        if self.request is None:
            return ""
        tried = f", after {self.attempts} attempts" if self.attempts > 1 else ""
        return f" ({self.request}{tried})"


class InvalidConnectionIdError(TelnyxError, ValueError):
    """A connection id that can never name a connection (empty, ``"."`` or ``".."``).

    It is a ``ValueError`` for callers of ``get()``, and a ``TelnyxError`` so that
    bulk calls can report it for one id without stopping the others.
    """


class ResponseValidationError(TelnyxError):
    """A successful response whose body does not match the documented schema.

    Attributes:
        status: the HTTP status of the response.
        request_id: the ``x-request-id`` of the response, when it carried one.
    """

    def __init__(self, message: str, *, status: int, request_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


class ResponseTooLargeError(TelnyxError):
    """The server sent a body larger than the client is willing to read. Not retried.

    Attributes:
        status: the HTTP status of the response whose body was too large.
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status

    def __str__(self) -> str:
        return f"{self.args[0] if self.args else ''}{self._context()}"


class APIConnectionError(TelnyxError):
    """The request got no HTTP answer: refused, reset, DNS, TLS, a dropped connection."""

    def __str__(self) -> str:
        tried = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self.args[0] if self.args else ''}{tried}"


class TLSError(APIConnectionError):
    """TLS failed: the server's certificate was not trusted or did not match, or no handshake.

    Not retried: a certificate that fails once fails every time. The message
    names the cause (e.g. ``certificate verify failed: unable to get local issuer
    certificate``); pass ``TelnyxSession(ssl=...)`` a context that trusts the
    server's certificate authority.
    """


class APITimeoutError(APIConnectionError, TimeoutError):
    """An attempt took longer than the session's ``timeout``, or a call outlived its ``deadline``.

    Also a builtin ``TimeoutError``, so ``except TimeoutError`` catches it.
    """


class APIStatusError(TelnyxError):
    """The API answered with an error status. Subclasses narrow it down by status.

    Attributes:
        status: the HTTP status code.
        errors: the decoded ``errors`` of the API's ``ErrorResponse``; empty when
            the body was not the documented JSON (an HTML page from a proxy, say).
        request_id: the ``x-request-id`` response header, when present.

    Examples:
        >>> try:  # doctest: +SKIP
        ...     await telnyx.connections.get("123")
        ... except NotFoundError as exc:
        ...     print(exc.status, exc.errors[0].code)
        404 10005
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        errors: tuple[ErrorObject, ...] = (),
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors
        self.request_id = request_id

    retry_after: float | None = None
    """The wait the server advised (``Retry-After``, or a 429's reset), in seconds."""

    def __str__(self) -> str:
        text = f"HTTP {self.status}: {self.args[0]}"
        if self.request_id:
            text += f" [request {self.request_id}]"
        return text + self._context()

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive the default pickling of
        # exceptions, which multiprocessing and some task queues rely on.
        return (_rebuild, (type(self), self.args, self.__dict__))


class BadRequestError(APIStatusError):
    """400: the request was not well-formed."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not access this resource."""


class NotFoundError(APIStatusError):
    """404: no connection has this id (or it belongs to another account)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was understood but its content is invalid."""


class RateLimitError(APIStatusError):
    """429: too many requests; retried with the server's advice before it is raised."""


class InternalServerError(APIStatusError):
    """Any 5xx: a failure on the server's side (or a proxy's in front of it)."""


STATUS_ERRORS: Final[dict[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}
"""The one status -> exception table; every 5xx maps to ``InternalServerError``."""


def status_error_class(status: int) -> type[APIStatusError]:
    """Return the exception class for an error status."""
    if status >= 500:
        return InternalServerError
    return STATUS_ERRORS.get(status, APIStatusError)


def _rebuild(cls: type[Exception], args: tuple[Any, ...], state: dict[str, Any]) -> Exception:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc
