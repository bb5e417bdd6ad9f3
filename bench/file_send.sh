#!/usr/bin/env bash
# Files over TCP, side by side: hand-written io_uring poll + sendfile, hand-written io_uring SPLICE through a
# pipe per connection, and ringport's rp_sendfile on io_uring and on epoll (bench/file_send.c). Each round
# runs every mode once, in an order that rotates from round to round; the table gives the medians of
# files/s and of server CPU per file, and the ratios to poll + sendfile.
#
#   bash bench/file_send.sh BUILD_DIR [ROUNDS (5)]
# BUILD_DIR: a build with RINGPORT_BUILD_BENCH=ON and liburing (e.g. build/rel).
set -euo pipefail
bin=${1:?usage: file_send.sh BUILD_DIR [ROUNDS]}/bench/file_send
rounds=${2:-5}
[ -x "$bin" ] || { echo "file_send.sh: $bin not built (RINGPORT_BUILD_BENCH=ON, liburing)" >&2; exit 1; }
modes=(poll-sendfile splice rp-io_uring rp-epoll)
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-14s %6s %8s %12s %10s %14s %10s\n' mode conns size files/s ratio "CPU us/file" ratio
for conns in 50 500; do
  for size in 16384 1048576; do
    repeat=$(( size > 100000 ? 20000 / conns : 400000 / conns ))
    declare -A fps=() cpu=()
    for (( r = 0; r < rounds; r++ )); do
      for (( k = 0; k < ${#modes[@]}; k++ )); do
        m=${modes[$(( (k + r) % ${#modes[@]} ))]}
        line=$("$bin" --mode "$m" --conns "$conns" --size "$size" --repeat "$repeat")
        fps[$m]+="$(echo "$line" | grep -oE '[0-9]+ files/s' | grep -oE '^[0-9]+') "
        cpu[$m]+="$(echo "$line" | grep -oE 'CPU [0-9.]+' | grep -oE '[0-9.]+$') "
      done
    done
    base_f=$(echo "${fps[poll-sendfile]}" | tr ' ' '\n' | grep . | median)
    base_c=$(echo "${cpu[poll-sendfile]}" | tr ' ' '\n' | grep . | median)
    for m in "${modes[@]}"; do
      f=$(echo "${fps[$m]}" | tr ' ' '\n' | grep . | median)
      c=$(echo "${cpu[$m]}" | tr ' ' '\n' | grep . | median)
      printf '%-14s %6d %8d %12.0f %10.2f %14.1f %10.2f\n' "$m" "$conns" "$size" "$f" "$(echo "$f / $base_f" | bc -l)" \
        "$c" "$(echo "$c / $base_c" | bc -l)"
    done
    unset fps cpu
  done
done
