-- Let go of a sweep only if it is ours.
-- keys: owner
-- argv: controller
if redis.call('GET', K.owner) == A.controller then return redis.call('DEL', K.owner) end
return 0
