-- Stop a running k-fold trial early (the median rule on fold means, controller.fold_stopping): its queued folds end
-- unrun, its running ones are asked to stop (their workers read the trial's stop_requested, `request`), and the trial
-- is concluded STOPPED once its last fold ended (folds.lua). Refused unless RUNNING and not stopping already.
-- include: prelude folds
-- keys: trial sweep active finished counts objective events rejections
-- argv: number sweep_id request reason channel
local state = redis.call('HGET', K.trial, 'state')
if not state then
  if redis.call('EXISTS', K.sweep) == 0 then return 'unknown' end  -- a deleted sweep's: not counted (see fenced)
  return refuse(K.rejections, 'unknown')
end
if state ~= '${RUNNING_JSON}' or stopping() then return refuse(K.rejections, 'not_running') end
local k = fold_count()
local t = now()
stop_folds(k, A.request, A.reason, t, A.channel)
conclude(k, t)
redis.call('RPUSH', K.events, A.sweep_id)
redis.call('LTRIM', K.events, -${EVENTS_MAX}, -1)
return 'ok'
