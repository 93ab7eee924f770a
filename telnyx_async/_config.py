"""Defaults, in one place, and the functions that read configuration from the environment.

Every time is in seconds. The environment is passed in as a mapping so that the
functions stay pure and are tested without touching ``os.environ``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Final

DEFAULT_BASE_URL: Final = "https://api.telnyx.com/v2"
DEFAULT_TIMEOUT: Final = 30.0
"""Seconds allowed for one attempt, connecting included."""
DEFAULT_MAX_RETRIES: Final = 2
"""Retries after the first attempt: 2 means at most 3 attempts."""
DEFAULT_POOL_SIZE: Final = 100
"""Most TCP connections the session keeps open at once."""
DEFAULT_CONCURRENCY: Final = 50
"""Most requests a bulk call keeps in flight."""
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
"""Largest response body read, counted after decompression; a connection is well under 1 KiB."""
MAX_ERROR_BODY_BYTES: Final = 64 * 1024
"""Most bytes of an error response's body kept: enough for any ``ErrorResponse`` and an excerpt."""
MAX_MESSAGE_TEXT_CHARS: Final = 200
"""Longest piece of outside text (an id, a server's title or detail) put into a message."""

DEFAULT_MAX_RATE_LIMIT_WAIT: Final = 60.0
"""Longest one call waits on the rate limit, in seconds: its time in the limiter, then the
wall time since its first 429. Also the longest advice a session obeys."""
DEFAULT_RATE_LIMIT_PAUSE: Final = 1.0
"""Seconds a ``RedisRateLimiter`` fleet pauses after a 429 that gives no advice."""
THROTTLE_FLOOR_START: Final = 0.05
"""Seconds between a session's sends after its second 429 in a row (no other answer
between): the floor under every sleep a 429 may advise, doubled on each further 429."""
THROTTLE_FLOOR_MAX: Final = 10.0
"""The floor's ceiling, in seconds: a session that sees nothing but 429s, whatever
their ``Retry-After`` says, sends at most one request per this many seconds."""
DEFAULT_RETRY_BUDGET_RATIO: Final = 0.5
"""Retry tokens earned per success: every retry is allowed up to ~33% failures."""
DEFAULT_RETRY_BUDGET_MAX: Final = 50.0
"""Most retry tokens banked: an outage costs at most this many retries, plus the floor.

As large as the default concurrency, so that one burst of failures across every worker
at once (a slow minute: every request in flight times out together) is still retried."""
DEFAULT_RETRY_BUDGET_FLOOR: Final = 1.0
"""Retry tokens earned per second without any success, so a failing session still probes."""

API_KEY_ENV: Final = "TELNYX_API_KEY"
BASE_URL_ENV: Final = "TELNYX_BASE_URL"
LOG_ENV: Final = "TELNYX_LOG"
"""``debug`` or ``info``: log the ``telnyx_async`` logger to stderr (as the official SDK does)."""
_LOG_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO}


def api_key_from(explicit: str | None, env: Mapping[str, str]) -> str | None:
    """Return the explicit key, else ``TELNYX_API_KEY`` from ``env``, else ``None``."""
    if explicit is not None:
        return explicit
    return env.get(API_KEY_ENV) or None


def base_url_from(explicit: str | None, env: Mapping[str, str]) -> str:
    """Return the base URL without a trailing slash: explicit, else env, else the default.

    Raises:
        ValueError: the URL is not an absolute ``http`` or ``https`` URL, holds
            credentials (``user:password@``; the message never repeats them), or is
            the public API's host without ``/v2``.
    """
    url = explicit or env.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        # Never echoed: the part before "@" is a password. The key travels as a Bearer
        # token, and aiohttp refuses credentials in the URL beside one.
        raise ValueError("base_url must not hold credentials (user:password@host)")
    if not sep or scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise ValueError(f"base_url must be an absolute http(s) URL, got {url!r}")
    if "?" in rest or "#" in rest:
        raise ValueError(f"base_url must not have a query or fragment, got {url!r}")
    url = url.rstrip("/")
    host, _, path = rest.partition("/")
    if host.lower().split(":")[0] == _PUBLIC_HOST and not path.strip("/").startswith("v2"):
        # The public API has no unversioned paths: every call would be a 404.
        raise ValueError(f"base_url {url!r} has no /v2: did you mean {url}/v2?")
    return url


_PUBLIC_HOST: Final = "api.telnyx.com"


def log_level_from(env: Mapping[str, str]) -> int | None:
    """The level ``TELNYX_LOG`` asks for (``debug`` or ``info``), or ``None``."""
    return _LOG_LEVELS.get(env.get(LOG_ENV, "").strip().lower())


def configure_logging(env: Mapping[str, str]) -> None:
    """With ``TELNYX_LOG`` set, send the ``telnyx_async`` logger to stderr at that level.

    Once per process: a handler of our own is added only if none is there yet.
    Without ``TELNYX_LOG`` nothing is touched: logging stays the application's.
    """
    level = log_level_from(env)
    if level is None:
        return
    logger = logging.getLogger("telnyx_async")
    logger.setLevel(level)
    if not any(getattr(h, "_telnyx_async", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handler._telnyx_async = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
