-- QUEUED -> RUNNING for this attempt of one fold of a k-fold trial (claim_trial.lua's rule, per fold), holding a
-- lease; its trial becomes RUNNING with its first fold claimed. In a paused sweep the fold stays QUEUED and its
-- trial's number goes into `held`: the controller sends the trial's queued folds again on resume.
-- include: prelude
-- keys: fold trial counts sweep leases rejections held
-- argv: attempt lease_seconds lease_member number ...fields
local state, refused = fenced(K.fold, A.attempt, K.rejections, K.sweep)
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
redis.call('HSET', K.fold, 'state', '${RUNNING_JSON}', 'started_at', tostring(t), 'lease_expires', tostring(expires), 'points_written', '0', unpack(ARGV, REST))
redis.call('ZADD', K.leases, expires, A.lease_member)
if redis.call('HGET', K.trial, 'state') == '${QUEUED_JSON}' then
  redis.call('HSET', K.trial, 'state', '${RUNNING_JSON}', 'started_at', tostring(t))
  redis.call('HINCRBY', K.counts, '${QUEUED}', -1)
  redis.call('HINCRBY', K.counts, '${RUNNING}', 1)
end
return 'ok'
