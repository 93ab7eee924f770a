"""``telnyx-async list``: walk the account's connections, as JSON Lines or bare ids."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import IO, Final

import msgspec

from .._config import DEFAULT_MAX_RETRIES
from .._listing import MAX_PAGE_SIZE, SORT_KEYS, ConnectionListing
from .._session import TelnyxSession
from ._common import (
    EXIT_OK,
    Commands,
    UsageError,
    add_client_flags,
    add_output_flag,
    add_progress_flags,
    open_output,
    positive_int,
    run_interruptible,
    session_from_args,
)
from ._progress import make_progress

_ENCODER: Final = msgspec.json.Encoder()
_SORTS: Final = (*SORT_KEYS, *(f"-{key}" for key in SORT_KEYS))


def register(commands: Commands) -> None:
    """Add the ``list`` command."""
    listing = commands.add_parser(
        "list",
        help="list the account's connections, as JSON Lines or bare ids",
        description=(
            "Walk every page of GET /connections and write one connection a line: its JSON, "
            "or its id alone with --ids-only (pipe that into `telnyx-async bulk -`). "
            "Progress, by pages, goes to stderr."
        ),
    )
    listing.add_argument(
        "--name-contains",
        metavar="TEXT",
        help="only names containing TEXT, ignoring case; 3 characters at least (default: all)",
    )
    listing.add_argument(
        "--fqdn", metavar="FQDN", help="only connections with exactly this FQDN (default: all)"
    )
    listing.add_argument(
        "--outbound-voice-profile-id",
        metavar="ID",
        help="only connections using this outbound voice profile (default: all)",
    )
    listing.add_argument(
        "--sort",
        choices=_SORTS,
        metavar="KEY",
        help=f"{', '.join(SORT_KEYS)}; a leading - sorts descending "
        "(default: the API's order, newest first)",
    )
    listing.add_argument(
        "--page-size",
        type=positive_int,
        default=MAX_PAGE_SIZE,
        metavar="N",
        help=f"connections per request, 1 to {MAX_PAGE_SIZE} (default: %(default)s)",
    )
    listing.add_argument(
        "--ids-only",
        action="store_true",
        help="write bare ids, one a line (default: each connection's JSON)",
    )
    add_output_flag(listing, "the connections")
    add_client_flags(listing, max_retries=DEFAULT_MAX_RETRIES)
    add_progress_flags(listing)
    listing.set_defaults(run=_cmd_list)


def _cmd_list(args: argparse.Namespace) -> int:
    telnyx = session_from_args(args)
    try:
        listing = telnyx.connections.list(
            name_contains=args.name_contains,
            fqdn=args.fqdn,
            outbound_voice_profile_id=args.outbound_voice_profile_id,
            sort=args.sort,
            page_size=args.page_size,
        )
    except ValueError as exc:
        raise UsageError(_flag_names(str(exc))) from exc
    shows_bar: bool = sys.stderr.isatty() if args.progress is None else args.progress
    with contextlib.ExitStack() as stack:
        out = open_output(stack, args.output)
        return run_interruptible(
            _walk(telnyx, listing, out, ids_only=args.ids_only, progress=shows_bar),
            lambda: sys.stderr.write("interrupted\n"),
        )


def _flag_names(message: str) -> str:
    """The library's message, in the command line's words (``--page-size``, not ``page_size``)."""
    for name in ("name_contains", "outbound_voice_profile_id", "page_size", "fqdn"):
        message = message.replace(name, "--" + name.replace("_", "-"))
    return message


async def _walk(
    telnyx: TelnyxSession,
    listing: ConnectionListing,
    out: IO[bytes],
    *,
    ids_only: bool,
    progress: bool,
) -> int:
    display = make_progress(sys.stderr, None, enabled=progress, unit="page")
    written = pages_seen = 0
    try:
        async with telnyx, contextlib.aclosing(listing.pages()) as pages:
            async for page in pages:
                if not pages_seen:
                    display.set_total(page.meta.total_pages)
                pages_seen += 1
                if ids_only:  # a connection without an id has nothing to write
                    out.write(b"".join(f"{c.id}\n".encode() for c in page.data if c.id))
                else:
                    out.write(b"".join(_ENCODER.encode(c) + b"\n" for c in page.data))
                written += len(page.data)
                display.advance(failed=False)
        out.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): what it read is all it wanted. Stdout
        # now points at /dev/null, so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        display.close()
    sys.stderr.write(f"listed {written:,} connections in {pages_seen:,} pages\n")
    if listing.changed:
        sys.stderr.write(
            f"note: the listing changed during the walk ({listing.repeated} repeated); "
            "connections may be repeated or missing: list again for a consistent copy\n"
        )
    return EXIT_OK
