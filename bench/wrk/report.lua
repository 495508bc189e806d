-- wrk script for bench/run.sh: a fixed request (headers come from wrk -H), and at the end
-- one line of tab-separated numbers in $BENCH_REPORT:
-- requests  duration_us  socket_errors  non_2xx_3xx  p50_us  p90_us  p99_us  mean_us  max_us
function done(summary, latency, requests)
  local e = summary.errors
  local f = assert(io.open(os.getenv("BENCH_REPORT"), "w"))
  f:write(string.format("%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
  f:close()
end
