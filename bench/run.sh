#!/usr/bin/env bash
# `make bench`: the module against plain nginx and against the classic auth_request setup,
# in one run, on one machine, with one nginx build (build/nginx, release), one worker.
# Writes bench/RESULTS.md and bench/README-snippet.md; scratch files go to bench/out/.
#
# Expects `make build` to have run (the Makefile's bench target does it) and wrk installed.
# Knobs (environment): BENCH_DURATION (s, measured, default 8), BENCH_WARMUP (s, default 2),
# BENCH_CONNECTIONS (default 16), BENCH_POOL (distinct tokens per algorithm, default 20000),
# BENCH_MEM_TOKENS (default 1000000), BENCH_PORT (first of 9 loopback ports, default 18410),
# BENCH_REVOCATIONS (revocations held in the shared zone, default 100000),
# BENCH_SKIP_MICRO=1 (skip the core micro-benchmarks), BENCH_CG_REQUESTS / BENCH_CG_WARMUP
# (requests per scenario counted by callgrind, default 2000 / 200), BENCH_ONLY=callgrind (only
# the callgrind count, printed, RESULTS.md untouched; with BENCH_NGINX and BENCH_MODULE naming
# another build it compares two commits of the module instruction for instruction), BENCH_NOTE (a sentence added to
# RESULTS.md's header, e.g. that other work shared the machine during the run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/bench/out
NGINX=${BENCH_NGINX:-$ROOT/build/nginx}
MODULE=${BENCH_MODULE:-$ROOT/build/ngx_http_sso_module.so}
KEYS=$ROOT/tests/nginx/keys
CARGO=${CARGO:-cargo}

DURATION=${BENCH_DURATION:-8}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNECTIONS:-16}
POOL=${BENCH_POOL:-20000}
MEM_TOKENS=${BENCH_MEM_TOKENS:-1000000}
PORT=${BENCH_PORT:-18410}
ISSUER="http://127.0.0.1:$((PORT + 7))/application/o/app/"
CLIENT_ID=app-client

PORT_BASELINE=$PORT
PORT_SSO=$((PORT + 1))
PORT_UNAUTH=$((PORT + 2))
PORT_AUTHREQ=$((PORT + 3))
PORT_APP=$((PORT + 4))
PORT_OUTPOST=$((PORT + 5))
PORT_IDENTITY=$((PORT + 6))
PORT_PROVIDER=$((PORT + 7))
PORT_SSO_SLIM=$((PORT + 8))

# Two cores: nginx's worker on CPU 0, the load generator on CPU 1.
NCPU=$(nproc)
NGINX_CPU=0
CLIENT_CPU=1
if [ "$NCPU" -lt 2 ]; then
  CLIENT_CPU=0
  echo "bench: only one CPU: nginx and wrk share it, numbers are not comparable" >&2
fi
AFFINITY=1  # worker_cpu_affinity bitmask: CPU 0

