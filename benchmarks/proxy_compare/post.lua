-- wrk script for the proxy comparison: POSTs a fixed ~1 KiB chat-completion body
-- (file named by PC_BODY) with Content-Type application/json and the Accept header named by
-- PC_ACCEPT (text/event-stream makes the fake backend answer with an SSE stream), and prints one
-- machine-readable line at the end (latencies in microseconds). PC_CLOSE=1 adds
-- "Connection: close" (a new connection per request); PC_DELAY_MS paces requests (memory.sh).
local path = os.getenv("PC_BODY")
local f = assert(io.open(path, "rb"), "PC_BODY: cannot open " .. tostring(path))
local body = f:read("*a"):gsub("%s+$", "")
f:close()

wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = os.getenv("PC_ACCEPT") or "application/json"
wrk.headers["Authorization"] = "Bearer sk-proxy-compare"
wrk.headers["User-Agent"] = "proxy-compare/wrk"

local delay_ms = tonumber(os.getenv("PC_DELAY_MS") or "")
if os.getenv("PC_CLOSE") == "1" then wrk.headers["Connection"] = "close" end
if delay_ms and delay_ms > 0 then
  function delay() return delay_ms end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "PCRESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d " ..
    "p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
