-- The shared preamble of the fenced scripts: the current server time, and refusing a write by counting it.
-- replicate_commands() lets Redis 6 scripts call TIME before writing (Redis 7 does so always).
local METRICS_MAX = ${METRICS_MAX}
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
-- A write for a trial of a sweep that is gone (deleted) is refused uncounted: counting it would bring
-- back a key of the deleted sweep.
local function fenced(trial, attempt, rejections, sweep)
  local state = redis.call('HGET', trial, 'state')
  if not state then
    if redis.call('EXISTS', sweep) == 0 then return nil, 'unknown' end
    return nil, refuse(rejections, 'unknown')
  end
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
-- Whether `record` already holds ARGV[first..last] (field/value pairs): the same attempt's same result, written
-- before by a try whose reply was lost or whose replicas did not confirm it in time. Then that try is written once
-- more (its state, unchanged), so that the retrying connection's WAIT covers the first write: replication keeps
-- order, and WAIT counts replicas past this connection's last write only.
local function recorded_before(record, first, last)
  for i = first, last, 2 do
    if redis.call('HGET', record, ARGV[i]) ~= ARGV[i + 1] then return false end
  end
  redis.call('HSET', record, 'state', redis.call('HGET', record, 'state'))
  return true
end
