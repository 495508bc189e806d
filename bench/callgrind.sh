#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the part of `make bench` that a busy
# machine cannot disturb (callgrind counts the instructions the worker executes, not time).
#
#   bench/callgrind.sh NGINX CONF OUTDIR SCENARIOS
#
# NGINX runs CONF (bench/run.sh's rendered nginx.conf: the module loaded, every scenario on
# its own port) as one process (`master_process off`) under callgrind, one counter per
# thread (the module's background fetcher threads are not the request path). SCENARIOS is a
# file of tab-separated lines `ID URL HEADER` (HEADER may be empty). For each scenario:
# BENCH_CG_WARMUP requests, counters zeroed, BENCH_CG_REQUESTS requests on one kept-alive
# connection (curl), counters dumped; every answer must be 200. Prints `ID<TAB>instructions
# per request` lines (the event-loop thread's total over the measured requests / requests).
set -euo pipefail

NGINX=$1 CONF=$2 OUT=$3 SCENARIOS=$4
WARM=${BENCH_CG_WARMUP:-200}
N=${BENCH_CG_REQUESTS:-2000}
log() { printf '[callgrind] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
command -v valgrind >/dev/null || die "valgrind missing: ./scripts/apt-ensure valgrind"

rm -rf "$OUT"
mkdir -p "$OUT"
PREFIX=$(dirname "$CONF")

valgrind --tool=callgrind --separate-threads=yes --dump-instr=no --collect-atstart=yes \
  --callgrind-out-file="$OUT/cg.%p" --log-file="$OUT/valgrind.log" \
  "$NGINX" -p "$PREFIX" -e "$OUT/error.log" -c "$CONF" \
  -g "daemon off; master_process off;" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT

# requests URL HEADER COUNT: COUNT GETs on one connection; fails unless every one is 200.
requests() {
  local url=$1 header=$2 count=$3 cfg=$OUT/curl.cfg
  : >"$cfg"
  for _ in $(seq 1 "$count"); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$cfg"
  done
  local args=(-s --max-time 600 -K "$cfg" -w '%{http_code}\n')
  [ -n "$header" ] && args+=(-H "$header")
  local codes
  codes=$(curl "${args[@]}" | sort | uniq -c | awk '{ printf "%s×%s ", $1, $2 }')
  [ "$codes" = "$count×200 " ] || die "GET $url ($header): answers $codes(see $OUT/error.log)"
}

# The first scenario's URL answers once nginx (and the module's key fetch) is ready.
FIRST_URL=$(head -1 "$SCENARIOS" | cut -f2)
FIRST_HEADER=$(head -1 "$SCENARIOS" | cut -f3)
ready=""
for _ in $(seq 1 300); do
  kill -0 $PID 2>/dev/null || die "nginx under callgrind exited: $(tail -5 "$OUT/valgrind.log")"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 ${FIRST_HEADER:+-H "$FIRST_HEADER"} "$FIRST_URL" || true)
  [ "$code" = 200 ] && { ready=1; break; }
  sleep 0.2
done
[ -n "$ready" ] || die "$FIRST_URL never answered 200 under callgrind"
# Every scenario answers before anything is counted (the bearer one needs the fetched keys).
while IFS=$'\t' read -r id url header; do
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 ${header:+-H "$header"} "$url" || true)
    [ "$code" = 200 ] && break
    sleep 0.2
  done
done <"$SCENARIOS"

# The event loop is the process's first thread: its dump files end in -01.
n=0
while IFS=$'\t' read -r id url header; do
  requests "$url" "$header" "$WARM"
  callgrind_control --zero "$PID" >/dev/null 2>&1 || die "callgrind_control --zero"
  requests "$url" "$header" "$N"
  n=$((n + 1))
  callgrind_control --dump="scenario-$id" "$PID" >/dev/null 2>&1 || die "callgrind_control --dump"
  # A dump is numbered in order; find it by its number.
  dump=""
  for _ in $(seq 1 100); do
    dump=$(ls "$OUT"/cg."$PID"."$n"-01 2>/dev/null || true)
    [ -n "$dump" ] && [ -s "$dump" ] && grep -q '^totals:\|^summary:' "$dump" && break
    sleep 0.1
  done
  [ -n "$dump" ] || die "no callgrind dump for scenario $id"
  grep -q "scenario-$id" "$dump" || die "dump $dump is not the one of scenario $id"
  ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
  printf '%s\t%s\n' "$id" "$(awk -v ir="$ir" -v n="$N" 'BEGIN { printf "%.0f", ir / n }')"
  log "$id: $(awk -v ir="$ir" -v n="$N" 'BEGIN { printf "%.0f", ir / n }') instructions per request"
done <"$SCENARIOS"
