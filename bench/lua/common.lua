-- Shared by the workload scripts. Script arguments (after `--` on wrk's command line):
-- COUNT (entries preloaded by bench/preload.ts) and TOKEN (its API key).
-- Keys follow preload.ts: entry i is KINDS[i % 4]:pad6(i // 4):SUFFIXES[i % 4].
local common = {}

local KINDS = { "user", "order", "team", "device" }
local SUFFIXES = { "profile", "items", "settings", "state" }
-- Makes a PUT value of about 1 KB, like the preloaded ones.
local NOTE = string.rep("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 17)

local count, get_headers, put_headers
local writes = 0

function common.init(args)
  count = tonumber(args[1])
  local token = args[2]
  assert(count and count > 0 and token, "script arguments: COUNT TOKEN")
  math.randomseed(os.time())
  get_headers = { ["Authorization"] = "Bearer " .. token }
  put_headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

local function key(i)
  local kind = i % 4 + 1
  return string.format("%s:%06d:%s", KINDS[kind], math.floor(i / 4), SUFFIXES[kind])
end

local function random_key()
  return key(math.random(0, count - 1))
end

function common.get()
  return wrk.format("GET", "/api/v1/datastore/entries/" .. random_key(), get_headers)
end

-- The value changes on every request: rewriting identical bytes is unrealistically fast.
function common.put()
  writes = writes + 1
  local body = string.format(
    '{"entry":{"key":"%s","value":{"writes":%d,"random":%d,"note":"%s"}}}',
    random_key(), writes, math.random(0, 1000000000), NOTE)
  return wrk.format("PUT", "/api/v1/datastore/entries", put_headers, body)
end

-- A prefix such as `user:0012` matches ids 001200-001299 of one kind: 100 entries, 2 pages.
-- With a namespace the listing is one range of the unique index; without one (nil), the
-- server must look at every namespace of the organization.
function common.list(namespace)
  local blocks = math.max(1, math.floor(count / 400))
  local prefix = string.format("%s:%04d", KINDS[math.random(1, 4)], math.random(0, blocks - 1))
  local query = namespace and ("namespace=" .. namespace .. "&") or ""
  return wrk.format("GET", "/api/v1/datastore?" .. query .. "prefix=" .. prefix .. "&page_size=50", get_headers)
end

return common
