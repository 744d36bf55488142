-- wrk script of bench/throughput.mjs: every request goes to phpcluster's probe endpoint (session
-- read, lock, counter increment, write) with the cluster's secret and one session cookie taken
-- from a file (one cookie value a line, created beforehand). Each thread walks its own slice of
-- the list round robin; a list of one line is the hot-session workload (every request serialises
-- on that session's lock).
--   wrk -t<threads> -s bench/sessions.lua <url> -- <cookie file> <cookie name> <secret> <threads>
-- done() prints one line `WRKJSON {...}`: requests, non-200 answers by status, socket errors and
-- latency percentiles in microseconds, read by the benchmark next to wrk's own summary.

local cookies = {}
local cookieName = "PHPSESSID"
local secret = ""
local counter = 1
local first = 1
local last = 1
local non200 = 0
local statuses = {}
local threads = {}
local nextId = 0

function setup(thread)
  thread:set("id", nextId)
  nextId = nextId + 1
  table.insert(threads, thread)
end

function init(args)
  local file = args[1]
  cookieName = args[2] or cookieName
  secret = args[3] or ""
  local threadCount = math.max(1, tonumber(args[4] or "1"))
  for line in io.lines(file) do
    if line ~= "" then
      table.insert(cookies, line)
    end
  end
  if #cookies == 0 then
    error("no cookies in " .. file)
  end
  -- each thread walks its own slice of the list, so two threads never send the same session at
  -- once (a thread's in-flight requests are consecutive cookies of its slice)
  local slice = math.max(1, math.floor(#cookies / threadCount))
  first = math.min(#cookies, (id or 0) * slice + 1)
  last = math.min(#cookies, first + slice - 1)
  if #cookies < threadCount then
    first, last = 1, #cookies
  end
  counter = first
  wrk.headers["X-Phpcluster-Secret"] = secret
end

function request()
  local cookie = cookies[counter]
  counter = counter + 1
  if counter > last then
    counter = first
  end
  wrk.headers["Cookie"] = cookieName .. "=" .. cookie
  return wrk.format("GET")
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  local byStatus = {}
  for _, thread in ipairs(threads) do
    total = total + (thread:get("non200") or 0)
    local s = thread:get("statuses")
    if s then
      for k, v in pairs(s) do
        byStatus[k] = (byStatus[k] or 0) + v
      end
    end
  end
  local parts = {}
  for k, v in pairs(byStatus) do
    table.insert(parts, string.format('"%s":%d', k, v))
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"durationUs":%d,"non200":%d,"statuses":{%s},' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, total, table.concat(parts, ","),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
  ))
end
