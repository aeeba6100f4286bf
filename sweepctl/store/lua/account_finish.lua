-- What every final state adds to the telemetry: per-host counts (field "host<TAB>state", as
-- sweepctl/store/keys.py host_trials_field builds it), and (for a trial that ran) its duration
-- histogram, GPU-seconds and the sweep's last-finish time, all in server time.
local DURATION_BUCKETS = {${DURATION_BUCKETS}}
local function account_finish(trial, stats, host_trials, state, t)
  redis.call('HSET', stats, 'last_finish', tostring(t))
  local host = cjson.decode(redis.call('HGET', trial, 'host') or 'null')
  if host ~= cjson.null then redis.call('HINCRBY', host_trials, host .. '\t' .. state, 1) end
  local started = tonumber(redis.call('HGET', trial, 'started_at') or '')
  if not started then return end
  local d = math.max(0, t - started)
  local bucket = #DURATION_BUCKETS
  for i, upper in ipairs(DURATION_BUCKETS) do
    if d <= upper then bucket = i - 1; break end
  end
  redis.call('HINCRBY', stats, 'duration_b' .. bucket, 1)
  redis.call('HINCRBY', stats, 'duration_count', 1)
  redis.call('HINCRBYFLOAT', stats, 'duration_sum', d)
  if (redis.call('HGET', trial, 'gpu') or 'null') ~= 'null' then redis.call('HINCRBYFLOAT', stats, 'gpu_seconds', d) end
end
