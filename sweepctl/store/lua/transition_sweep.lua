-- Move the sweep to `to` (JSON) if its state is one of the allowed (JSON) states that open the rest
-- of ARGV, up to '--'; the field/value pairs after '--' are set with it.
-- keys: sweep events
-- argv: sweep_id to channel ...allowed_then_fields
local current = redis.call('HGET', K.sweep, 'state')
if not current then return 'unknown' end
local i = REST
local allowed = false
while ARGV[i] ~= '--' do
  if ARGV[i] == current then allowed = true end
  i = i + 1
end
if not allowed then return current end
redis.call('HSET', K.sweep, 'state', A.to)
if #ARGV > i then redis.call('HSET', K.sweep, unpack(ARGV, i + 1)) end
-- The workers running its trials re-read its state (a cancelled or deleted sweep's trials stop).
redis.call('PUBLISH', A.channel, A.to)
redis.call('RPUSH', K.events, A.sweep_id)
redis.call('LTRIM', K.events, -${EVENTS_MAX}, -1)
return 'ok'
