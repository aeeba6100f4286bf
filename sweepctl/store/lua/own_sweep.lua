-- A sweep belongs to one controller at a time: take or keep it for `lease_ms`.
-- keys: owner
-- argv: controller lease_ms
local owner = redis.call('GET', K.owner)
if owner and owner ~= A.controller then return 0 end
redis.call('SET', K.owner, A.controller, 'PX', A.lease_ms)
return 1
