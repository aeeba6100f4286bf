"""The atomic state transitions of the store, one Lua script each, named for what they do.

Every trial transition is fenced by the attempt number: a report or result from
an attempt that is not the trial's current one is refused and counted (in the
sweep's rejections hash), never applied. Hash fields hold JSON, so states are
compared in their JSON form ('"queued"'). Lease times are Redis server time, so
clocks of workers and controllers on different machines never have to agree.
"""

from __future__ import annotations

import json

from sweepctl.buckets import DURATION_BUCKETS
from sweepctl.keys import EVENTS_MAX, METRICS_MAX
from sweepctl.records import SweepState, TrialState


def _j(value: str) -> str:
    return json.dumps(value)


QUEUED, RUNNING = _j(TrialState.QUEUED.value), _j(TrialState.RUNNING.value)
SWEEP_RUNNING, SWEEP_CANCELLED = _j(SweepState.RUNNING.value), _j(SweepState.CANCELLED.value)

# Shared preamble: the current server time, and refusing a write by counting it.
# replicate_commands() lets Redis 6 scripts call TIME before writing (Redis 7 does so always).
_PRELUDE = f"""
local METRICS_MAX = {METRICS_MAX}
pcall(redis.replicate_commands)
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function refuse(rejections, reason)
  redis.call('HINCRBY', rejections, reason, 1)
  return reason
end
-- The fence: the trial's state, or (nil, reason) when it does not exist or `attempt` is not its current one.
local function fenced(trial, attempt, rejections)
  local state = redis.call('HGET', trial, 'state')
  if not state then return nil, refuse(rejections, 'unknown') end
  if redis.call('HGET', trial, 'attempt') ~= attempt then return nil, refuse(rejections, 'stale') end
  return state
end
-- Append ARGV[first..#ARGV] (metric points) to `metrics`. Lua's unpack() fails past a few thousand
-- values, and a script that fails keeps what it wrote before the error, so the points go in slices.
-- Points numbered by their attempt (`numbered_from`: the number of the first, '' when unnumbered)
-- below the attempt's `points_written` were written by an earlier try of this same write (its reply
-- was lost): they are skipped, so a retried write appends nothing twice.
local function append_points(trial, metrics, numbered_from, first)
  local count = #ARGV - first + 1
  local skip, written = 0, 0
  if numbered_from ~= '' then
    written = tonumber(redis.call('HGET', trial, 'points_written') or '0')
    skip = math.max(0, written - tonumber(numbered_from))
  end
  if count > skip then
    for i = first + skip, #ARGV, 1000 do
      redis.call('RPUSH', metrics, unpack(ARGV, i, math.min(i + 999, #ARGV)))
    end
    redis.call('LTRIM', metrics, -METRICS_MAX, -1)
  end
  if numbered_from ~= '' then
    redis.call('HSET', trial, 'points_written', tostring(math.max(written, tonumber(numbered_from) + count)))
  end
end
"""

# KEYS: sweep, trial, trials, active, counts, params. ARGV: number, params hash, field, value, ...
# A parameter set already tried or pending in the sweep is refused: no configuration runs twice.
CREATE_TRIAL = f"""
if redis.call('HGET', KEYS[1], 'state') ~= '{SWEEP_RUNNING}' then return 'sweep_not_running' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'exists' end
if redis.call('SADD', KEYS[6], ARGV[2]) == 0 then return 'duplicate' end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[5], '{TrialState.QUEUED.value}', 1)
return 'ok'
"""

# KEYS: trial, counts, sweep, leases, rejections.
# ARGV: attempt, lease seconds, lease member, field, value, ...
CLAIM_TRIAL = (
    _PRELUDE
    + f"""
local state, refused = fenced(KEYS[1], ARGV[1], KEYS[5])
if refused then return refused end
if state ~= '{QUEUED}' then return refuse(KEYS[5], 'not_queued') end
if redis.call('HGET', KEYS[3], 'state') == '{SWEEP_CANCELLED}' then return 'cancelled' end
local t = now()
local expires = t + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'state', '{RUNNING}', 'started_at', tostring(t), 'lease_expires', tostring(expires), 'points_written', '0', unpack(ARGV, 4))
redis.call('ZADD', KEYS[4], expires, ARGV[3])
redis.call('HINCRBY', KEYS[2], '{TrialState.QUEUED.value}', -1)
redis.call('HINCRBY', KEYS[2], '{TrialState.RUNNING.value}', 1)
return 'ok'
"""
)

