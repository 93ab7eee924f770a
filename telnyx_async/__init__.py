"""telnyx-async: an asyncio-native client for the Telnyx Connections API.

Examples:
    >>> from telnyx_async import TelnyxSession
    >>> async with TelnyxSession() as telnyx:  # doctest: +SKIP
    ...     conn = await telnyx.connections.get("1293384261075731499")
"""

from ._active_calls import ActiveCallListing
from ._budget import RetryBudget
from ._config import DEFAULT_BASE_URL
from ._connections import Connections
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ErrorMeta,
    ErrorObject,
    ErrorSource,
    InternalServerError,
    InvalidConnectionIdError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    TelnyxError,
    TLSError,
    UnprocessableEntityError,
)
from ._listing import ConnectionListing, ConnectionSort
from ._loop import run
from ._models import (
    ActiveCall,
    ActiveCallsPage,
    AnchorsiteOverride,
    Connection,
    ConnectionCounts,
    ConnectionLimits,
    ConnectionTypeCounts,
    CursorMeta,
    Cursors,
    GlobalConnectionLimit,
    Page,
    PaginationMeta,
    PerTypeConnectionLimits,
)
from ._pacing import AdaptiveRateLimiter, RateLimiter
from ._redis_limiter import RedisLimiterStats, RedisRateLimiter
from ._retry import RetryPolicy
from ._session import TelnyxSession
from ._stats import SessionStats
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ActiveCall",
    "ActiveCallListing",
    "ActiveCallsPage",
    "AdaptiveRateLimiter",
    "AnchorsiteOverride",
    "AuthenticationError",
    "BadRequestError",
    "Connection",
    "ConnectionCounts",
    "ConnectionLimits",
    "ConnectionListing",
    "ConnectionSort",
    "ConnectionTypeCounts",
    "Connections",
    "CursorMeta",
    "Cursors",
    "ErrorMeta",
    "ErrorObject",
    "ErrorSource",
    "GlobalConnectionLimit",
    "InternalServerError",
    "InvalidConnectionIdError",
    "NotFoundError",
    "Page",
    "PaginationMeta",
    "PerTypeConnectionLimits",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimiter",
    "RedisLimiterStats",
    "RedisRateLimiter",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryBudget",
    "RetryPolicy",
    "SessionStats",
    "TLSError",
    "TelnyxError",
    "TelnyxSession",
    "UnprocessableEntityError",
    "__version__",
    "run",
]

# Tracebacks and reprs name the exceptions as users import them (telnyx_async.X,
# not telnyx_async._errors.X); pickling finds them there too.
for _error in (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidConnectionIdError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    TelnyxError,
    TLSError,
    UnprocessableEntityError,
):
    _error.__module__ = __name__
del _error
