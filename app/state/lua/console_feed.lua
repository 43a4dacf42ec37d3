-- fscti state script, part 6: the console's change feed (keys.console_changes).
-- One message per domain per batch, `<seq>\t<ext>\t<ext>...`, naming the extensions whose
-- cti_userinfo value was just recomputed: the console reads the values itself, and a
-- PUBLISH nobody subscribes to costs next to nothing. Off when CFG.kp is unset.

local function publish_console_feed()
  if not CFG.kp then return end
  local changed = {}
  for _, ctx in pairs(CTXS) do
    local xs = changed[ctx.d]
    if xs == nil then xs = {}; changed[ctx.d] = xs end
    xs[#xs + 1] = ctx.x
  end
  for d, xs in pairs(changed) do
    local seq = redis.call('INCR', CFG.ksp .. d)
    redis.call('PUBLISH', CFG.kp .. d, seq .. '\t' .. table.concat(xs, '\t'))
  end
end
