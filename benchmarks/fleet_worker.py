"""One worker process of the fleet benchmark (``benchmarks/fleet.py`` starts four).

Reads its settings as one JSON line on stdin, skews its clocks if told to
(before the library is imported, so that every default clock is the skewed one),
says ``ready``, waits for ``go``, bulk-fetches its ids and prints one JSON line
of results. The API key comes in the environment, never on the command line.
"""

from __future__ import annotations

import json
import sys
import time


def _skew_clocks(seconds: float) -> None:
    """Move this process's wall and monotonic clocks by ``seconds``: another host's clocks."""
    wall, monotonic = time.time, time.monotonic
    time.time = lambda: wall() + seconds
    time.monotonic = lambda: monotonic() + seconds


def main() -> int:
    config = json.loads(sys.stdin.readline())
    if config["skew"]:
        _skew_clocks(float(config["skew"]))

    import asyncio
    import logging
    import os
    from contextlib import aclosing

    from telnyx_async import Connection, RedisRateLimiter, TelnyxSession

    records: list[tuple[str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelname, record.getMessage()))

    logger = logging.getLogger("telnyx_async")
    logger.addHandler(Keep(logging.INFO))
    logger.setLevel(logging.INFO)

    async def run() -> dict[str, object]:
        limiter = (
            RedisRateLimiter(config["redis_url"], rate=config["rate"], key=config["key"])
            if config["shared"]
            else None
        )
        ok, errors = 0, 0
        session = (
            TelnyxSession(
                os.environ["TELNYX_API_KEY"], base_url=config["base_url"], rate_limiter=limiter
            )
            if limiter is not None
            else TelnyxSession(
                os.environ["TELNYX_API_KEY"], base_url=config["base_url"], rate_limit=config["rate"]
            )
        )
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        went = time.time()  # the parent compares it with its own: the skew is real
        try:
            async with session:
                results = session.connections.iter_many(
                    config["ids"], concurrency=config["concurrency"]
                )
                async with aclosing(results):
                    async for _, result in results:
                        if isinstance(result, Connection):
                            ok += 1
                        else:
                            errors += 1
        finally:
            if limiter is not None:
                await limiter.close()
        stats = limiter.stats if limiter is not None else None
        return {
            "ok": ok,
            "errors": errors,
            "requests": session.stats.requests,
            "rate_limited": session.stats.rate_limited,
            "round_trips": stats.round_trips if stats else 0,
            "shared": stats.shared if stats else 0,
            "local": stats.local if stats else 0,
            "records": records,
            "went": went,
        }

    result = asyncio.run(run())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