# KEYS: trial, rejections. ARGV: attempt, decision (JSON). Ask the running attempt to stop early.
REQUEST_STOP = (
    _PRELUDE
    + f"""
local state, refused = fenced(KEYS[1], ARGV[1], KEYS[2])
if refused then return refused end
if state ~= '{RUNNING}' then return refuse(KEYS[2], 'not_running') end
redis.call('HSET', KEYS[1], 'stop_requested', ARGV[2])
return 'ok'
"""
)

# KEYS: trial, leases, rejections. ARGV: attempt, worker (JSON), lease seconds, lease member
RENEW_LEASE = (
    _PRELUDE
    + f"""
local state, refused = fenced(KEYS[1], ARGV[1], KEYS[3])
if refused then return refused end
if state ~= '{RUNNING}' or redis.call('HGET', KEYS[1], 'worker') ~= ARGV[2] then return refuse(KEYS[3], 'not_running') end
local expires = now() + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'lease_expires', tostring(expires))
redis.call('ZADD', KEYS[2], expires, ARGV[4])
return 'ok'
"""
)

# KEYS: trial, metrics, rejections.
# ARGV: attempt, number of the first point or '' (see append_points), number of field pairs k, k field/value pairs, points...
# The points are appended before the fields are set: nothing after the first write can fail.
RECORD_PROGRESS = (
    _PRELUDE
    + f"""
local state, refused = fenced(KEYS[1], ARGV[1], KEYS[3])
if refused then return refused end
if state ~= '{RUNNING}' then return refuse(KEYS[3], 'not_running') end
local pairs_end = 3 + 2 * tonumber(ARGV[3])
append_points(KEYS[1], KEYS[2], ARGV[2], pairs_end + 1)
if pairs_end > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4, pairs_end)) end
return 'ok'
"""
)

# What every final state adds to the telemetry: per-host counts, and (for a trial that ran)
# its duration histogram, GPU-seconds and the sweep's last-finish time, all in server time.
_ACCOUNT_FINISH = (
    "local DURATION_BUCKETS = {"
    + ", ".join(repr(b) for b in DURATION_BUCKETS)
    + "}\n"
    + """
local function account_finish(trial, stats, host_trials, state, t)
  redis.call('HSET', stats, 'last_finish', tostring(t))
  local host = cjson.decode(redis.call('HGET', trial, 'host') or 'null')
  if host ~= cjson.null then redis.call('HINCRBY', host_trials, host .. '\t' .. state, 1) end
  local started = tonumber(redis.call('HGET', trial, 'started_at') or '')
  if not started then return end
  local d = math.max(0, t - started)
  local bucket = #DURATION_BUCKETS
  for i, upper in ipairs(DURATION_BUCKETS) do
    if d <= upper then bucket = i - 1; break end
  end
  redis.call('HINCRBY', stats, 'duration_b' .. bucket, 1)
  redis.call('HINCRBY', stats, 'duration_count', 1)
  redis.call('HINCRBYFLOAT', stats, 'duration_sum', d)
  if (redis.call('HGET', trial, 'gpu') or 'null') ~= 'null' then redis.call('HINCRBYFLOAT', stats, 'gpu_seconds', d) end
end
"""
)

# KEYS: trial, active, finished, counts, objective, events, leases, rejections, stats, host trials, metrics.
# ARGV: number, attempt, new state (plain), objective or '', sweep id, lease member, number of the first point or '',
#       number of field pairs k, k field/value pairs, metric points (the trial's last, appended in the same step)...
FINISH_TRIAL = (
    _PRELUDE
    + _ACCOUNT_FINISH
    + f"""
local state, refused = fenced(KEYS[1], ARGV[2], KEYS[8])
if refused then return refused end
if state ~= '{QUEUED}' and state ~= '{RUNNING}' then return refuse(KEYS[8], 'already_finished') end
local pairs_end = 8 + 2 * tonumber(ARGV[8])
append_points(KEYS[1], KEYS[11], ARGV[7], pairs_end + 1)
redis.call('HSET', KEYS[1], unpack(ARGV, 9, pairs_end))
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[4], cjson.decode(state), -1)
redis.call('HINCRBY', KEYS[4], ARGV[3], 1)
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1]) end
redis.call('ZREM', KEYS[7], ARGV[6])
account_finish(KEYS[1], KEYS[9], KEYS[10], ARGV[3], now())
redis.call('RPUSH', KEYS[6], ARGV[5])
redis.call('LTRIM', KEYS[6], -{EVENTS_MAX}, -1)
return 'ok'
"""
)

