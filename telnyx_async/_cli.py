"""The ``telnyx-async`` command line: get, bulk, demo and fake-server.

Exit statuses: 0 every id succeeded, 1 some failed, 2 usage error (no key, bad
flags, an unreadable ids file), 130 interrupted. Results go to stdout (or
``--output``); progress, the summary and messages go to stderr. The API key is
never printed. Any other exception is a bug and ends with its traceback.

Ctrl-C is handled at the edge, where a command's coroutine is run: the
coroutines themselves let cancellation through, as any asyncio code must.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TextIO

import msgspec

from . import _config  # pyright: ignore[reportPrivateUsage]  # read at parser build: see --timeout
from ._config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_CONCURRENCY, DEFAULT_MAX_RETRIES
from ._errors import APIStatusError, AuthenticationError, TelnyxError
from ._loop import run
from ._models import Connection
from ._progress import make_progress
from ._retry import RetryPolicy
from ._session import TelnyxSession
from ._stats import SessionStats
from ._version import __version__

if TYPE_CHECKING:
    from .testing import FakeTelnyx, Faults

EXIT_OK: Final = 0
EXIT_FAILURES: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

_ENCODER: Final = msgspec.json.Encoder()


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


def error_record(exc: TelnyxError) -> dict[str, Any]:
    """The ``error`` object of a JSON Lines result: status, API code, detail, type."""
    status = getattr(exc, "status", None)
    code = detail = None
    if isinstance(exc, APIStatusError) and exc.errors:
        code, detail = exc.errors[0].code, exc.errors[0].detail
    return {
        "status": status,
        "code": code,
        "detail": detail or str(exc),
        "type": type(exc).__name__,
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
    mismatched: int = 0
    """Ids that came back different from what the demo expected."""
    rejected: AuthenticationError | None = None
    """The 401 that stopped the run, if one did."""
    stats: SessionStats = field(default_factory=SessionStats)
    """The session's counters when the run ended or was interrupted."""
    started: float = field(default_factory=time.perf_counter)
    """``time.perf_counter()`` when the lookups started."""
    reported: bool = False
    """Whether the summary has been printed."""


async def run_bulk(
    telnyx: TelnyxSession,
    ids: Iterable[str],
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
    except AuthenticationError as exc:
        # A wrong key fails every id alike: the library stopped the run at the first.
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
    rate = tally.stats.requests / elapsed if elapsed > 0 else 0.0
    err.write(
        f"{'interrupted: ' if interrupted else ''}"
        f"ok {tally.ok}, failed {failed}, retries {tally.stats.retries}, "
        f"elapsed {elapsed:.2f}s, {rate:,.0f} requests/s\n"
    )
    if tally.rejected is not None:
        err.write(
            f"stopped: the API rejected the key ({tally.rejected}); the remaining ids were not "
            "looked up\n"
        )
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


def _run_bulk_command(main: Coroutine[Any, Any, int], tally: BulkTally) -> int:
    """Run a bulk command's coroutine; Ctrl-C ends it with the summary and status 130.

    The first Ctrl-C makes ``asyncio.Runner`` cancel the coroutine, which closes
    its session and flushes whole lines on the way out; the runner then raises
    ``KeyboardInterrupt`` here, at the edge, where it becomes the interrupted path.
    """
    try:
        return run(main)
    except KeyboardInterrupt:
        if not tally.reported:
            report(tally, sys.stderr, interrupted=True)
        return EXIT_INTERRUPTED


def _session(args: argparse.Namespace) -> TelnyxSession:
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
        )
    except ValueError as exc:
        # Everything passed here came from the user: flags or TELNYX_BASE_URL.
        raise UsageError(str(exc)) from exc


def _cmd_get(args: argparse.Namespace) -> int:
    return run(_get(_session(args), args.ids))


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


def _count_ids(path: Path) -> int | None:
    """The number of ids in ``path`` for the bar's total; ``None`` unless a regular file.

    A pipe (``bulk <(grep ...)``) can be read only once: counting would eat the ids.
    """
    try:
        if not path.is_file():
            return None
        with path.open(encoding="utf-8") as stream:
            return sum(1 for _ in read_ids(stream, source=str(path)))
    except OSError:
        return None


