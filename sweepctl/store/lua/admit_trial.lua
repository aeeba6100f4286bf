-- Count trial `number` among the at most `cap` trials of one counted agent (`sweepctl agent --count`).
-- A trial counted already (a lost attempt run again) stays counted; a new one only while there is room.
-- keys: admitted
-- argv: number cap ttl
if redis.call('SISMEMBER', K.admitted, A.number) == 1 then return 1 end
if redis.call('SCARD', K.admitted) >= tonumber(A.cap) then return 0 end
redis.call('SADD', K.admitted, A.number)
redis.call('EXPIRE', K.admitted, A.ttl)
return 1
