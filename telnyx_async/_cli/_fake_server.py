"""``telnyx-async fake-server``: serve a FakeTelnyx on this machine until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .._config import API_KEY_ENV, BASE_URL_ENV
from .._loop import run
from ._common import EXIT_OK, Commands, UsageError, positive_int, rate

if TYPE_CHECKING:
    from ..testing import FakeTelnyx


def register(commands: Commands) -> None:
    """Add the ``fake-server`` command."""
    fake = commands.add_parser(
        "fake-server",
        help="serve a fake Telnyx API on this machine",
        description=(
            "Serve GET /v2/connections and GET /v2/connections/{id} from generated "
            "connections, with optional faults, until Ctrl-C; prints the exports to use it."
        ),
    )
    fake.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    fake.add_argument(
        "--port",
        type=int,
        default=8080,
        help="port to listen on; 0 picks one (default: %(default)s)",
    )
    fake.add_argument(
        "--connections",
        type=positive_int,
        default=10_000,
        metavar="N",
        help="connections to serve (default: %(default)s)",
    )
    fake.add_argument("--seed", type=int, default=0, help="seeds data and faults (default: 0)")
    fake.add_argument("--api-key", help="the key to accept (default: a fixed fake key, printed)")
    shares = (
        ("--error-rate", "transient 5xx"),
        ("--html-error-rate", "HTML 502 pages"),
        ("--rate-limit-rate", "429s with Retry-After"),
        ("--drop-rate", "connections dropped mid-body"),
    )
    for flag, what in shares:
        fake.add_argument(
            flag, type=rate, default=0.0, metavar="SHARE", help=f"share of {what} (default: 0)"
        )
    fake.add_argument(
        "--retry-after",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="Retry-After of injected 429s (default: %(default)s)",
    )
    fake.add_argument(
        "--latency-ms",
        type=_parse_latency,
        default=0.0,
        metavar="MS|LOW-HIGH",
        help="latency added to each answer, fixed or uniform (default: 0)",
    )
    fake.add_argument(
        "--rate-limit",
        type=float,
        metavar="RPS",
        help="a token-bucket account limit, requests/s (default: none)",
    )
    fake.add_argument(
        "--ids-file", metavar="FILE", help="write the served ids here (default: not written)"
    )
    fake.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a throwaway certificate authority; needs trustme, the "
        "fake-tls extra (default: plain HTTP)",
    )
    fake.add_argument(
        "--ca-file",
        metavar="FILE",
        help="with --tls, write the CA certificate here for clients "
        "(default: a new fake-telnyx-ca-PORT-*.pem in the temporary directory)",
    )
    fake.set_defaults(run=_cmd_fake_server)


def _parse_latency(text: str) -> float | tuple[float, float]:
    low, sep, high = text.partition("-")
    try:
        if sep:
            return float(low) / 1000, float(high) / 1000
        return float(low) / 1000
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MS or LOW-HIGH in ms, got {text!r}") from None


def _cmd_fake_server(args: argparse.Namespace) -> int:
    from ..testing import DEFAULT_API_KEY, FakeTelnyx, Faults, generate_connections
    from ..testing._store import with_example_ids

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
    if args.ca_file and not args.tls:
        raise UsageError("--ca-file is where --tls writes its CA certificate: add --tls")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, got {args.port}")
    try:
        server = FakeTelnyx(
            # The README's and the docs' ids among them: their examples run against it.
            with_example_ids(generate_connections(args.connections, seed=args.seed)),
            seed=args.seed,
            faults=faults,
            api_key=api_key,
            host=args.host,
            port=args.port,
            tls=args.tls,
        )
    except ImportError as exc:
        raise UsageError(str(exc)) from exc
    shown_key = api_key if api_key == DEFAULT_API_KEY else "<the key you passed>"
    return run(_serve(server, args, shown_key))


def _write_files(server: FakeTelnyx, args: argparse.Namespace) -> None:
    """The ids file and the CA certificate, written once the server listens."""
    try:
        if args.ids_file:
            Path(args.ids_file).write_text("".join(f"{i}\n" for i in server.ids))
        if args.tls:
            if args.ca_file:
                Path(args.ca_file).write_bytes(server.ca_pem)
            else:
                # A name of its own: another server's certificate is never overwritten.
                handle, args.ca_file = tempfile.mkstemp(
                    prefix=f"fake-telnyx-ca-{server.port}-", suffix=".pem"
                )
                with os.fdopen(handle, "wb") as ca:
                    ca.write(server.ca_pem)
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename}: {exc.strerror}") from exc


async def _serve(server: FakeTelnyx, args: argparse.Namespace, shown_key: str) -> int:
    try:
        await server.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    own_ca = args.tls and not args.ca_file  # a temporary file of ours: removed on the way out
    stopped = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' loop
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        _write_files(server, args)
        print(f"FakeTelnyx serving {len(server.ids)} connections at {server.base_url}")
        print(f"  export {BASE_URL_ENV}={server.base_url}")
        print(f"  export {API_KEY_ENV}={shown_key}")
        if args.tls:
            print(f"  CA certificate in {args.ca_file}: pass --ca-file {args.ca_file}")
        if args.ids_file:
            print(f"  ids written to {args.ids_file}")
        print("Ctrl-C to stop.", flush=True)
        with contextlib.suppress(asyncio.CancelledError):  # Ctrl-C
            await stopped.wait()  # SIGTERM
    finally:
        await server.stop()
        if own_ca and args.ca_file:
            with contextlib.suppress(OSError):
                os.unlink(args.ca_file)
        s = server.stats
        print(f"served {s.requests} requests, by status {s.responses}", flush=True)
    return EXIT_OK
