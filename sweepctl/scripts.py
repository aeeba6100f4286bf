"""The atomic state transitions of the store, one Lua script each, named for what they do.

Every trial transition is fenced by the attempt number: a report or result from
an attempt that is not the trial's current one is refused, never applied.
Hash fields hold JSON, so states are compared in their JSON form ('"queued"').
"""

from __future__ import annotations

import json

from sweepctl.keys import EVENTS_MAX, METRICS_MAX
from sweepctl.records import SweepState, TrialState


def _j(value: str) -> str:
    return json.dumps(value)


QUEUED, RUNNING = _j(TrialState.QUEUED.value), _j(TrialState.RUNNING.value)
SWEEP_RUNNING, SWEEP_CANCELLED = _j(SweepState.RUNNING.value), _j(SweepState.CANCELLED.value)

# KEYS: sweep, trial, trials, active, counts. ARGV: number, field, value, ...
CREATE_TRIAL = f"""
if redis.call('HGET', KEYS[1], 'state') ~= '{SWEEP_RUNNING}' then return 'sweep_not_running' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'exists' end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[5], '{TrialState.QUEUED.value}', 1)
return 'ok'
"""

# KEYS: trial, counts, sweep. ARGV: attempt, field, value, ...
CLAIM_TRIAL = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'unknown' end
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return 'stale' end
if state ~= '{QUEUED}' then return 'not_queued' end
if redis.call('HGET', KEYS[3], 'state') == '{SWEEP_CANCELLED}' then return 'cancelled' end
redis.call('HSET', KEYS[1], 'state', '{RUNNING}', unpack(ARGV, 2))
redis.call('HINCRBY', KEYS[2], '{TrialState.QUEUED.value}', -1)
redis.call('HINCRBY', KEYS[2], '{TrialState.RUNNING.value}', 1)
return 'ok'
"""

# KEYS: trial, metrics. ARGV: attempt, number of field pairs, field, value, ..., point, ...
RECORD_PROGRESS = f"""
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return 'stale' end
if redis.call('HGET', KEYS[1], 'state') ~= '{RUNNING}' then return 'not_running' end
local pairs_end = 2 + 2 * tonumber(ARGV[2])
if pairs_end > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, pairs_end)) end
if #ARGV > pairs_end then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, pairs_end + 1))
  redis.call('LTRIM', KEYS[2], -{METRICS_MAX}, -1)
end
return 'ok'
"""

# KEYS: trial, active, finished, counts, objective, events.
# ARGV: number, attempt, new state (plain), objective or '', sweep id, field, value, ...
FINISH_TRIAL = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'unknown' end
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[2] then return 'stale' end
if state ~= '{QUEUED}' and state ~= '{RUNNING}' then return 'already_finished' end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[4], cjson.decode(state), -1)
redis.call('HINCRBY', KEYS[4], ARGV[3], 1)
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1]) end
redis.call('RPUSH', KEYS[6], ARGV[5])
redis.call('LTRIM', KEYS[6], -{EVENTS_MAX}, -1)
return 'ok'
"""

# KEYS: sweep, events. ARGV: sweep id, new state (JSON), allowed current state (JSON), ..., then field pairs after '--'
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
