#!/usr/bin/env bash
# What one proxied request costs kvroute, counted rather than timed (wall time on a shared machine
# varies from run to run; instruction and system-call counts do not): kvroute with ONE worker in
# front of the fake nginx backends of run.sh (the same configuration), a fixed number of JSON and
# SSE requests sent by curl over kept-alive connections, and
#   - user-space instructions per request: kvroute under valgrind --tool=callgrind, counters zeroed
#     after a warm-up and dumped after each case (callgrind_control), total Ir / requests;
#   - system calls per request (--syscalls): kvroute run natively with strace -c attached to every
#     thread for the measured requests only, calls / requests, by name.
#
#   benchmarks/proxy_compare/callgrind.sh [options]
#     --build DIR        build directory holding apps/kvroute/kvroute (default build/release)
#     --requests N       measured requests per case (default 2000)
#     --warmup N         requests per case before counting (default 200)
#     --connections C    concurrent keep-alive connections, one curl process each (default 16)
#     --cases "json sse" which backend answers to measure (default both)
#     --syscalls         also count system calls (needs strace)
#     --no-callgrind     only count system calls
#     --out FILE         JSON result file (default /tmp/proxy_callgrind-<time>.json)
#     --keep             keep the scratch directory (configs, logs, callgrind dumps)
#
# Counts include everything the process does meanwhile (both threads; the control thread is idle
# with this configuration: no scraping, no model discovery). Concurrency changes how many events
# one epoll_wait returns, so compare runs at the same --connections. Everything started here is
# stopped by PID on exit.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

BUILD=build/release
REQUESTS=2000
WARMUP=200
CONNS=16
CASES="json sse"
DO_CALLGRIND=1
DO_SYSCALLS=0
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --requests) REQUESTS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --cases) CASES="$2"; shift 2 ;;
    --syscalls) DO_SYSCALLS=1; shift ;;
    --no-callgrind) DO_CALLGRIND=0; DO_SYSCALLS=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --keep) PC_KEEP=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) pc_die "unknown option $1 (see --help)" ;;
  esac
done
for c in $CASES; do
  case "$c" in json|sse) ;; *) pc_die "unknown case $c" ;; esac
done
[ "$REQUESTS" -ge "$CONNS" ] || pc_die "--requests must be at least --connections"
[ -n "$OUT" ] || OUT="/tmp/proxy_callgrind-$(date +%Y%m%d-%H%M%S).json"

pc_find_bins "$BUILD"
command -v curl >/dev/null || pc_die "curl not found"
[ "$DO_CALLGRIND" = 0 ] || command -v valgrind >/dev/null || pc_die "valgrind not found"
[ "$DO_CALLGRIND" = 0 ] || command -v callgrind_control >/dev/null || pc_die "callgrind_control not found (valgrind)"
[ "$DO_SYSCALLS" = 0 ] || command -v strace >/dev/null || pc_die "strace not found"
pc_cpus
pc_scratch
trap pc_cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
MAXCONN=$((($(ulimit -n) - 100) / 2)); [ "$MAXCONN" -le 100000 ] || MAXCONN=100000

pc_start_backends

# One curl config per connection: its share of the requests as repeated URLs (curl keeps the
# connection alive between them), each answer discarded, each status printed.
# curl_configs CASE COUNT: writes $PC_DIR/curl.CASE.COUNT.I for I in 1..CONNS.
curl_configs() {
  local kind="$1" total="$2" i j per extra body accept
  body="$PC_HERE/request.json"; accept=application/json
  [ "$kind" = sse ] && body="$PC_HERE/request-stream.json" && accept=text/event-stream
  # The body as post.lua sends it: trailing whitespace removed.
  printf '%s' "$(cat "$body")" > "$PC_DIR/body.$kind"
  per=$((total / CONNS)); extra=$((total % CONNS))
  for ((i = 1; i <= CONNS; i++)); do
    {
      echo "silent"
      echo "http1.1"
      echo "header = \"Content-Type: application/json\""
      echo "header = \"Accept: $accept\""
      echo "header = \"Authorization: Bearer sk-proxy-compare\""
      echo "header = \"User-Agent: proxy-compare/curl\""
      echo "header = \"Expect:\""
      echo "data-binary = \"@$PC_DIR/body.$kind\""
      echo "write-out = \"%{http_code}\\n\""
      n=$per; [ "$i" -le "$extra" ] && n=$((per + 1))
      for ((j = 0; j < n; j++)); do
        echo "url = \"http://127.0.0.1:$PORT/v1/chat/completions\""
        echo "output = \"/dev/null\""
      done
    } > "$PC_DIR/curl.$kind.$total.$i"
  done
}

# send CASE COUNT: COUNT requests over CONNS parallel connections; fails unless every answer is 200.
send() {
  local kind="$1" total="$2" i pids=() ok
  curl_configs "$kind" "$total"
  for ((i = 1; i <= CONNS; i++)); do
    timeout --kill-after=5 600 taskset -c "$PC_LOAD_CPUS" curl --config "$PC_DIR/curl.$kind.$total.$i" \
      > "$PC_DIR/status.$i" 2> "$PC_DIR/curl.err.$i" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  ok="$(cat "$PC_DIR"/status.* | grep -cx 200 || true)"
  [ "$ok" = "$total" ] || pc_die "$kind: $ok of $total answers were 200 ($(cat "$PC_DIR"/curl.err.* | head -3))"
}

