-- wrk workload: PUT upsert of a random preloaded key with a new value each time.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "common.lua")
init = common.init
request = common.put
