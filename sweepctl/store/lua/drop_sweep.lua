-- The last step of deleting a sweep, once its trials are gone: its record and every index key of its
-- own, and its id out of the list of sweeps, the live set and the events list, all at once. Only a
-- sweep marked DELETING (or whose record is gone already: a delete run again) is dropped; refused,
-- unchanged, with its state, or with 'trials_left' while its trials zset still lists trials.
-- UNLINK: a big index (the finished list of 100k trials) is freed off Redis' main thread.
-- keys: sweep trials active held retried finished counts objective params rejections stats owner sweeps live events
-- argv: sweep_id
local state = redis.call('HGET', K.sweep, 'state')
if state and state ~= '${SWEEP_DELETING_JSON}' then return state end
if redis.call('ZCARD', K.trials) > 0 then return 'trials_left' end
redis.call('UNLINK', K.sweep, K.trials, K.active, K.held, K.retried, K.finished, K.counts, K.objective, K.params, K.rejections, K.stats, K.owner)
redis.call('ZREM', K.sweeps, A.sweep_id)
redis.call('SREM', K.live, A.sweep_id)
redis.call('LREM', K.events, 0, A.sweep_id)
return 'ok'
