#!/usr/bin/env bash
# kvroute's memory: (1) what one idle keep-alive client connection costs (RSS before and after N
# idle connections, never used and after one JSON and one SSE request each), with nginx and
# HAProxy measured the same way for reference; (2) whether RSS stays flat under constant load
# (samples of VmRSS from /proc/PID/status after a warm-up). docs/proxy-benchmark.md has the figures.
#
#   benchmarks/proxy_compare/memory.sh [options]
#     --build DIR        build directory holding apps/kvroute/kvroute (default build/release); the
#                        idle-connection holder is DIR/benchmarks/proxy_compare_idle, or compiled
#                        here with c++ when the build has none
#     --idle N           idle connections (default 5000)
#     --idle-targets "." among kvroute nginx haproxy (default all three; the target is kvroute's)
#     --minutes M        length of the constant-load run after the warm-up (default 5)
#     --warmup S         warm-up before the first sample (default 30)
#     --sample S         seconds between RSS samples (default 10)
#     --connections C    wrk connections of the constant load, half JSON, half SSE (default 64)
#     --churn C          extra connections that send "Connection: close" (a new connection for every
#                        request, paced to 10 ms apart per connection), 0 for none (default 2)
#     --pin MODE         as run.sh (default auto)
#     --skip-idle | --skip-soak
#     --out FILE         JSON result file (default /tmp/proxy_memory-<time>.json)
#     --keep             keep the scratch directory
#
# Bounded: wrk runs have their own timeouts; everything started here is stopped by PID on exit.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

BUILD=build/release
IDLE=5000
IDLE_TARGETS="kvroute nginx haproxy"
MINUTES=5
WARMUP=30
SAMPLE=10
CONNS=64
CHURN=2
PC_PIN=auto
DO_IDLE=1
DO_SOAK=1
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --idle) IDLE="$2"; shift 2 ;;
    --idle-targets) IDLE_TARGETS="$2"; shift 2 ;;
    --minutes) MINUTES="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --sample) SAMPLE="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --churn) CHURN="$2"; shift 2 ;;
    --pin) PC_PIN="$2"; shift 2 ;;
    --skip-idle) DO_IDLE=0; shift ;;
    --skip-soak) DO_SOAK=0; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --keep) PC_KEEP=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) pc_die "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$OUT" ] || OUT="/tmp/proxy_memory-$(date +%Y%m%d-%H%M%S).json"

pc_find_bins "$BUILD"
pc_cpus
pc_scratch
trap pc_cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -gt $((IDLE * 2 + 200)) ] || pc_die "fd limit $(ulimit -n) is too low for $IDLE connections (raise the hard limit)"
MAXCONN=$((($(ulimit -n) - 100) / 2)); [ "$MAXCONN" -le 100000 ] || MAXCONN=100000

