-- wrk workload: list page_size=50 in namespace "default" under a random prefix of 100 entries.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
init = common.init

function request()
  return common.list("default")
end
