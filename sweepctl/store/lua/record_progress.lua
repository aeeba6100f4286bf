-- Append metric points and set fields of a RUNNING trial. The rest of ARGV: `field_pairs` field/value
-- pairs, then the points. `numbered_from`: the number of the first point or '' (see append_points).
-- The points are appended before the fields are set: nothing after the first write can fail.
-- include: prelude
-- keys: trial metrics rejections sweep
-- argv: attempt numbered_from field_pairs ...pairs_then_points
local state, refused = fenced(K.trial, A.attempt, K.rejections, K.sweep)
if refused then return refused end
if state ~= '${RUNNING_JSON}' then return refuse(K.rejections, 'not_running') end
local pairs_end = REST - 1 + 2 * tonumber(A.field_pairs)
append_points(K.trial, K.metrics, A.numbered_from, pairs_end + 1)
if pairs_end >= REST then redis.call('HSET', K.trial, unpack(ARGV, REST, pairs_end)) end
return 'ok'
