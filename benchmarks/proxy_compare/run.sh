#!/usr/bin/env bash
# Data-path benchmark: kvroute against nginx and HAProxy, each with ONE worker, in front of the
# same two fake backends (nginx answering a fixed chat-completion JSON body or a fixed SSE stream),
# driven by wrk on 127.0.0.1. docs/proxy-benchmark.md explains the method and the figures.
#
#   benchmarks/proxy_compare/run.sh [options]
#     --build DIR          build directory holding apps/kvroute/kvroute (default build/release)
#     --duration S         seconds per measured wrk run (default 10)
#     --warmup S           seconds of warm-up per proxy and case before the first round (default 3)
#     --rounds N           interleaved rounds; the table shows medians over rounds (default 5)
#     --connections "A B"  wrk connection counts (default "16 64")
#     --cases "json sse"   which backend answers to measure (default both)
#     --targets "..."      among kvroute nginx haproxy direct (default all four)
#     --threads T          wrk threads (default 1)
#     --pin MODE           auto (proxy alone on the last CPU, wrk and backends on the others),
#                          off, or PROXY_CPUS:LOAD_CPUS, e.g. 1:0 (default auto)
#     --nice N             run every process at this nice level (negative needs root; default 0)
#     --out FILE           JSON result file (default /tmp/proxy_compare-<time>.json); a Markdown
#                          table (.md) and the raw runs (.tsv) go next to it
#     --kvroute-b BIN      also measure a second kvroute binary (target "kvroute-b", same
#                          configuration), e.g. a build with a proposed fix
#     --keep               keep the scratch directory (configs, logs, raw wrk output)
#
# Bounded: every wrk run has its own timeout; everything started here is stopped by PID on exit,
# also on Ctrl-C or an error.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

BUILD=build/release
DURATION=10
WARMUP=3
ROUNDS=5
CONNS="16 64"
CASES="json sse"
TARGETS="kvroute nginx haproxy direct"
THREADS=1
PC_PIN=auto
NICE=0
OUT=""
KVROUTE_B=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --cases) CASES="$2"; shift 2 ;;
    --targets) TARGETS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --pin) PC_PIN="$2"; shift 2 ;;
    --nice) NICE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --kvroute-b) KVROUTE_B="$2"; shift 2 ;;
    --keep) PC_KEEP=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) pc_die "unknown option $1 (see --help)" ;;
  esac
done
if [ -n "$KVROUTE_B" ]; then
  [ -x "$KVROUTE_B" ] || pc_die "--kvroute-b: no executable at $KVROUTE_B"
  [[ " $TARGETS " == *" kvroute-b "* ]] || TARGETS="$TARGETS kvroute-b"
fi
for t in $TARGETS; do
  case "$t" in kvroute|kvroute-b|nginx|haproxy|direct) ;; *) pc_die "unknown target $t" ;; esac
done
for c in $CASES; do
  case "$c" in json|sse) ;; *) pc_die "unknown case $c" ;; esac
done
[ -n "$OUT" ] || OUT="/tmp/proxy_compare-$(date +%Y%m%d-%H%M%S).json"
MD_OUT="${OUT%.json}.md"

pc_find_bins "$BUILD"
pc_cpus
pc_scratch
trap pc_cleanup EXIT
trap 'exit 130' INT TERM

# Enough descriptors for every proxy (client + upstream sockets); children inherit the limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
MAXCONN=$((($(ulimit -n) - 100) / 2)); [ "$MAXCONN" -le 100000 ] || MAXCONN=100000
NICE_CMD=()
[ "$NICE" = 0 ] || NICE_CMD=(nice -n "$NICE")
CLK_TCK="$(pc_clk_tck)"

# ---------------------------------------------------------------------------------------------
# Backends and proxies

