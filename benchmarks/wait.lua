-- wrk: POST /transaction?wait=MS as a card authorisation would, each with its own
-- transaction_id, each connection pacing itself so that all together offer about RATE/s.
--
--   AUTH="Authorization: Bearer <key>" RATE=1000 CONNECTIONS=200 WAIT_MS=500 \
--     wrk -t2 -c200 -d20s --latency -s benchmarks/wait.lua http://127.0.0.1:8000
--
-- wrk is closed-loop: a connection sends its next request CONNECTIONS/RATE seconds after
-- its last answer, so the rate reached is lower when answers take long (wrk prints it).
-- At the end: how many answers carried the verdict (200), how many were still pending at
-- the deadline (202), and the percentiles of the waited answer.
local auth = os.getenv("AUTH")
local rate = tonumber(os.getenv("RATE") or "1000")
local connections = tonumber(os.getenv("CONNECTIONS") or "200")
local wait_ms = tonumber(os.getenv("WAIT_MS") or "500")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if auth and auth ~= "" then
  local k, v = auth:match("^([^:]+):%s*(.*)$")
  wrk.headers[k] = v
end

local threads = {}
local thread_id = 0
function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

local n = 0
decided, pending, other = 0, 0, 0
local gap_ms = math.floor(1000 * connections / rate)

function delay()
  return gap_ms
end

function request()
  n = n + 1
  local body = string.format(
    '{"transaction_id":"wait-%d-%d-%d","user_id":"u%d","amount":%d.5,"merchant":"m%d",'
      .. '"timestamp":"%s","merchant_type":"online","device_type":"mobile","location_match":1}',
    os.time(), tid or 0, n, n % 5000, (n % 900) + 1, n % 300, os.date("!%Y-%m-%dT%H:%M:%SZ"))
  return wrk.format(nil, "/transaction?wait=" .. wait_ms, nil, body)
end

function response(status, headers, body)
  if status == 200 then
    decided = decided + 1
  elseif status == 202 then
    pending = pending + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local d, p, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    d = d + thread:get("decided")
    p = p + thread:get("pending")
    o = o + thread:get("other")
  end
  io.write(string.format("answers: %d with the verdict (200), %d pending (202), %d other\n", d, p, o))
  for _, q in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("waited answer p%g: %.1f ms\n", q, latency:percentile(q) / 1000))
  end
end