STARTED=$(date +%s)
log() { printf '[bench %3ss] %s\n' $(($(date +%s) - STARTED)) "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

for f in "$NGINX" "$MODULE"; do
  [ -x "$f" ] || [ -f "$f" ] || die "$f missing: run make build"
done
command -v wrk >/dev/null || die "wrk missing: ./scripts/apt-ensure wrk"
command -v curl >/dev/null || die "curl missing: ./scripts/apt-ensure curl"

MASTER_PID=""
stop_nginx() {
  if [ -n "$MASTER_PID" ] && kill -0 "$MASTER_PID" 2>/dev/null; then
    kill -QUIT "$MASTER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$MASTER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$MASTER_PID" 2>/dev/null && kill -KILL "$MASTER_PID" 2>/dev/null || true
  fi
  MASTER_PID=""
}
trap stop_nginx EXIT

rm -rf "$OUT"
mkdir -p "$OUT"/tmp "$OUT"/content "$OUT"/runs
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- tools ----------------------------------------------------------------------------------
log "building bench/tools (sso-bench) into target/"
"$CARGO" build --quiet --release --manifest-path bench/tools/Cargo.toml --target-dir "$ROOT/target"
TOOL=$ROOT/target/release/sso-bench

# --- micro-benchmarks of the core -----------------------------------------------------------
ONLY=${BENCH_ONLY:-}
[ -z "$ONLY" ] || [ "$ONLY" = callgrind ] || die "BENCH_ONLY=$ONLY: only 'callgrind' is known"
if [ "${BENCH_SKIP_MICRO:-0}" != 1 ] && [ -z "$ONLY" ]; then
  log "micro-benchmarks: cargo bench -p sso-core --bench core (pinned to CPU $NGINX_CPU)"
  "$CARGO" bench --quiet -p sso-core --bench core --no-run 2>"$OUT/core-build.log" ||
    { cat "$OUT/core-build.log" >&2; die "building the core benchmarks"; }
  BENCH_TSV=$OUT/core.tsv BENCH_MEM_TSV=$OUT/core-mem.tsv timeout 300 taskset -c "$NGINX_CPU" \
    "$CARGO" bench --quiet -p sso-core --bench core 2>>"$OUT/core-build.log" | tee "$OUT/core.txt" >&2
else
  : >"$OUT/core.tsv"
  : >"$OUT/core-mem.tsv"
fi

# --- content, keys, credentials -------------------------------------------------------------
{
  printf '<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n'
  printf '<h1>Welcome to nginx!</h1>\n'
  for i in $(seq 1 8); do
    printf '<p>Paragraph %d of the benchmark page: the same static file for every scenario.</p>\n' "$i"
  done
  printf '</body>\n</html>\n'
} >"$OUT/content/index.html"
CONTENT_BYTES=$(wc -c <"$OUT/content/index.html")

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$OUT/session.secret"
echo >>"$OUT/session.secret"
COOKIE=$("$TOOL" cookie --secret-file "$OUT/session.secret" --app "$CLIENT_ID" --keys "$KEYS" --issuer "$ISSUER")
# The same session minted under `sso_jwt_header off`: no ID token, its claims kept instead.
SLIM_COOKIE=$("$TOOL" cookie --secret-file "$OUT/session.secret" --app "$CLIENT_ID" --keys "$KEYS" --issuer "$ISSUER" --jwt-header off)
REVOCATIONS=${BENCH_REVOCATIONS:-100000}
"$TOOL" revocations --issuer "$ISSUER" --count "$REVOCATIONS" --lifetime 86400 --out "$OUT/revocations.state"
RS256_TOKEN=$("$TOOL" token --keys "$KEYS" --alg RS256 --issuer "$ISSUER" --aud "$CLIENT_ID")
[ -n "$ONLY" ] && POOL=1
log "minting $POOL distinct tokens each for RS256, ES256, EdDSA (and HS256 for warm-ups)"
for alg in RS256 ES256 EdDSA HS256; do
  timeout 300 "$TOOL" tokens --keys "$KEYS" --alg "$alg" --issuer "$ISSUER" --aud "$CLIENT_ID" \
    --count "$POOL" --out "$OUT/tokens-$alg.txt"
done
HS_LEN=$("$TOOL" token --keys "$KEYS" --alg HS256 --issuer "$ISSUER" --aud "$CLIENT_ID" | tr -d '\n' | wc -c)

# --- nginx ----------------------------------------------------------------------------------
MODULE_VERSION=$(awk -F'"' '/^version *=/ { print $2; exit }' Cargo.toml)
# Baseline 1p forwards the identity headers of 2-5 as constants: X-authentik-jwt is a token of
# the same claims, alg and length as the session's ID token and the bearer of 3.
sed -e "s|@MODULE@|$MODULE|g" -e "s|@JWT@|$RS256_TOKEN|g" -e "s|@MODULE_VERSION@|$MODULE_VERSION|g" \
  -e "s|@PORT_IDENTITY@|$PORT_IDENTITY|g" -e "s|@OUT@|$OUT|g" -e "s|@CONTENT@|$OUT/content|g" \
  -e "s|@KEYS@|$KEYS|g" -e "s|@ISSUER@|$ISSUER|g" -e "s|@CLIENT_ID@|$CLIENT_ID|g" \
  -e "s|@AFFINITY@|$AFFINITY|g" -e "s|@REVOCATIONS@|$REVOCATIONS|g" -e "s|@PORT_BASELINE@|$PORT_BASELINE|g" \
  -e "s|@PORT_SSO@|$PORT_SSO|g" -e "s|@PORT_UNAUTH@|$PORT_UNAUTH|g" -e "s|@PORT_SSO_SLIM@|$PORT_SSO_SLIM|g" \
  -e "s|@PORT_AUTHREQ@|$PORT_AUTHREQ|g" -e "s|@PORT_APP@|$PORT_APP|g" \
  -e "s|@PORT_OUTPOST@|$PORT_OUTPOST|g" -e "s|@PORT_PROVIDER@|$PORT_PROVIDER|g" \
  bench/nginx.conf.in >"$OUT/nginx.conf"
"$NGINX" -t -q -p "$OUT" -e "$OUT/error.log" -c "$OUT/nginx.conf" || die "nginx -t"
grep -E 'state file .*(ignored|too small)' "$OUT/error.log" >&2 && die "the revocations were not restored"

# --- instructions per request (callgrind) ------------------------------------------------------
# The same requests again, the worker under callgrind: instructions are counted, not time, so
# other load on the machine does not move these numbers (README "Performance").
CG_SCENARIOS=$OUT/callgrind-scenarios.tsv
CG_RESULTS=$OUT/callgrind.tsv
callgrind_run() {
  local s=http://127.0.0.1
  {
    printf 'cg1\t%s\t\n' "$s:$PORT_BASELINE/static/index.html"
    printf 'cg1c\t%s\t%s\n' "$s:$PORT_BASELINE/static/index.html" "Cookie: sso_session=$COOKIE"
    printf 'cg1b\t%s\t%s\n' "$s:$PORT_BASELINE/static/index.html" "Authorization: Bearer $RS256_TOKEN"
    printf 'cg2\t%s\t%s\n' "$s:$PORT_SSO/static/index.html" "Cookie: sso_session=$COOKIE"
    printf 'cg3\t%s\t%s\n' "$s:$PORT_SSO/static/index.html" "Authorization: Bearer $RS256_TOKEN"
    printf 'cg1s\t%s\t%s\n' "$s:$PORT_BASELINE/static/index.html" "Cookie: sso_session=$SLIM_COOKIE"
    printf 'cg2s\t%s\t%s\n' "$s:$PORT_SSO_SLIM/static/index.html" "Cookie: sso_session=$SLIM_COOKIE"
    printf 'cg6\t%s\t\n' "$s:$PORT_UNAUTH/static/index.html"
    printf 'cg1pc\t%s\t%s\n' "$s:$PORT_IDENTITY/proxied/index.html" "Cookie: sso_session=$COOKIE"
    printf 'cg1pb\t%s\t%s\n' "$s:$PORT_IDENTITY/proxied/index.html" "Authorization: Bearer $RS256_TOKEN"
    printf 'cg2p\t%s\t%s\n' "$s:$PORT_SSO/proxied/index.html" "Cookie: sso_session=$COOKIE"
    printf 'cg3p\t%s\t%s\n' "$s:$PORT_SSO/proxied/index.html" "Authorization: Bearer $RS256_TOKEN"
  } >"$CG_SCENARIOS"
  log "instructions per request: nginx under callgrind, ${BENCH_CG_REQUESTS:-2000} requests per row"
  timeout 900 bench/callgrind.sh "$NGINX" "$OUT/nginx.conf" "$OUT/callgrind" "$CG_SCENARIOS" >"$CG_RESULTS" ||
    die "callgrind run (see $OUT/callgrind/)"
}
# The table: instructions per request, and over plain nginx answering the same request (and
# forwarding the same identity headers, proxied).
callgrind_table() {
  awk -F'\t' '
    { ir[$1] = $2; order[NR] = $1 }
    function row(label, content, id, ref) {
      added = ref == "" ? "" : sprintf("%+d (%+.1f%%)", ir[id] - ir[ref], (ir[id] - ir[ref]) * 100 / ir[ref])
      printf "| %s | %s | %d | %s |\n", label, content, ir[id], added
    }
    END {
      print "| scenario | content | instructions per request | added by the module |"
      print "|---|---|--:|--:|"
      row("1. baseline (no module directives)", "static", "cg1", "")
      row("1. baseline, the request of 2 (cookie)", "static", "cg1c", "")
      row("1. baseline, the request of 3 (bearer)", "static", "cg1b", "")
      row("2. session cookie", "static", "cg2", "cg1c")
      row("3. bearer RS256, same token (cached)", "static", "cg3", "cg1b")
      row("1. baseline, the request of 2s (cookie)", "static", "cg1s", "")
      row("2s. session cookie, sso_jwt_header off", "static", "cg2s", "cg1s")
      row("6. unauthenticated path", "static", "cg6", "cg1")
      row("1p. baseline + identity headers, the request of 2", "proxied", "cg1pc", "")
      row("1p. baseline + identity headers, the request of 3", "proxied", "cg1pb", "")
      row("2. session cookie", "proxied", "cg2p", "cg1pc")
      row("3. bearer RS256, same token (cached)", "proxied", "cg3p", "cg1pb")
    }' "$CG_RESULTS"
}
if [ -n "$ONLY" ]; then
  callgrind_run
  callgrind_table
  exit 0
fi

worker_pid() { pgrep -P "$MASTER_PID" | head -1; }

start_nginx() {
  rm -f "$OUT/nginx.pid"
  "$NGINX" -p "$OUT" -e "$OUT/error.log" -c "$OUT/nginx.conf" || die "nginx did not start"
  for _ in $(seq 1 100); do
    [ -s "$OUT/nginx.pid" ] && break
    sleep 0.05
  done
  MASTER_PID=$(cat "$OUT/nginx.pid")
  for _ in $(seq 1 100); do
    [ -n "$(worker_pid)" ] && break
    sleep 0.05
  done
  WORKER=$(worker_pid)
  [ -n "$WORKER" ] || die "no nginx worker"
}

# status of a GET; extra curl arguments follow the URL
status() {
  local url=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" || true
}

expect() {
  local want=$1 url=$2
  shift 2
  local got
  got=$(status "$url" "$@")
  [ "$got" = "$want" ] || die "GET $url $* answered $got, expected $want (see $OUT/error.log)"
}

ready() {
  # The module fetches discovery and the JWKS from the stub provider in the background; the
  # static JWKS answers meanwhile. Wait until bearer and cookie are accepted (bounded).
  local ok=""
  for _ in $(seq 1 100); do
    if [ "$(status "http://127.0.0.1:$PORT_SSO/static/index.html" -H "Authorization: Bearer $RS256_TOKEN")" = 200 ]; then
      ok=1
      break
    fi
    sleep 0.1
  done
  [ -n "$ok" ] || die "the bearer token is not accepted (see $OUT/error.log)"
  sleep 1
}

# Worker CPU time in ns (schedstat when the kernel has it, else utime+stime).
cpu_ns() {
  if [ -r "/proc/$WORKER/schedstat" ]; then
    cut -d' ' -f1 "/proc/$WORKER/schedstat"
  else
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($14 + $15) * 1e9 / hz }' "/proc/$WORKER/stat"
  fi
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$WORKER/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$WORKER/status"; }

# wrk_run SECONDS REPORT URL MODE ARG: MODE is "header" (ARG: a header or empty) or "tokens"
# (ARG: a token file)
wrk_run() {
  local secs=$1 report=$2 url=$3 mode=$4 arg=$5
  local args=(-t1 "-c$CONNS" "-d${secs}s" --timeout 5s)
  if [ "$mode" = tokens ]; then
    args+=(-s bench/wrk/tokens.lua)
  else
    args+=(-s bench/wrk/report.lua)
    [ -n "$arg" ] && args+=(-H "$arg")
  fi
  BENCH_REPORT=$report BENCH_TOKENS=${arg:-} timeout $((secs + 60)) \
    taskset -c "$CLIENT_CPU" wrk "${args[@]}" "$url" >"$report.log" 2>&1 ||
    die "wrk failed for $url: $(tail -3 "$report.log")"
}

RESULTS=$OUT/results.tsv
: >"$RESULTS"

# scenario ID LABEL PORT MODE ARG [CONTENTS]: runs CONTENTS (default: static and proxied)
scenario() {
  local id=$1 label=$2 port=$3 mode=$4 arg=$5 contents=${6:-static proxied}
  local content path warm_mode warm_arg report c0 c1
  for content in $contents; do
    path=/$content/index.html
    warm_mode=$mode warm_arg=$arg
    # Distinct-token runs warm up on another pool, so the measured pool starts uncached.
    [ "$mode" = tokens ] && warm_arg=$OUT/tokens-HS256.txt
    report=$OUT/runs/$id-$content
    wrk_run "$WARMUP" "$report.warm" "http://127.0.0.1:$port$path" "$warm_mode" "$warm_arg"
    c0=$(cpu_ns)
    wrk_run "$DURATION" "$report" "http://127.0.0.1:$port$path" "$mode" "$arg"
    c1=$(cpu_ns)
    IFS=$'\t' read -r req dur errs non2xx p50 p90 p99 mean max <"$report"
    [ "$errs" = 0 ] && [ "$non2xx" = 0 ] ||
      die "$label ($content): $errs socket errors, $non2xx responses >= 400"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$label" "$content" "$req" "$dur" \
      "$p50" "$p99" "$((c1 - c0))" "$p90" >>"$RESULTS"
    log "$(awk -v l="$label" -v c="$content" -v r="$req" -v d="$dur" -v p50="$p50" -v p99="$p99" \
      -v cpu=$((c1 - c0)) 'BEGIN { printf "%-34s %-7s %8.0f req/s  p50 %5d us  p99 %5d us  worker %.2f us/req",
      l, c, r / (d / 1e6), p50, p99, cpu / 1e3 / r }')"
  done
}

log "starting nginx (worker on CPU $NGINX_CPU, wrk on CPU $CLIENT_CPU, $CONNS connections, ${WARMUP}s warm-up + ${DURATION}s per run)"
start_nginx
ready
# The gate is real: no credentials -> 401, a wrong token -> 401; the stub outpost says 200.
expect 401 "http://127.0.0.1:$PORT_SSO/static/index.html"
expect 401 "http://127.0.0.1:$PORT_UNAUTH/private/index.html"
BAD_TOKEN=${RS256_TOKEN%?}A
[ "$BAD_TOKEN" = "$RS256_TOKEN" ] && BAD_TOKEN=${RS256_TOKEN%?}B
expect 401 "http://127.0.0.1:$PORT_SSO/static/index.html" -H "Authorization: Bearer $BAD_TOKEN"
expect 200 "http://127.0.0.1:$PORT_SSO/proxied/index.html" -H "Cookie: sso_session=$COOKIE"
expect 200 "http://127.0.0.1:$PORT_SSO_SLIM/proxied/index.html" -H "Cookie: sso_session=$SLIM_COOKIE"
expect 200 "http://127.0.0.1:$PORT_UNAUTH/proxied/index.html"
expect 200 "http://127.0.0.1:$PORT_AUTHREQ/proxied/index.html" -H "Cookie: sso_session=$COOKIE"
expect 200 "http://127.0.0.1:$PORT_IDENTITY/proxied/index.html" -H "Cookie: sso_session=$COOKIE"
# Baseline 1p forwards what the module does: the app sees the same identity headers.
identity_seen() { curl -s --max-time 5 "http://127.0.0.1:$1/proxied/identity-headers" -H "Authorization: Bearer $RS256_TOKEN"; }
MODULE_SENT=$(identity_seen "$PORT_SSO")
BASELINE_SENT=$(identity_seen "$PORT_IDENTITY")
grep -q '^username=jdoe$' <<<"$MODULE_SENT" || die "the app did not see the module's identity headers: $MODULE_SENT"
[ "$MODULE_SENT" = "$BASELINE_SENT" ] ||
  die "baseline 1p does not forward the module's identity headers: $(diff <(echo "$MODULE_SENT") <(echo "$BASELINE_SENT"))"
for alg in RS256 ES256 EdDSA; do
  expect 200 "http://127.0.0.1:$PORT_SSO/static/index.html" -H "Authorization: Bearer $(head -1 "$OUT/tokens-$alg.txt")"
done
RSS_START=$(rss_kib)

scenario 1 "1. baseline (no module directives)" "$PORT_BASELINE" header ""
# Plain nginx receiving exactly the requests of scenarios 2 and 3: nginx's own cost of parsing
# a 1.4 KB cookie or bearer header is not the module's.
scenario 1c "1. baseline, the request of 2 (cookie)" "$PORT_BASELINE" header "Cookie: sso_session=$COOKIE"
scenario 1b "1. baseline, the request of 3 (bearer)" "$PORT_BASELINE" header "Authorization: Bearer $RS256_TOKEN"
# Proxied, plain nginx also forwarding the identity headers the module adds (constants, set
# by proxy_set_header): what is left of 2-5 over these is the module's own work.
scenario 1pc "1p. baseline + identity headers, the request of 2" "$PORT_IDENTITY" header "Cookie: sso_session=$COOKIE" proxied
scenario 1pb "1p. baseline + identity headers, the request of 3" "$PORT_IDENTITY" header "Authorization: Bearer $RS256_TOKEN" proxied
scenario 2 "2. session cookie" "$PORT_SSO" header "Cookie: sso_session=$COOKIE"
scenario 1s "1. baseline, the request of 2s (cookie)" "$PORT_BASELINE" header "Cookie: sso_session=$SLIM_COOKIE"
scenario 2s "2s. session cookie, sso_jwt_header off" "$PORT_SSO_SLIM" header "Cookie: sso_session=$SLIM_COOKIE"
scenario 3 "3. bearer RS256, same token (cached)" "$PORT_SSO" header "Authorization: Bearer $RS256_TOKEN"
scenario 4 "4. bearer RS256, $POOL distinct" "$PORT_SSO" tokens "$OUT/tokens-RS256.txt"
scenario 5a "5. bearer ES256, $POOL distinct" "$PORT_SSO" tokens "$OUT/tokens-ES256.txt"
scenario 5b "5. bearer EdDSA, $POOL distinct" "$PORT_SSO" tokens "$OUT/tokens-EdDSA.txt"
scenario 6 "6. unauthenticated path" "$PORT_UNAUTH" header ""
scenario 7 "7. auth_request to a stub outpost" "$PORT_AUTHREQ" header "Cookie: sso_session=$COOKIE"
# Drift check: the baseline again, last.
scenario 1z "1. baseline again (drift check)" "$PORT_BASELINE" header ""
RSS_AFTER_RUNS=$(rss_kib)
grep -E '\[(emerg|alert|crit)\]' "$OUT/error.log" >&2 && die "nginx logged errors"
stop_nginx

# --- memory: a million distinct tokens --------------------------------------------------------
log "memory: a fresh nginx, then $MEM_TOKENS distinct HS256 bearer tokens (minted on the fly)"
start_nginx
ready
MEM_RSS_BEFORE=$(rss_kib)
MEM_CPU0=$(cpu_ns)
timeout 400 taskset -c "$CLIENT_CPU" "$TOOL" memload --addr "127.0.0.1:$PORT_SSO" \
  --path /static/index.html --keys "$KEYS" --issuer "$ISSUER" --aud "$CLIENT_ID" \
  --count "$MEM_TOKENS" --conns 8 --depth 4 --max-seconds 360 >"$OUT/memload.json" ||
  die "memload: $(cat "$OUT/memload.json")"
MEM_CPU1=$(cpu_ns)
MEM_RSS_AFTER=$(rss_kib)
MEM_HWM=$(hwm_kib)
grep -q '"other":0' "$OUT/memload.json" || die "memload: some requests were refused: $(cat "$OUT/memload.json")"
stop_nginx
log "memload: $(cat "$OUT/memload.json")"
callgrind_run
CG_TABLE=$OUT/callgrind-table.md
callgrind_table >"$CG_TABLE"

# --- RESULTS.md -------------------------------------------------------------------------------
ELAPSED=$(($(date +%s) - STARTED))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
[ -n "$CPU_MODEL" ] || CPU_MODEL=$(uname -m)
NGINX_V=$("$NGINX" -V 2>&1 | head -1)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain --untracked-files=no -- src core/src build.rs Cargo.toml Cargo.lock 2>/dev/null | grep -q . && echo " (with uncommitted changes to the module sources)" || true)
DATE=$(date -u +%Y-%m-%d)
COMMAND="make bench"
for v in BENCH_DURATION BENCH_WARMUP BENCH_CONNECTIONS BENCH_POOL BENCH_MEM_TOKENS BENCH_PORT BENCH_SKIP_MICRO; do
  [ -n "${!v:-}" ] && COMMAND="$v=${!v} $COMMAND"
