-- wrk script for the mockidp benchmark: one fixed request, every response checked.
--
-- The request comes from the environment (set by bench/run.py):
--   BENCH_METHOD        GET or POST (default GET)
--   BENCH_BODY          request body (optional)
--   BENCH_CONTENT_TYPE  Content-Type of the body (optional)
--   BENCH_EXPECT        a string every 200 body must contain (optional)
--   BENCH_HEADERS       more request headers, one "Name: value" a line (optional; the gateway's token and key)
-- At the end one line is printed for run.py to parse:
--   BENCH_CHECK ok=<n> non200=<n> badbody=<n> statuses=<status>:<n>,...

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
   wrk.body = body
end
local content_type = os.getenv("BENCH_CONTENT_TYPE")
if content_type and content_type ~= "" then
   wrk.headers["Content-Type"] = content_type
end

local extra = os.getenv("BENCH_HEADERS")
if extra and extra ~= "" then
   for line in string.gmatch(extra, "[^\n]+") do
      local name, value = string.match(line, "^([^:]+):%s*(.*)$")
      if name then
         wrk.headers[name] = value
      end
   end
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   -- per-thread globals, read back with thread:get() in done()
   ok = 0
   non200 = 0
   badbody = 0
   statuses = {}
   expect = os.getenv("BENCH_EXPECT") or ""
end

function response(status, headers, resp_body)
   if status == 200 then
      if expect ~= "" and not string.find(resp_body, expect, 1, true) then
         badbody = badbody + 1
      else
         ok = ok + 1
      end
   else
      non200 = non200 + 1
      statuses[status] = (statuses[status] or 0) + 1
   end
end

function done(summary, latency, requests)
   local total_ok, total_non200, total_bad = 0, 0, 0
   local by_status = {}
   for _, thread in ipairs(threads) do
      total_ok = total_ok + thread:get("ok")
      total_non200 = total_non200 + thread:get("non200")
      total_bad = total_bad + thread:get("badbody")
      for status, n in pairs(thread:get("statuses")) do
         by_status[status] = (by_status[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(by_status) do
      table.insert(parts, status .. ":" .. n)
   end
   io.write(string.format("BENCH_CHECK ok=%d non200=%d badbody=%d statuses=%s\n",
                          total_ok, total_non200, total_bad, table.concat(parts, ",")))
end
