-- wrk workload: point GET of a random preloaded key.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
init = common.init
request = common.get
