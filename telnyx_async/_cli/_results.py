"""Bulk results: JSON Lines records, the run that writes them, its summary, and resuming.

A result file holds one JSON object a line: ``{"id", "data"}`` or ``{"id",
"error"}``. A run resumed on its file (``bulk --resume``) skips the ids that
already have a ``data`` line and tries the others again, appending: the last
line of each id is then its outcome.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, TextIO

import msgspec

from .._errors import APIStatusError, AuthenticationError, TelnyxError, TLSError
from .._models import Connection
from .._session import TelnyxSession
from .._stats import SessionStats
from ._common import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, TLS_HINT
from ._progress import make_progress

_ENCODER: Final = msgspec.json.Encoder()


class _Record(msgspec.Struct):
    """What resuming reads of a result line: its id, and whether it holds data."""

    id: str
    data: msgspec.Raw = msgspec.Raw()
    """The data, undecoded (empty when the line has none): only its presence matters."""


_RECORD_DECODER: Final = msgspec.json.Decoder(_Record)


def error_record(exc: TelnyxError) -> dict[str, Any]:
    """The ``error`` object of a JSON Lines result: status, API code, detail, type, request id.

    ``request_id`` is the API's ``x-request-id``, what Telnyx support asks for
    (``null`` when no response came).
    """
    status = getattr(exc, "status", None)
    code = detail = None
    if isinstance(exc, APIStatusError) and exc.errors:
        code, detail = exc.errors[0].code, exc.errors[0].detail
    return {
        "status": status,
        "code": code,
        "detail": detail or str(exc),
        "type": type(exc).__name__,
        "request_id": getattr(exc, "request_id", None),
    }


def result_line(conn_id: str, result: Connection | TelnyxError) -> bytes:
    """One JSON Lines record: ``{"id", "data"}`` or ``{"id", "error"}``, newline-terminated."""
    if isinstance(result, Connection):
        return _ENCODER.encode({"id": conn_id, "data": result}) + b"\n"
    return _ENCODER.encode({"id": conn_id, "error": error_record(result)}) + b"\n"


@dataclass
class BulkTally:
    """What a bulk run has done so far, kept up to date as results arrive.

    The summary is printed from it, even when Ctrl-C ended the run.
    """

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    """Ids a resumed run found already done in its file."""
    mismatched: int = 0
    """Ids that came back different from what the demo expected."""
    rejected: AuthenticationError | TLSError | None = None
    """The 401 or TLS failure that stopped the run, if one did."""
    stats: SessionStats = field(default_factory=SessionStats)
    """The session's counters when the run ended or was interrupted."""
    started: float = field(default_factory=time.perf_counter)
    """``time.perf_counter()`` when the lookups started."""
    reported: bool = False
    """Whether the summary has been printed."""


async def run_bulk(
    telnyx: TelnyxSession,
    ids: Iterable[str] | AsyncIterable[str],
    out: IO[bytes],
    *,
    concurrency: int,
    total: int | None,
    progress: bool | None,
    err: TextIO,
    check: dict[str, Connection] | None = None,
    tally: BulkTally | None = None,
) -> int:
    """Look up ``ids``, stream JSON Lines to ``out``, show progress, print the summary.

    With ``check`` (the demo), every result is compared with the expected
    connection. Returns the exit status.

    Cancellation propagates, as callers (``asyncio.timeout``, a ``TaskGroup``)
    need; ``out`` then holds complete lines only, and ``tally`` (when given) what
    was done, from which ``report`` prints the interrupted summary.
    """
    tally = BulkTally() if tally is None else tally
    tally.started = time.perf_counter()
    display = make_progress(err, total, enabled=progress)
    try:
        async with contextlib.aclosing(
            telnyx.connections.iter_many(ids, concurrency=concurrency)
        ) as results:
            async for conn_id, result in results:
                out.write(result_line(conn_id, result))
                is_error = not isinstance(result, Connection)
                if is_error:
                    tally.failed += 1
                else:
                    tally.ok += 1
                    if check is not None and check.get(conn_id) != result:
                        tally.mismatched += 1
                display.advance(failed=is_error)
    except (AuthenticationError, TLSError) as exc:
        # A wrong key or an untrusted certificate fails every id alike: the
        # library stopped the run at the first.
        tally.rejected = exc
        if exc.conn_id is not None:
            out.write(result_line(exc.conn_id, exc))
            tally.failed += 1
    finally:
        out.flush()
        display.close()
        tally.stats = telnyx.stats
    return report(tally, err, check=check)