done
MEM_TOTAL=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)

# The table. Ratio: to the baseline (no credentials) of the same content in this run. Added CPU:
# over plain nginx answering the same request (1c for 2 and 7, 1s for 2s, 1b for 3 to 5, 1 for
# 6), and when proxied, for 2 to 5, forwarding the same identity headers too (1pc for 2, 1pb
# for 3-5; 2s proxied is over 1s, so it includes forwarding the identity headers).
TABLE=$OUT/table.md
awk -F'\t' -v duration="$DURATION" '
  function us(v) { return sprintf("%d µs", v) }
  function ref(id, content) {
    if (content == "proxied" && id == "2") return "1pc"
    if (content == "proxied" && id ~ /^(3|4|5a|5b)$/) return "1pb"
    if (id == "2s") return "1s"
    return id == "2" || id == "7" ? "1c" : id ~ /^(3|4|5a|5b)$/ ? "1b" : "1"
  }
  { id[NR] = $1; label[NR] = $2; content[NR] = $3; rps[NR] = $4 / ($5 / 1e6)
    p50[NR] = $6; p99[NR] = $7; cpu[NR] = $8 / 1e3 / $4; busy[NR] = $8 / $5 / 10
    c[$1, $3] = cpu[NR]; if ($1 == "1") base[$3] = rps[NR] }
  END {
    print "| scenario | content | req/s | p50 | p99 | ratio to baseline | worker CPU per request | added by the module | worker busy |"
    print "|---|---|--:|--:|--:|--:|--:|--:|--:|"
    for (i = 1; i <= NR; i++) {
      added = id[i] ~ /^1/ ? "" : sprintf("%+.1f µs", cpu[i] - c[ref(id[i], content[i]), content[i]])
      if (id[i] == "7") added = added " (outpost)"
      printf "| %s | %s | %.0f | %s | %s | %.2f | %.1f µs | %s | %.0f%% |\n", label[i], content[i],
        rps[i], us(p50[i]), us(p99[i]), rps[i] / base[content[i]], cpu[i], added, busy[i]
    }
  }' "$RESULTS" >"$TABLE"

