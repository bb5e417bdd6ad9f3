#!/usr/bin/env bash
# Side-by-side echo benchmark: ringport (io_uring and epoll, one worker) against libuv and a hand-written
# epoll server, all driven by the same client (rp_load). Servers run on CPU 0 and the client on CPU 1
# when taskset is available. Rounds alternate A B A B; the table gives medians and ratios to libuv.
#   bench/compare.sh BUILD_DIR [ROUNDS=3] [DURATION=3]
set -euo pipefail
build=${1:?usage: compare.sh BUILD_DIR [ROUNDS] [DURATION]}
rounds=${2:-3}
duration=${3:-3}
load="$build/bench/rp_load"
pin_server=""; pin_client=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_server="taskset -c 0"; pin_client="taskset -c 1"; fi

names=(ringport_io_uring ringport_epoll libuv epoll_by_hand)
cmds=("$build/samples/echo_server --backend io_uring --workers 1 --port 7301"
      "$build/samples/echo_server --backend epoll --workers 1 --port 7302"
      "$build/bench/uv_echo_server --port 7303"
      "$build/bench/epoll_echo_server --port 7304")
ports=(7301 7302 7303 7304)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for i in "${!cmds[@]}"; do
  $pin_server ${cmds[$i]} >/dev/null &
  pids+=($!)
done
for p in "${ports[@]}"; do
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done

scenarios=("pingpong 1 64" "pingpong 50 128" "pingpong 500 128" "throughput 10 16384")
echo "kernel $(uname -r), $(nproc) CPUs; servers pinned: ${pin_server:-no}; rounds $rounds x ${duration}s, alternating"
tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime of a server
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/"; }

echo "server CPU: (user + system time of the server process) / (requests or MB) over the whole run"
printf "\n%-22s %-18s %14s %9s %8s %8s %12s\n" scenario server "median" "vs libuv" "p50 us" "p99 us" "server CPU"
for sc in "${scenarios[@]}"; do
  read -r mode conns size <<<"$sc"
  declare -A results=() p50s=() p99s=() cpus=()
  for r in $(seq "$rounds"); do
    for i in "${!names[@]}"; do
      t0=$(cpu_ticks "${pids[$i]}")
      out=$($pin_client "$load" --port "${ports[$i]}" --mode "$mode" --connections "$conns" --size "$size" \
            --duration "$duration" --warmup 0.5 --json)
      t1=$(cpu_ticks "${pids[$i]}")
      if [ "$mode" = throughput ]; then v=$(field mb_per_s <<<"$out"); else v=$(field requests_per_s <<<"$out"); fi
      [ "$(field errors <<<"$out")" = 0 ] || { echo "errors against ${names[$i]}: $out" >&2; exit 1; }
      results[${names[$i]}]+="$v "
      p50s[${names[$i]}]+="$(field p50_us <<<"$out") "
      p99s[${names[$i]}]+="$(field p99_us <<<"$out") "
      # CPU over warm-up + measurement, divided by the work of both (rate x (duration + warm-up)).
      cpus[${names[$i]}]+="$(awk -v t=$((t1 - t0)) -v hz="$tck" -v rate="$v" -v d="$duration" \
        'BEGIN {w = rate * (d + 0.5); print (w > 0 ? t / hz * 1e6 / w : 0)}') "
    done
  done
  base=$(tr ' ' '\n' <<<"${results[libuv]}" | grep . | median)
  unit=$([ "$mode" = throughput ] && echo "MB/s" || echo "req/s")
  for n in "${names[@]}"; do
    m=$(tr ' ' '\n' <<<"${results[$n]}" | grep . | median)
    p50=$(tr ' ' '\n' <<<"${p50s[$n]}" | grep . | median)
    p99=$(tr ' ' '\n' <<<"${p99s[$n]}" | grep . | median)
    cpu=$(tr ' ' '\n' <<<"${cpus[$n]}" | grep . | median)
    cpu_unit=$([ "$mode" = throughput ] && echo "us/MB" || echo "us/req")
    [ "$mode" = throughput ] && { p50="-"; p99="-"; }
    printf "%-22s %-18s %9s %-5s %8.2fx %8s %8s %7.2f %s\n" "$mode ${conns}c ${size}B" "$n" "$m" "$unit" \
      "$(awk -v a="$m" -v b="$base" 'BEGIN {print (b > 0 ? a / b : 0)}')" "$p50" "$p99" "$cpu" "$cpu_unit"
  done
  unset results p50s p99s cpus
done
