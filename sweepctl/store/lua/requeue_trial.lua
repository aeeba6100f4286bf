-- Take a running trial away from its attempt: re-queue it as attempt+1, or record it LOST once
-- `max_lost` attempts were lost. The reaper calls it for an expired lease (`attempt` empty: only
-- if the lease really expired); a worker handing a trial back on shutdown calls it with its own
-- attempt and reason 'handed_back', which is no loss.
-- include: prelude taking account_finish
-- keys: trial leases counts active finished events rejections stats host_trials sweep
-- argv: number lease_member attempt reason max_lost sweep_id
local t, history, lost, attempt = take_back(K.trial, K.sweep, K.leases, K.rejections, A.attempt, A.lease_member, A.reason)
if not t then return history end
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