# Goal checks (shown, never asserted).
GOALS=$OUT/goals.md
MICRO_RS256=$(awk -F'\t' '$1 == "verify/RS256" { print $3 }' "$OUT/core.tsv")
awk -F'\t' -v micro_rs256="${MICRO_RS256:-0}" -v rss0="$MEM_RSS_BEFORE" -v rss1="$MEM_RSS_AFTER" \
  -v ntok="$MEM_TOKENS" '
  function yes(ok) { return ok ? "**met**" : "**missed**" }
  { rps[$1, $3] = $4 / ($5 / 1e6); cpu[$1, $3] = $8 / 1e3 / $4 }
  END {
    print "| goal | measured | |"
    print "|---|---|---|"
    for (k = 0; k < 2; k++) {
      content = k ? "proxied" : "static"; want = k ? 0.97 : 0.90
      for (s = 2; s <= 3; s++) {
        name = s == 2 ? "session cookie" : "cached bearer"; same = s == 2 ? "1c" : "1b"
        # Proxied: plain nginx answering the same request and forwarding the same identity
        # headers (1p).
        if (k) same = s == 2 ? "1pc" : "1pb"
        extra = cpu[s, content] - cpu[same, content]; plain = cpu[s, content] - cpu[1, content]
        printf "| %s, %s: at most +1 µs of worker CPU per request over the baseline | %+.1f µs over plain nginx answering the same request (%+.1f µs over the baseline without credentials) | %s |\n",
          name, content, extra, plain, yes(extra <= 1.0)
        ratio = rps[s, content] / rps[1, content]; ratio_same = rps[s, content] / rps[same, content]
        printf "| %s, %s: req/s at least %.2f of the baseline | %.2f (%.2f of plain nginx answering the same request) | %s |\n",
          name, content, want, ratio, ratio_same, yes(ratio >= want)
        r7 = rps[s, content] / rps[7, content]
        printf "| %s, %s: at least 3x the req/s of auth_request (scenario 7) | %.2fx | %s |\n",
          name, content, r7, yes(r7 >= 3)
      }
    }
    printf "| distinct RS256 tokens: at least 15,000 verifications/s on one core (micro-benchmark `verify/RS256`) | %.0f/s | %s |\n",
      micro_rs256, yes(micro_rs256 >= 15000)
    printf "| distinct RS256 tokens through nginx (scenario 4, static: every request verifies, nginx included) | %.0f/s | %s |\n",
      rps[4, "static"], yes(rps[4, "static"] >= 15000)
    growth = (rss1 - rss0) / 1024
    printf "| worker memory growth after %d distinct tokens: under 32 MiB | %.1f MiB | %s |\n",
      ntok, growth, yes(growth < 32)
  }' "$RESULTS" >"$GOALS"

