"""``telnyx-async active-calls CONN_ID``: a connection's calls in progress, as JSON Lines."""

from __future__ import annotations

import argparse
import sys
from typing import Final

import msgspec

from .._active_calls import DEFAULT_ACTIVE_CALLS_PAGE_SIZE, ActiveCallListing
from .._config import DEFAULT_MAX_RETRIES
from .._errors import TelnyxError
from .._loop import run
from .._session import TelnyxSession
from ._common import (
    EXIT_FAILURES,
    EXIT_OK,
    Commands,
    UsageError,
    add_client_flags,
    positive_int,
    session_from_args,
)

_ENCODER: Final = msgspec.json.Encoder()


def register(commands: Commands) -> None:
    """Add the ``active-calls`` command."""
    calls = commands.add_parser(
        "active-calls",
        help="print a connection's active calls as JSON Lines",
        description=(
            "Print each call in progress on the connection as one line of JSON, following "
            "the API's cursor pages. Exit status 0 when the walk completed (no calls "
            "included), 1 when it failed: the error goes to stderr."
        ),
    )
    calls.add_argument("conn_id", metavar="CONN_ID", help="the connection id")
    calls.add_argument(
        "--page-size",
        type=positive_int,
        default=DEFAULT_ACTIVE_CALLS_PAGE_SIZE,
        metavar="N",
        help="calls per request, 1 to 250 (default: %(default)s)",
    )
    add_client_flags(calls, max_retries=DEFAULT_MAX_RETRIES)
    calls.set_defaults(run=_cmd_active_calls)


def _cmd_active_calls(args: argparse.Namespace) -> int:
    telnyx = session_from_args(args)
    try:
        listing = telnyx.connections.active_calls(args.conn_id, page_size=args.page_size)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc
    return run(_walk(telnyx, listing))


async def _walk(telnyx: TelnyxSession, listing: ActiveCallListing) -> int:
    async with telnyx:
        try:
            async for call in listing:
                sys.stdout.buffer.write(_ENCODER.encode(call) + b"\n")
        except TelnyxError as exc:
            sys.stdout.flush()
            sys.stderr.write(f"error: {exc}\n")
            return EXIT_FAILURES
    sys.stdout.flush()
    return EXIT_OK
