-- Give a sweep a new run_cap, kept on its record (it overrides the file's). A sweep in one of the
-- `keep` states (JSON) keeps its state; one in a state after '--' (an ended one) runs again:
-- RUNNING, back in the live set for a controller to take, its end time cleared, `reason` recorded.
-- Refused (nothing written) when the state is in neither list (returns it), or when the sweep
-- already has run_cap trials or more (returns 'created:N'). Done, returns 'ok:N' or 'reopened:N', N the trials the
-- sweep had when its budget changed (a controller may create more at once).
-- keys: sweep trials live events
-- argv: sweep_id run_cap reason ...keep_then_reopen
local current = redis.call('HGET', K.sweep, 'state')
if not current then return 'unknown' end
local mode = nil
local reopening = false
for i = REST, #ARGV do
  if ARGV[i] == '--' then
    reopening = true
  elseif ARGV[i] == current then
    mode = reopening and 'reopened' or 'ok'
  end
end
if not mode then return current end
local created = redis.call('ZCARD', K.trials)
if created >= tonumber(A.run_cap) then return 'created:' .. created end
redis.call('HSET', K.sweep, 'run_cap', A.run_cap)
if mode == 'reopened' then
  redis.call('HSET', K.sweep, 'state', '${SWEEP_RUNNING_JSON}', 'ended_at', 'null', 'reason', A.reason)
  redis.call('SADD', K.live, A.sweep_id)
end
redis.call('RPUSH', K.events, A.sweep_id)
redis.call('LTRIM', K.events, -${EVENTS_MAX}, -1)
return mode .. ':' .. created
