-- K-fold trials: a trial's folds end one by one; the first to fail stops the others, the last to end concludes the
-- trial, once (sweepctl/kfold.py is the same rule in Python, and a test holds the two equal). A fold's record is its
-- trial's key + ':fold:' + f (sweepctl/store/keys.py fold_key). Numbers are written with 17 significant digits
-- (cjson writes 14), so a mean read back is the float the rule computed.
-- A script including this names the keys trial active finished counts objective events, and the argument number.
local FOLD_FAILING = {['${FAILED}'] = true, ['${NAN}'] = true, ['${TIMED_OUT}'] = true, ['${KILLED}'] = true, ['${LOST}'] = true}

local function fold_key(f) return K.trial .. ':fold:' .. f end

local function is_number(v) return type(v) == 'number' and v == v and v ~= math.huge and v ~= -math.huge end

local function number_text(v) return string.format('%.17g', v) end

local function fold_count() return tonumber(redis.call('HGET', K.trial, 'folds')) end

-- Whether the trial was asked to stop (early termination, or a fold failed): its running folds are stopping.
local function stopping()
  return cjson.decode(redis.call('HGET', K.trial, 'stop_requested') or 'null') ~= cjson.null
end

-- The JSON list of `count` numbers or nulls (a hole in `values`).
local function numbers_json(values, count)
  local parts = {}
  for i = 1, count do parts[i] = values[i] and number_text(values[i]) or 'null' end
  return '[' .. table.concat(parts, ',') .. ']'
end

-- The trial's fold objectives so far (its `fold_objectives`), a hole for a fold without one yet; and how many.
local function noted_objectives(k)
  local list = cjson.decode(redis.call('HGET', K.trial, 'fold_objectives') or '[]')
  local values, completed = {}, 0
  for i = 1, k do
    if is_number(list[i]) then values[i] = list[i]; completed = completed + 1 end
  end
  return values, completed
end

-- End every queued fold unrun (STOPPED) and ask the running ones to stop, with `request` (a StopRequest's JSON):
-- their workers read the trial's stop_requested, told so on the trial's control `channel`.
local function stop_folds(k, request, why, t, channel)
  redis.call('HSET', K.trial, 'stop_requested', request)
  redis.call('PUBLISH', channel, 'stop')
  for f = 0, k - 1 do
    local key = fold_key(f)
    if redis.call('HGET', key, 'state') == '${QUEUED_JSON}' then
      redis.call('HSET', key, 'state', '${STOPPED_JSON}', 'error', cjson.encode('not run: ' .. why), 'ended_at', tostring(t))
    end
  end
end

-- The trial's last_metrics: per name, the mean of the folds' finite last values, in fold order.
local function mean_metrics(ends, k)
  local sums, counts, names = {}, {}, {}
  for i = 1, k do
    local metrics = cjson.decode(ends[i].metrics or '{}')
    if type(metrics) == 'table' then
      for name, v in pairs(metrics) do
        if is_number(v) then
          if not sums[name] then sums[name], counts[name], names[#names + 1] = 0, 0, name end
          sums[name], counts[name] = sums[name] + v, counts[name] + 1
        end
      end
    end
  end
  table.sort(names)
  local parts = {}
  for i, name in ipairs(names) do parts[i] = cjson.encode(name) .. ':' .. number_text(sums[name] / counts[name]) end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- The state, error, mean and standard deviation of a trial whose folds all ended (kfold.py `conclude`).
local function derive(ends, objectives, k)
  local failed = redis.call('HGET', K.trial, 'failed_fold')
  if failed then
    local cause = ends[tonumber(failed) + 1]
    return cause.state, 'fold ' .. failed .. ': ' .. (cause.error or cause.state)
  end
  local completed, cancelled = true, nil
  for i = 1, k do
    if ends[i].state ~= '${COMPLETED}' then completed = false end
    if ends[i].state == '${CANCELLED}' and not cancelled then cancelled = ends[i] end
  end
  if completed then
    local sum = 0
    for i = 1, k do
      if not objectives[i] then return '${COMPLETED}', nil end
      sum = sum + objectives[i]
    end
    local mean, squares = sum / k, 0
    for i = 1, k do local d = objectives[i] - mean; squares = squares + d * d end
    local std = math.sqrt(squares / k)
    if not (is_number(mean) and is_number(std)) then return '${NAN}', "${FOLDS_NOT_FINITE}" end
    return '${COMPLETED}', nil, mean, std
  end
  if cancelled then return '${CANCELLED}', cancelled.error end
  local stop = cjson.decode(redis.call('HGET', K.trial, 'stop_requested') or 'null')
  if type(stop) == 'table' and type(stop.reason) == 'string' then return '${STOPPED}', 'stopped early: ' .. stop.reason end
  return '${STOPPED}', nil
end

-- Conclude the trial if every fold has ended and it has not been concluded: its final state and result, once.
local function conclude(k, t)
  local ends, objectives = {}, {}
  for f = 0, k - 1 do
    local got = redis.call('HMGET', fold_key(f), 'state', 'objective', 'error', 'last_metrics')
    local state = cjson.decode(got[1] or 'null')
    if state == '${QUEUED}' or state == '${RUNNING}' then return false end
    local objective, err = cjson.decode(got[2] or 'null'), cjson.decode(got[3] or 'null')
    if is_number(objective) then objectives[f + 1] = objective end
    ends[f + 1] = {state = state, error = type(err) == 'string' and err or nil, metrics = got[4] or nil}
  end
  local before = redis.call('HGET', K.trial, 'state')
  if before ~= '${QUEUED_JSON}' and before ~= '${RUNNING_JSON}' then return false end
  local state, err, mean, std = derive(ends, objectives, k)
  redis.call('HSET', K.trial, 'state', cjson.encode(state), 'ended_at', tostring(t), 'fold_objectives', numbers_json(objectives, k),
    'objective', mean and number_text(mean) or 'null', 'objective_std', std and number_text(std) or 'null',
    'error', err and cjson.encode(err) or 'null', 'last_metrics', mean_metrics(ends, k))
  redis.call('SREM', K.active, A.number)
  redis.call('RPUSH', K.finished, A.number)
  redis.call('HINCRBY', K.counts, cjson.decode(before), -1)
  redis.call('HINCRBY', K.counts, state, 1)
  if mean then redis.call('ZADD', K.objective, number_text(mean), A.number) end
  return true
end

-- After fold f ended in `state` (plain) with `objective_value` ('' for none): its objective noted on the trial, the
-- other folds stopped if it is the first to fail, the trial concluded if it was the last; the controllers woken.
local function fold_ended(f, state, objective_value, sweep_id, t, channel)
  local k = fold_count()
  local values, completed = noted_objectives(k)
  if objective_value ~= '' then
    values[f + 1] = tonumber(objective_value)
    redis.call('HSET', K.trial, 'fold_objectives', numbers_json(values, k))
  end
  if FOLD_FAILING[state] and not redis.call('HGET', K.trial, 'failed_fold') then
    redis.call('HSET', K.trial, 'failed_fold', tostring(f))
    local why = 'fold ' .. f .. ' of the trial ended ' .. state
    local request = cjson.encode({band = completed, value = cjson.null, threshold = cjson.null, reason = why, at = t})
    stop_folds(k, request, why, t, channel)
  end
  conclude(k, t)
  redis.call('RPUSH', K.events, sweep_id)
  redis.call('LTRIM', K.events, -${EVENTS_MAX}, -1)
end
