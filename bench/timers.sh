#!/usr/bin/env bash
# million_timers, ringport against libuv: bench/timers_ringport and bench/timers_uv (read their comments).
# Builds nothing: give it a build directory (Release) that has both.
#
#   bash bench/timers.sh BUILD_DIR [ROUNDS (5)]
#
# For each mode (fire, cancel) the two programs run alternately, ringport libuv ringport libuv ..., for
# ROUNDS rounds, each run a fresh process with the same seed, pinned to one CPU with taskset when there is
# one (CPU, default the last), so that the machine's drift hits both alike. Per phase the table gives each
# program's median and the ringport/libuv ratio, taken within each round and reported as the median of the
# rounds with the lowest and highest. A ratio below 1 means ringport took less.
# Phases: start (init + start every timer), cancel (stop every timer), run (to the last completion; in fire
# mode it includes waiting for the deadlines, and the two loops count deadlines from different moments: see
# timers_uv.c, so compare run_cpu), cleanup, total; *_cpu = user + system CPU seconds of the phase.
#
# Environment: ROUNDS, TIMERS (1000000), SEED (1), CPU (the last), MODES ("fire cancel"),
#   BACKEND (ringport's, auto).
set -uo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then usage; exit 2; fi
build=$(cd "$1" 2>/dev/null && pwd) || { echo "timers.sh: no build directory $1" >&2; exit 2; }
rounds=${2:-${ROUNDS:-5}}
timers=${TIMERS:-1000000}
seed=${SEED:-1}
read -r -a modes <<<"${MODES:-fire cancel}"
rp="$build/bench/timers_ringport"
uv="$build/bench/timers_uv"
for b in "$rp" "$uv"; do
  [ -x "$b" ] || { echo "timers.sh: $b is missing: build the bench/ directory first (libuv1-dev for timers_uv)" >&2; exit 2; }
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "timers.sh: ROUNDS must be a positive integer" >&2; exit 2; }

pin=()
if command -v taskset >/dev/null 2>&1; then
  cpu=${CPU:-$(($(nproc) - 1))}
  pin=(taskset -c "$cpu")
fi

jget() { sed -nE "s/.*\"$1\":(-?[0-9.]+).*/\1/p" <<<"$2"; }
median() { # numbers on stdin -> median, or "-" when there are none
  sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) { print "-"; exit }
    print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo "== million_timers: $(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) CPUs"
echo "libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?'); $timers timers, seed $seed, $rounds rounds," \
  "${pin[*]:-not pinned (no taskset)}"

errf=$(mktemp "${TMPDIR:-/tmp}/timers.XXXXXX")
trap 'rm -f "$errf"' EXIT
trap 'exit 130' INT TERM
failures=0
declare -A val=()
for mode in "${modes[@]}"; do
  for r in $(seq "$rounds"); do
    for lib in ringport libuv; do
      if [ $lib = ringport ]; then cmd=("$rp" --backend "${BACKEND:-auto}"); else cmd=("$uv"); fi
      out=$("${pin[@]}" "${cmd[@]}" --timers "$timers" --seed "$seed" --mode "$mode" 2>"$errf")
      rc=$?
      if [ $rc -ne 0 ] || [[ "$out" != *'"ok":true'* ]]; then
        failures=$((failures + 1))
        echo "timers.sh: $lib --mode $mode, round $r: exit $rc: $out" >&2
        sed 's/^/    /' "$errf" >&2
        continue
      fi
      [ "$r" = 1 ] && echo "  $mode $lib: $out"
      for key in start cancel run cleanup total; do
        v=$(jget "${key}_s" "$out"); [ -n "$v" ] && val["$mode|$lib|${key}_s|$r"]=$v
        v=$(jget "${key}_cpu_s" "$out"); [ -n "$v" ] && val["$mode|$lib|${key}_cpu_s|$r"]=$v
      done
      val[$mode|$lib|max_rss_kib|$r]=$(jget max_rss_kib "$out")
    done
  done
done

echo
printf "%-7s %-14s %12s %12s %8s %s\n" mode phase ringport libuv ratio "(rounds)"
for mode in "${modes[@]}"; do
  metrics=(start_s)
  [ "$mode" = cancel ] && metrics+=(cancel_s)
  metrics+=(run_s run_cpu_s cleanup_s total_s total_cpu_s max_rss_kib)
  for m in "${metrics[@]}"; do
    a=(); b=(); q=()
    for r in $(seq "$rounds"); do
      x=${val[$mode|ringport|$m|$r]:-}; y=${val[$mode|libuv|$m|$r]:-}
      [ -n "$x" ] && a+=("$x")
      [ -n "$y" ] && b+=("$y")
      # A ratio to (nearly) nothing says nothing: libuv's cancel-mode run has no work to do.
      [ -n "$x" ] && [ -n "$y" ] && awk -v y="$y" 'BEGIN {exit !(y >= 0.001)}' &&
        q+=("$(awk -v x="$x" -v y="$y" 'BEGIN {printf "%.4f", x / y}')")
    done
    ma=$(printf '%s\n' "${a[@]}" | grep . | median)
    mb=$(printf '%s\n' "${b[@]}" | grep . | median)
    ratio="-"; range=""
    if [ ${#q[@]} -gt 0 ]; then
      ratio=$(printf '%s\n' "${q[@]}" | median | awk '{printf "%.2fx", $1}')
      range=$(printf '%s\n' "${q[@]}" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "(%.2f-%.2f)", lo, hi}')
    fi
    digits=4; [ "$m" = max_rss_kib ] && digits=0
    ma=$(awk -v v="$ma" -v d=$digits 'BEGIN {if (v == "-") print v; else printf "%.*f", d, v}')
    mb=$(awk -v v="$mb" -v d=$digits 'BEGIN {if (v == "-") print v; else printf "%.*f", d, v}')
    printf "%-7s %-14s %12s %12s %8s %s\n" "$mode" "$m" "$ma" "$mb" "$ratio" "$range"
  done
done
echo
echo "medians of $rounds rounds; ratio = ringport / libuv within each round, median (lowest-highest round)."
echo "cancel: libuv's uv_timer_stop delivers no callback (its run is empty; its close callbacks are in cleanup);"
echo "ringport delivers an RP_ECANCELED completion per op in run."
[ $failures = 0 ] || { echo "timers.sh: $failures failed run(s), see above" >&2; exit 1; }
