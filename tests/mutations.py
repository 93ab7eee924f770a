"""Deliberate mutations of the library, each of which some test must catch.

Each entry breaks one promised behaviour (a header, a guard, a bound); the
runner applies it alone, runs the tests that should notice, and restores the
file. A mutation that survives is a behaviour no test would catch breaking.

    python -m tests.mutations            # every mutation (several minutes)
    python -m tests.mutations 3 7        # only these

Not part of the test suite (it rewrites source files while it runs): run it by
hand after changing tests, and record the score in docs/testing.md. Not thread
or process safe: nothing else may edit the tree while it runs. In a copy of the
tree, put the copy one folder below the temporary directory
(``/tmp/mutrun/telnyx-async``): the suite's hermetic check counts everything
beside the tree as outside it, tmp_path included.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` (exactly once in ``path``) by ``new``; ``tests`` must then fail."""

    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


T, P, S, C, E = (
    "telnyx_async/_transport.py",
    "telnyx_async/_protocol.py",
    "telnyx_async/_session.py",
    "telnyx_async/_connections.py",
    "telnyx_async/_errors.py",
)
HOSTILE, FUZZ = "tests/test_hostile.py", "tests/test_fuzz.py"
SESSION, RESIL = "tests/test_session.py", "tests/test_resilience.py"
MATRIX, PACING = "tests/test_fault_matrix.py", "tests/test_pacing.py"
DECIDE = "tests/test_decide.py"
LISTING, LISTING_SRC = "tests/test_listing.py", "telnyx_async/_listing.py"
CLI_LIST, TLS = "tests/test_cli_list_resume.py", "tests/test_tls.py"
RL, LUA = "telnyx_async/_redis_limiter.py", "telnyx_async/_redis_scripts.py"
D, PA, R = "telnyx_async/_decide.py", "telnyx_async/_pacing.py", "telnyx_async/_retry.py"
REDIS, FLEET = "tests/test_redis_limiter.py", "tests/test_fleet.py"