# The idle-connection holder: from the build, else compiled now (only the compiler is needed).
b="$BUILD"; [[ "$b" = /* ]] || b="$PC_REPO/$b"
IDLE_BIN="$b/benchmarks/proxy_compare_idle"
if [ ! -x "$IDLE_BIN" ]; then
  IDLE_BIN="$PC_DIR/proxy_compare_idle"
  c++ -std=c++20 -O2 -o "$IDLE_BIN" "$PC_HERE/idle_conns.cc" || pc_die "cannot compile idle_conns.cc"
fi

pc_start_backends
declare -A PORT PID

# start_proxy NAME: the same configurations as run.sh.
start_proxy() {
  local t="$1" d="$PC_DIR/$1"
  mkdir -p "$d"
  PORT[$t]="$(pc_free_port)"
  case "$t" in
    kvroute)
      pc_render "$PC_HERE/conf/kvroute.yaml.in" "$d/kvroute.yaml" PORT="${PORT[$t]}" MAXCONN="$MAXCONN" BACKEND1="$B1" BACKEND2="$B2"
      pc_start kvroute "$PC_PROXY_CPU" "$KVROUTE_BIN" --config "$d/kvroute.yaml" --log-level warn
      PID[$t]=$PC_STARTED_PID
      pc_wait_ready "${PID[$t]}" kvroute ;;
    nginx)
      pc_render "$PC_HERE/conf/proxy-nginx.conf.in" "$d/nginx.conf" DIR="$d" PORT="${PORT[$t]}" MAXCONN="$MAXCONN" BACKEND1="$B1" BACKEND2="$B2"
      pc_start nginx "$PC_PROXY_CPU" "$NGINX_BIN" -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
      PID[$t]=$PC_STARTED_PID
      pc_wait_listening "${PID[$t]}" "${PORT[$t]}" nginx ;;
    haproxy)
      pc_render "$PC_HERE/conf/haproxy.cfg.in" "$d/haproxy.cfg" DIR="$d" PORT="${PORT[$t]}" MAXCONN="$MAXCONN" BACKEND1="$B1" BACKEND2="$B2"
      pc_start haproxy "$PC_PROXY_CPU" "$HAPROXY_BIN" -db -f "$d/haproxy.cfg"
      PID[$t]=$PC_STARTED_PID
      pc_wait_listening "${PID[$t]}" "${PORT[$t]}" haproxy ;;
    *) pc_die "unknown target $t" ;;
  esac
}

# stop_one PID: stops one process started here and forgets it.
stop_one() {
  local pid="$1" i keep=()
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for i in "${PC_PIDS[@]}"; do [ "$i" = "$pid" ] || keep+=("$i"); done
  PC_PIDS=("${keep[@]}")
}

# load TARGET CASE CONNS SECONDS [ENV=VALUE...]: wrk against TARGET; prints its PCRESULT line.
load() {
  local t="$1" kind="$2" conns="$3" secs="$4"
  shift 4
  local body="$PC_HERE/request.json" accept=application/json
  [ "$kind" = sse ] && body="$PC_HERE/request-stream.json" && accept=text/event-stream
  env PC_BODY="$body" PC_ACCEPT="$accept" "$@" timeout --kill-after=5 $((secs + 30)) \
    taskset -c "$PC_LOAD_CPUS" "$WRK_BIN" -t1 -c"$conns" -d"${secs}s" -s "$PC_HERE/post.lua" \
    "http://127.0.0.1:${PORT[$t]}/v1/chat/completions" 2>&1 | grep '^PCRESULT' || true
}

fd_count() { local n=0 f; for f in /proc/"$1"/fd/*; do n=$((n + 1)); done; echo "$n"; }
fd_total() { local s=0 p; for p in $(pc_tree "$1"); do s=$((s + $(fd_count "$p"))); done; echo "$s"; }

# settle PID: waits until RSS has not changed for 1 s (10 s at most), prints it.
settle() {
  local pid="$1" a b i
  a="$(pc_rss_kb "$pid")"
  for ((i = 0; i < 10; i++)); do
    sleep 1
    b="$(pc_rss_kb "$pid")"
    [ "$a" = "$b" ] && break
    a="$b"
  done
  echo "$b"
}

JSON_IDLE=""
if [ "$DO_IDLE" = 1 ]; then
  for t in $IDLE_TARGETS; do
    start_proxy "$t"
    pid="${PID[$t]}"
    # Warm the data path first, so the baseline holds whatever a serving process always holds.
    load "$t" json 64 3 > /dev/null
    load "$t" sse 64 3 > /dev/null
    rss0="$(settle "$pid")"; fd0="$(fd_total "$pid")"
    coproc IDLER { taskset -c "$PC_LOAD_CPUS" "$IDLE_BIN" --port "${PORT[$t]}" --connections "$IDLE" \
                     --request "$PC_HERE/request.json" --accept application/json \
                     --request "$PC_HERE/request-stream.json" --accept text/event-stream 2> "$PC_DIR/idler.err"; }
    IDLER_PID_SAVED=$IDLER_PID
    PC_PIDS+=("$IDLER_PID_SAVED")
    read -r -t 60 line <&"${IDLER[0]}" || pc_die "idle holder failed: $(cat "$PC_DIR/idler.err")"
    [ "$line" = "connected $IDLE" ] || pc_die "idle holder: $line"
    # Every connection accepted by the proxy (its descriptors), then RSS settled.
    for ((i = 0; i < 200; i++)); do [ "$(fd_total "$pid")" -ge $((fd0 + IDLE)) ] && break; sleep 0.1; done
    fds1="$(fd_total "$pid")"
    rss1="$(settle "$pid")"
    echo request >&"${IDLER[1]}"
    read -r -t 120 line <&"${IDLER[0]}" || pc_die "idle holder failed: $(cat "$PC_DIR/idler.err")"
    [ "$line" = "requested $IDLE ok=$IDLE" ] || pc_die "idle holder ($t, JSON): $line"
    rss2="$(settle "$pid")"
    echo request >&"${IDLER[1]}"
    read -r -t 120 line <&"${IDLER[0]}" || pc_die "idle holder failed: $(cat "$PC_DIR/idler.err")"
    [ "$line" = "requested $IDLE ok=$IDLE" ] || pc_die "idle holder ($t, SSE): $line"
    rss3="$(settle "$pid")"
    echo close >&"${IDLER[1]}"
    read -r -t 30 line <&"${IDLER[0]}" || true
    wait "$IDLER_PID_SAVED" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do [ "$(fd_total "$pid")" -le $((fd0 + 8)) ] && break; sleep 0.1; done
    rss4="$(settle "$pid")"
    per() { awk -v a="$1" -v b="$2" -v n="$IDLE" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'; }
    printf '%-8s idle connections: %d (proxy fds %d -> %d)\n' "$t" "$IDLE" "$fd0" "$fds1"
    printf '%-8s RSS KiB: before %s, connected %s, after a JSON request each %s, after an SSE request each %s, all closed %s\n' \
      "$t" "$rss0" "$rss1" "$rss2" "$rss3" "$rss4"
    printf '%-8s bytes per idle connection: never used %s, after JSON %s, after JSON+SSE %s\n' \
      "$t" "$(per "$rss0" "$rss1")" "$(per "$rss0" "$rss2")" "$(per "$rss0" "$rss3")"
    JSON_IDLE+="${JSON_IDLE:+, }\"$t\": {\"connections\": $IDLE, \"rss_kib\": {\"before\": $rss0, \"connected\": $rss1, \"after_json\": $rss2, \"after_sse\": $rss3, \"closed\": $rss4}, \"bytes_per_connection\": {\"connected\": $(per "$rss0" "$rss1"), \"after_json\": $(per "$rss0" "$rss2"), \"after_sse\": $(per "$rss0" "$rss3")}}"
    stop_one "$pid"
  done
fi

JSON_SOAK=""
if [ "$DO_SOAK" = 1 ]; then
  start_proxy kvroute
  pid="${PID[kvroute]}"
  total=$((WARMUP + MINUTES * 60 + 5))
  half=$((CONNS / 2))
  load kvroute json "$half" "$total" > "$PC_DIR/soak.json.out" &
  l1=$!; PC_PIDS+=("$l1")
  load kvroute sse "$((CONNS - half))" "$total" > "$PC_DIR/soak.sse.out" &
  l2=$!; PC_PIDS+=("$l2")
  l3=""
  if [ "$CHURN" -gt 0 ]; then
    load kvroute json "$CHURN" "$total" PC_CLOSE=1 PC_DELAY_MS=10 > "$PC_DIR/soak.churn.out" &
    l3=$!; PC_PIDS+=("$l3")
  fi
  pc_log "constant load on kvroute: $half JSON + $((CONNS - half)) SSE connections, $CHURN closing; warm-up ${WARMUP}s, then ${MINUTES} min"
  sleep "$WARMUP"
  samples=()
  t0=$SECONDS
  for ((i = 0; i <= MINUTES * 60 / SAMPLE; i++)); do
    while [ $((SECONDS - t0)) -lt $((i * SAMPLE)) ]; do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null || pc_die "kvroute died under load"
    v="$(pc_rss_kb "$pid")"
    samples+=("$v")
    pc_log "t=$((WARMUP + i * SAMPLE))s RSS ${v} KiB"
  done
  wait "$l1" "$l2" ${l3:+"$l3"} 2>/dev/null || true
  stats="$(printf '%s\n' "${samples[@]}" | awk 'NR == 1 { f = $1; mn = $1; mx = $1 } { l = $1; if ($1 < mn) mn = $1; if ($1 > mx) mx = $1 }
    END { printf "%d %d %d %d %.2f %.2f", f, l, mn, mx, (l - f) * 100 / f, (mx - f) * 100 / f }')"
  read -r first last min max drift excursion <<< "$stats"
  reqs() { awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } printf "%d %d %d", v["requests"], v["duration_us"], v["connect"] + v["read"] + v["write"] + v["status"] + v["timeout"] }' "$1"; }
  read -r jr jd je <<< "$(reqs "$PC_DIR/soak.json.out")"
  read -r sr sd se <<< "$(reqs "$PC_DIR/soak.sse.out")"
  cr=0; ce=0; [ -n "$l3" ] && read -r cr cd ce <<< "$(reqs "$PC_DIR/soak.churn.out")"
  echo
  printf 'kvroute under constant load (%s samples every %ss after %ss): RSS KiB first %s, last %s, min %s, max %s; drift %s%%, max over first %s%%\n' \
    "${#samples[@]}" "$SAMPLE" "$WARMUP" "$first" "$last" "$min" "$max" "$drift" "$excursion"
  printf 'load served: JSON %s requests (%.0f/s), SSE %s requests (%.0f/s), closing connections %s requests; errors %s\n' \
    "$jr" "$(awk -v r="$jr" -v d="$jd" 'BEGIN { print r * 1e6 / d }')" "$sr" "$(awk -v r="$sr" -v d="$sd" 'BEGIN { print r * 1e6 / d }')" \
    "$cr" "$((je + se + ce))"
  JSON_SOAK="{\"warmup_s\": $WARMUP, \"minutes\": $MINUTES, \"sample_s\": $SAMPLE, \"connections\": $CONNS, \"churn_connections\": $CHURN, \"rss_kib\": [$(IFS=,; echo "${samples[*]}")], \"first\": $first, \"last\": $last, \"min\": $min, \"max\": $max, \"drift_pct\": $drift, \"max_over_first_pct\": $excursion, \"requests\": {\"json\": $jr, \"sse\": $sr, \"closing\": $cr}, \"errors\": $((je + se + ce))}"
fi

{
  printf '{\n  "benchmark": "proxy_memory",\n  "kvroute_commit": "%s",\n  "machine": {"cpus": %s, "kernel": "%s", "loadavg": "%s"},\n' \
    "$(cd "$PC_REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$PC_NCPU" "$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '  "idle": {%s},\n  "constant_load": %s\n}\n' "$JSON_IDLE" "${JSON_SOAK:-null}"
} > "$OUT"
pc_log "wrote $OUT"
