# Shared by bench/compare.sh and bench/udp_compare.sh (sourced, not run): the servers started in the
# background, their clean stop, and how busy the machine is before a run.
#   bench_pinning             pin_server / pin_client: taskset prefixes for CPU SERVER_CPU (0) and
#                             CLIENT_CPU (1), empty without taskset or with one CPU
#   bench_servers_init NAME   NAME is the calling script, for messages; creates $logdir and pid[]
#   stop_server SERVER        SIGINT, then up to 5 s for a clean exit, then SIGKILL; returns its exit code
#   cpu_busy                  percent of all CPUs busy over the next second (from /proc/stat)
#   report_busy               prints that, with a warning above 10 %

bench_pinning() {
  pin_server=(); pin_client=()
  if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    pin_server=(taskset -c "${SERVER_CPU:-0}"); pin_client=(taskset -c "${CLIENT_CPU:-1}")
  fi
}

bench_servers_init() {
  bench_script=$1
  logdir=$(mktemp -d "${TMPDIR:-/tmp}/ringport-${1%.sh}.XXXXXX")
  declare -gA pid=() port=()
  names=()
  trap bench_servers_cleanup EXIT
  trap 'exit 130' INT TERM
}

stop_server() {
  local p=${pid[$1]:-}
  [ -n "$p" ] || return 0
  kill -INT "$p" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    echo "$bench_script: $1 did not stop on SIGINT within 5 s: killed" >&2
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null
  local rc=$?
  unset "pid[$1]"
  return $rc
}

bench_servers_cleanup() {
  for n in "${!pid[@]}"; do stop_server "$n" >/dev/null 2>&1; done
  rm -rf "$logdir"
}

cpu_busy() {
  local a b
  a=$(head -n1 /proc/stat); sleep 1; b=$(head -n1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    n = split(a, x); split(b, y); t = 0
    for (i = 2; i <= n; i++) t += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%.0f", (t > 0 ? 100 * (t - idle) / t : 0) }'
}

report_busy() {
  local busy; busy=$(cpu_busy)
  echo "CPU busy before the start (other processes): ${busy}%"
  [ "$busy" -lt 10 ] || echo "warning: the machine is not idle; other processes will add noise to these figures"
}
