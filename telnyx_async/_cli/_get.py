"""``telnyx-async get ID...``: print connections as JSON, one a line."""

from __future__ import annotations

import argparse
import sys
from typing import Final

import msgspec

from .._config import DEFAULT_CONCURRENCY, DEFAULT_MAX_RETRIES
from .._errors import TelnyxError
from .._loop import run
from .._models import Connection
from .._session import TelnyxSession
from ._common import EXIT_FAILURES, EXIT_OK, Commands, add_client_flags, session_from_args

_ENCODER: Final = msgspec.json.Encoder()


def register(commands: Commands) -> None:
    """Add the ``get`` command."""
    get = commands.add_parser(
        "get",
        help="print connections as JSON",
        description="Print each connection as one line of JSON; failures go to stderr.",
    )
    get.add_argument("ids", nargs="+", metavar="ID", help="connection ids")
    add_client_flags(get, max_retries=DEFAULT_MAX_RETRIES)
    get.set_defaults(run=_cmd_get)


def _cmd_get(args: argparse.Namespace) -> int:
    return run(_get(session_from_args(args), args.ids))


async def _get(telnyx: TelnyxSession, ids: list[str]) -> int:
    async with telnyx:
        results = await telnyx.connections.gather_many(
            ids, concurrency=DEFAULT_CONCURRENCY, return_exceptions=True
        )
    failed = 0
    for conn_id, result in zip(ids, results, strict=True):
        if isinstance(result, Connection):
            sys.stdout.buffer.write(_ENCODER.encode(result) + b"\n")
        elif isinstance(result, TelnyxError):
            failed += 1
            sys.stderr.write(f"error: {conn_id}: {result}\n")
        else:
            raise result
    sys.stdout.flush()
    return EXIT_FAILURES if failed else EXIT_OK
