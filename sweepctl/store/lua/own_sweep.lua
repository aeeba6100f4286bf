-- A sweep belongs to one controller at a time: take or keep it for `lease_ms`. A sweep that is
-- gone (deleted) is nobody's: no owner key is written for it.
-- keys: owner sweep
-- argv: controller lease_ms
if redis.call('EXISTS', K.sweep) == 0 then return 0 end
local owner = redis.call('GET', K.owner)
if owner and owner ~= A.controller then return 0 end
redis.call('SET', K.owner, A.controller, 'PX', A.lease_ms)
return 1