def _cmd_bulk(args: argparse.Namespace) -> int:
    # Files are opened here, before the loop starts, so that no blocking open()
    # happens inside it; the ids themselves are read lazily line by line.
    telnyx = _session(args)
    shows_bar: bool = sys.stderr.isatty() if args.progress is None else args.progress
    with contextlib.ExitStack() as stack:
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
            total = _count_ids(path) if shows_bar else None
        out = _open_output(stack, args.output)
        tally = BulkTally()
        return _run_bulk_command(
            _with_session(
                telnyx,
                ids,
                out,
                concurrency=args.concurrency,
                total=total,
                progress=shows_bar,
                tally=tally,
            ),
            tally,
        )


async def _with_session(
    telnyx: TelnyxSession,
    ids: Iterator[str],
    out: IO[bytes],
    *,
    concurrency: int,
    total: int | None,
    progress: bool,
    tally: BulkTally,
) -> int:
    async with telnyx:
        return await run_bulk(
            telnyx,
            ids,
            out,
            concurrency=concurrency,
            total=total,
            progress=progress,
            err=sys.stderr,
            tally=tally,
        )


def _open_output(stack: contextlib.ExitStack, output: str | None) -> IO[bytes]:
    if output in (None, "-"):
        return sys.stdout.buffer
    try:
        return stack.enter_context(open(output, "wb"))
    except OSError as exc:
        raise UsageError(f"cannot write to {output}: {exc.strerror}") from exc


