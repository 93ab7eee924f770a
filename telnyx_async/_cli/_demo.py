"""``telnyx-async demo``: list and look up every connection of an embedded fake API with faults."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import IO, TYPE_CHECKING

from .._retry import RetryPolicy
from .._session import TelnyxSession
from ._common import (
    EXIT_FAILURES,
    Commands,
    UsageError,
    add_concurrency_flag,
    add_max_retries_flag,
    add_progress_flags,
    non_negative_int,
    open_output,
    positive_int,
    rate,
    run_interruptible,
)
from ._results import BulkTally, report, run_bulk

if TYPE_CHECKING:
    from ..testing import Faults

DEMO_RATE_LIMIT = 1000
"""The demo fake's requests per second: the client must find and keep to it."""


def register(commands: Commands) -> None:
    """Add the ``demo`` command."""
    demo = commands.add_parser(
        "demo",
        help="list and look up connections on an embedded fake API with faults",
        description=(
            "Start a FakeTelnyx on 127.0.0.1 with a rate limit, like the real API's, that "
            "gets a share of its answers wrong (5xx, HTML 502, dropped connections); list "
            "its connections page by page, look each one up, and check that every one came "
            "back intact. No account needed."
        ),
    )
    demo.add_argument(
        "--connections",
        type=positive_int,
        default=10_000,
        metavar="N",
        help="connections the fake serves (default: %(default)s)",
    )
    demo.add_argument(
        "--error-rate",
        type=rate,
        default=0.05,
        metavar="SHARE",
        help="share of faulty answers, 0 to 1 (default: %(default)s)",
    )
    demo.add_argument(
        "--rate-limit",
        type=non_negative_int,
        default=DEMO_RATE_LIMIT,
        metavar="N",
        help="the fake's limit in requests a second, per fixed one-second window, announced "
        "in x-ratelimit-* headers as the real API does; 0: none (default: %(default)s)",
    )
    add_concurrency_flag(demo)
    add_max_retries_flag(demo, 8)
    demo.add_argument(
        "--seed", type=int, default=0, help="seeds the fake's data and faults (default: 0)"
    )
    demo.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="keep the JSON Lines results here (default: not kept)",
    )
    demo.add_argument(
        "--tls",
        action="store_true",
        help="serve and verify HTTPS, with a throwaway certificate authority; needs "
        "trustme, the fake-tls extra (default: plain HTTP)",
    )
    add_progress_flags(demo)
    demo.set_defaults(run=_cmd_demo)


def demo_faults(error_rate: float, rate_limit: int = DEMO_RATE_LIMIT) -> Faults:
    """Faults adding up to ``error_rate`` (mostly 5xx, some HTML 502s and drops) and a limit.

    The 429s come from the rate limit, as the real API's do: 429s drawn at random,
    whatever the request rate, would teach the session's adaptive pacing a limit
    that is not there, and hold it far below what the fake serves.
    """
    from ..testing import Faults

    return Faults(
        error_rate=error_rate * 0.7,
        html_error_rate=error_rate * 0.15,
        drop_rate=error_rate * 0.15,
        window_limit=rate_limit or None,
        latency=(0.001, 0.004),
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        if args.output:
            out = open_output(stack, args.output)
        else:
            out = stack.enter_context(open(os.devnull, "wb"))
        tally = BulkTally()

        def interrupted() -> None:
            if not tally.reported:
                report(tally, sys.stderr, interrupted=True)

        return run_interruptible(_demo(args, out, tally), interrupted)


async def _demo(args: argparse.Namespace, out: IO[bytes], tally: BulkTally) -> int:
    from ..testing import FakeTelnyx

    faults = demo_faults(args.error_rate, args.rate_limit)
    try:
        fake = FakeTelnyx(args.connections, seed=args.seed, faults=faults, tls=args.tls)
    except ImportError as exc:
        raise UsageError(str(exc)) from exc
    async with fake as server:
        sys.stderr.write(
            f"demo: FakeTelnyx at {server.base_url} with {len(server.ids)} connections, "
            f"{args.error_rate:.0%} injected faults (5xx, HTML 502, dropped connections), "
            + (f"a limit of {args.rate_limit:,} requests/s, " if args.rate_limit else "")
            + "and 1-4 ms latency\n"
        )
        # More retries and shorter waits than the defaults: a local fake with a
        # high fault rate, where every id must come back.
        policy = RetryPolicy(max_retries=args.max_retries, initial_delay=0.02, max_delay=0.5)
        async with TelnyxSession(
            server.api_key,
            base_url=server.base_url,
            retry_policy=policy,
            ssl=server.client_ssl_context() if args.tls else True,
        ) as telnyx:
            started = time.perf_counter()
            listing = telnyx.connections.list()
            ids = [conn.id async for conn in listing if conn.id is not None]
            listed_ok = sorted(ids) == sorted(server.ids)
            sys.stderr.write(
                f"demo: listed {len(ids):,} connections "
                f"({telnyx.stats.requests} requests, {time.perf_counter() - started:.2f}s); "
                "looking each one up\n"
            )
            status = await run_bulk(
                telnyx,
                ids,
                out,
                concurrency=args.concurrency,
                total=len(ids),
                progress=args.progress,
                err=sys.stderr,
                check=dict(server.connections),
                tally=tally,
            )
    if not listed_ok:
        sys.stderr.write("NOT verified: the listing did not hold every served connection\n")
        return EXIT_FAILURES
    return status