# Take a running trial away from its attempt: re-queue it as attempt+1, or record it LOST
# once `max lost` attempts were lost. The reaper calls it for an expired lease (ARGV[3]
# empty: only if the lease really expired); a worker handing a trial back on shutdown
# calls it with its own attempt (ARGV[3]) and reason 'handed_back', which is no loss.
# KEYS: trial, leases, counts, active, finished, events, rejections, stats, host trials.
# ARGV: number, lease member, expected attempt or '', reason, max lost attempts, sweep id
REQUEUE_TRIAL = (
    _PRELUDE
    + _ACCOUNT_FINISH
    + f"""
local t = now()
local state = redis.call('HGET', KEYS[1], 'state')
if not state then redis.call('ZREM', KEYS[2], ARGV[2]); return refuse(KEYS[7], 'unknown') end
local attempt = redis.call('HGET', KEYS[1], 'attempt')
if ARGV[3] ~= '' then
  if attempt ~= ARGV[3] then return refuse(KEYS[7], 'stale') end
else
  local expires = redis.call('ZSCORE', KEYS[2], ARGV[2])
  if not expires or tonumber(expires) > t then return 'not_expired' end
end
if state ~= '{RUNNING}' then redis.call('ZREM', KEYS[2], ARGV[2]); return refuse(KEYS[7], 'not_running') end
local history = cjson.decode(redis.call('HGET', KEYS[1], 'lost_attempts') or '[]')
local worker = cjson.decode(redis.call('HGET', KEYS[1], 'worker') or 'null')
table.insert(history, {{attempt = tonumber(attempt), worker = worker, reason = ARGV[4], at = t}})
local lost = 0
for _, entry in ipairs(history) do
  if entry.reason ~= 'handed_back' then lost = lost + 1 end
end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[3], '{TrialState.RUNNING.value}', -1)
if lost > tonumber(ARGV[5]) then
  local why = 'worker lost on ' .. lost .. ' attempts (max_retries=' .. ARGV[5] .. ')'
  redis.call('HSET', KEYS[1], 'state', '"{TrialState.LOST.value}"', 'lost_attempts', cjson.encode(history),
    'error', cjson.encode(why), 'ended_at', tostring(t))
  redis.call('HINCRBY', KEYS[3], '{TrialState.LOST.value}', 1)
  account_finish(KEYS[1], KEYS[8], KEYS[9], '{TrialState.LOST.value}', t)
  redis.call('SREM', KEYS[4], ARGV[1])
  redis.call('RPUSH', KEYS[5], ARGV[1])
  redis.call('RPUSH', KEYS[6], ARGV[6])
  redis.call('LTRIM', KEYS[6], -{EVENTS_MAX}, -1)
  return 'lost'
end
redis.call('HSET', KEYS[1], 'state', '{QUEUED}', 'attempt', tostring(tonumber(attempt) + 1),
  'lost_attempts', cjson.encode(history), 'sent_at', 'null', 'started_at', 'null', 'lease_expires', 'null',
  'worker', 'null', 'host', 'null', 'gpu', 'null')
redis.call('HINCRBY', KEYS[3], '{TrialState.QUEUED.value}', 1)
return 'requeued'
"""
)

# KEYS: sweep, events. ARGV: sweep id, new state (JSON), allowed current state (JSON), ..., '--', field, value, ...
TRANSITION_SWEEP = f"""
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return 'unknown' end
local i = 3
local allowed = false
while ARGV[i] ~= '--' do
  if ARGV[i] == current then allowed = true end
  i = i + 1
end
if not allowed then return current end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
if #ARGV > i then redis.call('HSET', KEYS[1], unpack(ARGV, i + 1)) end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -{EVENTS_MAX}, -1)
return 'ok'
"""

# A sweep belongs to one controller at a time. KEYS: owner. ARGV: controller id, lease ms.
OWN_SWEEP = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: owner. ARGV: controller id. Let go of a sweep only if it is ours.
DISOWN_SWEEP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
