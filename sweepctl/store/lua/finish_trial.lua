-- QUEUED/RUNNING -> a final state (plain `state`), fenced by attempt; wakes the controllers.
-- `objective_value` is '' for none. The rest of ARGV: `field_pairs` field/value pairs, then the trial's
-- last metric points, appended in the same step (`numbered_from`: see append_points).
-- include: prelude account_finish
-- keys: trial active finished counts objective events leases rejections stats host_trials metrics sweep
-- argv: number attempt state objective_value sweep_id lease_member numbered_from field_pairs ...pairs_then_points
local state, refused = fenced(K.trial, A.attempt, K.rejections, K.sweep)
if refused then return refused end
local pairs_end = REST - 1 + 2 * tonumber(A.field_pairs)
if state ~= '${QUEUED_JSON}' and state ~= '${RUNNING_JSON}' then
  -- The same result of the same attempt again is answered 'ok' (nothing changes): a retry is idempotent.
  if recorded_before(K.trial, REST, pairs_end) then return 'ok' end
  return refuse(K.rejections, 'already_finished')
end
append_points(K.trial, K.metrics, A.numbered_from, pairs_end + 1)
redis.call('HSET', K.trial, unpack(ARGV, REST, pairs_end))
redis.call('SREM', K.active, A.number)
redis.call('RPUSH', K.finished, A.number)
redis.call('HINCRBY', K.counts, cjson.decode(state), -1)
redis.call('HINCRBY', K.counts, A.state, 1)
if A.objective_value ~= '' then redis.call('ZADD', K.objective, A.objective_value, A.number) end
redis.call('ZREM', K.leases, A.lease_member)
account_finish(K.trial, K.stats, K.host_trials, A.state, now())
redis.call('RPUSH', K.events, A.sweep_id)
redis.call('LTRIM', K.events, -${EVENTS_MAX}, -1)
return 'ok'
