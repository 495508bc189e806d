#!/usr/bin/env bash
# Background jobs and the key fetcher in a real nginx, through the test-only `selftest`
# feature (/_sso_selftest/ endpoints, see src/net/selftest.rs). Builds its own module:
#
#   tests/net/selftest.sh            # uses CARGO_TARGET_DIR (default: target)
#
# Checks: nginx -t / start do not wait for a dead or hanging provider; keys load in the
# background once it is up (backoff), via sso_backchannel_url with the issuer's Host;
# rate-limited re-fetch; a slow job does not slow other requests; the pool cleanup cancels a
# job whose request is gone; a graceful quit waits for pending jobs.
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=${CARGO_TARGET_DIR:-target}
NGX_CONFIGURE_ARGS=${NGX_CONFIGURE_ARGS:---with-http_auth_request_module} \
  cargo build --release -p ngx_http_sso_module --features selftest >/dev/null
NGINX=$(ls -d "$TARGET"/release/build/nginx-sys-*/out/objs/nginx | head -1)
W=$(mktemp -d /tmp/sso-net-selftest.XXXXXX)
cp "$TARGET/release/libngx_http_sso_module.so" "$W/sso.so"
mkdir -p "$W/logs"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NPORT=$(port); PPORT=$(port)
cat > "$W/nginx.conf" <<CONF
load_module $W/sso.so;
worker_processes 1;
error_log $W/logs/error.log info;
pid $W/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $W/logs; proxy_temp_path $W/logs; fastcgi_temp_path $W/logs;
    uwsgi_temp_path $W/logs; scgi_temp_path $W/logs;
    server { listen 127.0.0.1:$NPORT; location / { root $W/none; } }
}
CONF
PIDS=()
cleanup() {
  "$NGINX" -p "$W" -c "$W/nginx.conf" -s stop 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- error.log"; cat "$W/logs/error.log"; exit 1; }
get() { curl -s --max-time 10 "http://127.0.0.1:$NPORT/_sso_selftest/$1"; }
ngx() { "$NGINX" -p "$W" -c "$W/nginx.conf" "$@"; }

# 1. provider down: -t and start are instant; the failure is logged; keys come later.
export SSO_SELFTEST_ISSUER="http://auth.example.test:$PPORT"
export SSO_SELFTEST_BACKCHANNEL="http://127.0.0.1:$PPORT"
start=$(date +%s%N)
ngx -t 2>"$W/t.out" || fail "nginx -t"
grep -q 'is plain http' "$W/t.out" || fail "no plain-http warning at -t"
ngx
ms=$(( ($(date +%s%N) - start) / 1000000 ))
(( ms < 2000 )) || fail "-t and start took ${ms} ms with the provider down"
sleep 1
get keys | grep -q 'keys=-1' || fail "keys before the provider is up: $(get keys)"
grep -q 'sso: provider ".*" discovery failed: .*connection refused' "$W/logs/error.log" \
  || fail "no discovery failure warning"
python3 tests/net/fake_provider.py "$PPORT" 2>"$W/logs/provider.log" & PIDS+=($!)
for _ in $(seq 1 40); do get keys | grep -q 'keys=1' && break; sleep 0.5; done
get keys | grep -q "keys=1 discovery=http://auth.example.test:$PPORT" || fail "keys not loaded: $(get keys)"
grep -q 'keys loaded: 1 signing key' "$W/logs/error.log" || fail "no keys-loaded log line"
grep -q "GET /jwks Host=auth.example.test:$PPORT" "$W/logs/provider.log" || fail "backchannel Host"

# 2. re-fetch: one per interval.
[ "$(get refetch)" = Requested ] || fail "first refetch"
[ "$(get refetch)" = RateLimited ] || fail "second refetch not rate-limited"
sleep 1
get keys | grep -q 'generation=2' || fail "refetch did not load new keys: $(get keys)"

# 3. a slow job does not slow other requests; its request completes.
curl -s "http://127.0.0.1:$NPORT/_sso_selftest/slow?ms=100&url=http://127.0.0.1:$PPORT/slow" \
  >"$W/slow.out" & SLOW=$!
sleep 0.3
[ "$(get pending)" = 1 ] || fail "pending jobs: $(get pending)"
max=$(for _ in $(seq 1 100); do curl -s -o /dev/null -w '%{time_total}\n' \
  "http://127.0.0.1:$NPORT/_sso_selftest/fast"; done | sort -n | tail -1)
awk -v m="$max" 'BEGIN { exit !(m < 0.1) }' || fail "fast request took ${max}s during a slow job"
wait $SLOW
grep -q 'slept 100 ms: status 200' "$W/slow.out" || fail "slow job answer: $(cat "$W/slow.out")"

# 4. cancellation: the request is freed while its job runs; done never runs.
for _ in 1 2 3; do [ "$(get abandon)" = abandoned ] || fail abandon; done
[ "$(get pending)" = 0 ] || fail "abandoned jobs still pending"
sleep 1
[ "$(get abandoned_done_calls)" = 0 ] || fail "done ran for a freed request"

# 5. graceful quit waits for a pending job.
curl -s -w ' code=%{http_code}' "http://127.0.0.1:$NPORT/_sso_selftest/slow?ms=1500" \
  >"$W/quit.out" & SLOW=$!
sleep 0.3
ngx -s quit
wait $SLOW
grep -q 'code=200' "$W/quit.out" || fail "job cut by a graceful quit: $(cat "$W/quit.out")"
for _ in $(seq 1 20); do [ -e "$W/logs/nginx.pid" ] || break; sleep 0.2; done
[ ! -e "$W/logs/nginx.pid" ] || fail "nginx did not exit"
grep -Eq '\[(alert|crit|emerg)\]' "$W/logs/error.log" && fail "alerts in the log"
rm -rf "$W"
echo "net selftest: ok"