MICRO=$OUT/micro.md
{
  echo "| benchmark | ns/op | op/s | heap allocations/op | what |"
  echo "|---|--:|--:|--:|---|"
  awk -F'\t' '{ printf "| `%s` | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$OUT/core.tsv"
  echo
  echo "Heap held per item (bytes as requested from the allocator, its own per-allocation overhead not included):"
  echo
  echo "| item | bytes | allocations | what |"
  echo "|---|--:|--:|---|"
  awk -F'\t' '{ printf "| `%s` | %s | %s | %s |\n", $1, $2, $3, $4 }' "$OUT/core-mem.tsv"
} >"$MICRO"

MEMLOAD=$(cat "$OUT/memload.json")
MEM_SECS=$(sed -E 's/.*"seconds":([0-9.]+).*/\1/' <<<"$MEMLOAD")
MEM_CPU_US=$(awk -v a="$MEM_CPU0" -v b="$MEM_CPU1" -v n="$MEM_TOKENS" 'BEGIN { printf "%.1f", (b - a) / 1e3 / n }')
fmt_mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
MACHINE="$CPU_MODEL, $NCPU CPUs ($(uname -m), Linux $(uname -r)), $MEM_TOTAL RAM"

cat >bench/RESULTS.md <<EOF
# Benchmark results

