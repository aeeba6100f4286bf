-- The last step of restoring a sweep, once its trials and indexes are written: the record reserved by
-- reserve_sweep gets its own fields (its state among them) and joins the list of sweeps, at once.
-- Refused, unchanged, unless the record is still the reservation (DELETING): returns its state, or 'unknown'.
-- keys: sweep sweeps
-- argv: sweep_id created_at ...fields
local state = redis.call('HGET', K.sweep, 'state')
if not state then return 'unknown' end
if state ~= '${SWEEP_DELETING_JSON}' then return state end
redis.call('HSET', K.sweep, unpack(ARGV, REST))
redis.call('ZADD', K.sweeps, A.created_at, A.sweep_id)
return 'ok'
