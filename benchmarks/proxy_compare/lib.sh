# Shared by run.sh and memory.sh (sourced, not run): finding binaries, free ports, rendering the
# configuration templates in conf/, starting processes pinned to a CPU, waiting for readiness,
# stopping everything this script started (by PID), and reading /proc.
# Needs only bash, coreutils, util-linux (taskset) and the Debian packages from scripts/setup.sh.

PC_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PC_REPO="$(cd "$PC_HERE/../.." && pwd)"
PC_PIDS=()        # every process started here, stopped by pc_stop_all
PC_DIR=""         # scratch directory of this run (configs, logs), removed at the end unless PC_KEEP=1

pc_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
pc_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# pc_find_bins BUILD_DIR: sets KVROUTE_BIN, NGINX_BIN, HAPROXY_BIN, WRK_BIN, ECHO_MODULE.
pc_find_bins() {
  local build="$1"
  [[ "$build" = /* ]] || build="$PC_REPO/$build"
  KVROUTE_BIN="$build/apps/kvroute/kvroute"
  [ -x "$KVROUTE_BIN" ] || pc_die "no kvroute binary at $KVROUTE_BIN (build it: cmake --build $build --target kvroute)"
  NGINX_BIN="$(command -v nginx || true)"; [ -n "$NGINX_BIN" ] || NGINX_BIN=/usr/sbin/nginx
  HAPROXY_BIN="$(command -v haproxy || true)"; [ -n "$HAPROXY_BIN" ] || HAPROXY_BIN=/usr/sbin/haproxy
  WRK_BIN="$(command -v wrk || true)"
  [ -x "$NGINX_BIN" ] || pc_die "nginx not found (scripts/setup.sh installs nginx-light)"
  [ -x "$HAPROXY_BIN" ] || pc_die "haproxy not found (scripts/setup.sh installs it)"
  [ -n "$WRK_BIN" ] || pc_die "wrk not found (scripts/setup.sh installs it)"
  command -v taskset >/dev/null || pc_die "taskset not found (util-linux)"
  ECHO_MODULE=""
  local m
  for m in /usr/lib/nginx/modules/ngx_http_echo_module.so /usr/share/nginx/modules/ngx_http_echo_module.so; do
    [ -f "$m" ] && ECHO_MODULE="$m" && break
  done
  [ -n "$ECHO_MODULE" ] || pc_die "nginx echo module not found (Debian package libnginx-mod-http-echo, pulled in by nginx-light)"
}

# pc_scratch: makes PC_DIR. Readable by nginx's unprivileged workers (they open nothing there, but
# nginx checks its temp paths).
pc_scratch() {
  PC_DIR="$(mktemp -d /tmp/proxy_compare.XXXXXX)"
  chmod 755 "$PC_DIR"
}

# pc_cpus: sets PC_NCPU, PC_PROXY_CPU and PC_LOAD_CPUS from PC_PIN (auto|off|"PROXY_CPUS:LOAD_CPUS").
# auto on 2+ CPUs: the proxy alone on the last CPU, wrk and the backends on the others.
pc_cpus() {
  PC_NCPU="$(nproc)"
  local pin="${PC_PIN:-auto}"
  if [ "$pin" = off ]; then
    PC_PROXY_CPU="0-$((PC_NCPU - 1))"; PC_LOAD_CPUS="$PC_PROXY_CPU"
  elif [ "$pin" = auto ]; then
    if [ "$PC_NCPU" -ge 2 ]; then
      PC_PROXY_CPU="$((PC_NCPU - 1))"; PC_LOAD_CPUS="0-$((PC_NCPU - 2))"
    else
      PC_PROXY_CPU=0; PC_LOAD_CPUS=0
    fi
  else
    PC_PROXY_CPU="${pin%%:*}"; PC_LOAD_CPUS="${pin#*:}"
  fi
}

# pc_port_listening PORT: true when something listens on 127.0.0.1:PORT or *:PORT (IPv4).
pc_port_listening() {
  local hex
  hex="$(printf '%04X' "$1")"
  awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# pc_port_used PORT: true when the port appears in any socket (listening or connected).
pc_port_used() {
  local hex
  hex="$(printf '%04X' "$1")"
  awk -v p=":$hex" 'NR > 1 && (substr($2, length($2) - 4) == p || substr($3, length($3) - 4) == p) { found = 1 }
                    END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# pc_free_port: prints a port below the ephemeral range that nothing uses now.
PC_LAST_PORT=0
pc_free_port() {
  local p tries=0
  while :; do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    tries=$((tries + 1))
    [ "$tries" -lt 500 ] || pc_die "no free port found"
    [ "$p" -ne "$PC_LAST_PORT" ] || continue
    pc_port_used "$p" && continue
    PC_LAST_PORT=$p
    echo "$p"
    return
  done
}

# pc_nginx_string FILE: the file's content as the inside of an nginx single-quoted string.
pc_nginx_string() {
  local s
  s="$(cat "$1")"
  s="${s//\\/\\\\}"
  s="${s//\'/\\\'}"
  s="${s//$'\n'/\\n}"
  printf '%s' "$s"
}

# pc_sse_echo FILE: nginx echo directives that send each SSE event of FILE ("data: ...\n\n") as
# its own chunk, flushed on its own.
pc_sse_echo() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    [ -n "$line" ] || continue
    line="${line//\\/\\\\}"
    line="${line//\'/\\\'}"
    printf "      echo -n '%s\\\\n\\\\n';\n      echo_flush;\n" "$line"
  done < "$1"
}

# pc_render TEMPLATE OUT NAME=VALUE...: copies TEMPLATE to OUT with every @NAME@ replaced by VALUE
# (values may hold any character, newlines included).
pc_render() {
  local in="$1" out="$2"
  shift 2
  local kv names=()
  for kv in "$@"; do
    export "PCR_${kv%%=*}=${kv#*=}"
    names+=("${kv%%=*}")
  done
  PCR_NAMES="${names[*]}" awk '
    BEGIN { n = split(ENVIRON["PCR_NAMES"], names, " ") }
    {
      line = $0
      for (i = 1; i <= n; i++) {
        key = "@" names[i] "@"; val = ENVIRON["PCR_" names[i]]; res = ""
        while ((at = index(line, key)) > 0) {
          res = res substr(line, 1, at - 1) val
          line = substr(line, at + length(key))
        }
        line = res line
      }
      print line
    }' "$in" > "$out"
  for kv in "${names[@]}"; do unset "PCR_$kv"; done
  unset PCR_NAMES
}

# pc_start NAME CPUS CMD...: starts CMD in the background pinned to CPUS, stdout and stderr to
# $PC_DIR/NAME.out / NAME.err; sets PC_STARTED_PID and remembers it for pc_stop_all.
pc_start() {
  local name="$1" cpus="$2"
  shift 2
  taskset -c "$cpus" "$@" > "$PC_DIR/$name.out" 2> "$PC_DIR/$name.err" &
  PC_STARTED_PID=$!
  PC_PIDS+=("$PC_STARTED_PID")
}

# pc_wait_listening PID PORT NAME: waits (10 s at most) until PORT listens; fails if PID exits.
pc_wait_listening() {
  local pid="$1" port="$2" name="$3" i
  for ((i = 0; i < 1000; i++)); do
    pc_port_listening "$port" && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$PC_DIR/$name.err" >&2; pc_die "$name exited before listening on $port"; }
    sleep 0.01
  done
  cat "$PC_DIR/$name.err" >&2
  pc_die "$name did not listen on $port within 10 s"
}

# pc_start_backends [PREFIX...]: the two fake inference servers (nginx answering response.json or
# response.sse, conf/backend-nginx.conf.in) on free ports, pinned to PC_LOAD_CPUS, each command run
# under PREFIX (e.g. nice); sets B1 and B2 to their ports and returns once both listen.
pc_start_backends() {
  local json sse n port d
  json="$(pc_nginx_string "$PC_HERE/response.json")"
  sse="$(pc_sse_echo "$PC_HERE/response.sse")"
  B1="$(pc_free_port)"; B2="$(pc_free_port)"
  for n in 1 2; do
    port=$B1; [ "$n" = 2 ] && port=$B2
    d="$PC_DIR/backend$n"; mkdir -p "$d"
    pc_render "$PC_HERE/conf/backend-nginx.conf.in" "$d/nginx.conf" ECHO_MODULE="$ECHO_MODULE" DIR="$d" PORT="$port" \
      JSON_BODY="$json" SSE_ECHO="$sse"
    pc_start "backend$n" "$PC_LOAD_CPUS" "$@" "$NGINX_BIN" -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
    pc_wait_listening "$PC_STARTED_PID" "$port" "backend$n"
  done
}

# pc_wait_ready PID NAME: waits (15 s at most) for the line "ready" in NAME's stdout (kvroute).
pc_wait_ready() {
  local pid="$1" name="$2" i
  for ((i = 0; i < 1500; i++)); do
    grep -qx ready "$PC_DIR/$name.out" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$PC_DIR/$name.err" >&2; pc_die "$name exited before it was ready"; }
    sleep 0.01
  done
  cat "$PC_DIR/$name.err" >&2
  pc_die "$name was not ready within 15 s"
}

# pc_stop_all: SIGTERM to every process started here, SIGKILL to those still there after 5 s.
pc_stop_all() {
  local pid i alive
  for pid in "${PC_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    alive=0
    for pid in "${PC_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${PC_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PC_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PC_PIDS=()
}

# pc_cleanup: the EXIT trap of both scripts.
pc_cleanup() {
  pc_stop_all
  if [ -n "$PC_DIR" ] && [ -d "$PC_DIR" ]; then
    if [ "${PC_KEEP:-0}" = 1 ]; then pc_log "kept $PC_DIR"; else rm -rf "$PC_DIR"; fi
  fi
}

# pc_tree PID: the process and its children (nginx master and workers).
pc_tree() {
  local pid="$1" c
  echo "$pid"
  for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do echo "$c"; done
}

# pc_cpu_ticks PID: user+system clock ticks of the process and its children.
pc_cpu_ticks() {
  local total=0 p stat rest
  for p in $(pc_tree "$1"); do
    stat="$(cat /proc/"$p"/stat 2>/dev/null)" || continue
    rest="${stat##*) }"          # fields from 3 (state) on; comm may contain spaces
    set -- $rest
    total=$((total + ${12} + ${13}))   # utime (field 14), stime (field 15)
  done
  echo "$total"
}

# pc_rss_kb PID: resident set size (VmRSS) of the process and its children, in KiB.
pc_rss_kb() {
  local total=0 p v
  for p in $(pc_tree "$1"); do
    v="$(awk '/^VmRSS:/ { print $2 }' /proc/"$p"/status 2>/dev/null)"
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# pc_cpu_busy_ticks CPU: busy (non-idle, non-iowait) ticks of one CPU from /proc/stat.
pc_cpu_busy_ticks() {
  awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# pc_cpu_task_ticks CPU: user+nice+system ticks of one CPU (time spent running tasks; interrupt and
# softirq time, which the kernel accounts to no task, left out).
pc_cpu_task_ticks() {
  awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4; exit }' /proc/stat
}

# pc_children_ticks FILE: user+system ticks of the waited-for children of the calling shell, from
# bash's `times` output saved in FILE (`times > FILE` must run in that shell itself: in a command
# substitution it would describe the substitution's own subshell).
pc_children_ticks() {
  awk -v tck="$(pc_clk_tck)" 'NR == 2 {
      t = 0
      for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
      printf "%d\n", t * tck + 0.5
    }' "$1"
}

pc_clk_tck() { getconf CLK_TCK 2>/dev/null || echo 100; }
