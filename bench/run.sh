#!/usr/bin/env bash
# Threadgate beside a plain proxy, measured in one run on one machine:
# the same emulator reached directly, through nginx, and through Threadgate.
#
#   bench/run.sh            # from the repository's root; prints one table
#
# What it does: builds the release binaries; installs oha (cargo) and nginx
# (Debian) when missing; starts a throwaway PostgreSQL (the test harness's
# `with-test-database`), the emulator, nginx in front of it and Threadgate
# in front of it, each pinned to core 0 when `taskset` exists, the load
# generator to core 1; drives each path open-loop at fixed rates with oha;
# prints p50/p99 per path (GET thread, create thread, add message; list
# threads, which the upstream cannot, through Threadgate alone) and what
# Threadgate adds; what request limits add (GET thread at RATE_LIMITS on fresh
# Threadgates with limits off, in process, and in a throwaway redis-server,
# installed when missing: latency and CPU per request); then the first event of a streamed run (p50/p99 over
# sequential runs on one connection) and the RSS of nginx and Threadgate
# while STREAMS runs stream at once (bench/streams.py); Threadgate's
# database round trips per request (its own metrics: operations plus the
# pool's pings) and its RSS. Backends authenticate
# with an API key acting on behalf of a user (Threadgate-On-Behalf-Of), so
# the HTTP figures do not include token verification; the criterion
# benchmark `cargo bench -p threadgate-api --bench tokens` measures that.
#
# Settings (environment): RATE_GET (default 2000), RATE_CREATE (200), RATE_LIMITS (500),
# SECONDS_EACH (10), PERF_OUT (a file: record a perf CPU profile of
# Threadgate during the GET row), STREAMS (1000 open streams), FIRST_EVENTS (300 runs),
# BENCH_DIR (a scratch directory, default under target/).
set -euo pipefail
cd "$(dirname "$0")/.."

RATE_GET=${RATE_GET:-2000}
RATE_CREATE=${RATE_CREATE:-200}
RATE_LIMITS=${RATE_LIMITS:-500}
SECONDS_EACH=${SECONDS_EACH:-10}
STREAMS=${STREAMS:-1000}
FIRST_EVENTS=${FIRST_EVENTS:-300}
BENCH_DIR=${BENCH_DIR:-$PWD/target/bench}
mkdir -p "$BENCH_DIR"

if [[ -z "${BENCH_INNER:-}" ]]; then
    # A fresh database, as the tests make one (on DATABASE_URL's server when
    # set, else a throwaway cluster); this script runs again inside.
    cargo build -q --release -p threadgate-devdb --bin with-test-database
    exec env BENCH_INNER=1 ./target/release/with-test-database bash "$0"
fi

step() { printf '\n=== %s\n' "$*" >&2; }

step "tools"
command -v oha >/dev/null || cargo install oha --locked --version '^1'
if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
# Servers on core 0, the load generator on core 1 (when taskset exists);
# taskset execs its command, so `$!` is the server's own pid.
if command -v taskset >/dev/null; then ON_CORE0=(taskset -c 0); ON_CORE1=(taskset -c 1); else ON_CORE0=(); ON_CORE1=(); fi

# Every open stream is two sockets in each proxy.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

step "release build"
cargo build -q --release -p threadgate-server --bin threadgate -p threadgate-emulator --bin threadgate-emulator
THREADGATE=$PWD/target/release/threadgate

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EMULATOR_PORT=$(free_port); NGINX_PORT=$(free_port); THREADGATE_PORT=$(free_port); METRICS_PORT=$(free_port)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

