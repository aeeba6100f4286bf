-- Ask the running attempt to stop early (decision: JSON), and tell its worker on the trial's control channel.
-- include: prelude
-- keys: trial rejections sweep
-- argv: attempt decision channel
local state, refused = fenced(K.trial, A.attempt, K.rejections, K.sweep)
if refused then return refused end
if state ~= '${RUNNING_JSON}' then return refuse(K.rejections, 'not_running') end
redis.call('HSET', K.trial, 'stop_requested', A.decision)
redis.call('PUBLISH', A.channel, 'stop')
return 'ok'