pc_start_backends "${NICE_CMD[@]}"
declare -A PORT PID
PORT[kvroute]="$(pc_free_port)"; PORT[kvroute-b]="$(pc_free_port)"; PORT[nginx]="$(pc_free_port)"; PORT[haproxy]="$(pc_free_port)"
PORT[direct]="$B1"

if [[ " $TARGETS " == *" nginx "* ]]; then
  d="$PC_DIR/nginx"; mkdir -p "$d"
  pc_render "$PC_HERE/conf/proxy-nginx.conf.in" "$d/nginx.conf" DIR="$d" PORT="${PORT[nginx]}" MAXCONN="$MAXCONN" BACKEND1="$B1" BACKEND2="$B2"
  pc_start nginx "$PC_PROXY_CPU" "${NICE_CMD[@]}" "$NGINX_BIN" -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
  PID[nginx]=$PC_STARTED_PID
  pc_wait_listening "${PID[nginx]}" "${PORT[nginx]}" nginx
fi
if [[ " $TARGETS " == *" haproxy "* ]]; then
  d="$PC_DIR/haproxy"; mkdir -p "$d"
  pc_render "$PC_HERE/conf/haproxy.cfg.in" "$d/haproxy.cfg" DIR="$d" PORT="${PORT[haproxy]}" MAXCONN="$MAXCONN" BACKEND1="$B1" BACKEND2="$B2"
  "$HAPROXY_BIN" -c -q -f "$d/haproxy.cfg" || pc_die "haproxy refused $d/haproxy.cfg"
  pc_start haproxy "$PC_PROXY_CPU" "${NICE_CMD[@]}" "$HAPROXY_BIN" -db -f "$d/haproxy.cfg"
  PID[haproxy]=$PC_STARTED_PID
  pc_wait_listening "${PID[haproxy]}" "${PORT[haproxy]}" haproxy
fi
for t in kvroute kvroute-b; do
  [[ " $TARGETS " == *" $t "* ]] || continue
  bin="$KVROUTE_BIN"; [ "$t" = kvroute-b ] && bin="$KVROUTE_B"
  pc_render "$PC_HERE/conf/kvroute.yaml.in" "$PC_DIR/$t.yaml" PORT="${PORT[$t]}" MAXCONN="$MAXCONN" BACKEND1="$B1" BACKEND2="$B2"
  pc_start "$t" "$PC_PROXY_CPU" "${NICE_CMD[@]}" "$bin" --config "$PC_DIR/$t.yaml" --log-level warn
  PID[$t]=$PC_STARTED_PID
  pc_wait_ready "${PID[$t]}" "$t"
done

body_for() { [ "$1" = sse ] && echo "$PC_HERE/request-stream.json" || echo "$PC_HERE/request.json"; }
accept_for() { [ "$1" = sse ] && echo "text/event-stream" || echo "application/json"; }

# Every target must relay the backend's answer byte for byte before anything is measured.
if command -v curl >/dev/null; then
  for t in $TARGETS; do
    for c in $CASES; do
      expect="$PC_HERE/response.sse"
      [ "$c" = json ] && { printf '%s' "$(cat "$PC_HERE/response.json")" > "$PC_DIR/expect.json"; expect="$PC_DIR/expect.json"; }
      curl -sS --max-time 5 -H "Content-Type: application/json" -H "Accept: $(accept_for "$c")" \
        --data-binary @"$(body_for "$c")" -o "$PC_DIR/check.out" "http://127.0.0.1:${PORT[$t]}/v1/chat/completions" \
        || pc_die "$t ($c): request failed"
      cmp -s "$PC_DIR/check.out" "$expect" || pc_die "$t ($c): the answer differs from the backend's body"
    done
  done
  pc_log "every target relays both answers byte for byte"
fi

# ---------------------------------------------------------------------------------------------
# Measuring

