-- wrk: POST /transaction as a payment system would, each with its own transaction_id.
--
--   AUTH="Authorization: Bearer <key>" RATE=1000 CONNECTIONS=200 WAIT_MS=500 \
--     wrk -t2 -c200 -d20s --latency -s src/fraud/bench/post.lua http://127.0.0.1:5000
--
-- WAIT_MS: ask for the verdict while the card waits (POST /transaction?wait=MS); 0 posts
-- without waiting (the 202 alone). RATE: each connection paces itself so that all together
-- offer about RATE/s; 0 sends as fast as the answers come. wrk is closed-loop: a connection
-- sends its next request CONNECTIONS/RATE seconds after its last answer, so the rate reached
-- is lower when answers take long (wrk prints it). RUN names the ids, so runs never collide.
--
-- At the end: how many answers carried the verdict (200), how many were accepted and still
-- pending (202), and the latency percentiles; then the same as one JSON line for programs
-- (`fraud bench` reads it).
local auth = os.getenv("AUTH")
local rate = tonumber(os.getenv("RATE") or "0")
local connections = tonumber(os.getenv("CONNECTIONS") or "16")
local wait_ms = tonumber(os.getenv("WAIT_MS") or "0")
local run = os.getenv("RUN") or tostring(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if auth and auth ~= "" then
  local k, v = auth:match("^([^:]+):%s*(.*)$")
  wrk.headers[k] = v
end
local path = "/transaction"
if wait_ms > 0 then
  path = path .. "?wait=" .. wait_ms
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
local gap_ms = 0
if rate > 0 then
  gap_ms = math.floor(1000 * connections / rate)
end

function delay()
  return gap_ms
end

function request()
  n = n + 1
  local body = string.format(
    '{"transaction_id":"%s-%d-%d","user_id":"u%d","amount":%d.5,"merchant":"m%d",'
      .. '"timestamp":"%s","merchant_type":"online","device_type":"mobile","location_match":1}',
    run, tid or 0, n, n % 5000, (n % 900) + 1, n % 300, os.date("!%Y-%m-%dT%H:%M:%SZ"))
  return wrk.format(nil, path, nil, body)
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
  local cuts = {}
  for _, q in ipairs({ 50, 90, 99, 99.9 }) do
    local ms = latency:percentile(q) / 1000
    io.write(string.format("p%g: %.1f ms\n", q, ms))
    table.insert(cuts, string.format('"p%s":%.2f', string.gsub(tostring(q), "%.", "_"), ms))
  end
  local errors = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"decided":%d,"pending":%d,"other":%d,'
      .. '"socket_errors":%d,"timeouts":%d,"max_ms":%.2f,%s}\n',
    summary.requests, summary.duration / 1e6, d, p, o,
    errors.connect + errors.read + errors.write, errors.timeout, latency.max / 1000,
    table.concat(cuts, ",")))
end
