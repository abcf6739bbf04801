#!/usr/bin/env bash
# Memory under sustained overload: starts `arbor serve` with small budgets and sends from
# many concurrent senders (`arbor gen`) for several rounds, printing the server's resident
# memory after each round. Memory that keeps growing round after round, past the budgets,
# is what this looks for.
#
#   scripts/rss-under-load.sh [ARBOR_BIN] [ROUNDS] [SECONDS_PER_ROUND] [SENDERS]
#
# Defaults: target/release/arbor, 3 rounds of 40 s, 64 senders over OTLP/HTTP, with
# --head-max-bytes 128MiB --max-inflight-bytes 16MiB. Extra `arbor serve` flags can be
# given in ARBOR_SERVE_ARGS, extra environment (e.g. MALLOC_ARENA_MAX=2) as usual.
# Sends only to 127.0.0.1; stops by itself.
set -euo pipefail

BIN="${1:-target/release/arbor}"
ROUNDS="${2:-3}"
SECS="${3:-40}"
SENDERS="${4:-64}"
DIR="$(mktemp -d)"
trap 'kill "$SERVER" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"' EXIT

# shellcheck disable=SC2086
"$BIN" serve --data-dir "$DIR/data" --listen-file "$DIR/listen.json" \
    --http-listen 127.0.0.1:0 --otlp-grpc-listen 127.0.0.1:0 --otlp-http-listen 127.0.0.1:0 \
    --zipkin-listen 127.0.0.1:0 --jaeger-listen 127.0.0.1:0 --log-level warn \
    --head-max-bytes 128MiB --max-inflight-bytes 16MiB ${ARBOR_SERVE_ARGS:-} \
    2>"$DIR/server.log" &
SERVER=$!
for _ in $(seq 1 600); do [ -s "$DIR/listen.json" ] && break; sleep 0.1; done
OTLP="http://$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["otlp_http"])' "$DIR/listen.json")"

rss() { awk -v k="$1" '$1 == k":" {print int($2 / 1024)}' "/proc/$SERVER/status"; }
echo "round  sent_spans  RssAnon_MiB  VmHWM_MiB"
for r in $(seq 1 "$ROUNDS"); do
    sent=$("$BIN" gen --protocol http/protobuf --endpoint "$OTLP" --concurrency "$SENDERS" \
        --duration "${SECS}s" --seed "$r" --quiet 2>&1 | awk '$1 == "spans" {print $2}' || true)
    printf '%5d  %10s  %11s  %9s\n' "$r" "$sent" "$(rss RssAnon)" "$(rss VmHWM)"
done
