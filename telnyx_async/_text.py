"""Bounded, secret-free text for messages and log lines.

Everything the library puts into an exception message or a log line from
outside (ids, server text, header values, aiohttp's own messages) goes through
``safe_text``: the session's secrets are replaced by a marker, then the text is
cut to a fixed length with a marker that says how much was left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from ._config import MAX_MESSAGE_TEXT_CHARS

REDACTED: Final = "[redacted]"
"""What a secret is replaced by."""


class SecretStrings:
    """The strings to redact (the API key, a base URL's password), opaque to ``repr``.

    Not a tuple on purpose: it travels as a local variable through the frames
    an exception passes, and ``traceback`` with ``capture_locals`` or an error
    reporter records the ``repr`` of every local, and the items of every sequence.

    Examples:
        >>> SecretStrings("KEY123")
        <SecretStrings: 1 redacted>
    """

    __slots__ = ("_values",)

    def __init__(self, *values: str) -> None:
        self._values = tuple(v for v in values if v)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def __repr__(self) -> str:
        return f"<SecretStrings: {len(self._values)} redacted>"


def shorten(text: str, limit: int = MAX_MESSAGE_TEXT_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters, saying how many were left out.

    Examples:
        >>> shorten("abcdef", 3)
        'abc...[3 more chars]'
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more chars]"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text`` by ``[redacted]``.

    Examples:
        >>> redact("Bearer KEY123", ["KEY123"])
        'Bearer [redacted]'
    """
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def safe_text(text: str, secrets: Iterable[str] = (), limit: int = MAX_MESSAGE_TEXT_CHARS) -> str:
    """``text`` redacted, then shortened: fit for a message or a log line.

    Redaction comes first so that a cut can never leave part of a secret behind.
    """
    return shorten(redact(text, secrets), limit)
