"""One benchmark contender in a fresh process: ``python -m benchmarks.contenders NAME URL N C``.

Prints one JSON object: elapsed seconds, client CPU seconds, peak RSS and the
number of connections decoded. Every contender fetches the same ids with the
same concurrency and decodes every body. ``--ca FILE`` trusts that CA for an
``https://`` URL (each contender through its own public knob); ``--passes 2``
runs the same N twice on one client: the first pass (which includes opening
the client and every connection, TLS handshakes included) is cold, the second
warm; ``--more-n N2`` adds a last pass of N2. Closing the client is not timed.
``--mark`` calls ``os.getppid()`` before the client opens and after each pass,
so that ``valgrind --tool=callgrind --dump-before=getppid`` writes one profile
per segment (``benchmarks/instructions.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import ssl
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from telnyx_async import TelnyxSession

API_KEY = "KEYbenchmark"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}


def ids(n: int) -> Iterator[str]:
    return (str(1293384261075731499 + i) for i in range(n))


async def _pool(n: int, c: int, one: Callable[[str], Awaitable[object]]) -> int:
    """A fixed pool of c workers over the ids: the hand-written way to bound concurrency."""
    source = ids(n)
    done = 0

    async def worker() -> None:
        nonlocal done
        for conn_id in source:
            await one(conn_id)
            done += 1

    await asyncio.gather(*(worker() for _ in range(c)))
    return done


Run = Callable[[int], Awaitable[int]]
"""One pass over ``n`` ids on an open client; returns how many were decoded."""
Contender = Callable[[str, int, "ssl.SSLContext | None"], AbstractAsyncContextManager[Run]]
"""Opens a client for (base URL, concurrency, TLS context or None) and yields its ``Run``."""


@asynccontextmanager
async def _bare(
    url: str,
    c: int,
    tls: ssl.SSLContext | None,
    decode: Callable[[bytes], object],
    keep: bool,
    prebuilt_urls: bool = False,
) -> AsyncIterator[Run]:
    """Hand-written aiohttp: headers on the session, read the body, decode it.

    With ``prebuilt_urls``, each URL is made from the origin parsed once
    (``yarl.URL.with_path``), as ours does, instead of a string aiohttp parses.
    """
    import aiohttp
    from yarl import URL

    connector = aiohttp.TCPConnector(limit=c, ssl=tls if tls is not None else True)
    async with aiohttp.ClientSession(headers=HEADERS, connector=connector) as session:
        prefix = f"{url}/connections/"
        origin = URL(url).origin()
        path = URL(prefix).raw_path

        async def run(n: int) -> int:
            kept: list[object] = []

            async def one(conn_id: str) -> object:
                async with session.get(prefix + conn_id) as resp:
                    if resp.status != 200:
                        raise RuntimeError(resp.status)
                    result = decode(await resp.read())
                if keep:
                    kept.append(result)
                return result

            async def one_prebuilt(conn_id: str) -> object:
                async with session.get(origin.with_path(path + conn_id, encoded=True)) as resp:
                    if resp.status != 200:
                        raise RuntimeError(resp.status)
                    return decode(await resp.read())

            done = await _pool(n, c, one_prebuilt if prebuilt_urls else one)
            return len(kept) if keep else done

        yield run


def _json_data(body: bytes) -> object:
    return json.loads(body)["data"]


def bare_aiohttp_json(
    url: str, c: int, tls: ssl.SSLContext | None
) -> AbstractAsyncContextManager[Run]:
    return _bare(url, c, tls, _json_data, keep=False)


def bare_aiohttp_json_kept(
    url: str, c: int, tls: ssl.SSLContext | None
) -> AbstractAsyncContextManager[Run]:
    """Bare aiohttp that keeps every decoded result, as gather_many does (apples to apples)."""
    return _bare(url, c, tls, _json_data, keep=True)


def connection_decoder() -> Callable[[bytes], object]:
    """A msgspec decoder of ``{"data": Connection}``, built from the public ``Connection``."""
    import msgspec

    from telnyx_async import Connection

    envelope = msgspec.defstruct("Envelope", [("data", Connection)], frozen=True, gc=False)
    decoder = msgspec.json.Decoder(envelope)
    return lambda body: cast(Any, decoder.decode(body)).data


def bare_aiohttp_msgspec(
    url: str, c: int, tls: ssl.SSLContext | None
) -> AbstractAsyncContextManager[Run]:
    return _bare(url, c, tls, connection_decoder(), keep=False)


def bare_aiohttp_msgspec_prebuilt(
    url: str, c: int, tls: ssl.SSLContext | None
) -> AbstractAsyncContextManager[Run]:
    """The leanest hand-written loop we know: ours' URL and decoding, none of its behaviour."""
    return _bare(url, c, tls, connection_decoder(), keep=False, prebuilt_urls=True)


@asynccontextmanager
async def _sdk(
    url: str, c: int, tls: ssl.SSLContext | None, *, aiohttp_transport: bool
) -> AsyncIterator[Run]:
    from telnyx import AsyncTelnyx, DefaultAioHttpClient, DefaultAsyncHttpxClient

    # The SDK's own client classes keep its defaults (limits, timeouts); both take
    # httpx's verify=, which accepts an SSLContext (DefaultAioHttpClient hands it
    # to aiohttp's TCPConnector(ssl=...)).
    kwargs: dict[str, Any] = {} if tls is None else {"verify": tls}
    http_client = (DefaultAioHttpClient if aiohttp_transport else DefaultAsyncHttpxClient)(**kwargs)
    async with AsyncTelnyx(api_key=API_KEY, base_url=url, http_client=http_client) as client:

        async def run(n: int) -> int:
            return await _pool(n, c, client.connections.retrieve)

        yield run


