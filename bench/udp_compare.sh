#!/usr/bin/env bash
# Side-by-side UDP echo benchmark. Builds nothing: give it a build directory that has samples/udp_echo_server
# and samples/udp_load (and, for the peers, bench/uv_udp_echo_server and bench/mmsg_udp_echo_server).
#
#   bash bench/udp_compare.sh BUILD_DIR [ROUNDS (8)] [DURATION seconds (2)]
#
# Servers, each with one thread serving one socket, each on its own port, all started once:
#   ringport_io_uring   samples/udp_echo_server --backend io_uring --workers 1 (one multishot pool receive,
#                       each completion's datagrams echoed by one rp_udp_send)
#   ringport_epoll      samples/udp_echo_server --backend epoll --workers 1 (the same)
#   libuv               bench/uv_udp_echo_server (uv_udp with UV_UDP_RECVMMSG, uv_udp_try_send per datagram)
#   mmsg_by_hand        bench/mmsg_udp_echo_server (epoll edge-triggered, recvmmsg + one sendmmsg per batch)
# and, when named in SERVERS: ringport_io_uring_caller / ringport_epoll_caller (--recv caller: rp_udp_recv
# into the server's own buffers, then rp_udp_send).
# With WINE_BUILD=<MinGW build dir> two Windows servers run under Wine too (same Linux client):
#   ringport_iocp_wine  bin/udp_echo_server.exe --backend iocp --workers 1
#   iocp_by_hand_wine   bin/iocp_udp_echo_server.exe (overlapped WSARecvFrom / WSASendTo, no library)
# e.g. WINE_BUILD=build/mingw SERVERS="ringport_iocp_wine iocp_by_hand_wine" HAND=iocp_by_hand_wine
# (their CPU column leaves out wineserver's share).
# Every server named must be built: a missing binary is an error, not a skip. A server that is built but
# cannot run here (e.g. io_uring forbidden) is skipped with the reason.
#
# The same client, samples/udp_load (ringport, one worker thread, every echoed byte verified; --backend
# CLIENT_BACKEND), runs each scenario against each server in turn, alternating A B C D A B C D ... for
# ROUNDS rounds, so that drift of the machine hits every server alike. Each client socket keeps WINDOW
# datagrams in flight. Ratios to libuv and to the hand-written server are taken within each round, where
# the machine's drift cancels, and reported as their median with the lowest and highest round. The table
# also gives the median of the rounds, the spread (max - min) / median, round-trip latency percentiles,
# the loss, and the CPU time the server process used per echoed datagram (utime + stime from
# /proc/PID/stat around each round, divided by the datagrams the client got back in that round): with one
# client thread the client is often the bottleneck, and then server CPU is the telling figure.
# With taskset and at least 2 CPUs the servers run on CPU 0 and the client on CPU 1.
#
# Environment: ROUNDS, DURATION, WARMUP (0.5 s), PORT_BASE (7401), SERVER_CPU (0), CLIENT_CPU (1),
#   SERVERS (names to run, e.g. "ringport_io_uring libuv"), SCENARIOS (default "1:64:32 64:64:4 1:1200:32 64:1200:4",
#   client sockets:payload bytes[:window]), WINDOW (datagrams in flight per client socket, 32, when a
#   scenario does not give one), LOSS_MS (200: udp_load's loss timeout), CLIENT_BACKEND (auto), CLIENT_RECV
#   (caller: the client receives into its own buffers; pool: rp_udp_recv_pool),
#   SERVER_ARGS (extra arguments for the ringport servers, e.g. "--recv-buffer 4194304"), UV and HAND (the
#   two references of the ratios: libuv and mmsg_by_hand).
# Every server started here is stopped on exit, whatever happens (trap EXIT).
set -uo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then usage; exit 2; fi
build=$(cd "$1" 2>/dev/null && pwd) || { echo "udp_compare.sh: no build directory $1" >&2; exit 2; }
rounds=${2:-${ROUNDS:-8}}
duration=${3:-${DURATION:-2}}
warmup=${WARMUP:-0.5}
port_base=${PORT_BASE:-7401}
window_default=${WINDOW:-32}
loss_ms=${LOSS_MS:-200}
client_backend=${CLIENT_BACKEND:-auto}
client_recv=${CLIENT_RECV:-caller}
server_args=${SERVER_ARGS:-}
read -r -a scenarios <<<"${SCENARIOS:-1:64:32 64:64:4 1:1200:32 64:1200:4}"
load="$build/samples/udp_load"

