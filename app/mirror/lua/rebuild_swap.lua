-- Swap the aside keys in. Readers see the old or the new hash, never a missing or partial one;
-- UNLINK frees the old hash in the background so a 1M-field delete does not block Redis.
-- KEYS: marker, exten, alias, disabled, exten_aside, alias_aside, disabled_aside, touched, seq.
-- ARGV: token. Returns -1 (and drops its orphaned aside keys) when the marker is no longer ours.
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then
  if not cur then redis.call('UNLINK', KEYS[5], KEYS[6], KEYS[7], KEYS[8]) end
  return -1
end
for i = 2, 4 do
  redis.call('UNLINK', KEYS[i])
  if redis.call('EXISTS', KEYS[i + 3]) == 1 then redis.call('RENAME', KEYS[i + 3], KEYS[i]) end
end
redis.call('UNLINK', KEYS[1], KEYS[8])
redis.call('INCR', KEYS[9])
feed_add('r', {'x', KEYS[2]})  -- replica feed: refill this domain
return 1
