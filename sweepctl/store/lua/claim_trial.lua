-- QUEUED -> RUNNING for this attempt, holding a lease, unless the sweep was cancelled, is paused or is being deleted.
-- A paused sweep's trial stays QUEUED and its number goes into `held`: the delivery that asked is
-- used up, so the controller sends the trial again once the sweep may start queued trials.
-- include: prelude taking
-- keys: trial counts sweep leases rejections held
-- argv: attempt lease_seconds lease_member number ...fields
local _, refused = claim(K.trial, K.sweep, K.leases, K.rejections, K.held, A.attempt, A.lease_seconds, A.lease_member, A.number)
if refused then return refused end
redis.call('HINCRBY', K.counts, '${QUEUED}', -1)
redis.call('HINCRBY', K.counts, '${RUNNING}', 1)
return 'ok'
