-- Run a finished trial again as attempt+1 (`sweepctl retry`), and with it its sweep if it had ended.
-- Only from one of `trial_states` (plain states, JSON list) and only at `attempt` (JSON): a trial
-- retried meanwhile is 'stale', so each is retried once. Only while the sweep's state is a key of
-- `sweep_moves` (plain state -> plain state, JSON object), which moves it: an ended sweep runs again
-- (live, end time cleared, `reason` JSON). The attempt's fields (the rest of ARGV: field, default,
-- ...) move into `retried_attempts` as they are stored (their JSON text kept exactly), with its state,
-- number and `retried_at`, and are set back to their defaults; its metric history is kept under its
-- attempt number. The old attempt's late writes are refused by the attempt fence ('stale').
-- The counts move the trial from its old state to QUEUED, its objective leaves the sweep's ranking,
-- and its number goes into `retried` for the controller to send. Returns 'requeued' or 'reopened',
-- else why not: 'unknown_sweep', 'sweep:<state>', 'unknown_trial', 'stale', 'state:<state>'.
-- include: prelude
-- keys: sweep trial metrics earlier_metrics counts active objective retried live events
-- argv: number attempt sweep_id reason trial_states sweep_moves ...field_defaults
local sweep_state = redis.call('HGET', K.sweep, 'state')
if not sweep_state then return 'unknown_sweep' end
local from = cjson.decode(sweep_state)
local to = cjson.decode(A.sweep_moves)[from]
if not to then return 'sweep:' .. from end
local state = redis.call('HGET', K.trial, 'state')
if not state then return 'unknown_trial' end
if redis.call('HGET', K.trial, 'attempt') ~= A.attempt then return 'stale' end
local plain = cjson.decode(state)
local asked = false
for _, s in ipairs(cjson.decode(A.trial_states)) do
  if s == plain then asked = true end
end
if not asked then return 'state:' .. plain end
-- The earlier attempt, as one JSON object built from the stored JSON texts (no decode and re-encode:
-- cjson would round floats to 14 digits).
local entry = {'"attempt":' .. A.attempt, '"state":' .. state, '"retried_at":' .. tostring(now())}
local defaults = {}
for i = REST, #ARGV, 2 do
  local raw = redis.call('HGET', K.trial, ARGV[i])
  if raw then table.insert(entry, '"' .. ARGV[i] .. '":' .. raw) end
  table.insert(defaults, ARGV[i])
  table.insert(defaults, ARGV[i + 1])
end
local record = '{' .. table.concat(entry, ',') .. '}'
local earlier = redis.call('HGET', K.trial, 'retried_attempts')
if not earlier or earlier == '[]' then
  earlier = '[' .. record .. ']'
else
  earlier = string.sub(earlier, 1, -2) .. ',' .. record .. ']'
end
redis.call('HSET', K.trial, 'state', '${QUEUED_JSON}', 'attempt', tostring(tonumber(A.attempt) + 1), 'retried_attempts', earlier)
if #defaults > 0 then redis.call('HSET', K.trial, unpack(defaults)) end
if redis.call('EXISTS', K.metrics) == 1 then redis.call('RENAME', K.metrics, K.earlier_metrics) end
redis.call('HINCRBY', K.counts, plain, -1)
redis.call('HINCRBY', K.counts, '${QUEUED}', 1)
redis.call('ZREM', K.objective, A.number)
redis.call('SADD', K.active, A.number)
redis.call('SADD', K.retried, A.number)
local result = 'requeued'
if to ~= from then
  redis.call('HSET', K.sweep, 'state', cjson.encode(to), 'ended_at', 'null', 'reason', A.reason)
  result = 'reopened'
end
redis.call('SADD', K.live, A.sweep_id)
redis.call('RPUSH', K.events, A.sweep_id)
redis.call('LTRIM', K.events, -${EVENTS_MAX}, -1)
return result
