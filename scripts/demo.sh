#!/usr/bin/env bash
# Sets everything up and shows kvroute at work: builds the project, starts a simulated vLLM fleet
# (kvroute-sim: 4 instances of Llama-3.1-8B with H100 timing on 127.0.0.1:8001-8004), starts the
# gateway in front of it with examples/demo.yaml (127.0.0.1:8080), and streams a chat completion
# through the gateway, showing which backend served it.
# KEEP_RUNNING=1 leaves fleet and gateway up afterwards (Ctrl-C stops them).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target kvroute kvroute-sim

bin=./build/release/apps
workdir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$workdir"
}
trap cleanup EXIT

# Starts a program in the background and waits (at most 10 s) for a line starting with $1.
start() {
  local ready=$1 log=$2
  shift 2
  "$@" >"$log" 2>"$log.err" &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "^$ready" "$log" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" "$log.err" >&2
  echo "demo: $1 did not start" >&2
  exit 1
}

start ready "$workdir/sim.log" "$bin/kvroute-sim/kvroute-sim" --instances 4 --port 8001 --host 127.0.0.1 --preset L8B-H100
grep '^listening' "$workdir/sim.log"
start ready "$workdir/gw.log" "$bin/kvroute/kvroute" --config examples/demo.yaml
grep '^listening' "$workdir/gw.log"

echo
echo "== POST http://127.0.0.1:8080/v1/chat/completions (stream, through kvroute) =="
curl -sS -N -D "$workdir/headers" http://127.0.0.1:8080/v1/chat/completions \
  -H 'content-type: application/json' \
  -d '{"model":"meta-llama/Llama-3.1-8B-Instruct","stream":true,"max_tokens":24,
       "stream_options":{"include_usage":true},
       "messages":[{"role":"user","content":"Explain prefix caching in one sentence."}]}'
echo
grep -i -E '^(x-kvroute-backend|x-sim-instance)' "$workdir/headers"

if [ "${KEEP_RUNNING:-0}" = 1 ]; then
  echo "fleet on 127.0.0.1:8001-8004, kvroute on 127.0.0.1:8080; Ctrl-C to stop"
  wait "${pids[0]}"
fi
