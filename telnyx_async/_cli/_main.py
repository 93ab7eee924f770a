"""The parser of ``telnyx-async`` and its entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._errors import TelnyxError, TLSError
from .._version import __version__
from . import _active_calls, _bulk, _demo, _fake_server, _get, _list
from ._common import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_USAGE, TLS_HINT, UsageError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``telnyx-async``."""
    parser = argparse.ArgumentParser(
        prog="telnyx-async",
        description="Look up Telnyx connections, one or millions, or run a local fake API.",
    )
    parser.add_argument("--version", action="version", version=f"telnyx-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (_get, _bulk, _list, _active_calls, _demo, _fake_server):
        command.register(commands)
    return parser


def _attach_sort_values(argv: Sequence[str]) -> list[str]:
    """``--sort -created_at`` as ``--sort=-created_at``: argparse takes the value for a flag."""
    joined: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--sort":
            value = next(words, None)
            joined.append(word if value is None else f"--sort={value}")
        else:
            joined.append(word)
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(_attach_sort_values(sys.argv[1:] if argv is None else argv))
    try:
        status: int = args.run(args)
        return status
    except UsageError as exc:
        sys.stderr.write(f"telnyx-async: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except TelnyxError as exc:
        sys.stderr.write(f"telnyx-async: {exc}\n")
        if isinstance(exc, TLSError):
            sys.stderr.write(f"telnyx-async: {TLS_HINT}\n")
        return EXIT_FAILURES
    # Anything else (a ValueError from inside the library included) is a bug:
    # it propagates with its traceback rather than pass for a usage error.
