#!/usr/bin/env bash
# The soak: a release-built server under overload and faults, with `arbor vulture` checking
# that everything acknowledged reads back, once and unchanged.
#
#   scripts/soak.sh [MINUTES]        (default 30; needs root for the tmpfs, and s3s-fs)
#
# What it does, all at once for MINUTES:
# - the server keeps blocks on an S3-compatible store (s3s-fs) and its write-ahead log on a
#   tmpfs of its own, with `--head-max-bytes 128MiB --max-inflight-bytes 16MiB
#   --memory-limit 512MiB`;
# - `arbor gen` sends load with 8 requests in flight at GEN_RATE spans/s (default 0: as fast
#   as the server takes them, so it is overloaded and pushes back) and `arbor vulture`
#   writes and reads its traces;
# - 64 stalled uploads and 200 half-sent headers are held open the whole time
#   (scripts/stall-clients.py);
# - every cycle of CYCLE seconds (default 600): at 20 % the server is killed with SIGKILL and
#   restarted; at 35 % the log's disk is filled for 45 s, then freed; at 60 % the object
#   store is stopped for 60 s, then started again; at 80 % another SIGKILL;
# - the server's RSS is read every 2 s.
# It reports vulture's summary, how long the server took to be ready again after each disk
# was freed and to cut blocks again after the store came back (both without a restart), the
# RSS, and what the load and the stalled clients saw. Exits with vulture's status.
#
# Environment: ARBOR_BIN (default target/release/arbor), S3S_FS (default s3s-fs on PATH),
# GEN_RATE, CYCLE, SOAK_DIR (default a fresh temporary directory), SOAK_PORT_BASE (default
# 23200: query API; OTLP gRPC +1, OTLP HTTP +2, Zipkin +3, Jaeger +4, vulture's metrics +5,
# the object store +6), WAL_DISK (tmpfs size, default 384m).

set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINUTES="${1:-30}"
RATE="${GEN_RATE:-0}"
CYCLE="${CYCLE:-600}"
BASE="${SOAK_PORT_BASE:-23200}"
BIN="${ARBOR_BIN:-$ROOT/target/release/arbor}"
S3S="${S3S_FS:-$(command -v s3s-fs || true)}"
DIR="${SOAK_DIR:-$(mktemp -d)}"
DATA="$DIR/data"
S3ROOT="$DIR/s3"
S3PORT=$((BASE + 6))
URL="http://127.0.0.1:$BASE"
mkdir -p "$DATA" "$S3ROOT/arbor"

[ -x "$BIN" ] || { echo "no server binary at $BIN (cargo build --release -p arbor)" >&2; exit 2; }
[ -n "$S3S" ] || { echo "s3s-fs not found: cargo install s3s-fs@0.14.1 --features binary --locked" >&2; exit 2; }
mount -t tmpfs -o "size=${WAL_DISK:-384m}" tmpfs "$DATA" || { echo "mounting a tmpfs needs root" >&2; exit 2; }

log() { echo "soak: [$(( $(date +%s) - T0 ))s] $*" | tee -a "$DIR/soak.log"; }

S3_PID=""
start_s3() {
    "$S3S" --host 127.0.0.1 --port "$S3PORT" --access-key soak-access --secret-key soak-secret-key \
        "$S3ROOT" >>"$DIR/s3.log" 2>&1 &
    S3_PID=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$S3PORT/" && return 0
        sleep 0.1
    done
    echo "the object store did not start; see $DIR/s3.log" >&2
    return 1
}

SERVER_PID=""
start_server() {
    AWS_ENDPOINT_URL="http://127.0.0.1:$S3PORT" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=soak-access AWS_SECRET_ACCESS_KEY=soak-secret-key AWS_ALLOW_HTTP=true \
    "$BIN" serve --data-dir "$DATA" --storage-url "s3://arbor/soak" \
        --head-max-bytes 128MiB --max-inflight-bytes 16MiB --memory-limit 512MiB \
        --http-listen "127.0.0.1:$BASE" \
        --otlp-grpc-listen "127.0.0.1:$((BASE + 1))" \
        --otlp-http-listen "127.0.0.1:$((BASE + 2))" \
        --zipkin-listen "127.0.0.1:$((BASE + 3))" \
        --jaeger-listen "127.0.0.1:$((BASE + 4))" \
        >>"$DIR/server.log" 2>&1 &
    SERVER_PID=$!
    local t=$SECONDS
    until curl -fs "$URL/ready" >/dev/null 2>&1; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "the server exited; see $DIR/server.log" >&2
            return 1
        fi
        sleep 0.2
    done
    log "server ready after $((SECONDS - t)) s (pid $SERVER_PID)"
}

metric() { # the sum of a metric's series, 0 when absent
    curl -fs --max-time 5 "$URL/metrics" 2>/dev/null |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }'
}

cleanup() {
    for p in "${GEN_PID:-}" "${VULTURE_PID:-}" "${STALL_PID:-}" "${RSS_PID:-}" "$SERVER_PID" "$S3_PID"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    sleep 1
    rm -f "$DATA/fill"
    umount -l "$DATA" 2>/dev/null || true
}
trap cleanup EXIT

