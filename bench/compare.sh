#!/usr/bin/env bash
# Side-by-side echo benchmark. Builds nothing: give it a build directory that has samples/echo_server and
# bench/rp_load (and, for the peers, bench/uv_echo_server, asio_echo_server, epoll_echo_server, uring_echo_server).
#
#   bash bench/compare.sh BUILD_DIR [ROUNDS (8)] [DURATION seconds (2)]
#
# Servers, each with one thread serving, each on its own port, all started once:
#   ringport_io_uring   samples/echo_server --backend io_uring --workers 1 (pool receives, the default)
#   ringport_epoll      samples/echo_server --backend epoll --workers 1 (pool receives)
# and, when named in SERVERS: ringport_io_uring_buf / ringport_epoll_buf (--recv buffer: a 64 KiB buffer
# per connection), ringport_io_uring_spin / ringport_epoll_spin (--spin-us 50), ringport_io_uring_sqpoll.
#   libuv               bench/uv_echo_server (libuv's model: one loop thread)
#   asio                bench/asio_echo_server (Boost.Asio, one io_context thread)
#   epoll_by_hand       bench/epoll_echo_server (edge-triggered, no library)
#   uring_by_hand       bench/uring_echo_server (liburing, multishot accept, no library of ours)
# A server that is not built, or cannot run here (e.g. io_uring forbidden), is skipped with the reason.
# With WINE_BUILD=<MinGW build dir> two Windows servers run under Wine too (Linux client, same rp_load):
#   ringport_iocp_wine  bin/echo_server.exe --backend iocp --workers 1
#   iocp_by_hand_wine   bin/iocp_echo_server.exe (hand-written IOCP, no library)
# e.g. WINE_BUILD=build/mingw SERVERS="ringport_iocp_wine iocp_by_hand_wine" BASE=iocp_by_hand_wine
# (their CPU column leaves out wineserver's share).
# With BEFORE_BUILD=<build dir of another ringport commit> its echo server runs too, to compare a change
# with its parent in the same run: ringport_io_uring_before, ringport_epoll_before
# (e.g. BEFORE_BUILD=/tmp/rp-before/build BASE=ringport_io_uring_before).
#
# The same client, bench/rp_load (plain epoll, one thread, every echoed byte verified), runs each scenario
# against each server in turn, alternating A B C D A B C D ... for ROUNDS rounds, so that drift of the
# machine hits every server alike. Ratios to the base server (libuv) are taken within each round, where the
# machine's drift (up to ~50 % between rounds on a small VM) cancels, and reported as their median with
# the lowest and highest round. The table also gives the median of the rounds, the spread (max - min) /
# median, latency percentiles, and the CPU time the server process used per request (or per MB):
# with one client thread the client is often the bottleneck, and then server CPU is the telling figure.
# With taskset and at least 2 CPUs the servers run on CPU 0 and the client on CPU 1.
#
# Environment: ROUNDS, DURATION, WARMUP (0.5 s), PORT_BASE (7301), SERVER_CPU (0), CLIENT_CPU (1),
#   SERVERS (names to run, e.g. "ringport_io_uring libuv"), BASE (the ratios' reference, libuv), SCENARIOS (default
#   "pingpong:1:64 pingpong:50:128 pingpong:1000:128 throughput:10:16384", mode:connections:size).
# Every server started here is stopped on exit, whatever happens (trap EXIT).
set -uo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then usage; exit 2; fi
build=$(cd "$1" 2>/dev/null && pwd) || { echo "compare.sh: no build directory $1" >&2; exit 2; }
rounds=${2:-${ROUNDS:-8}}
duration=${3:-${DURATION:-2}}
warmup=${WARMUP:-0.5}
port_base=${PORT_BASE:-7301}
read -r -a scenarios <<<"${SCENARIOS:-pingpong:1:64 pingpong:50:128 pingpong:1000:128 throughput:10:16384}"
load="$build/bench/rp_load"

