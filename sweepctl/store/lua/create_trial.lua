-- Record a new QUEUED trial. A parameter set already tried or pending in the sweep is refused:
-- no configuration runs twice. A k-fold trial (`folds` > 0) gets its k fold records with it, QUEUED,
-- each the trial's fields with `fold` set (folds.lua: the trial's key + ':fold:' + f).
-- keys: sweep trial trials active counts params
-- argv: number params_hash folds ...fields
if redis.call('HGET', K.sweep, 'state') ~= '${SWEEP_RUNNING_JSON}' then return 'sweep_not_running' end
if redis.call('EXISTS', K.trial) == 1 then return 'exists' end
if redis.call('SADD', K.params, A.params_hash) == 0 then return 'duplicate' end
redis.call('HSET', K.trial, unpack(ARGV, REST))
for f = 0, tonumber(A.folds) - 1 do
  local fold = K.trial .. ':fold:' .. f
  redis.call('HSET', fold, unpack(ARGV, REST))
  redis.call('HSET', fold, 'fold', tostring(f))
end
redis.call('ZADD', K.trials, A.number, A.number)
redis.call('SADD', K.active, A.number)
redis.call('HINCRBY', K.counts, '${QUEUED}', 1)
return 'ok'
