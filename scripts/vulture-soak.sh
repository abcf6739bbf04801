#!/usr/bin/env bash
# A long consistency run: a release-built server under `arbor gen` load, `arbor vulture`
# beside it, and the server killed with SIGKILL and restarted on the same data directory a
# few times. Prints vulture's summary; exits with vulture's status.
#
#   scripts/vulture-soak.sh [MINUTES] [KILLS]
#
# Environment: ARBOR_BIN (default: target/release/arbor, built if missing), GEN_RATE
# (spans/s of the load, default 2000), SOAK_DIR (default: a fresh temporary directory),
# SOAK_PORT_BASE (default 23200: the query API; OTLP gRPC +1, OTLP HTTP +2, Zipkin +3,
# Jaeger +4, vulture's metrics +5).

set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINUTES="${1:-10}"
KILLS="${2:-4}"
RATE="${GEN_RATE:-2000}"
BASE="${SOAK_PORT_BASE:-23200}"
BIN="${ARBOR_BIN:-$ROOT/target/release/arbor}"
DIR="${SOAK_DIR:-$(mktemp -d)}"
DATA="$DIR/data"
mkdir -p "$DATA"

if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && nice -n 15 cargo build --release -p arbor)
fi

SERVER_PID=""
start_server() {
    "$BIN" serve --data-dir "$DATA" \
        --http-listen "127.0.0.1:$BASE" \
        --otlp-grpc-listen "127.0.0.1:$((BASE + 1))" \
        --otlp-http-listen "127.0.0.1:$((BASE + 2))" \
        --zipkin-listen "127.0.0.1:$((BASE + 3))" \
        --jaeger-listen "127.0.0.1:$((BASE + 4))" \
        >>"$DIR/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        if curl -fs "http://127.0.0.1:$BASE/ready" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "the server did not become ready; see $DIR/server.log" >&2
    return 1
}

cleanup() {
    [ -n "${GEN_PID:-}" ] && kill "$GEN_PID" 2>/dev/null || true
    [ -n "${VULTURE_PID:-}" ] && kill "$VULTURE_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
}
trap cleanup EXIT

echo "soak: $MINUTES min, $KILLS kills, load $RATE spans/s, files in $DIR"
start_server

SECONDS_TOTAL=$((MINUTES * 60))
"$BIN" gen --protocol http/protobuf --endpoint "http://127.0.0.1:$((BASE + 2))" \
    --rate "$RATE" --duration "${SECONDS_TOTAL}s" --quiet >"$DIR/gen.log" 2>&1 &
GEN_PID=$!

"$BIN" vulture --endpoint "http://127.0.0.1:$((BASE + 2))" --url "http://127.0.0.1:$BASE" \
    --metrics-listen "127.0.0.1:$((BASE + 5))" --duration "${SECONDS_TOTAL}s" \
    --read-ages 2s,10s,1m,5m --flush-timeout 60s \
    >"$DIR/vulture.out" 2>"$DIR/vulture.log" &
VULTURE_PID=$!

# Kills spread over the run, each followed by a restart on the same data directory.
GAP=$((SECONDS_TOTAL / (KILLS + 1)))
for i in $(seq 1 "$KILLS"); do
    sleep "$GAP"
    echo "soak: kill -9 the server ($i of $KILLS) at $((i * GAP))s"
    kill -9 "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    sleep 2
    start_server
done

set +e
wait "$VULTURE_PID"
STATUS=$?
set -e
VULTURE_PID=""
wait "$GEN_PID" 2>/dev/null || true
GEN_PID=""
echo "soak: vulture exit status $STATUS"
cat "$DIR/vulture.out"
grep -c 'vulture: trace' "$DIR/vulture.log" | sed 's/^/soak: finding log lines: /' || true
exit "$STATUS"
