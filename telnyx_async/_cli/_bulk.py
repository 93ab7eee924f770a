"""``telnyx-async bulk [FILE|-]``: look up ids as JSON Lines, resumable with ``--resume``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .._config import DEFAULT_MAX_RETRIES, DEFAULT_POOL_SIZE
from .._session import TelnyxSession
from ._common import (
    Commands,
    UsageError,
    add_client_flags,
    add_concurrency_flag,
    add_output_flag,
    add_progress_flags,
    open_output,
    positive_int,
    read_ids,
    run_interruptible,
    session_from_args,
)
from ._results import BulkTally, cut_half_written_line, read_previous, report, run_bulk


def register(commands: Commands) -> None:
    """Add the ``bulk`` command."""
    bulk = commands.add_parser(
        "bulk",
        help="look up ids from a file or stdin, as JSON Lines",
        description=(
            "Look up every id (one a line; blank lines and # comments skipped) with bounded "
            'concurrency and write one JSON object a line: {"id", "data"} or {"id", "error"}. '
            "Exit status 0 when every id succeeded, 1 when some failed, 130 on Ctrl-C."
        ),
    )
    bulk.add_argument("file", nargs="?", metavar="FILE|-", help="ids, one a line (default: stdin)")
    add_concurrency_flag(bulk)
    bulk.add_argument(
        "--pool-size",
        type=positive_int,
        metavar="N",
        help=f"the most connections kept open (default: {DEFAULT_POOL_SIZE}, "
        "or --concurrency when larger)",
    )
    add_output_flag(bulk, "the JSON Lines results")
    bulk.add_argument(
        "--resume",
        action="store_true",
        help="keep the results already in --output: skip ids with data, retry the failed, "
        "append (default: start a new file)",
    )
    add_client_flags(bulk, max_retries=DEFAULT_MAX_RETRIES)
    add_progress_flags(bulk)
    bulk.set_defaults(run=_cmd_bulk)


def _count_ids(path: Path, skip: set[str]) -> int | None:
    """The number of ids in ``path`` still to do, for the bar's total; ``None`` unless a file.

    A pipe (``bulk <(grep ...)``) can be read only once: counting would eat the ids.
    """
    try:
        if not path.is_file():
            return None
        with path.open(encoding="utf-8") as stream:
            return sum(1 for i in read_ids(stream, source=str(path)) if i not in skip)
    except OSError:
        return None


def _pool_size(args: argparse.Namespace) -> int:
    pool: int | None = args.pool_size
    if pool is None:
        return max(DEFAULT_POOL_SIZE, int(args.concurrency))
    if pool < args.concurrency:
        sys.stderr.write(
            f"note: --concurrency {args.concurrency} is more than --pool-size {pool}: "
            f"{pool} requests run at once\n"
        )
        args.concurrency = pool  # said once, here: the library need not warn again
    return pool


def _cmd_bulk(args: argparse.Namespace) -> int:
    # Files are opened here, before the loop starts, so that no blocking open()
    # happens inside it; the ids themselves are read lazily line by line.
    if args.resume and args.output in (None, "-"):
        raise UsageError("--resume needs --output FILE: the results of the earlier run")
    if _same_file(args.file, args.output):
        # Writing results over (or after) the ids being read would destroy them,
        # or, appending, feed each result back in as an id without end.
        raise UsageError(f"{args.output} is both the ids file and the output")
    telnyx = session_from_args(args, pool_size=_pool_size(args))
    shows_bar: bool = sys.stderr.isatty() if args.progress is None else args.progress
    tally = BulkTally()
    done: set[str] = set()
    with contextlib.ExitStack() as stack:
        if args.resume:
            try:
                previous = read_previous(Path(args.output))
            except OSError as exc:
                raise UsageError(f"cannot read {args.output}: {exc.strerror}") from exc
            if previous.unreadable:
                raise UsageError(
                    f"{args.output} holds {previous.unreadable} lines that are not bulk "
                    "results: --resume appends only to the output of an earlier bulk run"
                )
            done = previous.done
            out = open_output(stack, args.output, append=True)
            if cut := cut_half_written_line(out, previous):
                sys.stderr.write(
                    f"resume: dropped a half-written last line ({cut} bytes) from {args.output}\n"
                )
        else:
            out = open_output(stack, args.output)
        if args.file in (None, "-"):
            ids, total = read_ids(sys.stdin), None
        else:
            path = Path(args.file)
            try:
                stream = stack.enter_context(path.open(encoding="utf-8"))
            except OSError as exc:
                raise UsageError(f"cannot read ids from {args.file}: {exc.strerror}") from exc
            ids = read_ids(stream, source=args.file)
            # Counting reads the file a second time: only worth it for a bar's total.
            total = _count_ids(path, done) if shows_bar else None
        if done:
            ids = _skipping(ids, done, tally)

        def interrupted() -> None:
            if not tally.reported:
                report(tally, sys.stderr, interrupted=True)

        return run_interruptible(
            _with_session(
                telnyx, ids, out, args=args, total=total, progress=shows_bar, tally=tally
            ),
            interrupted,
        )


def _same_file(ids_file: str | None, output: str | None) -> bool:
    if ids_file in (None, "-") or output in (None, "-"):
        return False
    try:
        return os.path.samefile(ids_file, output)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def _skipping(ids: Iterator[str], done: set[str], tally: BulkTally) -> Iterator[str]:
    for conn_id in ids:
        if conn_id in done:
            tally.skipped += 1
        else:
            yield conn_id


async def _with_session(
    telnyx: TelnyxSession,
    ids: Iterator[str],
    out: IO[bytes],
    *,
    args: argparse.Namespace,
    total: int | None,
    progress: bool,
    tally: BulkTally,
) -> int:
    async with telnyx:
        return await run_bulk(
            telnyx,
            ids,
            out,
            concurrency=args.concurrency,
            total=total,
            progress=progress,
            err=sys.stderr,
            tally=tally,
        )
