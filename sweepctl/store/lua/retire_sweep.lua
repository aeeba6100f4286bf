-- Drop a sweep from the live set (and its held and retried trial numbers) only while its state is one of the
-- terminal (JSON) states, or it is gone: a sweep `extend` re-opened after the caller read it ended
-- stays live for a controller to take. Returns 1 when retired, 0 when it runs again.
-- keys: sweep live held retried
-- argv: sweep_id ...terminal
local state = redis.call('HGET', K.sweep, 'state')
local retire = not state
for i = REST, #ARGV do
  if ARGV[i] == state then retire = true end
end
if not retire then return 0 end
redis.call('SREM', K.live, A.sweep_id)
redis.call('DEL', K.held, K.retried)
return 1
