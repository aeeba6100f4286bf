-- Set bookkeeping fields of a trial (unfenced: the controller's `sent_at`), only while the trial exists:
-- a trial whose sweep was deleted meanwhile is not brought back as a hash of these fields alone.
-- keys: trial
-- argv: ...fields
if redis.call('EXISTS', K.trial) == 0 then return 0 end
redis.call('HSET', K.trial, unpack(ARGV, REST))
return 1
