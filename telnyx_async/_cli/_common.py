"""What every command shares: exit statuses, flags and their types, the session, Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import os
import ssl
import sys
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import IO, Any, Final, TypeAlias

from .. import _config  # pyright: ignore[reportPrivateUsage]  # read at parser build: see --timeout
from .._config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_POOL_SIZE
from .._loop import run
from .._session import TelnyxSession

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # pyright: ignore[reportPrivateUsage]
"""What ``add_subparsers`` returns, where each command module registers itself."""

TLS_HINT: Final = (
    "for a certificate authority of your own (a company proxy, the fake server's --tls), "
    "pass --ca-file FILE"
)

EXIT_OK: Final = 0
EXIT_FAILURES: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


class UsageError(Exception):
    """A mistake in how the command was called: reported on stderr, exit status 2."""


def read_ids(lines: Iterable[str], *, source: str = "stdin") -> Iterator[str]:
    """Yield ids, one a line, skipping blank lines and ``#`` comments; lazily.

    Raises:
        UsageError: ``source`` (named in the message) is not UTF-8 text.
    """
    try:
        for line in lines:
            conn_id = line.strip()
            if conn_id and not conn_id.startswith("#"):
                yield conn_id
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read ids from {source}: not UTF-8 text ({exc.reason})") from exc


def session_from_args(args: argparse.Namespace, *, pool_size: int | None = None) -> TelnyxSession:
    """The session the client flags describe; a bad flag or environment is a ``UsageError``."""
    key = args.api_key or os.environ.get(API_KEY_ENV)
    if not key:
        raise UsageError(
            f"no API key: pass --api-key or set {API_KEY_ENV}. "
            "To try the tool without an account, run: telnyx-async demo"
        )
    try:
        return TelnyxSession(
            key,
            base_url=args.base_url,
            max_retries=args.max_retries,
            timeout=args.timeout,
            pool_size=pool_size or DEFAULT_POOL_SIZE,
            ssl=_ssl_from(args.ca_file),
        )
    except ValueError as exc:
        # Everything passed here came from the user: flags or TELNYX_BASE_URL.
        raise UsageError(str(exc)) from exc


def _ssl_from(ca_file: str | None) -> ssl.SSLContext | bool:
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise UsageError(f"cannot read certificate authorities from {ca_file}: {reason}") from exc


def open_output(
    stack: contextlib.ExitStack, output: str | None, *, append: bool = False
) -> IO[bytes]:
    """Stdout's bytes for ``None`` or ``-``, else the file, opened before the loop starts."""
    if output in (None, "-"):
        return sys.stdout.buffer
    try:
        return stack.enter_context(open(output, "ab" if append else "wb"))
    except OSError as exc:
        raise UsageError(f"cannot write to {output}: {exc.strerror}") from exc


def run_interruptible(main: Coroutine[Any, Any, int], on_interrupt: Callable[[], object]) -> int:
    """Run a command's coroutine; Ctrl-C calls ``on_interrupt`` and ends with status 130.

    The first Ctrl-C makes ``asyncio.Runner`` cancel the coroutine, which closes
    its session and flushes whole lines on the way out; the runner then raises
    ``KeyboardInterrupt`` here, at the edge, where it becomes the interrupted path.
    """
    try:
        return run(main)
    except KeyboardInterrupt:
        on_interrupt()
        return EXIT_INTERRUPTED


def _int_at_least(low: int, what: str) -> Callable[[str], int]:
    """An argparse type: an int >= ``low``, refused as ``what`` otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int: Final = _int_at_least(1, "a positive integer")
"""Argparse type: an int >= 1."""
non_negative_int: Final = _int_at_least(0, "an integer >= 0")
"""Argparse type: an int >= 0."""


def seconds(text: str) -> float:
    """Argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def rate(text: str) -> float:
    """Argparse type: a share from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {text!r}")
    return value


def add_client_flags(parser: argparse.ArgumentParser, *, max_retries: int) -> None:
    """--api-key, --base-url, --timeout and --max-retries, with their defaults in the help."""
    parser.add_argument("--api-key", help=f"API key; never printed (default: ${API_KEY_ENV})")
    parser.add_argument(
        "--base-url", help=f"API root (default: ${BASE_URL_ENV}, else {_config.DEFAULT_BASE_URL})"
    )
    # Read when the parser is built: the default and its help follow the library's.
    timeout = _config.DEFAULT_TIMEOUT
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=timeout,
        metavar="SECONDS",
        help=f"seconds allowed for one attempt, connecting included (default: {timeout:g})",
    )
    parser.add_argument(
        "--ca-file",
        metavar="FILE",
        help="trust the certificate authorities in FILE (PEM) for HTTPS "
        "(default: the system's, or $SSL_CERT_FILE)",
    )
    add_max_retries_flag(parser, max_retries)


def add_max_retries_flag(parser: argparse.ArgumentParser, default: int) -> None:
    """--max-retries N."""
    parser.add_argument(
        "--max-retries",
        type=non_negative_int,
        default=default,
        metavar="N",
        help="retries of a failed request, 429s aside (default: %(default)s)",
    )


def add_concurrency_flag(parser: argparse.ArgumentParser) -> None:
    """--concurrency N, the library's default."""
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=_config.DEFAULT_CONCURRENCY,
        metavar="N",
        help="the most requests in flight at once (default: %(default)s)",
    )


def add_progress_flags(parser: argparse.ArgumentParser) -> None:
    """--progress / --no-progress (default: shown when stderr is a terminal)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="always show progress on stderr (default: only when stderr is a terminal)",
    )
    group.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="never show progress (default: only when stderr is a terminal)",
    )


def add_output_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """-o/--output FILE."""
    parser.add_argument(
        "--output", "-o", metavar="FILE", help=f"write {what} here (default: stdout)"
    )
