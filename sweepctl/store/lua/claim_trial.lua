-- QUEUED -> RUNNING for this attempt, holding a lease, unless the sweep was cancelled.
-- include: prelude
-- keys: trial counts sweep leases rejections
-- argv: attempt lease_seconds lease_member ...fields
local state, refused = fenced(K.trial, A.attempt, K.rejections)
if refused then return refused end
if state ~= '${QUEUED_JSON}' then return refuse(K.rejections, 'not_queued') end
if redis.call('HGET', K.sweep, 'state') == '${SWEEP_CANCELLED_JSON}' then return 'cancelled' end
local t = now()
local expires = t + tonumber(A.lease_seconds)
redis.call('HSET', K.trial, 'state', '${RUNNING_JSON}', 'started_at', tostring(t), 'lease_expires', tostring(expires), 'points_written', '0', unpack(ARGV, REST))
redis.call('ZADD', K.leases, expires, A.lease_member)
redis.call('HINCRBY', K.counts, '${QUEUED}', -1)
redis.call('HINCRBY', K.counts, '${RUNNING}', 1)
return 'ok'
