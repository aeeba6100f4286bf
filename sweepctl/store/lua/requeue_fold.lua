-- Take a running fold of a k-fold trial back from its attempt (requeue_trial.lua's rule, per fold): re-queue it as
-- attempt+1 while its trial goes on RUNNING, or record it LOST once `max_lost` attempts were lost, which ends the
-- trial (folds.lua). A fold of a trial being stopped is not run again: it ends STOPPED ('stopped').
-- include: prelude taking account_finish folds
-- keys: fold trial sweep leases active finished counts objective events rejections stats host_trials
-- argv: number index lease_member attempt reason max_lost sweep_id channel
local t, history, lost, attempt = take_back(K.fold, K.sweep, K.leases, K.rejections, A.attempt, A.lease_member, A.reason)
if not t then return history end
local ending, final, why = nil, nil, nil
if stopping() then
  ending, final, why = 'stopped', '${STOPPED}', 'not run again: taken from its worker (' .. A.reason .. ') while the trial was being stopped'
elseif lost > tonumber(A.max_lost) then
  ending, final, why = 'lost', '${LOST}', 'worker lost on ' .. lost .. ' attempts (max_retries=' .. A.max_lost .. ')'
end
if ending then
  redis.call('HSET', K.fold, 'state', cjson.encode(final), 'lost_attempts', cjson.encode(history), 'error', cjson.encode(why), 'ended_at', tostring(t))
  account_finish(K.fold, K.stats, K.host_trials, final, t)
  fold_ended(tonumber(A.index), final, '', A.sweep_id, t, A.channel)
  return ending
end
redis.call('HSET', K.fold, 'state', '${QUEUED_JSON}', 'attempt', tostring(tonumber(attempt) + 1),
  'lost_attempts', cjson.encode(history), 'sent_at', 'null', 'started_at', 'null', 'lease_expires', 'null',
  'worker', 'null', 'host', 'null', 'gpu', 'null')
return 'requeued'