[ "$(uname -s)" = Linux ] || { echo "udp_compare.sh: Linux only (/proc/PID/stat, /proc/net/udp)" >&2; exit 2; }
[ -x "$load" ] || { echo "udp_compare.sh: $load is missing: build the samples/ directory first" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "udp_compare.sh: ROUNDS must be a positive integer" >&2; exit 2; }
for sc in "${scenarios[@]}"; do
  [[ "$sc" =~ ^[1-9][0-9]*:[0-9]+(:[1-9][0-9]*)?$ ]] ||
    { echo "udp_compare.sh: scenario \"$sc\" is not sockets:size[:window]" >&2; exit 2; }
done

source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
bench_pinning

all_names=(ringport_io_uring ringport_epoll libuv mmsg_by_hand)
rp="$build/samples/udp_echo_server --workers 1 --quiet"
declare -A cmd=(
  [ringport_io_uring]="$rp --backend io_uring $server_args --host 127.0.0.1 --port"
  [ringport_epoll]="$rp --backend epoll $server_args --host 127.0.0.1 --port"
  [ringport_io_uring_caller]="$rp --backend io_uring --recv caller $server_args --host 127.0.0.1 --port"
  [ringport_epoll_caller]="$rp --backend epoll --recv caller $server_args --host 127.0.0.1 --port"
  [libuv]="$build/bench/uv_udp_echo_server --host 127.0.0.1 --port"
  [mmsg_by_hand]="$build/bench/mmsg_udp_echo_server --host 127.0.0.1 --port")
if [ -n "${WINE_BUILD:-}" ]; then
  wine_build=$(cd "$WINE_BUILD" && pwd) || { echo "udp_compare.sh: no build directory $WINE_BUILD" >&2; exit 2; }
  export WINEDEBUG=-all
  all_names+=(ringport_iocp_wine iocp_by_hand_wine)
  cmd[ringport_iocp_wine]="$wine_build/bin/udp_echo_server.exe --backend iocp --workers 1 --quiet --host 127.0.0.1 --port"
  cmd[iocp_by_hand_wine]="$wine_build/bin/iocp_udp_echo_server.exe --host 127.0.0.1 --port"
fi
uv_base=${UV:-libuv}
hand_base=${HAND:-mmsg_by_hand}
read -r -a wanted <<<"${SERVERS:-${all_names[*]}}"
for n in "${wanted[@]}"; do
  [ -n "${cmd[$n]:-}" ] || { echo "udp_compare.sh: unknown server $n (known: ${!cmd[*]})" >&2; exit 2; }
  bin=${cmd[$n]%% *}
  [ -x "$bin" ] || { echo "udp_compare.sh: $n needs $bin, which is missing: build it first (libuv: libuv1-dev)" >&2; exit 2; }
done

bench_servers_init udp_compare.sh

# A UDP socket bound to the port, on any address (from /proc/net/udp and udp6: local_address is HEXIP:HEXPORT).
port_bound() {
  local hex; hex=$(printf '%04X' "$1")
  awk -v h=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == h {found = 1} END {exit !found}' \
    /proc/net/udp /proc/net/udp6 2>/dev/null
}

