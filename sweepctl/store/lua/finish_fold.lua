-- QUEUED/RUNNING -> a final state (plain `state`) for one fold of a k-fold trial, fenced by the fold's attempt, with
-- its last metric points (finish_trial.lua's rule, per fold); then its trial follows (folds.lua): the fold's objective
-- noted, the other folds stopped when it is the first to fail, the trial concluded when it was the last.
-- include: prelude account_finish folds
-- keys: fold trial sweep active finished counts objective events leases rejections stats host_trials metrics
-- argv: number index attempt state objective_value sweep_id lease_member numbered_from field_pairs channel ...pairs_then_points
local state, refused = fenced(K.fold, A.attempt, K.rejections, K.sweep)
if refused then return refused end
local pairs_end = REST - 1 + 2 * tonumber(A.field_pairs)
if state ~= '${QUEUED_JSON}' and state ~= '${RUNNING_JSON}' then
  -- The same result of the same attempt again is answered 'ok' (nothing changes): a retry is idempotent.
  if recorded_before(K.fold, REST, pairs_end) then return 'ok' end
  return refuse(K.rejections, 'already_finished')
end
append_points(K.fold, K.metrics, A.numbered_from, pairs_end + 1)
redis.call('HSET', K.fold, unpack(ARGV, REST, pairs_end))
redis.call('ZREM', K.leases, A.lease_member)
local t = now()
account_finish(K.fold, K.stats, K.host_trials, A.state, t)
fold_ended(tonumber(A.index), A.state, A.objective_value, A.sweep_id, t, A.channel)
return 'ok'
