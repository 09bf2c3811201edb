-- wrk script for reliability/load.py: REST and GraphQL calls for random learners of the
-- database (DEFINUM_FIRST_ID..DEFINUM_LAST_ID, deleted ones left out: DEFINUM_SKIP_IDS), and a deliberate share of refusals (GraphQL without a token: 401).
-- Counts, per thread, what each answer was; done() prints one JSON line with the totals.

local token = os.getenv("DEFINUM_TOKEN")
local first, last = tonumber(os.getenv("DEFINUM_FIRST_ID") or "3"), tonumber(os.getenv("DEFINUM_LAST_ID") or "10002")
local skip = {}
for id in string.gmatch(os.getenv("DEFINUM_SKIP_IDS") or "", "%d+") do skip[tonumber(id)] = true end
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = { rest = 0, graphql = 0, refused = 0, bad = 0, other = 0 }
  n = 0
  math.randomseed(os.time() + tonumber(tostring(counts):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  n = n + 1
  local id = math.random(first, last)
  while skip[id] do id = math.random(first, last) end
  local slot = n % 20
  local req
  if slot < 10 then
    req = wrk.format("GET", "/webservice/rest/server.php?wstoken=" .. token ..
      "&wsfunction=definum_get_stats&useridfield=id&userid=" .. id .. "&moodlewsrestformat=json")
  elseif slot < 19 then
    local body = '{"query":"{ user(by: ID, value: \\"' .. id ..
      '\\") { id fullname definumStats { courses finishedCoursesRatio loginsInMonth timeSpentInMonth } } }"}'
    req = wrk.format("POST", "/graphql",
      { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body)
  else
    req = wrk.format("POST", "/graphql", { ["Content-Type"] = "application/json" },
      '{"query":"{ me { id } }"}')
  end
  return req
end

-- Connections answer out of order across a thread: each answer says what it is.
function response(status, headers, body)
  if status == 200 and body:sub(1, 6) == '{"id":' then
    counts.rest = counts.rest + 1
  elseif status == 200 and body:sub(1, 17) == '{"data":{"user":{' and not body:find('"errors"', 1, true) then
    counts.graphql = counts.graphql + 1
  elseif status == 401 and body:find("MISSING_TOKEN", 1, true) then
    counts.refused = counts.refused + 1
  else
    counts.bad = counts.bad + 1
    if counts.bad <= 3 then io.stderr:write("unexpected answer: " .. status .. " " .. body:sub(1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local total = { rest = 0, graphql = 0, refused = 0, bad = 0, other = 0 }
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for k, v in pairs(c) do total[k] = total[k] + v end
  end
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "rest_ok": %d, "graphql_ok": %d, "refused_401": %d, ' ..
    '"bad": %d, "other": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"status_errors": %d, "timeouts": %d, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, ' ..
    '"p999_ms": %.2f, "max_ms": %.2f, "mean_ms": %.2f}\n',
    summary.requests, summary.duration, total.rest, total.graphql, total.refused, total.bad,
    total.other, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000, latency.mean / 1000))
end