def report(
    tally: BulkTally,
    err: TextIO,
    *,
    check: dict[str, Connection] | None = None,
    interrupted: bool = False,
) -> int:
    """Print the summary of a bulk run to ``err`` and return its exit status.

    ``interrupted`` puts ``interrupted: `` in front and skips the demo's check.
    """
    tally.reported = True
    failed = tally.failed
    elapsed = time.perf_counter() - tally.started
    done = tally.ok + failed
    stats = tally.stats
    ids_rate = done / elapsed if elapsed > 0 else 0.0
    requests_rate = stats.requests / elapsed if elapsed > 0 else 0.0
    err.write(
        f"{'interrupted: ' if interrupted else ''}"
        f"ok {tally.ok:,}, failed {failed:,}; {_count(done, 'id')} in {elapsed:.2f}s "
        f"({ids_rate:,.0f} ids/s); {_count(stats.requests, 'request')} "
        f"({requests_rate:,.0f} requests/s), "
        f"retries {stats.retries:,}, rate-limited {stats.rate_limited:,}\n"
    )
    if tally.skipped:
        err.write(
            f"resumed: {_count(tally.skipped, 'id')} already done in the output file "
            f"{'was' if tally.skipped == 1 else 'were'} skipped\n"
        )
    if tally.rejected is not None:
        why = "TLS failed" if isinstance(tally.rejected, TLSError) else "the API rejected the key"
        err.write(f"stopped: {why} ({tally.rejected}); the remaining ids were not looked up\n")
        if isinstance(tally.rejected, TLSError):
            err.write(f"{TLS_HINT}\n")
    if check is not None and not interrupted:
        if tally.ok == len(check) and not failed and not tally.mismatched:
            err.write(f"verified: all {tally.ok} connections came back intact despite the faults\n")
        else:
            err.write(f"NOT verified: {tally.ok} of {len(check)} ok, {tally.mismatched} differ\n")
            failed = failed or 1
    err.flush()
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILURES if failed else EXIT_OK


@dataclass
class PreviousResults:
    """What an earlier run left in a result file, read by ``bulk --resume``."""

    done: set[str] = field(default_factory=lambda: set[str]())
    """Ids with a ``data`` line: skipped."""
    failed: set[str] = field(default_factory=lambda: set[str]())
    """Ids with error lines only: tried again."""
    complete_bytes: int = 0
    """Where the last complete line ends; anything after it is a half-written line."""
    unreadable: int = 0
    """Complete lines that are not result records (skipped; their ids are tried again)."""


def read_previous(path: Path) -> PreviousResults:
    """Read a result file for ``--resume``; a missing file is an empty one.

    A last line without its newline was cut short by a crash: it is never
    parsed, and ``complete_bytes`` tells where to cut the file before appending.

    Raises:
        OSError: the file exists and cannot be read.
    """
    previous = PreviousResults()
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        return previous
    with stream:
        for line in stream:
            if not line.endswith(b"\n"):
                break  # half-written: a crash cut it; never parsed
            previous.complete_bytes += len(line)
            try:
                record = _RECORD_DECODER.decode(line)
            except msgspec.DecodeError:  # ValidationError included
                previous.unreadable += line.strip() != b""
                continue
            if bytes(record.data) not in (b"", b"null"):
                previous.done.add(record.id)
                previous.failed.discard(record.id)
            elif record.id not in previous.done:
                previous.failed.add(record.id)
    return previous


def cut_half_written_line(stream: IO[bytes], previous: PreviousResults) -> int:
    """Drop a half-written last line from an output opened for appending; return bytes cut."""
    stream.seek(0, 2)
    size = stream.tell()
    if size > previous.complete_bytes:
        stream.truncate(previous.complete_bytes)
        stream.seek(0, 2)
    return size - previous.complete_bytes


def _count(number: int, noun: str) -> str:
    """``"1 id"``, ``"2,000 ids"``: the number and its noun, plural when it must be."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