T0=$(date +%s)
TOTAL=$((MINUTES * 60))
log "$MINUTES min, load $RATE spans/s (0: as fast as taken), cycle $CYCLE s, files in $DIR"
start_s3
start_server

"$BIN" gen --protocol http/protobuf --endpoint "http://127.0.0.1:$((BASE + 2))" \
    --rate "$RATE" --concurrency 8 --duration "${TOTAL}s" >"$DIR/gen.log" 2>&1 &
GEN_PID=$!
"$BIN" vulture --endpoint "http://127.0.0.1:$((BASE + 2))" --url "$URL" \
    --metrics-listen "127.0.0.1:$((BASE + 5))" --duration "${TOTAL}s" \
    --read-ages 2s,10s,1m,5m,20m --flush-timeout 120s \
    >"$DIR/vulture.out" 2>"$DIR/vulture.log" &
VULTURE_PID=$!
python3 "$ROOT/scripts/stall-clients.py" 127.0.0.1 "$((BASE + 2))" "$BASE" "$TOTAL" \
    >"$DIR/stall.out" 2>&1 &
STALL_PID=$!
(
    while sleep 2; do
        pid=$(pgrep -f -- "--data-dir $DATA" | head -1 || true)
        [ -n "$pid" ] && echo "$(( $(date +%s) - T0 )) $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)"
    done >"$DIR/rss.txt"
) &
RSS_PID=$!

kill9() {
    log "kill -9 the server"
    kill -9 "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    sleep 2
    start_server
}

fill_disk() {
    log "filling the log's disk"
    dd if=/dev/zero of="$DATA/fill" bs=1M status=none 2>/dev/null || true
    sync
    local refused=0 i
    for i in $(seq 1 45); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ready")" = 503 ] && refused=$((refused + 1))
        sleep 1
    done
    log "disk full for 45 s: /ready answered 503 in $refused of 45 readings"
    rm -f "$DATA/fill"
    local t=$SECONDS
    if within 120 ready; then
        log "disk freed: ready again after $((SECONDS - t)) s, no restart"
    else
        log "NOT HEALED: /ready not 200 within 120 s of freeing the disk"
    fi
}

ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ready")" = 200 ]; }

within() { # within SECONDS COMMAND...: true once COMMAND succeeds, false after SECONDS
    local limit=$1 t=$SECONDS
    shift
    until "$@"; do
        [ $((SECONDS - t)) -gt "$limit" ] && return 1
        sleep 0.5
    done
}

store_away() {
    log "stopping the object store"
    kill "$S3_PID"
    wait "$S3_PID" 2>/dev/null || true
    sleep 60
    local failures
    failures=$(metric arbor_head_cut_failures_total)
    start_s3
    local cuts t=$SECONDS
    cuts=$(metric arbor_head_cuts_total)
    log "object store back (cut failures while away: $failures); waiting for a cut"
    if within 180 cut_since "$cuts"; then
        log "store back: a block cut $((SECONDS - t)) s later, no restart"
    else
        log "NOT RECOVERED: no block cut within 180 s of the store coming back"
    fi
}

cut_since() { [ "$(metric arbor_head_cuts_total)" != "$1" ]; }

at() { # waits until $1 seconds into the run; false when past the end
    local now=$(( $(date +%s) - T0 ))
    [ "$1" -lt "$TOTAL" ] || return 1
    [ "$1" -le "$now" ] || sleep $(( $1 - now ))
}

start=0
while [ "$start" -lt "$TOTAL" ]; do
    at $((start + CYCLE * 20 / 100)) && kill9 || break
    at $((start + CYCLE * 35 / 100)) && fill_disk || break
    at $((start + CYCLE * 60 / 100)) && store_away || break
    at $((start + CYCLE * 80 / 100)) && kill9 || break
    start=$((start + CYCLE))
done

set +e
wait "$VULTURE_PID"
STATUS=$?
set -e
VULTURE_PID=""
wait "$GEN_PID" 2>/dev/null || true
GEN_PID=""
wait "$STALL_PID" 2>/dev/null || true
STALL_PID=""
kill "$RSS_PID" 2>/dev/null || true
RSS_PID=""
log "vulture exit status $STATUS"
cat "$DIR/vulture.out" | tee -a "$DIR/soak.log"
cat "$DIR/stall.out" | tee -a "$DIR/soak.log"
grep -E '^  (traces|spans|rate|requests) |^Error' "$DIR/gen.log" | sed 's/^ */gen: /' | tee -a "$DIR/soak.log"
sort -n -k2 "$DIR/rss.txt" | awk '{ v[NR] = $2 } END { if (NR) printf "server RSS over %d samples: median %.0f MiB, max %.0f MiB\n", NR, v[int(NR/2)+1]/1024, v[NR]/1024 }' | tee -a "$DIR/soak.log"
grep -E "NOT HEALED|NOT RECOVERED" "$DIR/soak.log" && STATUS=1
exit "$STATUS"