echo "== UDP echo comparison: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "kernel $(uname -r), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'))"
echo "liburing $(pkg-config --modversion liburing 2>/dev/null || echo '?'), libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?')"
echo "net.core.rmem_default $(cat /proc/sys/net/core/rmem_default 2>/dev/null || echo '?'), rmem_max $(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo '?')"
if [ ${#pin_server[@]} -gt 0 ]; then
  echo "servers pinned to CPU ${SERVER_CPU:-0}, client (udp_load, 1 worker, backend $client_backend, --recv $client_recv) to CPU ${CLIENT_CPU:-1}"
else
  echo "no pinning (taskset missing or a single CPU): server and client share the CPUs"
fi
echo "$rounds alternating rounds of ${duration} s (+ ${warmup} s warm-up) per scenario and server; loss timeout ${loss_ms} ms"
report_busy
echo
echo "servers:"
i=0
for n in "${wanted[@]}"; do
  p=$((port_base + i)); i=$((i + 1))
  if port_bound "$p"; then
    echo "udp_compare.sh: UDP port $p is already in use: set PORT_BASE to a free range" >&2; exit 1
  fi
  launcher=(); [[ "${cmd[$n]%% *}" == *.exe ]] && launcher=(wine)
  "${pin_server[@]}" "${launcher[@]}" ${cmd[$n]} "$p" >"$logdir/$n.log" 2>&1 &
  pid[$n]=$!
  up=0
  for _ in $(seq 400); do # 20 s: Wine's first start creates its prefix
    if port_bound "$p"; then up=1; break; fi
    kill -0 "${pid[$n]}" 2>/dev/null || break
    sleep 0.05
  done
  if [ $up = 0 ]; then
    printf "  %-24s skipped: %s\n" "$n" "$(tail -n1 "$logdir/$n.log" 2>/dev/null || echo 'did not start')"
    stop_server "$n" >/dev/null 2>&1
    continue
  fi
  names+=("$n"); port[$n]=$p
  printf "  %-24s %s\n" "$n" "$(head -n1 "$logdir/$n.log")"
done
[ ${#names[@]} -gt 0 ] || { echo "udp_compare.sh: no server could run" >&2; exit 1; }
has() { local x; for x in "${names[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
for b in "$uv_base" "$hand_base"; do has "$b" || echo "($b server not running: no ratios to it)"; done

tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime + stime
jget() { sed -nE "s/.*\"$1\":(-?[0-9.]+).*/\1/p" <<<"$2"; }
stats() { # numbers on stdin -> "median spread%"
  sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) { print "- -"; exit }
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%s %s\n", m, (m > 0 ? sprintf("%.0f", 100 * (a[NR] - a[1]) / m) : "-") }'
}
# Per-round ratios of KEY to BASE in the array named ARR -> "1.02x (0.95-1.10)", or "-".
ratio_of() { # arr key base
  local -n arr=$1
  local r a b out=()
  for r in $(seq "$rounds"); do
    a=${arr[$2|$r]:-}; b=${arr[$3|$r]:-}
    [ -n "$a" ] && [ -n "$b" ] || continue
    out+=("$(awk -v a="$a" -v b="$b" 'BEGIN {if (b > 0) printf "%.4f", a / b}')")
  done
  local vals; vals=$(printf '%s\n' "${out[@]}" | grep .)
  if [ -z "$vals" ]; then echo "-"; return; fi
  local med; read -r med _ <<<"$(stats <<<"$vals")"
  printf '%s\n' "$vals" | sort -g | awk -v m="$med" 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2fx (%.2f-%.2f)", m, lo, hi}'
}

failures=0
declare -A val=() p50=() p99=() loss=() scpu=() ccpu=() bad=() rval=() rcpu=()
for sc in "${scenarios[@]}"; do
  IFS=: read -r socks size win <<<"$sc"
  win=${win:-$window_default}
  for r in $(seq "$rounds"); do
    for n in "${names[@]}"; do
      key="$sc|$n"
      if ! kill -0 "${pid[$n]}" 2>/dev/null; then bad[$key]="server died"; continue; fi
      t0=$(cpu_ticks "${pid[$n]}")
      out=$("${pin_client[@]}" "$load" --port "${port[$n]}" --backend "$client_backend" --recv "$client_recv" --workers 1 \
            --sockets "$socks" --size "$size" --window "$win" --duration "$duration" --warmup "$warmup" \
            --loss-ms "$loss_ms" --json 2>"$logdir/load.err")
      rc=$?
      t1=$(cpu_ticks "${pid[$n]}")
      corrupt=$(jget corrupted "$out")
      got=$(jget received "$out")
      if [ "${corrupt:-1}" != 0 ] || [ -z "$got" ] || [ "$got" = 0 ]; then
        failures=$((failures + 1))
        bad[$key]="udp_load failed (exit $rc)"
        echo "udp_compare.sh: ${socks}s ${size}B against $n, round $r: udp_load exit $rc: $out" >&2
        sed 's/^/    /' "$logdir/load.err" >&2
        continue
      fi
      v=$(jget received_per_s "$out")
      val[$key]+="$v "
      p50[$key]+="$(jget p50_us "$out") "
      p99[$key]+="$(jget p99_us "$out") "
      loss[$key]+="$(jget loss_pct "$out") "
      ccpu[$key]+="$(jget client_cpu_pct "$out") "
      # Server CPU over the whole client run (warm-up, measurement, drain), per datagram echoed in it.
      c=$(awk -v t=$((t1 - t0)) -v hz="$tck" -v n="$got" 'BEGIN {printf "%.1f", (n > 0 ? t / hz * 1e9 / n : 0)}')
      scpu[$key]+="$c "
      rval[$key|$r]=$v; rcpu[$key|$r]=$c # per round: ratios are taken within a round, then the median
    done
  done
done

echo
printf "%-16s %-24s %11s %-5s %6s %-19s %-19s %8s %8s %7s %9s %-19s %-19s %7s\n" scenario server median "" spread \
  "vs libuv (rounds)" "vs hand (rounds)" "p50 us" "p99 us" "loss" "CPU" "CPU/libuv" "CPU/hand" "client"
client_bound=0
for sc in "${scenarios[@]}"; do
  IFS=: read -r socks size win <<<"$sc"
  win=${win:-$window_default}
  label="${socks}s ${size}B w${win}"
  for n in "${names[@]}"; do
    key="$sc|$n"
    if [ -z "${val[$key]:-}" ]; then
      printf "%-16s %-24s %11s\n" "$label" "$n" "${bad[$key]:-no result}"
      continue
    fi
    read -r med spread <<<"$(tr ' ' '\n' <<<"${val[$key]}" | grep . | stats)"
    read -r l50 _ <<<"$(tr ' ' '\n' <<<"${p50[$key]}" | grep . | stats)"
    read -r l99 _ <<<"$(tr ' ' '\n' <<<"${p99[$key]}" | grep . | stats)"
    read -r lp _ <<<"$(tr ' ' '\n' <<<"${loss[$key]}" | grep . | stats)"
    read -r cpu _ <<<"$(tr ' ' '\n' <<<"${scpu[$key]}" | grep . | stats)"
    read -r cc _ <<<"$(tr ' ' '\n' <<<"${ccpu[$key]}" | grep . | stats)"
    vs_uv="-"; vs_hand="-"; cpu_uv="-"; cpu_hand="-"
    if has "$uv_base"; then vs_uv=$(ratio_of rval "$key" "$sc|$uv_base"); cpu_uv=$(ratio_of rcpu "$key" "$sc|$uv_base"); fi
    if has "$hand_base"; then
      vs_hand=$(ratio_of rval "$key" "$sc|$hand_base"); cpu_hand=$(ratio_of rcpu "$key" "$sc|$hand_base")
    fi
    awk -v c="$cc" 'BEGIN {exit !(c >= 95)}' && { client_bound=1; cc="$cc%*"; } || cc="$cc%"
    printf "%-16s %-24s %11.0f %-5s %5s%% %-19s %-19s %8.1f %8.1f %6.3f%% %6.0f ns %-19s %-19s %7s\n" "$label" "$n" \
      "$med" pkt/s "$spread" "$vs_uv" "$vs_hand" "$l50" "$l99" "$lp" "$cpu" "$cpu_uv" "$cpu_hand" "$cc"
  done
done
echo
echo "median of $rounds rounds; spread = (max - min) / median; vs libuv / vs hand = median of the per-round ratios"
echo "of echoed datagrams per second to $uv_base / $hand_base (rounds: their lowest and highest); loss = datagrams"
echo "never echoed (median of the rounds; UDP may drop, none was corrupted); CPU = the server's user + system time"
echo "per echoed datagram, CPU/libuv and CPU/hand its per-round ratios; client = udp_load's CPU use (one worker)."
echo "A ratio whose round range straddles 1.00 is within this machine's noise."
[ $client_bound = 1 ] && echo "* the client thread was (nearly) saturated: the rate is bounded by the client, compare server CPU"

echo
echo "stopping the servers:"
for n in "${names[@]}"; do
  stop_server "$n"
  rc=$?
  printf "  %-24s exit %d: %s\n" "$n" $rc "$(tail -n1 "$logdir/$n.log")"
  [ $rc = 0 ] || failures=$((failures + 1))
done
[ $failures = 0 ] || { echo "udp_compare.sh: $failures failure(s), see above" >&2; exit 1; }
