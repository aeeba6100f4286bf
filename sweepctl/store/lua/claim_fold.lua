-- QUEUED -> RUNNING for this attempt of one fold of a k-fold trial (claim_trial.lua's rule, per fold), holding a
-- lease; its trial becomes RUNNING with its first fold claimed. In a paused sweep the fold stays QUEUED and its
-- trial's number goes into `held`: the controller sends the trial's queued folds again on resume.
-- include: prelude taking
-- keys: fold trial counts sweep leases rejections held
-- argv: attempt lease_seconds lease_member number ...fields
local t, refused = claim(K.fold, K.sweep, K.leases, K.rejections, K.held, A.attempt, A.lease_seconds, A.lease_member, A.number)
if refused then return refused end
if redis.call('HGET', K.trial, 'state') == '${QUEUED_JSON}' then
  redis.call('HSET', K.trial, 'state', '${RUNNING_JSON}', 'started_at', tostring(t))
  redis.call('HINCRBY', K.counts, '${QUEUED}', -1)
  redis.call('HINCRBY', K.counts, '${RUNNING}', 1)
end
return 'ok'
