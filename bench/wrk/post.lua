-- wrk script for bench/overhead.py: POSTs one fixed JSON body and checks every response.
--
-- Environment (read in the main state and in every thread state):
--   BENCH_PATH    request path, e.g. /v1/chat/completions
--   BENCH_BODY    request body (JSON)
--   BENCH_EXPECT  substring every 2xx body must contain (e.g. "[DONE]" for a stream); empty = no check
--   BENCH_RATE    requests/s this wrk thread should send in total over all its connections; 0 = as fast as
--                 possible (closed loop). Fixed rate works through wrk's delay() hook, see bench/README.md.
--
-- done() prints machine-readable lines starting with BENCH_ for the harness.

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.body = os.getenv("BENCH_BODY") or ""
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-not-a-real-key"

local expect = os.getenv("BENCH_EXPECT") or ""
local rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   -- Globals, so that done() can read them with thread:get().
   non2xx = 0
   bad_body = 0
   statuses = {}
   first_error = ""
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      local key = tostring(status)
      statuses[key] = (statuses[key] or 0) + 1
      if first_error == "" then
         first_error = status .. " " .. string.sub(body or "", 1, 300)
      end
   elseif expect ~= "" and not string.find(body or "", expect, 1, true) then
      bad_body = bad_body + 1
      if first_error == "" then
         first_error = status .. " body without " .. expect .. ": " .. string.sub(body or "", 1, 300)
      end
   end
end

if rate > 0 then
   -- Fixed rate: requests are given start slots 1000/rate ms apart, shared by all connections of the thread.
   -- delay() is called before each request on a connection; it claims the next free slot and waits for it.
   -- If every connection is busy when a slot passes, the slot is late and the next one starts from now
   -- (the target could not keep up: the achieved rate is reported and falls short of BENCH_RATE).
   local ffi = require("ffi")
   pcall(ffi.cdef, [[
      typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
      int clock_gettime(int clk_id, bench_timespec *tp);
   ]])
   local ts = ffi.new("bench_timespec")
   local function now_ms()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
   end
   local interval = 1000 / rate
   local next_slot = nil

   function delay()
      local now = now_ms()
      if next_slot == nil or next_slot < now then
         next_slot = now
      end
      local wait = next_slot - now
      next_slot = next_slot + interval
      return math.floor(wait + 0.5)
   end
end

function done(summary, latency, requests)
   local total_non2xx, total_bad, merged, first = 0, 0, {}, ""
   for _, thread in ipairs(threads) do
      total_non2xx = total_non2xx + (thread:get("non2xx") or 0)
      total_bad = total_bad + (thread:get("bad_body") or 0)
      for code, count in pairs(thread:get("statuses") or {}) do
         merged[code] = (merged[code] or 0) + count
      end
      if first == "" then
         first = thread:get("first_error") or ""
      end
   end
   local codes = {}
   for code, count in pairs(merged) do
      table.insert(codes, code .. ":" .. count)
   end
   local e = summary.errors
   io.write(string.format("BENCH_CHECK non2xx=%d bad_body=%d statuses=%s\n",
      total_non2xx, total_bad, table.concat(codes, ",")))
   io.write(string.format("BENCH_SUMMARY requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
   io.write(string.format("BENCH_LATENCY_US p50=%d p99=%d max=%d\n",
      latency:percentile(50), latency:percentile(99), latency.max))
   io.write("BENCH_FIRST_ERROR " .. string.gsub(first, "[\r\n]+", " ") .. "\n")
end
