-- wrk script for bench/run.sh: every request carries the next token of $BENCH_TOKENS (one
-- JWT a line, read once at start) as `Authorization: Bearer`, cycling through the file.
-- Run with one wrk thread (-t1) so the whole run walks the pool in order: with a pool
-- larger than the module's verified-token cache (FIFO), every request is a cache miss.
-- Reports like report.lua.
local tokens, n, i = {}, 0, 0
local path

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if #line > 0 then
      n = n + 1
      tokens[n] = line
    end
  end
  assert(n > 0, "no tokens in " .. os.getenv("BENCH_TOKENS"))
  path = wrk.path
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return "GET " .. path .. " HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " ..
    tokens[i] .. "\r\n\r\n"
end

function done(summary, latency, requests)
  local e = summary.errors
  local f = assert(io.open(os.getenv("BENCH_REPORT"), "w"))
  f:write(string.format("%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
  f:close()
end
