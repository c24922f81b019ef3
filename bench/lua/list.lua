-- wrk workload: list page_size=50 under a random prefix of 100 entries, no namespace given
-- (every namespace of the organization), as a client of the hosted API lists by default.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
init = common.init

function request()
  return common.list(nil)
end
