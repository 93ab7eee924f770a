"""The two Lua scripts that keep a fleet's pacing state in one Redis hash.

Every time in them is Redis's own (``TIME``), never a client's: hosts whose
clocks disagree by seconds still share one schedule, because a client only ever
sends and receives durations (seconds to wait, seconds to pause), which no
clock offset changes.

The hash (one per account, ``KEYS[1]``) holds:

- ``tat``: the theoretical arrival time of GCRA (the generic cell rate
  algorithm of ATM, ITU-T I.371): the start of the next free slot;
- ``pause``: no slot starts before it (a 429's ``Retry-After`` /
  ``x-ratelimit-reset``, or a window whose ``x-ratelimit-remaining`` reached 0);
- ``rate`` and ``since``: the rate learned at the last throttling episode and
  when it began. The effective rate is ``min(cap, rate * (1 + increase) ** (now -
  since))`` while ``now - since <= memory``, else the cap: the same AIMD as the
  in-process ``PacingState``, computed from the shared state alone, so every
  process derives the same rate at the same instant.

``ACQUIRE`` books up to ``n`` consecutive slots in one round trip (a process
batches the requests waiting at that moment) and answers how far away the
first one is; the caller sleeps until its slot. ``OBSERVE`` runs only when a
response says something the fleet must hear (a 429, or a window used up).
"""

from __future__ import annotations

from typing import Final

_EFFECTIVE_RATE: Final = """
local function effective(cap, learned, since, now, increase, memory)
  if learned == nil or since == nil or now - since > memory then
    return cap
  end
  return math.min(cap, learned * math.pow(1 + increase, now - since))
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function num(value)
  return string.format('%.6f', value)
end
"""

ACQUIRE: Final = (
    _EFFECTIVE_RATE
    + """
-- ARGV: cap (req/s), n (slots wanted), max_wait (s), increase, memory (s), ttl (ms)
local key = KEYS[1]
local cap, n, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = clock()
local s = redis.call('HMGET', key, 'tat', 'pause', 'rate', 'since')
local rate = effective(cap, tonumber(s[3]), tonumber(s[4]), now, tonumber(ARGV[4]),
                       tonumber(ARGV[5]))
local interval = 1 / rate
local pause = tonumber(s[2]) or 0
local start = math.max(now, tonumber(s[1]) or 0, pause)
local wait = start - now
local booked = 0
if wait <= max_wait then
  booked = math.min(n, math.floor((max_wait - wait) / interval) + 1)
  redis.call('HSET', key, 'tat', num(start + booked * interval))
  redis.call('PEXPIRE', key, tonumber(ARGV[6]))
end
return {booked, num(wait), num(interval), num(math.max(0, pause - now))}
"""
)
"""Book up to ``n`` slots; reply ``{booked, wait, interval, pause_left}`` (seconds)."""

OBSERVE: Final = (
    _EFFECTIVE_RATE
    + """
-- ARGV: cap, pause (s), throttled (0/1), beta, min_rate, episode (s), increase,
--       memory (s), ttl (ms)
local key = KEYS[1]
local cap = tonumber(ARGV[1])
local now = clock()
local s = redis.call('HMGET', key, 'pause', 'rate', 'since')
local pause = math.max(tonumber(s[1]) or 0, now + tonumber(ARGV[2]))
redis.call('HSET', key, 'pause', num(pause))
local since = tonumber(s[3])
if ARGV[3] == '1' and (since == nil or now - since >= tonumber(ARGV[6])) then
  -- A new throttling episode: the fleet slows down, once per episode.
  local rate = effective(cap, tonumber(s[2]), since, now, tonumber(ARGV[7]), tonumber(ARGV[8]))
  redis.call('HSET', key, 'rate', num(math.max(tonumber(ARGV[5]), rate * tonumber(ARGV[4]))),
             'since', num(now))
end
redis.call('PEXPIRE', key, tonumber(ARGV[9]))
return num(pause - now)
"""
)
"""Share a pause (and, on a 429, a lower rate); reply the pause left in seconds."""
