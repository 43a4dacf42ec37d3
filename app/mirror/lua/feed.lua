-- The replica feed (app/replica, docs/freeswitch.md §7.1). Every script that changes what
-- /directory reads gets the feed stream and its counter as its LAST TWO KEYS (app.mirror.scripts
-- appends them) and XADDs one entry per call, in the same atomic call as the write. An entry
-- names what changed, never the values (a replica re-reads them, so it cannot go back in
-- time), and carries its number `n` so that a replica sees a gap. Bounded: MAXLEN ~ FEED_MAX;
-- a replica that fell further behind sees a gap and refills.
local FEED_MAX = 10000
local function feed_add(t, fields)
  local n = redis.call('INCR', KEYS[#KEYS])
  local cmd = {'XADD', KEYS[#KEYS - 1], 'MAXLEN', '~', FEED_MAX, '*', 'n', n, 't', t}
  for i = 1, #fields do cmd[#cmd + 1] = fields[i] end
  redis.call(unpack(cmd))
  return n
end