def sdk_httpx(url: str, c: int, tls: ssl.SSLContext | None) -> AbstractAsyncContextManager[Run]:
    return _sdk(url, c, tls, aiohttp_transport=False)


def sdk_aiohttp(url: str, c: int, tls: ssl.SSLContext | None) -> AbstractAsyncContextManager[Run]:
    return _sdk(url, c, tls, aiohttp_transport=True)


def _session(url: str, c: int, tls: ssl.SSLContext | None) -> TelnyxSession:
    from telnyx_async import TelnyxSession

    return TelnyxSession(API_KEY, base_url=url, pool_size=c, ssl=tls if tls is not None else True)


@asynccontextmanager
async def ours_gather_many(url: str, c: int, tls: ssl.SSLContext | None) -> AsyncIterator[Run]:
    async with _session(url, c, tls) as telnyx:

        async def run(n: int) -> int:
            return len(await telnyx.connections.gather_many(list(ids(n)), concurrency=c))

        yield run


@asynccontextmanager
async def ours_iter_many(url: str, c: int, tls: ssl.SSLContext | None) -> AsyncIterator[Run]:
    from telnyx_async import Connection

    async with _session(url, c, tls) as telnyx:

        async def run(n: int) -> int:
            done = 0
            async for _, result in telnyx.connections.iter_many(ids(n), concurrency=c):
                if not isinstance(result, Connection):
                    raise result
                done += 1
            return done

        yield run


@asynccontextmanager
async def ours_get_semaphore(url: str, c: int, tls: ssl.SSLContext | None) -> AsyncIterator[Run]:
    async with _session(url, c, tls) as telnyx:
        sem = asyncio.Semaphore(c)

        async def one(conn_id: str) -> object:
            async with sem:
                return await telnyx.connections.get(conn_id)

        async def run(n: int) -> int:
            return len(await asyncio.gather(*(one(i) for i in ids(n))))

        yield run


CONTENDERS: dict[str, Contender] = {
    "bare aiohttp + json.loads": bare_aiohttp_json,
    "bare aiohttp + json.loads, results kept": bare_aiohttp_json_kept,
    "bare aiohttp + msgspec": bare_aiohttp_msgspec,
    "bare aiohttp + msgspec, URLs pre-built": bare_aiohttp_msgspec_prebuilt,
    "official SDK (httpx)": sdk_httpx,
    "official SDK (aiohttp)": sdk_aiohttp,
    "ours gather_many": ours_gather_many,
    "ours iter_many": ours_iter_many,
    "ours get + semaphore": ours_get_semaphore,
}
NEEDS = {"official SDK (httpx)": "telnyx", "official SDK (aiohttp)": "telnyx"}


def available(name: str, loop: str = "asyncio") -> bool:
    import importlib.util

    module = NEEDS.get(name)
    if module and importlib.util.find_spec(module) is None:
        return False
    return loop != "uvloop" or importlib.util.find_spec("uvloop") is not None


async def _measure(
    contender: Contender,
    url: str,
    n: int,
    c: int,
    tls: ssl.SSLContext | None,
    passes: int,
    more_n: int | None = None,
    mark: bool = False,
) -> list[dict[str, float]]:
    lengths = [n] * passes + ([more_n] if more_n else [])
    timings: list[dict[str, float]] = []
    if mark:
        os.getppid()  # callgrind --dump-before=getppid: the segment so far is start-up
    seen = sockets()
    cpu0, t0 = time.process_time(), time.perf_counter()
    async with contender(url, c, tls) as run:
        for length in lengths:
            done = await run(length)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            if mark:
                os.getppid()  # ends this pass's segment
            if done != length:
                sys.exit(f"{done} of {length} done")
            now = sockets()
            # Every segment reads /proc once, so that cost cancels out too.
            timings.append({"n": length, "elapsed": elapsed, "cpu": cpu, "opened": len(now - seen)})
            seen |= now
            cpu0, t0 = time.process_time(), time.perf_counter()
    return timings


def sockets() -> set[str]:
    """The sockets this process has open now (their inodes): which connections are new."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:"):
                found.add(target)
    return found


def client_context(ca_file: str | None) -> ssl.SSLContext | None:
    """The TLS context every contender gets: Python's defaults, trusting ``ca_file`` alone."""
    return None if ca_file is None else ssl.create_default_context(cafile=ca_file)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=CONTENDERS)
    parser.add_argument("url")
    parser.add_argument("n", type=int)
    parser.add_argument("c", type=int)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--core", type=int, default=-1)
    parser.add_argument("--ca", help="PEM file of the CA to trust (https:// URLs)")
    parser.add_argument("--passes", type=int, default=1, help="passes of N on one client")
    parser.add_argument("--more-n", type=int, help="then one more pass of this many requests")
    parser.add_argument(
        "--mark", action="store_true", help="call getppid() between segments (for callgrind)"
    )
    args = parser.parse_args()
    if args.core >= 0:
        os.sched_setaffinity(0, {args.core})
    loop_factory = None
    if args.loop == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    contender = CONTENDERS[args.name]
    # Imports happen before the clock starts: import cost is measured on its own.
    import aiohttp  # noqa: F401

    import telnyx_async  # noqa: F401

    if args.name in NEEDS:
        import telnyx  # noqa: F401
    tls = client_context(args.ca)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        timings = runner.run(
            _measure(contender, args.url, args.n, args.c, tls, args.passes, args.more_n, args.mark)
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                **timings[0],
                "passes": timings,
                "rss_peak_kb": usage.ru_maxrss,
                "rss_before_kb": rss_before,
                "done": args.n,
            }
        )
    )


if __name__ == "__main__":
    main()