[ "$(uname -s)" = Linux ] || { echo "compare.sh: Linux only (rp_load uses epoll)" >&2; exit 2; }
[ -x "$load" ] || { echo "compare.sh: $load is missing: build the bench/ directory first" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: ROUNDS must be a positive integer" >&2; exit 2; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
bench_pinning

all_names=(ringport_io_uring ringport_epoll libuv asio epoll_by_hand uring_by_hand)
declare -A cmd=(
  [ringport_io_uring]="$build/samples/echo_server --backend io_uring --workers 1 --host 127.0.0.1 --port"
  [ringport_epoll]="$build/samples/echo_server --backend epoll --workers 1 --host 127.0.0.1 --port"
  [ringport_io_uring_buf]="$build/samples/echo_server --backend io_uring --workers 1 --recv buffer --host 127.0.0.1 --port"
  [ringport_epoll_buf]="$build/samples/echo_server --backend epoll --workers 1 --recv buffer --host 127.0.0.1 --port"
  [ringport_io_uring_spin]="$build/samples/echo_server --backend io_uring --workers 1 --spin-us 50 --host 127.0.0.1 --port"
  [ringport_epoll_spin]="$build/samples/echo_server --backend epoll --workers 1 --spin-us 50 --host 127.0.0.1 --port"
  [ringport_io_uring_sqpoll]="$build/samples/echo_server --backend io_uring --workers 1 --sqpoll on --host 127.0.0.1 --port"
  [libuv]="$build/bench/uv_echo_server --host 127.0.0.1 --port"
  [asio]="$build/bench/asio_echo_server --host 127.0.0.1 --port"
  [epoll_by_hand]="$build/bench/epoll_echo_server --host 127.0.0.1 --port"
  [uring_by_hand]="$build/bench/uring_echo_server --host 127.0.0.1 --port")
if [ -n "${WINE_BUILD:-}" ]; then
  wine_build=$(cd "$WINE_BUILD" && pwd) || { echo "compare.sh: no build directory $WINE_BUILD" >&2; exit 2; }
  export WINEDEBUG=-all
  all_names+=(ringport_iocp_wine iocp_by_hand_wine)
  cmd[ringport_iocp_wine]="$wine_build/bin/echo_server.exe --backend iocp --workers 1 --host 127.0.0.1 --port"
  cmd[iocp_by_hand_wine]="$wine_build/bin/iocp_echo_server.exe --host 127.0.0.1 --port"
fi
if [ -n "${BEFORE_BUILD:-}" ]; then
  before_build=$(cd "$BEFORE_BUILD" && pwd) || { echo "compare.sh: no build directory $BEFORE_BUILD" >&2; exit 2; }
  all_names+=(ringport_io_uring_before ringport_epoll_before)
  cmd[ringport_io_uring_before]="$before_build/samples/echo_server --backend io_uring --workers 1 --host 127.0.0.1 --port"
  cmd[ringport_epoll_before]="$before_build/samples/echo_server --backend epoll --workers 1 --host 127.0.0.1 --port"
fi
read -r -a wanted <<<"${SERVERS:-${all_names[*]}}"

bench_servers_init compare.sh

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

echo "== echo comparison: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "kernel $(uname -r), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'))"
echo "liburing $(pkg-config --modversion liburing 2>/dev/null || echo '?'), libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?')"
if [ ${#pin_server[@]} -gt 0 ]; then
  echo "servers pinned to CPU ${SERVER_CPU:-0}, client (rp_load, 1 thread) to CPU ${CLIENT_CPU:-1}"
else
  echo "no pinning (taskset missing or a single CPU): server and client share the CPUs"
fi
echo "$rounds alternating rounds of ${duration} s (+ ${warmup} s warm-up) per scenario and server"
report_busy
echo
echo "servers:"
i=0
for n in "${wanted[@]}"; do
  [ -n "${cmd[$n]:-}" ] || { echo "compare.sh: unknown server $n (known: ${all_names[*]})" >&2; exit 2; }
  p=$((port_base + i)); i=$((i + 1))
  bin=${cmd[$n]%% *}
  if [ ! -x "$bin" ]; then printf "  %-18s skipped: %s not built\n" "$n" "$bin"; continue; fi
  if port_open "$p"; then
    echo "compare.sh: port $p is already in use: set PORT_BASE to a free range" >&2; exit 1
  fi
  launcher=(); [[ "$bin" == *.exe ]] && launcher=(wine)
  "${pin_server[@]}" "${launcher[@]}" ${cmd[$n]} "$p" >"$logdir/$n.log" 2>&1 &
  pid[$n]=$!
  up=0
  for _ in $(seq 100); do
    if port_open "$p"; then up=1; break; fi
    kill -0 "${pid[$n]}" 2>/dev/null || break
    sleep 0.05
  done
  if [ $up = 0 ]; then
    printf "  %-18s skipped: %s\n" "$n" "$(tail -n1 "$logdir/$n.log" 2>/dev/null || echo 'did not start')"
    stop_server "$n" >/dev/null 2>&1
    continue
  fi
  names+=("$n"); port[$n]=$p
  printf "  %-18s %s\n" "$n" "$(head -n1 "$logdir/$n.log")"
done
[ ${#names[@]} -gt 0 ] || { echo "compare.sh: no server could run" >&2; exit 1; }
base_name=${BASE:-libuv}
base=""; for n in "${names[@]}"; do [ "$n" = "$base_name" ] && base=$base_name; done
[ -n "$base" ] || echo "($base_name server not available: no ratios)"

tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime + stime
jget() { sed -nE "s/.*\"$1\":(-?[0-9.]+).*/\1/p" <<<"$2"; }
stats() { # numbers on stdin -> "median spread%"
  sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) { print "- -"; exit }
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%s %s\n", m, (m > 0 ? sprintf("%.0f", 100 * (a[NR] - a[1]) / m) : "-") }'
}

failures=0
declare -A val=() p50=() p99=() p999=() scpu=() ccpu=() bad=() rval=() rcpu=()
for sc in "${scenarios[@]}"; do
  IFS=: read -r mode conns size <<<"$sc"
  for r in $(seq "$rounds"); do
    for n in "${names[@]}"; do
      key="$sc|$n"
      if ! kill -0 "${pid[$n]}" 2>/dev/null; then bad[$key]="server died"; continue; fi
      t0=$(cpu_ticks "${pid[$n]}")
      out=$("${pin_client[@]}" "$load" --port "${port[$n]}" --mode "$mode" --connections "$conns" --size "$size" \
            --duration "$duration" --warmup "$warmup" --json 2>"$logdir/load.err")
      rc=$?
      t1=$(cpu_ticks "${pid[$n]}")
      errs=$(jget errors "$out")
      if [ $rc -ne 0 ] || [ "${errs:-1}" != 0 ]; then
        failures=$((failures + 1))
        bad[$key]="rp_load failed (exit $rc)"
        echo "compare.sh: $mode ${conns}c ${size}B against $n, round $r: rp_load exit $rc: $out" >&2
        sed 's/^/    /' "$logdir/load.err" >&2
        continue
      fi
      if [ "$mode" = throughput ]; then v=$(jget mb_per_s "$out"); else v=$(jget requests_per_s "$out"); fi
      val[$key]+="$v "
      p50[$key]+="$(jget p50_us "$out") "
      p99[$key]+="$(jget p99_us "$out") "
      p999[$key]+="$(jget p999_us "$out") "
      ccpu[$key]+="$(jget client_cpu_pct "$out") "
      # Server CPU over warm-up + measurement, divided by the work of both (rate x (duration + warm-up)).
      c=$(awk -v t=$((t1 - t0)) -v hz="$tck" -v rate="$v" -v d="$duration" -v w="$warmup" \
        'BEGIN {work = rate * (d + w); printf "%.3f", (work > 0 ? t / hz * 1e6 / work : 0)}')
      scpu[$key]+="$c "
      rval[$key|$r]=$v; rcpu[$key|$r]=$c # per round: ratios are taken within a round, then the median
    done
  done
done

echo
printf "%-22s %-18s %12s %-5s %7s %8s %-13s %9s %9s %9s %14s %8s %8s\n" scenario server median "" spread "vs base" \
  "(rounds)" "p50 us" "p99 us" "p99.9 us" "server CPU" "CPU/base" "client"
client_bound=0
for sc in "${scenarios[@]}"; do
  IFS=: read -r mode conns size <<<"$sc"
  unit=req/s; cunit=us/req
  [ "$mode" = throughput ] && { unit=MB/s; cunit=us/MB; }
  read -r bmed _ <<<"$(tr ' ' '\n' <<<"${val[$sc|$base]:-}" | grep . | stats)"
  for n in "${names[@]}"; do
    key="$sc|$n"
    label="$mode ${conns}c ${size}B"
    if [ -z "${val[$key]:-}" ]; then
      printf "%-22s %-18s %12s\n" "$label" "$n" "${bad[$key]:-no result}"
      continue
    fi
    read -r med spread <<<"$(tr ' ' '\n' <<<"${val[$key]}" | grep . | stats)"
    read -r l50 _ <<<"$(tr ' ' '\n' <<<"${p50[$key]}" | grep . | stats)"
    read -r l99 _ <<<"$(tr ' ' '\n' <<<"${p99[$key]}" | grep . | stats)"
    read -r l999 _ <<<"$(tr ' ' '\n' <<<"${p999[$key]}" | grep . | stats)"
    read -r cpu _ <<<"$(tr ' ' '\n' <<<"${scpu[$key]}" | grep . | stats)"
    read -r cc _ <<<"$(tr ' ' '\n' <<<"${ccpu[$key]}" | grep . | stats)"
    # Ratios to the base server within each round (the machine's drift cancels), then their median and range.
    ratio="-"; range=""; cratio="-"
    if [ -n "$base" ]; then
      rr=(); cr=()
      for r in $(seq "$rounds"); do
        a=${rval[$key|$r]:-}; b=${rval[$sc|$base|$r]:-}
        [ -n "$a" ] && [ -n "$b" ] || continue
        rr+=("$(awk -v a="$a" -v b="$b" 'BEGIN {if (b > 0) printf "%.4f", a / b}')")
        cr+=("$(awk -v a="${rcpu[$key|$r]}" -v b="${rcpu[$sc|$base|$r]}" 'BEGIN {if (b > 0) printf "%.4f", a / b}')")
      done
      if [ ${#rr[@]} -gt 0 ]; then
        read -r rmed _ <<<"$(printf '%s\n' "${rr[@]}" | grep . | stats)"
        ratio=$(awk -v m="$rmed" 'BEGIN {printf "%.2fx", m}')
        range=$(printf '%s\n' "${rr[@]}" | grep . | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f-%.2f", lo, hi}')
        read -r cmed _ <<<"$(printf '%s\n' "${cr[@]}" | grep . | stats)"
        cratio=$(awk -v m="$cmed" 'BEGIN {printf (m > 0 ? "%.2fx" : "-"), m}')
      fi
    fi
    [ "$mode" = throughput ] && { l50="-"; l99="-"; l999="-"; }
    awk -v c="$cc" 'BEGIN {exit !(c >= 95)}' && { client_bound=1; cc="$cc%*"; } || cc="$cc%"
    printf "%-22s %-18s %12s %-5s %6s%% %8s %-13s %9s %9s %9s %8.2f %-5s %8s %8s\n" "$label" "$n" "$med" "$unit" \
      "$spread" "$ratio" "${range:+($range)}" "$l50" "$l99" "$l999" "$cpu" "$cunit" "$cratio" "$cc"
  done
done
echo
echo "median of $rounds rounds; spread = (max - min) / median; vs base = median of the per-round ratios to $base_name"
echo "(rounds: their lowest and highest); server CPU = the server's user + system time per request (per MB) over"
echo "warm-up and measurement, CPU/base its per-round ratio to $base_name (median); client = rp_load's CPU use (one thread)."
echo "A ratio whose round range straddles 1.00 is within this machine's noise."
[ $client_bound = 1 ] && echo "* the client thread was (nearly) saturated: the rate is bounded by the client, compare server CPU"


echo
echo "stopping the servers:"
for n in "${names[@]}"; do
  stop_server "$n"
  rc=$?
  printf "  %-18s exit %d: %s\n" "$n" $rc "$(tail -n1 "$logdir/$n.log")"
  [ $rc = 0 ] || failures=$((failures + 1))
done
[ $failures = 0 ] || { echo "compare.sh: $failures failure(s), see above" >&2; exit 1; }
