-- Take a running trial away from its attempt: re-queue it as attempt+1, or record it LOST once
-- `max_lost` attempts were lost. The reaper calls it for an expired lease (`attempt` empty: only
-- if the lease really expired); a worker handing a trial back on shutdown calls it with its own
-- attempt and reason 'handed_back', which is no loss.
-- include: prelude account_finish
-- keys: trial leases counts active finished events rejections stats host_trials sweep
-- argv: number lease_member attempt reason max_lost sweep_id
local t = now()
local state = redis.call('HGET', K.trial, 'state')
if not state then
  redis.call('ZREM', K.leases, A.lease_member)
  if redis.call('EXISTS', K.sweep) == 0 then return 'unknown' end  -- a deleted sweep's: not counted (see fenced)
  return refuse(K.rejections, 'unknown')
end
local attempt = redis.call('HGET', K.trial, 'attempt')
if A.attempt ~= '' then
  if attempt ~= A.attempt then return refuse(K.rejections, 'stale') end
else
  local expires = redis.call('ZSCORE', K.leases, A.lease_member)
  if not expires or tonumber(expires) > t then return 'not_expired' end
end
if state ~= '${RUNNING_JSON}' then redis.call('ZREM', K.leases, A.lease_member); return refuse(K.rejections, 'not_running') end
local history = cjson.decode(redis.call('HGET', K.trial, 'lost_attempts') or '[]')
local worker = cjson.decode(redis.call('HGET', K.trial, 'worker') or 'null')
table.insert(history, {attempt = tonumber(attempt), worker = worker, reason = A.reason, at = t})
local lost = 0
for _, entry in ipairs(history) do
  if entry.reason ~= 'handed_back' then lost = lost + 1 end
end
redis.call('ZREM', K.leases, A.lease_member)
redis.call('HINCRBY', K.counts, '${RUNNING}', -1)
if lost > tonumber(A.max_lost) then
  local why = 'worker lost on ' .. lost .. ' attempts (max_retries=' .. A.max_lost .. ')'
  redis.call('HSET', K.trial, 'state', '${LOST_JSON}', 'lost_attempts', cjson.encode(history),
    'error', cjson.encode(why), 'ended_at', tostring(t))
  redis.call('HINCRBY', K.counts, '${LOST}', 1)
  account_finish(K.trial, K.stats, K.host_trials, '${LOST}', t)
  redis.call('SREM', K.active, A.number)
  redis.call('RPUSH', K.finished, A.number)
  redis.call('RPUSH', K.events, A.sweep_id)
  redis.call('LTRIM', K.events, -${EVENTS_MAX}, -1)
  return 'lost'
end
redis.call('HSET', K.trial, 'state', '${QUEUED_JSON}', 'attempt', tostring(tonumber(attempt) + 1),
  'lost_attempts', cjson.encode(history), 'sent_at', 'null', 'started_at', 'null', 'lease_expires', 'null',
  'worker', 'null', 'host', 'null', 'gpu', 'null')
redis.call('HINCRBY', K.counts, '${QUEUED}', 1)
return 'requeued'
