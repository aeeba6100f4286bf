-- Add to counters of a sweep's hash (its refusals, its suggestion-latency histogram), only while the
-- sweep exists: a count arriving after `delete` removed the sweep would bring back a key of it.
-- An increment written with a '.' or an exponent is a float (HINCRBYFLOAT), any other an integer.
-- keys: sweep counters
-- argv: ...field_increment_pairs
if redis.call('EXISTS', K.sweep) == 0 then return 0 end
for i = REST, #ARGV, 2 do
  if string.find(ARGV[i + 1], '[.eE]') then
    redis.call('HINCRBYFLOAT', K.counters, ARGV[i], ARGV[i + 1])
  else
    redis.call('HINCRBY', K.counters, ARGV[i], ARGV[i + 1])
  end
end
return 1
