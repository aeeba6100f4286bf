-- Take a running fold of a k-fold trial back from its attempt (requeue_trial.lua's rule, per fold): re-queue it as
-- attempt+1 while its trial goes on RUNNING, or record it LOST once `max_lost` attempts were lost, which ends the
-- trial (folds.lua). A fold of a trial being stopped is not run again: it ends STOPPED ('stopped').
-- include: prelude account_finish folds
-- keys: fold trial sweep leases active finished counts objective events rejections stats host_trials
-- argv: number index lease_member attempt reason max_lost sweep_id
local t = now()
local state = redis.call('HGET', K.fold, 'state')
if not state then
  redis.call('ZREM', K.leases, A.lease_member)
  if redis.call('EXISTS', K.sweep) == 0 then return 'unknown' end  -- a deleted sweep's: not counted (see fenced)
  return refuse(K.rejections, 'unknown')
end
local attempt = redis.call('HGET', K.fold, 'attempt')
if A.attempt ~= '' then
  if attempt ~= A.attempt then return refuse(K.rejections, 'stale') end
else
  local expires = redis.call('ZSCORE', K.leases, A.lease_member)
  if not expires or tonumber(expires) > t then return 'not_expired' end
end
if state ~= '${RUNNING_JSON}' then redis.call('ZREM', K.leases, A.lease_member); return refuse(K.rejections, 'not_running') end
local history = cjson.decode(redis.call('HGET', K.fold, 'lost_attempts') or '[]')
local worker = cjson.decode(redis.call('HGET', K.fold, 'worker') or 'null')
table.insert(history, {attempt = tonumber(attempt), worker = worker, reason = A.reason, at = t})
local lost = 0
for _, entry in ipairs(history) do
  if entry.reason ~= 'handed_back' then lost = lost + 1 end
end
redis.call('ZREM', K.leases, A.lease_member)
local ending, final, why = nil, nil, nil
if stopping() then
  ending, final, why = 'stopped', '${STOPPED}', 'not run again: taken from its worker (' .. A.reason .. ') while the trial was being stopped'
elseif lost > tonumber(A.max_lost) then
  ending, final, why = 'lost', '${LOST}', 'worker lost on ' .. lost .. ' attempts (max_retries=' .. A.max_lost .. ')'
end
if ending then
  redis.call('HSET', K.fold, 'state', cjson.encode(final), 'lost_attempts', cjson.encode(history), 'error', cjson.encode(why), 'ended_at', tostring(t))
  account_finish(K.fold, K.stats, K.host_trials, final, t)
  fold_ended(tonumber(A.index), final, '', A.sweep_id, t)
  return ending
end
redis.call('HSET', K.fold, 'state', '${QUEUED_JSON}', 'attempt', tostring(tonumber(attempt) + 1),
  'lost_attempts', cjson.encode(history), 'sent_at', 'null', 'started_at', 'null', 'lease_expires', 'null',
  'worker', 'null', 'host', 'null', 'gpu', 'null')
return 'requeued'