Produced by \`make bench\` (bench/run.sh) on $DATE in ${ELAPSED}s, build included: do not edit by
hand, run it again.

- **command**: \`$COMMAND\` (durations, connections and pool sizes: \`BENCH_DURATION=$DURATION BENCH_WARMUP=$WARMUP BENCH_CONNECTIONS=$CONNS BENCH_POOL=$POOL BENCH_MEM_TOKENS=$MEM_TOKENS\`)
- **machine**: $MACHINE; load average before the run $LOAD_BEFORE, after $LOAD_AFTER${BENCH_NOTE:+. **Note**: $BENCH_NOTE}
- **nginx**: \`$NGINX_V\` (build/nginx, the vendored nginx, \`--with-http_auth_request_module\`)
- **module**: ngx_http_sso_module $MODULE_VERSION, commit $COMMIT$DIRTY, release profile
- **setup**: one nginx worker pinned to CPU $NGINX_CPU; \`wrk -t1 -c$CONNS\` (Debian's $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)) pinned to CPU $CLIENT_CPU; loopback only; ${WARMUP}s warm-up then ${DURATION}s measured per row. Content: a $CONTENT_BYTES-byte static file (\`open_file_cache\` on), and the same file proxied (\`proxy_pass\` with upstream keepalive) from another server block of the same worker. The auth_request stub outpost, the upstream app and the stub provider are server blocks of that same worker too, so everything a request costs is counted on CPU $NGINX_CPU.
- **worker CPU per request**: the worker's CPU time (\`/proc/PID/schedstat\`) over the measured run divided by the requests answered. Unlike req/s it does not depend on whether wrk or nginx saturates first (**worker busy** says how close the worker was to 100% of its core). **Added by the module**: the difference to plain nginx answering the very same request (rows "baseline, the request of 2/3": parsing a 1.4 KB cookie or bearer header costs nginx itself several µs); proxied, for 2 to 5, to plain nginx that also forwards the same identity headers, set by \`proxy_set_header\` to constants of the same lengths (rows "1p": the upstream request with 13 more headers, a 1.2 KB \`X-authentik-jwt\` among them, costs nginx the same whoever adds them, an outpost's \`auth_request_set\` included), so what is left is the module's own work.

## Throughput and latency

$(cat "$TABLE")

Scenarios: 1 no \`sso_*\` directive in the server; 2 \`sso_protect on\` and a valid sealed session
cookie (the same one every request: the worker's opened-session cache); 3 \`Authorization: Bearer\`
with the same RS256 token every request (the verified-token cache); 4 and 5 a pool of $POOL
distinct valid tokens per algorithm, walked in order by one wrk thread (\`bench/wrk/tokens.lua\`):
the pool is larger than the verified-token cache (10,000 entries and 8 MiB, FIFO), so every request verifies
a signature; 6 \`sso_protect on\` with \`sso_unauthenticated_paths\` (6 patterns) matching the path,
no credentials; 7 no module directive, authentik's documented \`auth_request\` snippet (six
\`auth_request_set\`, \`proxy_set_header\` of the identity headers when proxied) against a stub
outpost in another server block that answers 200 with the identity headers, over kept-alive
loopback connections: the best case any outpost can reach. Tokens carry the claims of a typical
authentik user (groups, entitlements, \`ak_proxy\`), RS256 ones are $(printf %s "$RS256_TOKEN" | wc -c) bytes, the session cookie $(printf %s "$COOKIE" | wc -c) bytes ($(printf %s "$SLIM_COOKIE" | wc -c) with \`sso_jwt_header off\`, scenario 2s).

## Instructions per request (callgrind)

The requests of the static and proxied rows 1, 1p, 2, 2s, 3 and 6 again, \`${BENCH_CG_REQUESTS:-2000}\` of each
on one kept-alive connection after \`${BENCH_CG_WARMUP:-200}\` unmeasured ones, with nginx as one process
(\`master_process off\`) under \`valgrind --tool=callgrind\` (bench/callgrind.sh): the instructions
its event-loop thread executed per request. Callgrind counts instructions, not time, so other
load on the machine does not change these numbers, and a change of the module's hot path shows
here even when the timings above are noisy. Added by the module: over plain nginx answering the
same request (and, proxied, forwarding the same identity headers: rows 1p).

$(cat "$CG_TABLE")

## Goals

Shown, never asserted.

$(cat "$GOALS")

## Memory

A fresh nginx; the worker's resident memory (VmRSS) after start-up and a few requests, then after
$MEM_TOKENS requests each with a distinct valid bearer token (\`sso-bench memload\`: HS256 tokens
of $HS_LEN bytes with the same claims, minted on the fly by the client because a million RS256
signatures would take longer than the whole benchmark; the verification cache stores the same
thing whatever the algorithm).

| | worker VmRSS |
|---|--:|
| before | $(fmt_mib "$MEM_RSS_BEFORE") |
| after $MEM_TOKENS distinct tokens | $(fmt_mib "$MEM_RSS_AFTER") |
| growth | $(fmt_mib $((MEM_RSS_AFTER - MEM_RSS_BEFORE))) |
| peak (VmHWM) | $(fmt_mib "$MEM_HWM") |

The million requests took ${MEM_SECS%.*} s, $MEM_CPU_US µs of worker CPU each (HS256 verification
and cache insertion included). In the throughput run above, the worker went from
$(fmt_mib "$RSS_START") to $(fmt_mib "$RSS_AFTER_RUNS").

## Micro-benchmarks of the core

\`cargo bench -p sso-core --bench core\` (core/benches/core.rs), pinned to CPU $NGINX_CPU, median of
7 batches. Keys are generated at start (RSA 2048, P-256, P-384, Ed25519).

$(cat "$MICRO")
EOF

cat >bench/README-snippet.md <<EOF
Measured by \`make bench\` on $DATE ($MACHINE; nginx 1.28 vendored build, one worker on one
core, wrk on the other; module $MODULE_VERSION). Ratios are to plain nginx serving the same
content in the same run; details and micro-benchmarks in [bench/RESULTS.md](bench/RESULTS.md).

$(cat "$TABLE")

Worker memory after $MEM_TOKENS distinct bearer tokens: $(fmt_mib "$MEM_RSS_BEFORE") before,
$(fmt_mib "$MEM_RSS_AFTER") after (growth $(fmt_mib $((MEM_RSS_AFTER - MEM_RSS_BEFORE)))).
EOF

log "wrote bench/RESULTS.md and bench/README-snippet.md"
cat "$TABLE" >&2
cat "$GOALS" >&2
