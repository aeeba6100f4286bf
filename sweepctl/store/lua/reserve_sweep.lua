-- The first step of restoring a sweep: its record written under an id no sweep has, in the DELETING
-- state (so no controller or worker acts on it, and `delete` clears an interrupted restore), and not
-- yet in the list of sweeps. Refused, unchanged, with the state of the sweep that has the id.
-- keys: sweep
-- argv: ...fields
local state = redis.call('HGET', K.sweep, 'state')
if state then return state end
if redis.call('EXISTS', K.sweep) == 1 then return 'exists' end
redis.call('HSET', K.sweep, unpack(ARGV, REST))
return 'ok'