step "emulator :$EMULATOR_PORT, nginx :$NGINX_PORT, threadgate :$THREADGATE_PORT"
"${ON_CORE0[@]}" ./target/release/threadgate-emulator --listen "127.0.0.1:$EMULATOR_PORT" --slow 600s >"$BENCH_DIR/emulator.log" 2>&1 &
pids+=($!)
cat >"$BENCH_DIR/nginx.conf" <<CONF
worker_processes 1;
pid $BENCH_DIR/nginx.pid;
error_log $BENCH_DIR/nginx-error.log;
events { worker_connections 16384; }
http {
    access_log off;
    upstream emulator { server 127.0.0.1:$EMULATOR_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://emulator;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
CONF
"${ON_CORE0[@]}" "$NGINX" -c "$BENCH_DIR/nginx.conf" -p "$BENCH_DIR" -g 'daemon off;' &
NGINX_PID=$!
pids+=("$NGINX_PID")

export THREADGATE_UPSTREAMS__DEFAULT__FLAVOUR=azure
export THREADGATE_UPSTREAMS__DEFAULT__ENDPOINT="http://127.0.0.1:$EMULATOR_PORT"
export THREADGATE_UPSTREAMS__DEFAULT__CREDENTIAL__KIND=azure_api_key
export THREADGATE_UPSTREAMS__DEFAULT__CREDENTIAL__KEY=emulator-key
export THREADGATE_SERVER__LISTEN="127.0.0.1:$THREADGATE_PORT"
export THREADGATE_SERVER__WORKERS=1
export THREADGATE_METRICS__LISTEN="127.0.0.1:$METRICS_PORT"
export THREADGATE_DATABASE__URL="$DATABASE_URL"
export RUST_LOG=warn
"$THREADGATE" migrate >/dev/null
"$THREADGATE" tenant create bench >/dev/null
ASSISTANT=$("$THREADGATE" assistant create --tenant bench --model gpt-4o --name bench | grep -o 'asst_[A-Za-z0-9]*' | head -1)
KEY=$("$THREADGATE" apikey create --tenant bench --name bench --on-behalf-of | grep -o 'tg_[0-9a-f]*_[0-9a-f]*' | head -1)
"${ON_CORE0[@]}" "$THREADGATE" serve >"$BENCH_DIR/threadgate.log" 2>&1 &
THREADGATE_PID=$!
pids+=("$THREADGATE_PID")
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$THREADGATE_PORT/healthz" >/dev/null && break
    sleep 0.1
done

AUTH=(-H "Authorization: Bearer $KEY" -H "Threadgate-On-Behalf-Of: bench-user")
UPSTREAM_AUTH=(-H "api-key: emulator-key")
THREAD=$(curl -fs -X POST "http://127.0.0.1:$THREADGATE_PORT/v1/threads" "${AUTH[@]}" -H 'Content-Type: application/json' -d '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
VERSION="api-version=2025-04-01-preview"

# One measured load: oha open-loop at $2 requests/s for SECONDS_EACH; prints "p50 p99" in ms.
measure() {
    local name=$1 rate=$2; shift 2
    "${ON_CORE1[@]}" oha --no-tui --output-format json -q "$rate" --latency-correction -z "${SECONDS_EACH}s" "$@" >"$BENCH_DIR/$name.json" 2>/dev/null
    python3 - "$BENCH_DIR/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
bad = sum(v for k, v in codes.items() if not k.startswith("2"))
print(f'{p["p50"]*1000:.2f} {p["p99"]*1000:.2f} {bad}')
PY
}

# CPU seconds (user + system) a process has used so far.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}

# Database operations (round trips) Threadgate made so far, from its own metrics.
db_operations() {
    curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" \
        | awk '/^threadgate_db_operation_duration_seconds_count|^threadgate_db_pings_total/ {sum += $NF} END {print sum + 0}'
}

step "GET thread at $RATE_GET/s, create thread at $RATE_CREATE/s ($SECONDS_EACH s each)"
rows=()
direct_get=$(measure direct-get "$RATE_GET" "${UPSTREAM_AUTH[@]}" "http://127.0.0.1:$EMULATOR_PORT/openai/threads/$THREAD?$VERSION")
# nginx's one worker process serves, not its master.
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
nginx_cpu_before=$(cpu_seconds "$NGINX_WORKER")
nginx_get=$(measure nginx-get "$RATE_GET" "${UPSTREAM_AUTH[@]}" "http://127.0.0.1:$NGINX_PORT/openai/threads/$THREAD?$VERSION")
nginx_cpu_after=$(cpu_seconds "$NGINX_WORKER")
before=$(db_operations)
cpu_before=$(cpu_seconds "$THREADGATE_PID")
if [[ -n "${PERF_OUT:-}" ]]; then
    perf record -q -F 499 -g -p "$THREADGATE_PID" -o "$PERF_OUT" -- sleep "$SECONDS_EACH" 2>/dev/null &
    perf_pid=$!
fi
threadgate_get=$(measure threadgate-get "$RATE_GET" "${AUTH[@]}" "http://127.0.0.1:$THREADGATE_PORT/v1/threads/$THREAD")
after=$(db_operations)
cpu_after=$(cpu_seconds "$THREADGATE_PID")
[[ -n "${perf_pid:-}" ]] && wait "$perf_pid"
gets=$((RATE_GET * SECONDS_EACH))
direct_create=$(measure direct-create "$RATE_CREATE" -m POST -H 'Content-Type: application/json' -d '{}' "${UPSTREAM_AUTH[@]}" "http://127.0.0.1:$EMULATOR_PORT/openai/threads?$VERSION")
nginx_create=$(measure nginx-create "$RATE_CREATE" -m POST -H 'Content-Type: application/json' -d '{}' "${UPSTREAM_AUTH[@]}" "http://127.0.0.1:$NGINX_PORT/openai/threads?$VERSION")
threadgate_create=$(measure threadgate-create "$RATE_CREATE" -m POST -H 'Content-Type: application/json' -d '{}' "${AUTH[@]}" "http://127.0.0.1:$THREADGATE_PORT/v1/threads")
MESSAGE='{"role": "user", "content": "hello"}'
direct_message=$(measure direct-message "$RATE_CREATE" -m POST -H 'Content-Type: application/json' -d "$MESSAGE" "${UPSTREAM_AUTH[@]}" "http://127.0.0.1:$EMULATOR_PORT/openai/threads/$THREAD/messages?$VERSION")
nginx_message=$(measure nginx-message "$RATE_CREATE" -m POST -H 'Content-Type: application/json' -d "$MESSAGE" "${UPSTREAM_AUTH[@]}" "http://127.0.0.1:$NGINX_PORT/openai/threads/$THREAD/messages?$VERSION")
threadgate_message=$(measure threadgate-message "$RATE_CREATE" -m POST -H 'Content-Type: application/json' -d "$MESSAGE" "${AUTH[@]}" "http://127.0.0.1:$THREADGATE_PORT/v1/threads/$THREAD/messages")
# The upstream cannot list threads: Threadgate's own list (a page of 20, from kept attributes).
threadgate_list=$(measure threadgate-list "$RATE_CREATE" "${AUTH[@]}" "http://127.0.0.1:$THREADGATE_PORT/v1/threads")
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$THREADGATE_PID/status")

step "what request limits add: GET thread at $RATE_LIMITS/s, limits off, in process, in Redis"
# Each on a fresh Threadgate over the same database, tenant and key, at a
# rate well below saturation (so queueing does not drown the difference);
# "on" sets every request limit high enough that none refuses.
command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
REDIS_PORT=$(free_port)
"${ON_CORE0[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$BENCH_DIR/redis.log" 2>&1 &
pids+=($!)
# get_with NAME [VARIABLE=value...]: "p50 p99 non-2xx cpu-seconds-per-1000" of a fresh Threadgate.
get_with() {
    local name=$1 port; shift
    port=$(free_port)
    env THREADGATE_SERVER__LISTEN="127.0.0.1:$port" THREADGATE_METRICS__LISTEN="127.0.0.1:$(free_port)" \
        "$@" "${ON_CORE0[@]}" "$THREADGATE" serve >"$BENCH_DIR/threadgate-$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.1
    done
    # Limits are on exactly when asked for: the answer carries them.
    local carries=no
    curl -fsi "${AUTH[@]}" "http://127.0.0.1:$port/v1/threads/$THREAD" | grep -qi '^x-ratelimit-limit-requests' && carries=yes
    local wanted=no
    [[ $# -gt 0 ]] && wanted=yes
    if [[ $carries != "$wanted" ]]; then echo "limits $carries, wanted $wanted at :$port" >&2; kill "$pid"; return 1; fi
    local before after latency
    before=$(cpu_seconds "$pid")
    latency=$(measure "threadgate-get-$name" "$RATE_LIMITS" "${AUTH[@]}" "http://127.0.0.1:$port/v1/threads/$THREAD")
    after=$(cpu_seconds "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$latency $(python3 -c "print(($after - $before) / ($RATE_LIMITS * $SECONDS_EACH) * 1000)")"
}
LIMITS_ON=(THREADGATE_LIMITS__USER_REQUESTS_PER_MINUTE=1000000 THREADGATE_LIMITS__TENANT_REQUESTS_PER_MINUTE=10000000)
off_get=$(get_with off)
local_limits_get=$(get_with local "${LIMITS_ON[@]}")
redis_limits_get=$(get_with redis "${LIMITS_ON[@]}" THREADGATE_LIMITS__REDIS_URL="redis://127.0.0.1:$REDIS_PORT")

step "streamed runs: first event ($FIRST_EVENTS runs), then $STREAMS open at once"
# A run that starts a thread and streams; `#slow` keeps it open (the
# emulator holds such runs for 600 s).
RUN=$(printf '{"assistant_id": "%s", "stream": true, "thread": {"messages": [{"role": "user", "content": "hello"}]}}' "$ASSISTANT")
HELD=${RUN/hello/#slow}
UPSTREAM_HEADERS='{"api-key": "emulator-key"}'
HEADERS=$(printf '{"Authorization": "Bearer %s", "Threadgate-On-Behalf-Of": "bench-user"}' "$KEY")
streams() { "${ON_CORE1[@]}" python3 bench/streams.py "$@"; }
direct_first=$(streams first-event 127.0.0.1 "$EMULATOR_PORT" "/openai/threads/runs?$VERSION" "$UPSTREAM_HEADERS" "$RUN" "$FIRST_EVENTS")
nginx_first=$(streams first-event 127.0.0.1 "$NGINX_PORT" "/openai/threads/runs?$VERSION" "$UPSTREAM_HEADERS" "$RUN" "$FIRST_EVENTS")
threadgate_first=$(streams first-event 127.0.0.1 "$THREADGATE_PORT" "/v1/threads/runs" "$HEADERS" "$RUN" "$FIRST_EVENTS")
nginx_idle=$(awk '/VmRSS/ {print $2}' "/proc/$NGINX_WORKER/status")
nginx_held=$(streams hold 127.0.0.1 "$NGINX_PORT" "/openai/threads/runs?$VERSION" "$UPSTREAM_HEADERS" "$HELD" "$STREAMS" "$NGINX_WORKER")
threadgate_idle=$(awk '/VmRSS/ {print $2}' "/proc/$THREADGATE_PID/status")
threadgate_held=$(streams hold 127.0.0.1 "$THREADGATE_PORT" "/v1/threads/runs" "$HEADERS" "$HELD" "$STREAMS" "$THREADGATE_PID")

python3 - "$direct_get" "$nginx_get" "$threadgate_get" "$direct_create" "$nginx_create" "$threadgate_create" "$before" "$after" "$gets" "$rss_kib" "$RATE_GET" "$RATE_CREATE" "$direct_message" "$nginx_message" "$threadgate_message" "$threadgate_list" \
    "$direct_first" "$nginx_first" "$threadgate_first" "$nginx_idle" "$nginx_held" "$threadgate_idle" "$threadgate_held" "$STREAMS" \
    "$nginx_cpu_before" "$nginx_cpu_after" "$cpu_before" "$cpu_after" "$off_get" "$local_limits_get" "$redis_limits_get" "$RATE_LIMITS" <<'PY'
import sys
dg, ng, tg, dc, nc, tc = [list(map(float, a.split())) for a in sys.argv[1:7]]
before, after, gets, rss, rg, rc = map(float, sys.argv[7:13])
dm, nm, tm, tl = [list(map(float, a.split())) for a in sys.argv[13:17]]
def row(name, d, n, t):
    print(f"| {name} | {d[0]:.2f} / {d[1]:.2f} | {n[0]:.2f} / {n[1]:.2f} | {t[0]:.2f} / {t[1]:.2f} | "
          f"+{t[0]-n[0]:.2f} / +{t[1]-n[1]:.2f} | {int(d[2]+n[2]+t[2])} |")
print("| p50 / p99, ms | direct | nginx | Threadgate | Threadgate − nginx | non-2xx |")
print("|---|---|---|---|---|---|")
row(f"GET thread @{int(rg)}/s", dg, ng, tg)
row(f"create thread @{int(rc)}/s", dc, nc, tc)
row(f"add message @{int(rc)}/s", dm, nm, tm)
print(f"| list threads @{int(rc)}/s | — | — | {tl[0]:.2f} / {tl[1]:.2f} | — | {int(tl[2])} |")
df, nf, tf = [list(map(float, a.split())) for a in sys.argv[17:20]]
row("first event of a streamed run", df, nf, tf)
nginx_idle, threadgate_idle, streams = float(sys.argv[20]), float(sys.argv[22]), float(sys.argv[24])
nginx_held, threadgate_held = [list(map(float, a.split())) for a in (sys.argv[21], sys.argv[23])]
print()
print(f"RSS per 1,000 open streams: nginx {(nginx_held[0]-nginx_idle)/streams*1000/1024:.1f} MiB, "
      f"Threadgate {(threadgate_held[0]-threadgate_idle)/streams*1000/1024:.1f} MiB "
      f"({int(streams)} held; {int(nginx_held[1] + threadgate_held[1])} failed to open)")
print(f"Database round trips per authorized GET: {(after-before)/gets:.2f}")
nb, na, tb, ta = map(float, sys.argv[25:29])
print(f"CPU per 1,000 GETs: nginx {(na-nb)/gets*1000:.3f} s, Threadgate {(ta-tb)/gets*1000:.3f} s "
      f"(PostgreSQL not included: it may be the machine's shared server)")
print(f"Threadgate RSS after the run: {rss/1024:.1f} MiB")
off, lim, red = [list(map(float, a.split())) for a in sys.argv[29:32]]
print()
print(f"| What request limits add, GET thread @{sys.argv[32]}/s | p50 / p99, ms | CPU per 1,000 GETs | non-2xx |")
print("|---|---|---|---|")
for name, r in [("limits off", off), ("limits in process", lim), ("limits in Redis", red)]:
    print(f"| {name} | {r[0]:.2f} / {r[1]:.2f} (+{r[0]-off[0]:.2f} / +{r[1]-off[1]:.2f}) | "
          f"{r[3]:.3f} s (+{r[3]-off[3]:.3f}) | {int(r[2])} |")
PY
