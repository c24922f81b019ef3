-- wrk workload: 90 % point GET, 10 % PUT upsert, of random preloaded keys.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
init = common.init

function request()
  if math.random() < 0.9 then return common.get() end
  return common.put()
end