MUTATIONS: tuple[Mutation, ...] = (
    # Issue 11: holes a review found.
    Mutation(
        "a lent session= gets none of our headers",
        T,
        "self._request_headers: CIMultiDict[str] | None = None if session is None else "
        "self._headers",
        "self._request_headers: CIMultiDict[str] | None = None",
        (SESSION,),
    ),
    Mutation(
        "a lent session= gets no per-request timeout",
        T,
        "timeout=self._timeout if timeout is None else aiohttp.ClientTimeout(total=timeout),",
        "timeout=(self._timeout if timeout is None else aiohttp.ClientTimeout(total=timeout))"
        " if self._owns_session else aiohttp.ClientTimeout(),",
        (SESSION,),
    ),
    Mutation(
        "the key put into an APIConnectionError message",
        T,
        'f"GET {self._path(url)} failed: {safe_text(_describe(exc), self._secrets)}"',
        "f\"GET {self._path(url)} {self._headers.get('Authorization')} failed\"",
        (HOSTILE, "-k", "malformed"),
    ),
    Mutation(
        "the key put into an APITimeoutError message",
        T,
        'f"GET {self._path(url)} timed out: no complete answer within {seconds:g}s{where}"',
        "f\"GET {self._path(url)} timed out {self._headers.get('Authorization')}\"",
        (HOSTILE, "-k", "malformed"),
    ),
    Mutation(
        "no jitter by default",
        "telnyx_async/_retry.py",
        "rand: Callable[[], float] = random.random,",
        "rand: Callable[[], float] = lambda: 1.0,",
        (SESSION, "-k", "jitter"),
    ),
    Mutation(
        "bulk concurrency not capped at the pool size",
        C,
        "return min(requested, limit) if limit else requested",
        "return requested",
        (SESSION, "-k", "pool"),
    ),
    Mutation(
        "iter_many captures every Exception",
        C,
        "capture=TelnyxError,\n            fatal=_FATAL_IN_BULK,",
        "capture=Exception,\n            fatal=_FATAL_IN_BULK,",
        (SESSION, "-k", "not_a_telnyx_error"),
    ),
    Mutation(
        "gather_many(return_exceptions=True) captures every Exception",
        C,
        "capture=TelnyxError if return_exceptions else (),",
        "capture=Exception if return_exceptions else (),",
        (SESSION, "-k", "telnyx_errors_only"),
    ),
    Mutation(
        "str subclasses not normalised",
        P,
        "        conn_id = str.__str__(conn_id)\n",
        "",
        (SESSION, "-k", "str_subclass"),
    ),
    # Issue 13: hostile servers.
    Mutation(
        "the body cap compares Content-Length of a compressed body",
        T,
        "and hdrs.CONTENT_ENCODING not in headers",
        "and True",
        (HOSTILE, "-k", "bomb"),
    ),
    Mutation(
        "an absurd HTTP-date raises OverflowError",
        "telnyx_async/_retry.py",
        "except (TypeError, ValueError, IndexError, OverflowError):",
        "except (TypeError, ValueError, IndexError):",
        (HOSTILE, FUZZ, "-k", "absurd or unreadable"),
    ),
    Mutation(
        "deep JSON in a 2xx raises RecursionError",
        P,
        "    except RecursionError:\n        problem",
        "    except ZeroDivisionError:\n        problem",
        (HOSTILE, "-k", "deep"),
    ),
    Mutation(
        "deep JSON in an error body raises RecursionError",
        P,
        "except (msgspec.DecodeError, RecursionError):",
        "except msgspec.DecodeError:",
        (HOSTILE, "-k", "deep"),
    ),
    Mutation(
        "a lone surrogate id raises UnicodeEncodeError",
        P,
        "    except UnicodeEncodeError:\n        raise Invalid",
        "    except ZeroDivisionError:\n        raise Invalid",
        (HOSTILE, "-k", "surrogate"),
    ),
    Mutation(
        "aiohttp's request info (with the key) left in the cause chain",
        T,
        "        current.__traceback__ = None\n",
        "",
        (HOSTILE, "-k", "malformed"),
    ),
    Mutation(
        "an echoed key not redacted from error objects",
        P,
        "            errors = tuple(_redact_error(err, secrets) for err in errors)",
        "            pass",
        (HOSTILE, "-k", "echoed"),
    ),
    Mutation(
        "ids not shortened in messages",
        T,
        "        return safe_text(url_path(url), self._secrets)",
        "        return url_path(url)",
        (HOSTILE, "-k", "huge_id"),
    ),
    Mutation(
        "server titles not shortened in messages",
        P,
        "        parts = (shorten(p) for p in (first.title, first.detail) if p)",
        "        parts = (p for p in (first.title, first.detail) if p)",
        (HOSTILE, "-k", "huge_title"),
    ),
    Mutation(
        "no closer for a pool that outlives its loop",
        T,
        "            self._closer = _close_at_loop_shutdown(self._session)",
        "            self._closer = None",
        (HOSTILE, "-k", "second_loop"),
    ),
    Mutation(
        "aiohttp's re-sends not counted",
        T,
        "            if sent:\n                self.resends += 1",
        "            if False:\n                pass",
        (HOSTILE, "-k", "resend"),
    ),
    # Issue 7: pacing, budget, deadlines.
    Mutation(
        "responses never reach the limiter",
        "telnyx_async/_pacing.py",
        "        self.state.observe(status, headers, self._clock(), wall=self._wall)",
        "        pass",
        (MATRIX, "-k", "window or bucket"),
    ),
    Mutation(
        "the window's limit not restored when it resets",
        "telnyx_async/_pacing.py",
        "self.allowance = None if self.limit is None else self.limit - self.in_flight",
        "self.allowance = None",
        (PACING, "-k", "window"),
    ),
    Mutation(
        "the retry budget never refuses",
        "telnyx_async/_budget.py",
        "        if self.tokens >= 1.0:\n            self.tokens -= 1.0\n            return True",
        "        if True:\n            return True",
        (MATRIX, "-k", "outage"),
    ),
    Mutation(
        "a 429 uses up a retry",
        S,
        "                if status == 429:",
        "                if status == 4290:",
        (SESSION, "-k", "429"),
    ),
    Mutation(
        "deadline ignored",
        "telnyx_async/_loop.py",
        "    if seconds is None:\n        return None\n",
        "    if True:\n        return None\n",
        (RESIL, "-k", "deadline"),
    ),
    Mutation(
        "no single flight",
        C,
        "        while url in in_flight:",
        "        while False:",
        (RESIL, "-k", "share"),
    ),
    Mutation(
        "a 401 does not end a bulk run",
        C,
        "            capture=TelnyxError,\n            fatal=_FATAL_IN_BULK,",
        "            capture=TelnyxError,",
        (RESIL, "-k", "401"),
    ),
    Mutation(
        "time queued for a connection counts against the timeout",
        T,
        "            self._slots = Slots(self._pool_size)",
        "            self._slots = None",
        (RESIL, "-k", "queued"),
    ),
    Mutation(
        "APITimeoutError not a builtin TimeoutError",
        E,
        "class APITimeoutError(APIConnectionError, TimeoutError):",
        "class APITimeoutError(APIConnectionError):",
        (RESIL, "-k", "builtin"),
    ),
    Mutation(
        "a leader's deadline fails its followers",
        C,
        "                if exc.caller_bound:",
        "                if False:",
        (RESIL, "-k", "patient"),
    ),
    # Issue 9: observability.
    Mutation(
        "trace_configs not passed to aiohttp",
        T,
        "                trace_configs=self._trace_configs or None,\n",
        "",
        ("tests/test_observability.py", "-k", "trace"),
    ),
    Mutation(
        "TELNYX_LOG ignored",
        S,
        "        configure_logging(os.environ)\n",
        "",
        ("tests/test_observability.py", "-k", "telnyx_log"),
    ),
    Mutation(
        "no warning when concurrency exceeds the pool",
        C,
        "        if limit and requested > limit and not self._warned_pool:",
        "        if False:",
        ("tests/test_observability.py", "-k", "warns"),
    ),
    Mutation(
        "errors do not name the request and attempts",
        E,
        "        return text + self._context()",
        "        return text",
        (RESIL, "-k", "attempts"),
    ),
    # Issue 8: listing, the CLI's list and resume.
    Mutation(
        "no prefetch: page k+1 asked only once the caller is done with page k",
        LISTING_SRC,
        "                if not last:\n                    ahead = asyncio.ensure_future("
        "self._page(number + 1, ends_at))\n                yield page\n",
        "                yield page\n                if not last:\n                    ahead = "
        "asyncio.ensure_future(self._page(number + 1, ends_at))\n",
        (LISTING, "-k", "in_flight_while"),
    ),
    Mutation(
        "the page fetched ahead not cancelled when the walk ends",
        LISTING_SRC,
        "                await cancel_and_wait([ahead])",
        "                pass",
        (LISTING, "-k", "leaving_early"),
    ),
    Mutation(
        "a listing that shifted is not reported",
        LISTING_SRC,
        "        if self.changed:\n            return\n        self.changed = True\n",
        "        return\n",
        (LISTING, "-k", "mid_walk"),
    ),
    Mutation(
        "total_pages ignored: one more request for an empty page",
        LISTING_SRC,
        "last = not page.data or number >= total_pages",
        "last = not page.data",
        (LISTING, "-k", "every_page_once"),
    ),
    Mutation(
        "the fqdn filter not sent",
        LISTING_SRC,
        '            params.append(("filter[fqdn]", self.fqdn))',
        "            pass",
        (LISTING, "-k", "filters"),
    ),
    Mutation(
        "page_size not checked",
        LISTING_SRC,
        "    if not 1 <= page_size <= MAX_PAGE_SIZE:",
        "    if False:",
        (LISTING, "-k", "bad_arguments"),
    ),
    Mutation(
        "the fake ignores the name filter",
        "telnyx_async/testing/_store.py",
        '            conns = [c for c in conns if needle in (c.connection_name or "").casefold()]',
        "            pass",
        (LISTING, "-k", "filters"),
    ),
    Mutation(
        "resume parses a half-written last line",
        "telnyx_async/_cli/_results.py",
        '            if not line.endswith(b"\\n"):\n                break',
        "            if False:\n                break",
        (CLI_LIST, "-k", "cut_line or half"),
    ),
    Mutation(
        "resume does not skip the ids already done",
        "telnyx_async/_cli/_bulk.py",
        "        if done:\n            ids = _skipping(ids, done, tally)",
        "        if False:\n            ids = _skipping(ids, done, tally)",
        (CLI_LIST, "-k", "resume_skips"),
    ),
    Mutation(
        "bulk error records without the request id",
        "telnyx_async/_cli/_results.py",
        '        "request_id": getattr(exc, "request_id", None),\n',
        "",
        ("tests/test_cli.py", "-k", "streams_json_lines"),
    ),
    Mutation(
        "repeats looked for in the page before only",
        LISTING_SRC,
        "deque(maxlen=max(4, -(-_RECENT_IDS // self._page_size)))",
        "deque(maxlen=1)",
        (LISTING, "-k", "several_pages"),
    ),
    Mutation(
        "the served page number not checked",
        LISTING_SRC,
        "        if served is not None and served != number:",
        "        if False:",
        (LISTING, "-k", "ignores_the_page_number"),
    ),
    Mutation(
        "the fake's store written without its lock",
        "telnyx_async/testing/_server.py",
        "        with self._store_lock:  # read, build, swap: one writer at a time\n"
        "            self._store = self._store.with_connection(conn, fqdn)",
        "        if True:\n            self._store = self._store.with_connection(conn, fqdn)",
        (LISTING, "-k", "writers"),
    ),
    Mutation(
        "bulk reads and writes the same file",
        "telnyx_async/_cli/_bulk.py",
        "    if _same_file(args.file, args.output):",
        "    if False:",
        (CLI_LIST, "-k", "cannot_be_the_output"),
    ),
    # Issue 12: HTTPS.
    Mutation(
        "a certificate failure is a plain APIConnectionError",
        T,
        "        except (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch) as exc:",
        "        except ZeroDivisionError as exc:",
        (TLS, "-k", "untrusted"),
    ),
    Mutation(
        "a TLS failure is retried",
        "telnyx_async/_decide.py",
        '        return Raise(error, "TLS")  # fails the same way every time',
        "        pass",
        (TLS, "-k", "not_retried"),
    ),
    Mutation(
        "a TLS failure does not end a bulk run",
        C,
        "_FATAL_IN_BULK: Final = (AuthenticationError, TLSError)",
        "_FATAL_IN_BULK: Final = (AuthenticationError,)",
        (TLS, "-k", "bulk_run_stops"),
    ),
    Mutation(
        "ssl= not given to the connector",
        T,
        "_CountingConnector(limit=self._pool_size, ssl=self._ssl)",
        "_CountingConnector(limit=self._pool_size)",
        (TLS, "-k", "over_https"),
    ),
    Mutation(
        "trust_env= not given to aiohttp",
        T,
        "                trust_env=self._trust_env,\n",
        "",
        (TLS, "-k", "trust_env"),
    ),
    # Issue 10: the rate limit shared through Redis.
    Mutation(
        "each process keeps its own schedule (no key shared)",
        RL,
        "await script(keys=[self.key], args=args)",
        "await script(keys=[f'{self.key}:{id(self)}'], args=args)",
        (FLEET, "-k", "through"),
    ),
    Mutation(
        "GCRA: a batch moves the schedule by one slot",
        LUA,
        "redis.call('HSET', key, 'tat', num(start + booked * interval))",
        "redis.call('HSET', key, 'tat', num(start + interval))",
        (REDIS, "-k", "share_one or round_trip"),
    ),
    Mutation(
        "GCRA: a wait over max_wait still books",
        LUA,
        "if wait <= max_wait then",
        "if true then",
        (REDIS, "-k", "max_wait or round_trip"),
    ),
    Mutation(
        "one round trip per request (no batching)",
        RL,
        "batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]",
        "batch = [queue.popleft()]",
        (REDIS, "-k", "round_trip"),
    ),
    Mutation(
        "a 429 does not pause the fleet",
        LUA,
        "local pause = math.max(tonumber(s[1]) or 0, now + tonumber(ARGV[2]))",
        "local pause = tonumber(s[1]) or 0",
        (REDIS, "-k", "429_seen"),
    ),
    Mutation(
        "a used-up window (remaining 0) is not shared",
        RL,
        'elif headers.get("x-ratelimit-remaining", "").strip() == "0":',
        "elif False:",
        (REDIS, "-k", "used_up"),
    ),
    Mutation(
        "a pause heard while waiting for a slot is ignored",
        RL,
        "if self._paused_until <= known or self._paused_until <= self._clock():",
        "if True:",
        (REDIS, "-k", "heard_while"),
    ),
    Mutation(
        "a 429 does not lower the shared rate",
        LUA,
        "rate * tonumber(ARGV[4])",
        "rate",
        (REDIS, "-k", "learned_after"),
    ),
    Mutation(
        "every 429 of an episode lowers the shared rate",
        LUA,
        "(since == nil or now - since >= tonumber(ARGV[6]))",
        "true",
        (REDIS, "-k", "learned_after"),
    ),
    Mutation(
        "the shared rate never grows back",
        LUA,
        "return math.min(cap, learned * math.pow(1 + increase, now - since))",
        "return math.min(cap, learned)",
        (REDIS, "-k", "grows_back"),
    ),
    Mutation(
        "Redis down: requests go unpaced",
        RL,
        "return await self._local.acquire(max_wait=max_wait)",
        "return 0.0",
        (REDIS, "-k", "unreachable"),
    ),
    Mutation(
        "Redis down: a WARNING for every failure",
        RL,
        "        if self._down:\n            return\n        self._down = True",
        "        self._down = True",
        (REDIS, "-k", "unreachable or killed"),
    ),
    Mutation(
        "Redis back: never tried again",
        RL,
        "        if now < self._next_try:\n            return False",
        "        if True:\n            return False",
        (REDIS, "-k", "unreachable or killed"),
    ),
    Mutation(
        "the Redis password shown in logs and repr",
        RL,
        'self._shown_url = str(parsed.with_password("***")) if parsed.password else url',
        "self._shown_url = url",
        (REDIS, "-k", "password"),
    ),
    # Issue 12: the limiter's fast path.
    Mutation(
        "the limiter's fast path lets requests through a pause",
        "telnyx_async/_pacing.py",
        "            and state.paused_until <= self._clock()\n",
        "",
        (PACING, SESSION, "-k", "429 or pause or fast_path"),
    ),
    # Issue 12, second round: the hot path without the per-request overheads.
    Mutation(
        "a released slot goes to free while a task waits for one",
        "telnyx_async/_slots.py",
        "            if not waiter.done():\n"
        "                waiter.set_result(None)\n"
        "                return",
        "            if not waiter.done():\n                waiter.set_result(None)",
        ("tests/test_slots.py",),
    ),
    Mutation(
        "a slot handed to a waiter cancelled in the same instant is lost",
        "telnyx_async/_slots.py",
        "                self.release()  # handed a slot in the same instant: pass it on",
        "                pass",
        ("tests/test_slots.py",),
    ),
    Mutation(
        "only a 2xx counts as delivered (a 404 got through the limit too)",
        "telnyx_async/_pacing.py",
        "        if status != 429:\n            # Any answer but a 429",
        "        if 200 <= status < 300:\n            # Any answer but a 429",
        (PACING,),
    ),
    Mutation(
        "the delivered rate counts buckets older than a second",
        "telnyx_async/_pacing.py",
        "            self.counts[skipped % _BUCKETS] = 0",
        "            pass",
        (PACING,),
    ),
    Mutation(
        "a subclass of AdaptiveRateLimiter is bypassed by the session's fast path",
        S,
        "self._limiter if type(self._limiter) is AdaptiveRateLimiter else None",
        "self._limiter if isinstance(self._limiter, AdaptiveRateLimiter) else None",
        (PACING, SESSION),
    ),
    Mutation(
        "the session's fast path ignores a pause",
        S,
        "            if local is None or not local.take_now():",
        "            if local is None:",
        (PACING, SESSION, "-k", "429 or pause or paces_through"),
    ),
    Mutation(
        "the leader never hands its result to a follower",
        C,
        "            if (shared := in_flight.pop(url)) is not None:\n"
        "                shared.set_result(conn)",
        "            if (shared := in_flight.pop(url)) is None:\n"
        "                shared.set_result(conn)",
        (RESIL, "-k", "share"),
    ),
    Mutation(
        "a base URL's path is dropped from the URL sent",
        T,
        '        cut = base_url.find("/", base_url.index("://") + 3)',
        "        cut = -1",
        ("tests/test_requests.py", "-k", "base_url_and"),
    ),
    Mutation(
        "the demo's fake has no rate limit",
        "telnyx_async/_cli/_demo.py",
        "        window_limit=rate_limit or None,",
        "        window_limit=None,",
        ("tests/test_cli.py", "-k", "rate_limit"),
    ),
    # Issue 18: rate limits, whatever the server says.
    Mutation(
        "a later 429's shorter advice shortens a pause already in force",
        PA,
        "        if advice is not None and advice <= self.max_pause and now + advice > "
        "self.paused_until:",
        "        if advice is not None and advice <= self.max_pause:",
        (DECIDE, "-k", "shorter_advice"),
    ),
    Mutation(
        "the in-process fast path ignores a rate the limiter has learned",
        PA,
        "            state.rate is None\n            and state.cap is None",
        "            state.cap is None",
        (PACING, "-k", "fast_path"),
    ),
    Mutation(
        "a call's deadline is not handed to the limiter",
        S,
        "        return min(allowed, deadline_at - asyncio.get_running_loop().time())",
        "        return allowed",
        (SESSION, "-k", "deadline_bounds_what"),
    ),
    Mutation(
        "a network failure is not reported to the limiter",
        S,
        "            except APIConnectionError as exc:\n"
        "                await limiter.observe(None, None)",
        "            except APIConnectionError as exc:\n                pass",
        (SESSION, "-k", "network_failure"),
    ),
    Mutation(
        "a Retry-After exactly at max_retry_after is refused",
        D,
        "    if advice is not None and advice > policy.max_retry_after:",
        "    if advice is not None and advice >= policy.max_retry_after:",
        (DECIDE, "-k", "other_statuses"),
    ),
    Mutation(
        "the floor never grows past the first strike",
        D,
        "        return min(THROTTLE_FLOOR_MAX, THROTTLE_FLOOR_START * 2.0 ** "
        "min(self.strikes - 2, 64))",
        "        return 0.0",
        (DECIDE,),
    ),
    Mutation(
        "a 429 storm's floor is not checked once the limiter lets a request go",
        S,
        "            if streak.since is not None:\n                # The floor",
        "            if False:\n                # The floor",
        (SESSION, "-k", "streak_holds"),
    ),
    Mutation(
        "an answer other than a 429 does not end the streak",
        D,
        "    streak.ended()\n    if call.retries >= policy.max_retries:",
        "    if call.retries >= policy.max_retries:",
        (DECIDE, "-k", "ends_the_streak"),
    ),
    Mutation(
        "a call joining a long streak may wait max_rate_limit_wait afresh",
        D,
        "        if streak.since is not None:\n            spent = max(spent, now - streak.since)",
        "        if False:\n            spent = max(spent, now - streak.since)",
        (DECIDE, "-k", "joining"),
    ),
    Mutation(
        "every 429 of a burst already in flight is a strike",
        D,
        "        if sent_epoch == self.epoch:",
        "        if True:",
        (DECIDE, "-k", "one_burst"),
    ),
    Mutation(
        "time waited in the limiter before the first 429 is forgotten",
        D,
        "        call.throttled_since = now - call.paced",
        "        call.throttled_since = now",
        (DECIDE, "-k", "before_the_first"),
    ),
    Mutation(
        "an absurd x-ratelimit-reset on a 200 locks the session out",
        PA,
        "        if reset is not None and remaining is not None and reset <= self.max_pause:",
        "        if reset is not None and remaining is not None:",
        (DECIDE, "-k", "refused_not_obeyed"),
    ),
    Mutation(
        "a 429's absurd advice pauses the session",
        PA,
        "        if advice is not None and advice <= self.max_pause and now + advice",
        "        if advice is not None and now + advice",
        (DECIDE, "-k", "refused_not_obeyed"),
    ),
    Mutation(
        "429s of requests already in flight drop the rate again",
        PA,
        "        if in_episode:\n            return",
        "        if False:\n            return",
        (PACING, "-k", "in_flight_belong"),
    ),
    Mutation(
        "the start-up window never holds a request back",
        PA,
        "        return self.window is not None and self.in_flight + self.booked >= self.window",
        "        return False",
        (PACING, "-k", "start_up_window"),
    ),
    Mutation(
        "a 429 before any answer got through drops the rate",
        PA,
        "        if not self.tested:\n",
        "        if False:\n",
        (PACING, "-k", "before_any_success"),
    ),
    Mutation(
        "RetryPolicy.delay overflows past 2**1024",
        R,
        "        except OverflowError:  # 2.0**1024 and beyond: long past the cap "
        "(as stamina does)",
        "        except ZeroDivisionError:",
        (DECIDE, "-k", "overflows"),
    ),
    Mutation(
        "no floor between the resends of one call",
        D,
        "    wait = max(0.0, advice or 0.0, streak.next_send - now)",
        "    wait = max(0.0, advice or 0.0)",
        (DECIDE, "-k", "floor_doubles"),
    ),
    # Issue 18, second pass: start-up and slow start against silent limiters.
    Mutation(
        "the start-up window grows with every answer, however fast they come",
        PA,
        "    grown = min(window + WINDOW_GROWTH, INITIAL_WINDOW * 2.0**doublings)",
        "    grown = window + WINDOW_GROWTH",
        (PACING, "-k", "window_doubling"),
    ),
    Mutation(
        "slow start grows with time, answers or not",
        PA,
        "            self.rate = rate * 2.0 ** min(1.0, 1.0 / (rate * SLOW_START_DOUBLING))",
        "            self.rate = rate * 2.0 ** (min(now - self.last_throttle, 1.0) "
        "/ SLOW_START_DOUBLING)",
        (PACING, "-k", "not_with_time"),
    ),
    Mutation(
        "slow start books slots as far ahead as a steady rate",
        PA,
        "        ahead = SLOW_START_DOUBLING / 8.0 if self.slow_start else BOOK_AHEAD",
        "        ahead = BOOK_AHEAD",
        (PACING, "-k", "learns_the_delivered_rate"),
    ),
    Mutation(
        "the first 429 counts a burst as a rate",
        PA,
        "            self.rate = max(MIN_RATE, self.delivered_rate(now, at_least=FIRST_SPAN))",
        "            self.rate = max(MIN_RATE, self.delivered_rate(now))",
        (PACING, "-k", "first_span or not_with_time"),
    ),
    # Issue 19: errors of a request all say which request.
    Mutation(
        "a ResponseTooLargeError says neither its request nor its attempts",
        S,
        "                raise self._finish(exc, url, call.attempts) from None  "
        "# the same body again",
        "                raise exc",
        (SESSION, "-k", "oversized"),
    ),
    Mutation(
        "a 404 never says the base URL has no /v2",
        S,
        "                if self._unversioned and isinstance(failure, NotFoundError):",
        "                if False:",
        (SESSION, "-k", "no_version"),
    ),
    Mutation(
        "a request cut by close() is retried",
        S,
        "                if transport.closed:\n",
        "                if False:\n",
        (SESSION, "-k", "close_during"),
    ),
    Mutation(
        "a request the caller's deadline cut counts as a connection error",
        S,
        "                if deadline_at is None or asyncio.get_running_loop().time() "
        "< deadline_at - 1e-3:",
        "                if True:",
        ("tests/test_resilience.py", "-k", "not_a_connection_error"),
    ),
    Mutation(
        "a deadline's error does not say how long it was",
        "telnyx_async/_loop.py",
        '        return f"its {deadline_at.seconds:g}s deadline"',
        '        return "its deadline"',
        ("tests/test_resilience.py", "-k", "deadline"),
    ),
    Mutation(
        "gather_many looks up every id past its deadline",
        "telnyx_async/_connections.py",
        "            distinct if ends_at is None else _until(distinct, ends_at),",
        "            distinct,",
        ("tests/test_resilience.py", "-k", "unstarted and gather"),
    ),
    Mutation(
        "iter_many looks up every id past its deadline",
        "telnyx_async/_connections.py",
        "                else functools.partial(self._get_by, ends_at=ends_at)",
        "                else functools.partial(self._get, deadline_at=ends_at)",
        ("tests/test_resilience.py", "-k", "unstarted and iter"),
    ),
    Mutation(
        "a request counts as sent before it has its connection",
        T,
        "        connection = await _tcp_connect(self, req, traces, timeout)\n",
        "        self.sends += 1\n"
        "        connection = await _tcp_connect(self, req, traces, timeout)\n",
        ("tests/test_hostile.py", "-k", "still_connecting"),
    ),
    Mutation(
        "close() leaves connects in progress running",
        T,
        "                self._cut.add(task)\n                task.cancel()\n",
        "                pass\n",
        ("tests/test_hostile.py", "-k", "still_connecting and closed"),
    ),
    Mutation(
        "an active-calls walk follows a cursor it has seen",
        "telnyx_async/_active_calls.py",
        "                    if cursor in seen:",
        "                    if False:",
        ("tests/test_active_calls.py", "-k", "repeating"),
    ),
    Mutation(
        "an active-calls error does not name its connection",
        "telnyx_async/_active_calls.py",
        "            exc.conn_id = self._conn_id\n",
        "",
        ("tests/test_active_calls.py", "-k", "422"),
    ),
    Mutation(
        "per-type connection limits decoded as a global limit",
        "telnyx_async/_protocol.py",
        '            if "global_limit" in raw.limits',
        "            if True",
        ("tests/test_counts.py",),
    ),
    Mutation(
        "the fake counts a type it should not",
        "telnyx_async/testing/_store.py",
        "            if key in counts:\n                counts[key] += 1",
        "            counts[key] = counts.get(key, 0) + 1",
        ("tests/test_counts.py",),
    ),
)