# wrk_run TARGET CASE CONNS SECONDS -> one line: requests duration_us errors p50_us p90_us p99_us
#                                      max_us proxy_cpu_ticks proxy_core_busy load_cores_busy
busy_ticks() { local s=0 c; for c in $(cpu_list "$1"); do s=$((s + $(pc_cpu_busy_ticks "$c"))); done; echo $s; }
cpu_list() { # "0-2,5" -> 0 1 2 5
  local part out=() a b i
  IFS=, read -ra parts <<< "$1"
  for part in "${parts[@]}"; do
    if [[ "$part" == *-* ]]; then a=${part%-*}; b=${part#*-}; for ((i = a; i <= b; i++)); do out+=("$i"); done
    else out+=("$part"); fi
  done
  echo "${out[@]}"
}
wrk_run() {
  local target="$1" kind="$2" conns="$3" secs="$4" raw="$PC_DIR/wrk.$1.$2.$3.$RANDOM.txt"
  local pid="${PID[$target]:-}" cpu0=0 cpu1 pb0 pb1 lb0 lb1 t0 t1 o0 o1 w0 w1 line
  [ -n "$pid" ] && cpu0="$(pc_cpu_ticks "$pid")"
  pb0="$(busy_ticks "$PC_PROXY_CPU")"; lb0="$(busy_ticks "$PC_LOAD_CPUS")"
  times > "$PC_DIR/times.0"; t0="$(task_ticks)"; o0="$(our_ticks)"
  PC_BODY="$(body_for "$kind")" PC_ACCEPT="$(accept_for "$kind")" \
    timeout --kill-after=5 $((secs + 30)) taskset -c "$PC_LOAD_CPUS" "${NICE_CMD[@]}" "$WRK_BIN" \
    -t"$THREADS" -c"$conns" -d"${secs}s" --latency -s "$PC_HERE/post.lua" \
    "http://127.0.0.1:${PORT[$target]}/v1/chat/completions" > "$raw" 2>&1 || true
  pb1="$(busy_ticks "$PC_PROXY_CPU")"; lb1="$(busy_ticks "$PC_LOAD_CPUS")"
  times > "$PC_DIR/times.1"; t1="$(task_ticks)"; o1="$(our_ticks)"
  w0="$(pc_children_ticks "$PC_DIR/times.0")"; w1="$(pc_children_ticks "$PC_DIR/times.1")"
  cpu1=0; [ -n "$pid" ] && cpu1="$(pc_cpu_ticks "$pid")"
  [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || { cat "$raw" >&2; pc_die "$target died during the run"; }
  line="$(grep '^PCRESULT' "$raw" || true)"
  [ -n "$line" ] || { cat "$raw" >&2; pc_die "wrk gave no result for $target/$kind/$conns"; }
  # others: task time on the benchmark's CPUs that none of its processes (proxies, backends, wrk)
  # used, i.e. what other work on the machine took from this run.
  local others=$(((t1 - t0) - (o1 - o0) - (w1 - w0)))
  [ "$others" -ge 0 ] || others=0
  awk -v cpu=$((cpu1 - cpu0)) -v pb=$((pb1 - pb0)) -v lb=$((lb1 - lb0)) -v others="$others" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      err = v["connect"] + v["read"] + v["write"] + v["status"] + v["timeout"]
      print v["requests"], v["duration_us"], err, v["p50_us"], v["p90_us"], v["p99_us"], v["max_us"], cpu, pb, lb, others
    }' <<< "$line"
}
ALL_CPUS="$(echo $(cpu_list "$PC_PROXY_CPU") $(cpu_list "$PC_LOAD_CPUS") | tr ' ' '\n' | sort -nu | tr '\n' ' ')"
NALL=$(echo $ALL_CPUS | wc -w)
task_ticks() { local s=0 c; for c in $ALL_CPUS; do s=$((s + $(pc_cpu_task_ticks "$c"))); done; echo $s; }
our_ticks() { local s=0 p; for p in "${PC_PIDS[@]}"; do s=$((s + $(pc_cpu_ticks "$p"))); done; echo $s; }

RAW="$PC_DIR/results.tsv"
: > "$RAW"
read -ra TARGET_LIST <<< "$TARGETS"
NT=${#TARGET_LIST[@]}
MAXC=0; for c in $CONNS; do [ "$c" -gt "$MAXC" ] && MAXC=$c; done
KV_VERSION="$(cd "$PC_REPO" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# The binary may have been built from uncommitted sources: say so.
if [ -n "$(cd "$PC_REPO" && git status --porcelain -- src apps 2>/dev/null | grep -v '^??' || true)" ]; then
  KV_VERSION="$KV_VERSION+local-changes"
fi
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
START_TS="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

pc_log "pinning: proxies on CPU $PC_PROXY_CPU, wrk and backends on CPU $PC_LOAD_CPUS; load average $LOAD_START"
if [ "$WARMUP" -gt 0 ]; then
  for t in "${TARGET_LIST[@]}"; do
    for c in $CASES; do
      pc_log "warm-up $t $c ${WARMUP}s"
      wrk_run "$t" "$c" "$MAXC" "$WARMUP" > /dev/null
    done
  done
fi
for ((r = 1; r <= ROUNDS; r++)); do
  k=0
  for c in $CASES; do
    for n in $CONNS; do
      order=()
      for ((i = 0; i < NT; i++)); do order+=("${TARGET_LIST[$(((i + r + k) % NT))]}"); done
      k=$((k + 1))
      for t in "${order[@]}"; do
        res="$(wrk_run "$t" "$c" "$n" "$DURATION")"
        echo "$r $c $n $t $res" >> "$RAW"
        pc_log "round $r/$ROUNDS $c c=$n $t: $(awk '{ printf "%.0f req/s, p50 %.3f ms, p99 %.3f ms, errors %d", $5 * 1e6 / $6, $8 / 1000, $10 / 1000, $7 }' <<< "$r $c $n $t $res")"
      done
    done
  done
done
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
declare -A RSS
for t in "${TARGET_LIST[@]}"; do [ -n "${PID[$t]:-}" ] && RSS[$t]="$(pc_rss_kb "${PID[$t]}")"; done

# ---------------------------------------------------------------------------------------------
# Medians, ratios to nginx, table, JSON and Markdown

SUMMARY="$PC_DIR/summary.tsv"
awk -v tck="$CLK_TCK" -v ncpu="$NALL" '
  function median(list,    a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    key = $2 " " $3 " " $4
    if (!(key in seen)) { seen[key] = 1; keys[++nk] = key }
    secs = $6 / 1e6
    rps[key] = rps[key] " " $5 / secs
    p50[key] = p50[key] " " $8 / 1000
    p99[key] = p99[key] " " $10 / 1000
    err[key] += $7
    cpu[key] = cpu[key] " " ($12 / tck) / secs * 100
    us[key] = us[key] " " ($5 > 0 ? ($12 / tck) * 1e6 / $5 : 0)
    pcore[key] = pcore[key] " " ($13 / tck) / secs * 100
    lcore[key] = lcore[key] " " ($14 / tck) / secs * 100
    oth[key] = oth[key] " " ($15 / tck) / secs * 100 / ncpu
    rounds[key] = rounds[key] " " $1
    r_rps[key, $1] = $5 / secs; r_p99[key, $1] = $10
  }
  END {
    for (i = 1; i <= nk; i++) {
      k = keys[i]
      # Ratios to nginx paired by round (same case, connections and round, so the same background
      # load within a minute), then the median over rounds: steadier than a ratio of medians on a
      # machine shared with other work.
      split(k, f, " "); ng = f[1] " " f[2] " nginx"; rr = ""; pr = ""
      n = split(rounds[k], rs, " ")
      for (j = 1; j <= n; j++) {
        if ((ng SUBSEP rs[j]) in r_rps && r_rps[ng, rs[j]] > 0) rr = rr " " r_rps[k, rs[j]] / r_rps[ng, rs[j]]
        if ((ng SUBSEP rs[j]) in r_p99 && r_p99[ng, rs[j]] > 0) pr = pr " " r_p99[k, rs[j]] / r_p99[ng, rs[j]]
      }
      printf "%s %.0f %.3f %.3f %d %.1f %.2f %.0f %.0f %s %s %.0f\n", k, median(rps[k]), median(p50[k]), median(p99[k]), err[k],
             median(cpu[k]), median(us[k]), median(pcore[k]), median(lcore[k]),
             rr == "" ? "-" : sprintf("%.2f", median(rr)), pr == "" ? "-" : sprintf("%.2f", median(pr)), median(oth[k])
    }
  }' "$RAW" > "$SUMMARY"
# columns: case conns target rps p50_ms p99_ms errors proxy_cpu_pct cpu_us_per_req proxy_core_busy
#          load_cores_busy rps_ratio_to_nginx p99_ratio_to_nginx (both paired by round, medians)
#          others_pct (share of the benchmark's CPUs used by other processes)

TABLE="$PC_DIR/table.txt"
MDTABLE="$PC_DIR/table.md"
awk -v targets="$TARGETS" -v cases="$CASES" -v conns="$CONNS" '
  { k = $1 " " $2 " " $3; rps[k] = $4; p50[k] = $5; p99[k] = $6; err[k] = $7; cpu[k] = $8; us[k] = $9; pc[k] = $10; lc[k] = $11
    rratio[k] = $12; pratio[k] = $13; oth[k] = $14 }
  END {
    nt = split(targets, T, " "); nc = split(cases, C, " "); nn = split(conns, N, " ")
    hdr = sprintf("%-9s %-4s %5s %9s %8s %8s %9s %9s %6s %9s %6s %6s", "proxy", "case", "conns", "req/s", "p50 ms", "p99 ms",
                  "rps/nginx", "p99/nginx", "errors", "proxy CPU", "us/req", "loadCPU")
    print hdr > "/dev/stderr"
    print "| proxy | case | conns | req/s | p50 ms | p99 ms | rps / nginx | p99 / nginx | errors | proxy CPU % | proxy CPU us/req | wrk+backend CPUs busy % | others % |"
    print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for (c = 1; c <= nc; c++) for (n = 1; n <= nn; n++) {
      for (t = 1; t <= nt; t++) {
        k = C[c] " " N[n] " " T[t]; if (!(k in rps)) continue
        rr = rratio[k]; pr = pratio[k]
        cp = T[t] == "direct" ? "-" : sprintf("%.0f%%", cpu[k]); u = T[t] == "direct" ? "-" : us[k]
        printf "%-9s %-4s %5s %9s %8s %8s %9s %9s %6s %9s %6s %6s%% %5s%%\n", T[t], C[c], N[n], rps[k], p50[k], p99[k], rr, pr, err[k], cp, u, lc[k], oth[k] > "/dev/stderr"
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", T[t], C[c], N[n], rps[k], p50[k], p99[k], rr, pr, err[k], cp, u, lc[k], oth[k]
      }
    }
  }' "$SUMMARY" > "$MDTABLE" 2> "$TABLE"

CPU_MODEL="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
{
  echo
  echo "proxy_compare: ${ROUNDS} rounds x ${DURATION}s per run, wrk -t${THREADS}, medians over rounds"
  echo "machine: ${PC_NCPU} CPUs ($CPU_MODEL), kernel $(uname -r); proxies on CPU $PC_PROXY_CPU, wrk + backends on CPU $PC_LOAD_CPUS"
  echo "load average before/after: $LOAD_START / $LOAD_END; kvroute $KV_VERSION; $("$NGINX_BIN" -v 2>&1 | sed 's/.*: //'); $("$HAPROXY_BIN" -v | head -1 | cut -d' ' -f1-3)"
  echo
  cat "$TABLE"
  echo
  printf 'RSS after the run (KiB):'
  for t in "${TARGET_LIST[@]}"; do [ -n "${RSS[$t]:-}" ] && printf ' %s %s' "$t" "${RSS[$t]}"; done
  echo
} | tee "$PC_DIR/report.txt"

# JSON: settings, environment, per-run raw figures and the medians.
{
  printf '{\n  "benchmark": "proxy_compare",\n  "started": "%s",\n  "kvroute_commit": "%s",\n' "$START_TS" "$KV_VERSION"
  printf '  "settings": {"duration_s": %s, "warmup_s": %s, "rounds": %s, "connections": [%s], "cases": [%s], "wrk_threads": %s, "proxy_cpus": "%s", "load_cpus": "%s", "nice": %s},\n' \
    "$DURATION" "$WARMUP" "$ROUNDS" "$(echo $CONNS | tr ' ' ',')" "$(printf '"%s",' $CASES | sed 's/,$//')" "$THREADS" "$PC_PROXY_CPU" "$PC_LOAD_CPUS" "$NICE"
  printf '  "machine": {"cpus": %s, "cpu_model": "%s", "kernel": "%s", "loadavg_before": "%s", "loadavg_after": "%s"},\n' \
    "$PC_NCPU" "$CPU_MODEL" "$(uname -r)" "$LOAD_START" "$LOAD_END"
  printf '  "rss_kib_after": {'
  sep=""; for t in "${TARGET_LIST[@]}"; do [ -n "${RSS[$t]:-}" ] && { printf '%s"%s": %s' "$sep" "$t" "${RSS[$t]}"; sep=", "; }; done
  printf '},\n  "runs": [\n'
  awk -v tck="$CLK_TCK" '{ printf "%s    {\"round\": %s, \"case\": \"%s\", \"connections\": %s, \"target\": \"%s\", \"requests\": %s, \"duration_us\": %s, \"errors\": %s, \"p50_us\": %s, \"p90_us\": %s, \"p99_us\": %s, \"max_us\": %s, \"proxy_cpu_s\": %.2f, \"others_cpu_s\": %.2f}", (NR > 1 ? ",\n" : ""), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 / tck, $15 / tck }' "$RAW"
  printf '\n  ],\n  "medians": [\n'
  awk '{ printf "%s    {\"case\": \"%s\", \"connections\": %s, \"target\": \"%s\", \"rps\": %s, \"p50_ms\": %s, \"p99_ms\": %s, \"errors\": %s, \"proxy_cpu_pct\": %s, \"proxy_cpu_us_per_request\": %s, \"proxy_core_busy_pct\": %s, \"load_cores_busy_pct\": %s, \"rps_ratio_to_nginx\": %s, \"p99_ratio_to_nginx\": %s, \"others_cpu_pct\": %s}", (NR > 1 ? ",\n" : ""), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, ($12 == "-" ? "null" : $12), ($13 == "-" ? "null" : $13), $14 }' "$SUMMARY"
  printf '\n  ]\n}\n'
} > "$OUT"
{
  echo "# proxy_compare $START_TS"
  echo
  echo "${ROUNDS} rounds x ${DURATION}s, wrk -t${THREADS}, medians over rounds; ${PC_NCPU} CPUs ($CPU_MODEL); proxies on CPU $PC_PROXY_CPU, wrk + backends on CPU $PC_LOAD_CPUS; load average $LOAD_START -> $LOAD_END; kvroute $KV_VERSION"
  echo
  cat "$MDTABLE"
} > "$MD_OUT"
# The raw runs, one line each: round case conns target requests duration_us errors p50_us p90_us
# p99_us max_us proxy_cpu_ticks proxy_cores_busy_ticks load_cores_busy_ticks others_ticks
cp "$RAW" "${OUT%.json}.tsv"
pc_log "wrote $OUT, $MD_OUT and ${OUT%.json}.tsv"
