"""One benchmark contender in a fresh process: ``python -m benchmarks.contenders NAME URL N C``.

Prints one JSON object: elapsed seconds, client CPU seconds, peak RSS and the
number of connections decoded. Every contender fetches the same ids with the
same concurrency and decodes every body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, cast

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


async def _bare(url: str, n: int, c: int, decode: Callable[[bytes], object], keep: bool) -> int:
    """Hand-written aiohttp: headers on the session, read the body, decode it."""
    import aiohttp

    kept: list[object] = []
    connector = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(headers=HEADERS, connector=connector) as session:
        prefix = f"{url}/connections/"

        async def one(conn_id: str) -> object:
            async with session.get(prefix + conn_id) as resp:
                if resp.status != 200:
                    raise RuntimeError(resp.status)
                result = decode(await resp.read())
            if keep:
                kept.append(result)
            return result

        done = await _pool(n, c, one)
    return len(kept) if keep else done


def _json_data(body: bytes) -> object:
    return json.loads(body)["data"]


async def bare_aiohttp_json(url: str, n: int, c: int) -> int:
    return await _bare(url, n, c, _json_data, keep=False)


async def bare_aiohttp_json_kept(url: str, n: int, c: int) -> int:
    """Bare aiohttp that keeps every decoded result, as gather_many does (apples to apples)."""
    return await _bare(url, n, c, _json_data, keep=True)


def connection_decoder() -> Callable[[bytes], object]:
    """A msgspec decoder of ``{"data": Connection}``, built from the public ``Connection``."""
    import msgspec

    from telnyx_async import Connection

    envelope = msgspec.defstruct("Envelope", [("data", Connection)], frozen=True, gc=False)
    decoder = msgspec.json.Decoder(envelope)
    return lambda body: cast(Any, decoder.decode(body)).data


async def bare_aiohttp_msgspec(url: str, n: int, c: int) -> int:
    return await _bare(url, n, c, connection_decoder(), keep=False)


async def _sdk(url: str, n: int, c: int, *, aiohttp_transport: bool) -> int:
    from telnyx import AsyncTelnyx, DefaultAioHttpClient

    http_client = DefaultAioHttpClient() if aiohttp_transport else None
    async with AsyncTelnyx(api_key=API_KEY, base_url=url, http_client=http_client) as client:
        return await _pool(n, c, client.connections.retrieve)


async def sdk_httpx(url: str, n: int, c: int) -> int:
    return await _sdk(url, n, c, aiohttp_transport=False)


async def sdk_aiohttp(url: str, n: int, c: int) -> int:
    return await _sdk(url, n, c, aiohttp_transport=True)


async def ours_gather_many(url: str, n: int, c: int) -> int:
    from telnyx_async import TelnyxSession

    async with TelnyxSession(API_KEY, base_url=url, pool_size=c) as telnyx:
        return len(await telnyx.connections.gather_many(list(ids(n)), concurrency=c))


async def ours_iter_many(url: str, n: int, c: int) -> int:
    from telnyx_async import Connection, TelnyxSession

    done = 0
    async with TelnyxSession(API_KEY, base_url=url, pool_size=c) as telnyx:
        async for _, result in telnyx.connections.iter_many(ids(n), concurrency=c):
            if not isinstance(result, Connection):
                raise result
            done += 1
    return done


async def ours_get_semaphore(url: str, n: int, c: int) -> int:
    from telnyx_async import TelnyxSession

    async with TelnyxSession(API_KEY, base_url=url, pool_size=c) as telnyx:
        sem = asyncio.Semaphore(c)

        async def one(conn_id: str) -> object:
            async with sem:
                return await telnyx.connections.get(conn_id)

        return len(await asyncio.gather(*(one(i) for i in ids(n))))


CONTENDERS: dict[str, Callable[[str, int, int], Coroutine[Any, Any, int]]] = {
    "bare aiohttp + json.loads": bare_aiohttp_json,
    "bare aiohttp + json.loads, results kept": bare_aiohttp_json_kept,
    "bare aiohttp + msgspec": bare_aiohttp_msgspec,
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=CONTENDERS)
    parser.add_argument("url")
    parser.add_argument("n", type=int)
    parser.add_argument("c", type=int)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--core", type=int, default=-1)
    args = parser.parse_args()
    if args.core >= 0:
        os.sched_setaffinity(0, {args.core})
    loop_factory = None
    if args.loop == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    run = CONTENDERS[args.name]
    # Imports happen before the clock starts: import cost is measured on its own.
    import aiohttp  # noqa: F401

    import telnyx_async  # noqa: F401

    if args.name in NEEDS:
        import telnyx  # noqa: F401
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        cpu0, t0 = time.process_time(), time.perf_counter()
        done = runner.run(run(args.url, args.n, args.c))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if done != args.n:
        sys.exit(f"{args.name}: {done} of {args.n} done")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "elapsed": elapsed,
                "cpu": cpu,
                "rss_peak_kb": usage.ru_maxrss,
                "rss_before_kb": rss_before,
                "done": done,
            }
        )
    )


if __name__ == "__main__":
    main()