def _demo_faults(error_rate: float) -> Faults:
    from .testing import Faults

    # The injected faults add up to error_rate: mostly transient 5xx, some 429s
    # with Retry-After, HTML pages from a "proxy", and dropped connections.
    return Faults(
        error_rate=error_rate * 0.6,
        rate_limit_rate=error_rate * 0.2,
        html_error_rate=error_rate * 0.1,
        drop_rate=error_rate * 0.1,
        retry_after=0.05,
        latency=(0.001, 0.004),
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        if args.output:
            out = _open_output(stack, args.output)
        else:
            out = stack.enter_context(open(os.devnull, "wb"))
        tally = BulkTally()
        return _run_bulk_command(_demo(args, out, tally), tally)


async def _demo(args: argparse.Namespace, out: IO[bytes], tally: BulkTally) -> int:
    from .testing import FakeTelnyx

    faults = _demo_faults(args.error_rate)
    async with FakeTelnyx(args.connections, seed=args.seed, faults=faults) as server:
        sys.stderr.write(
            f"demo: FakeTelnyx at {server.base_url} with {len(server.ids)} connections, "
            f"{args.error_rate:.0%} injected faults (5xx, 429, HTML 502, dropped "
            "connections) and 1-4 ms latency\n"
        )
        # More retries and shorter waits than the defaults: a local fake with a
        # high fault rate, where every id must come back.
        policy = RetryPolicy(max_retries=args.max_retries, initial_delay=0.02, max_delay=0.5)
        async with TelnyxSession(
            server.api_key, base_url=server.base_url, retry_policy=policy
        ) as telnyx:
            return await run_bulk(
                telnyx,
                iter(server.ids),
                out,
                concurrency=args.concurrency,
                total=len(server.ids),
                progress=args.progress,
                err=sys.stderr,
                check=server.connections,
                tally=tally,
            )


def _parse_latency(text: str) -> float | tuple[float, float]:
    low, sep, high = text.partition("-")
    try:
        if sep:
            return float(low) / 1000, float(high) / 1000
        return float(low) / 1000
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MS or LOW-HIGH in ms, got {text!r}") from None


def _cmd_fake_server(args: argparse.Namespace) -> int:
    from .testing import DEFAULT_API_KEY, FakeTelnyx, Faults

    try:
        faults = Faults(
            error_rate=args.error_rate,
            html_error_rate=args.html_error_rate,
            rate_limit_rate=args.rate_limit_rate,
            drop_rate=args.drop_rate,
            retry_after=args.retry_after,
            latency=args.latency_ms,
            rate_limit_rps=args.rate_limit,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    api_key = args.api_key or DEFAULT_API_KEY
    server = FakeTelnyx(
        args.connections,
        seed=args.seed,
        faults=faults,
        api_key=api_key,
        host=args.host,
        port=args.port,
    )
    if args.ids_file:
        Path(args.ids_file).write_text("".join(f"{i}\n" for i in server.ids))
    shown_key = api_key if api_key == DEFAULT_API_KEY else "<the key you passed>"
    return run(_serve(server, args, shown_key))


async def _serve(server: FakeTelnyx, args: argparse.Namespace, shown_key: str) -> int:
    try:
        await server.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    try:
        print(f"FakeTelnyx serving {len(server.ids)} connections at {server.base_url}")
        print(f"  export {BASE_URL_ENV}={server.base_url}")
        print(f"  export {API_KEY_ENV}={shown_key}")
        if args.ids_file:
            print(f"  ids written to {args.ids_file}")
        print("Ctrl-C to stop.", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
    finally:
        await server.stop()
        s = server.stats
        print(f"served {s.requests} requests, by status {s.responses}", flush=True)
    return EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {text!r}")
    return value


def _add_client_flags(parser: argparse.ArgumentParser, *, max_retries: int) -> None:
    parser.add_argument("--api-key", help=f"API key (default: ${API_KEY_ENV}); never printed")
    parser.add_argument("--base-url", help=f"API root (default: ${BASE_URL_ENV} or the public API)")
    # Read when the parser is built: the default and its help follow the library's.
    timeout = _config.DEFAULT_TIMEOUT
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=timeout,
        metavar="SECONDS",
        help=f"seconds allowed for one attempt, connecting included ({timeout:g})",
    )
    parser.add_argument(
        "--max-retries",
        type=_non_negative_int,
        default=max_retries,
        help=f"retries per id ({max_retries})",
    )


def _add_progress_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--progress", action="store_true", default=None, help="always show progress on stderr"
    )
    group.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show progress"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``telnyx-async``."""
    parser = argparse.ArgumentParser(
        prog="telnyx-async",
        description="Look up Telnyx connections, one or millions, or run a local fake API.",
    )
    parser.add_argument("--version", action="version", version=f"telnyx-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    get = commands.add_parser("get", help="print connections as JSON")
    get.add_argument("ids", nargs="+", metavar="ID")
    _add_client_flags(get, max_retries=DEFAULT_MAX_RETRIES)
    get.set_defaults(run=_cmd_get)

    bulk = commands.add_parser("bulk", help="look up ids from a file or stdin, as JSON Lines")
    bulk.add_argument("file", nargs="?", metavar="FILE|-", help="ids, one a line (default: stdin)")
    bulk.add_argument("--concurrency", type=_positive_int, default=DEFAULT_CONCURRENCY)
    bulk.add_argument("--output", "-o", metavar="FILE", help="write results here (default: stdout)")
    _add_client_flags(bulk, max_retries=DEFAULT_MAX_RETRIES)
    _add_progress_flags(bulk)
    bulk.set_defaults(run=_cmd_bulk)

    demo = commands.add_parser("demo", help="bulk lookup against an embedded fake API with faults")
    demo.add_argument("--connections", type=_positive_int, default=10_000)
    demo.add_argument("--error-rate", type=_rate, default=0.05, help="share of faulty answers")
    demo.add_argument("--concurrency", type=_positive_int, default=DEFAULT_CONCURRENCY)
    demo.add_argument("--max-retries", type=_non_negative_int, default=8)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--output", "-o", metavar="FILE", help="keep the JSON Lines results")
    _add_progress_flags(demo)
    demo.set_defaults(run=_cmd_demo)

    fake = commands.add_parser("fake-server", help="serve a fake Telnyx API on this machine")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8080)
    fake.add_argument("--connections", type=_positive_int, default=10_000)
    fake.add_argument("--seed", type=int, default=0)
    fake.add_argument("--api-key", help="the key to accept (default: a fixed fake key)")
    fake.add_argument("--error-rate", type=_rate, default=0.0, help="transient 5xx share")
    fake.add_argument("--html-error-rate", type=_rate, default=0.0, help="HTML 502 share")
    fake.add_argument("--rate-limit-rate", type=_rate, default=0.0, help="429 share")
    fake.add_argument("--drop-rate", type=_rate, default=0.0, help="dropped connection share")
    fake.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of 429s (s)")
    fake.add_argument("--latency-ms", type=_parse_latency, default=0.0, metavar="MS|LOW-HIGH")
    fake.add_argument("--rate-limit", type=float, metavar="RPS", help="token bucket, requests/s")
    fake.add_argument("--ids-file", metavar="FILE", help="write the served ids here")
    fake.set_defaults(run=_cmd_fake_server)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
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
        return EXIT_FAILURES
    # Anything else (a ValueError from inside the library included) is a bug:
    # it propagates with its traceback rather than pass for a usage error.
