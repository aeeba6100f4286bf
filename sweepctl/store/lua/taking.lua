-- Taking an attempt of a record (a trial's, or one fold's of a k-fold trial) and taking it back: the rule
-- claim_trial/claim_fold and requeue_trial/requeue_fold share. Needs prelude.
-- claim: QUEUED -> RUNNING for `attempt` with a lease, unless the sweep was cancelled, is being deleted or is paused
-- (then `number` goes into `held`: the delivery that asked is used up, and the controller sends it again on resume).
-- Returns the server time of the claim, or nil and the refusal.
local function claim(record, sweep, leases, rejections, held, attempt, lease_seconds, lease_member, number)
  local state, refused = fenced(record, attempt, rejections, sweep)
  if refused then return nil, refused end
  if state ~= '${QUEUED_JSON}' then return nil, refuse(rejections, 'not_queued') end
  local sweep_state = redis.call('HGET', sweep, 'state')
  if sweep_state == '${SWEEP_CANCELLED_JSON}' then return nil, 'cancelled' end
  if sweep_state == '${SWEEP_DELETING_JSON}' then return nil, 'sweep_not_running' end
  if sweep_state == '${SWEEP_PAUSED_JSON}' then
    redis.call('SADD', held, number)
    return nil, 'paused'
  end
  local t = now()
  local expires = t + tonumber(lease_seconds)
  redis.call('HSET', record, 'state', '${RUNNING_JSON}', 'started_at', tostring(t), 'lease_expires', tostring(expires), 'points_written', '0', unpack(ARGV, REST))
  redis.call('ZADD', leases, expires, lease_member)
  return t
end
-- take back: the running attempt of `record` is taken from its worker (`attempt` given: only that attempt; '': only
-- once its lease expired), its lease dropped and the loss added to its history. Returns the server time, the history
-- (as a table, this loss appended), how many of its entries are losses (a hand-back is none) and the attempt taken
-- back (as stored); or nil and the refusal. A record of a deleted sweep is refused uncounted (see fenced).
local function take_back(record, sweep, leases, rejections, attempt_given, lease_member, reason)
  local t = now()
  local state = redis.call('HGET', record, 'state')
  if not state then
    redis.call('ZREM', leases, lease_member)
    if redis.call('EXISTS', sweep) == 0 then return nil, 'unknown' end
    return nil, refuse(rejections, 'unknown')
  end
  local attempt = redis.call('HGET', record, 'attempt')
  if attempt_given ~= '' then
    if attempt ~= attempt_given then return nil, refuse(rejections, 'stale') end
  else
    local expires = redis.call('ZSCORE', leases, lease_member)
    if not expires or tonumber(expires) > t then return nil, 'not_expired' end
  end
  if state ~= '${RUNNING_JSON}' then redis.call('ZREM', leases, lease_member); return nil, refuse(rejections, 'not_running') end
  local history = cjson.decode(redis.call('HGET', record, 'lost_attempts') or '[]')
  local worker = cjson.decode(redis.call('HGET', record, 'worker') or 'null')
  table.insert(history, {attempt = tonumber(attempt), worker = worker, reason = reason, at = t})
  local lost = 0
  for _, entry in ipairs(history) do
    if entry.reason ~= 'handed_back' then lost = lost + 1 end
  end
  redis.call('ZREM', leases, lease_member)
  return t, history, lost, attempt
end
