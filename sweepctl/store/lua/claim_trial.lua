-- QUEUED -> RUNNING for this attempt, holding a lease, unless the sweep was cancelled, is paused or is being deleted.
-- A paused sweep's trial stays QUEUED and its number goes into `held`: the delivery that asked is
-- used up, so the controller sends the trial again once the sweep may start queued trials.
-- include: prelude
-- keys: trial counts sweep leases rejections held
-- argv: attempt lease_seconds lease_member number ...fields
local state, refused = fenced(K.trial, A.attempt, K.rejections, K.sweep)
if refused then return refused end
if state ~= '${QUEUED_JSON}' then return refuse(K.rejections, 'not_queued') end
local sweep_state = redis.call('HGET', K.sweep, 'state')
if sweep_state == '${SWEEP_CANCELLED_JSON}' then return 'cancelled' end
if sweep_state == '${SWEEP_DELETING_JSON}' then return 'sweep_not_running' end
if sweep_state == '${SWEEP_PAUSED_JSON}' then
  redis.call('SADD', K.held, A.number)
  return 'paused'
end
local t = now()
local expires = t + tonumber(A.lease_seconds)
redis.call('HSET', K.trial, 'state', '${RUNNING_JSON}', 'started_at', tostring(t), 'lease_expires', tostring(expires), 'points_written', '0', unpack(ARGV, REST))
redis.call('ZADD', K.leases, expires, A.lease_member)
redis.call('HINCRBY', K.counts, '${QUEUED}', -1)
redis.call('HINCRBY', K.counts, '${RUNNING}', 1)
return 'ok'
