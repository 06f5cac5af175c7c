#!/usr/bin/env bash
# Sets everything up and shows kvroute's fleet at work: builds the project, starts a small
# simulated vLLM fleet (kvroute-sim, 4 instances of Llama-3.1-8B on H100 timing), streams a
# chat completion from it and says which instance served it.
# KEEP_RUNNING=1 leaves the fleet up afterwards (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target kvroute-sim

port="${PORT:-8001}"
sim=./build/release/apps/kvroute-sim/kvroute-sim
log=$(mktemp)
"$sim" --instances 4 --port "$port" --host 127.0.0.1 --preset L8B-H100 >"$log" 2>&1 &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 100); do
  grep -q '^ready' "$log" && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$log"; echo "kvroute-sim did not start" >&2; exit 1; }
  sleep 0.1
done
grep '^listening' "$log"

echo
echo "== POST http://127.0.0.1:$port/v1/chat/completions (stream) =="
curl -sS -N -D /dev/stderr "http://127.0.0.1:$port/v1/chat/completions" \
  -H 'content-type: application/json' \
  -d '{"model":"meta-llama/Llama-3.1-8B-Instruct","stream":true,"max_tokens":24,
       "stream_options":{"include_usage":true},
       "messages":[{"role":"user","content":"Explain prefix caching in one sentence."}]}' 2> >(grep -i '^x-sim-instance' >&2)
echo

if [ "${KEEP_RUNNING:-0}" = 1 ]; then
  echo "fleet running on ports $port-$((port + 3)); Ctrl-C to stop"
  wait "$sim_pid"
fi