def run(mutation: Mutation) -> bool:
    """Apply one mutation, run its tests, restore the file; whether a test caught it."""
    path = ROOT / mutation.path
    source = path.read_text()
    if source.count(mutation.old) != 1:
        raise SystemExit(f"mutation {mutation.what!r}: its text is not in {mutation.path} once")
    path.write_text(source.replace(mutation.old, mutation.new))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests],
            cwd=ROOT,
            capture_output=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"mutation {mutation.what!r}: its tests hung (counted as caught; add a bound)")
        return True
    finally:
        path.write_text(source)
    if b"the suite read files outside the repository" in result.stderr:
        # The hermetic check failed, not the mutation's tests: a copy whose parent
        # folder is the temporary directory itself (/tmp/copy) makes every test that
        # uses tmp_path read "beside" it, so every mutation would look caught.
        raise SystemExit(
            f"mutation {mutation.what!r}: the run read files beside the tree; run from a "
            "copy one folder deeper (e.g. /tmp/mutrun/telnyx-async), not /tmp/copy"
        )
    return result.returncode != 0


def main(selected: list[str]) -> int:
    """Run the mutations (all, or the given indexes); print a table and the score."""
    chosen = [(i, m) for i, m in enumerate(MUTATIONS) if not selected or str(i) in selected]
    caught = 0
    print("| # | mutation | caught by |\n|---|---|---|")
    for index, mutation in chosen:
        ok = run(mutation)
        caught += ok
        where = " ".join(mutation.tests) if ok else "**SURVIVED**"
        print(f"| {index} | {mutation.what} | {where} |", flush=True)
    print(f"\nscore: {caught} of {len(chosen)} mutations caught")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
