-- Extend the lease of a running attempt held by `worker` (JSON).
-- include: prelude
-- keys: trial leases rejections sweep
-- argv: attempt worker lease_seconds lease_member
local state, refused = fenced(K.trial, A.attempt, K.rejections, K.sweep)
if refused then return refused end
if state ~= '${RUNNING_JSON}' or redis.call('HGET', K.trial, 'worker') ~= A.worker then return refuse(K.rejections, 'not_running') end
local expires = now() + tonumber(A.lease_seconds)
redis.call('HSET', K.trial, 'lease_expires', tostring(expires))
redis.call('ZADD', K.leases, expires, A.lease_member)
return 'ok'