# start_kvroute NAME PREFIX...: kvroute (one worker) on a fresh port, under PREFIX (valgrind or
# nothing), waited for until ready (valgrind starts slowly: 120 s at most).
start_kvroute() {
  local name="$1" i
  shift
  PORT="$(pc_free_port)"
  pc_render "$PC_HERE/conf/kvroute.yaml.in" "$PC_DIR/$name.yaml" PORT="$PORT" MAXCONN="$MAXCONN" BACKEND1="$B1" BACKEND2="$B2"
  pc_start "$name" "$PC_PROXY_CPU" "$@" "$KVROUTE_BIN" --config "$PC_DIR/$name.yaml" --log-level warn
  KV_PID=$PC_STARTED_PID
  for ((i = 0; i < 12000; i++)); do
    grep -qx ready "$PC_DIR/$name.out" 2>/dev/null && return 0
    kill -0 "$KV_PID" 2>/dev/null || { cat "$PC_DIR/$name.err" >&2; pc_die "$name exited before it was ready"; }
    sleep 0.01
  done
  pc_die "$name was not ready within 120 s"
}

declare -A IR SYS SYSDETAIL
if [ "$DO_CALLGRIND" = 1 ]; then
  start_kvroute callgrind valgrind --tool=callgrind --callgrind-out-file="$PC_DIR/callgrind.out" \
    --dump-instr=no --compress-strings=no
  cg_pid=$KV_PID
  for c in $CASES; do
    pc_log "callgrind: $c warm-up ($WARMUP requests)"
    send "$c" "$WARMUP"
    callgrind_control -z "$cg_pid" > /dev/null 2>&1
    pc_log "callgrind: $c, $REQUESTS requests over $CONNS connections"
    send "$c" "$REQUESTS"
    callgrind_control -d "$c" "$cg_pid" > /dev/null 2>&1
    # The dump just written: the newest callgrind.out.* file.
    dump="$(ls -t "$PC_DIR"/callgrind.out* | head -1)"
    ir="$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")"
    [ -n "$ir" ] || pc_die "no totals in $dump"
    IR[$c]=$ir
    pc_log "callgrind: $c: $ir instructions, $(awk -v a="$ir" -v n="$REQUESTS" 'BEGIN { printf "%.0f", a / n }') per request"
  done
  kill -TERM "$cg_pid" 2>/dev/null || true
  wait "$cg_pid" 2>/dev/null || true
fi

if [ "$DO_SYSCALLS" = 1 ]; then
  start_kvroute native
  nat_pid=$KV_PID
  for c in $CASES; do
    send "$c" "$WARMUP"
    targs=()
    for t in /proc/"$nat_pid"/task/*; do targs+=(-p "${t##*/}"); done
    strace -c -f -o "$PC_DIR/strace.$c" "${targs[@]}" 2> "$PC_DIR/strace.err.$c" &
    st_pid=$!
    PC_PIDS+=("$st_pid")
    # strace announces each attached thread on stderr; wait until all are attached.
    for ((i = 0; i < 500; i++)); do
      [ "$(grep -c 'attached' "$PC_DIR/strace.err.$c" 2>/dev/null || true)" -ge $((${#targs[@]} / 2)) ] && break
      sleep 0.01
    done
    send "$c" "$REQUESTS"
    kill -INT "$st_pid" 2>/dev/null || true
    wait "$st_pid" 2>/dev/null || true
    # strace -c: "% time seconds usecs/call calls errors syscall", then a total line.
    SYS[$c]="$(awk -v n="$REQUESTS" '$NF == "total" { printf "%.2f", $(NF - 2) / n }' "$PC_DIR/strace.$c")"
    SYSDETAIL[$c]="$(awk -v n="$REQUESTS" 'NF >= 5 && $1 ~ /^[0-9.]+$/ && $NF != "total" {
        printf "%s%s %.2f", sep, $NF, $4 / n; sep = ", " }' "$PC_DIR/strace.$c")"
    pc_log "syscalls: $c: ${SYS[$c]} per request (${SYSDETAIL[$c]})"
  done
fi

echo
echo "kvroute per proxied request ($REQUESTS requests per case over $CONNS keep-alive connections, one worker, $(cd "$PC_REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)):"
for c in $CASES; do
  line="  $c:"
  [ -n "${IR[$c]:-}" ] && line+=" $(awk -v a="${IR[$c]}" -v n="$REQUESTS" 'BEGIN { printf "%.0f", a / n }') instructions"
  [ -n "${SYS[$c]:-}" ] && line+=", ${SYS[$c]} system calls (${SYSDETAIL[$c]})"
  echo "$line"
done
{
  printf '{\n  "benchmark": "proxy_callgrind",\n  "kvroute_commit": "%s",\n  "requests": %s,\n  "connections": %s,\n  "cases": {' \
    "$(cd "$PC_REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$REQUESTS" "$CONNS"
  sep=""
  for c in $CASES; do
    printf '%s"%s": {"instructions_per_request": %s, "syscalls_per_request": %s}' "$sep" "$c" \
      "$([ -n "${IR[$c]:-}" ] && awk -v a="${IR[$c]}" -v n="$REQUESTS" 'BEGIN { printf "%.0f", a / n }' || echo null)" \
      "${SYS[$c]:-null}"
    sep=", "
  done
  printf '}\n}\n'
} > "$OUT"
pc_log "wrote $OUT"
