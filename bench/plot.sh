#!/usr/bin/env bash
# Draws the table of a bench/compare.sh run as a PNG: for every scenario, each server's rate relative to the
# run's base server (the median of the per-round ratios, whiskers from the lowest to the highest round),
# and its server CPU per request (or per MB) relative to the base.
#
#   bash bench/plot.sh COMPARE_OUTPUT.txt OUT.png [TITLE]
#
# Needs gnuplot (Debian: gnuplot-nox). Reads only the table rows compare.sh prints.
set -euo pipefail

if [ $# -lt 2 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
in=$1 out=$2 title=${3:-"ringport and its peers (bench/compare.sh)"}
[ -r "$in" ] || { echo "plot.sh: cannot read $in" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringport-plot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Table rows: "<mode> <N>c <size>B <server> <median> <unit> <spread>% <ratio>x (<lo>-<hi>) ... <cpu> <unit> <cpuratio>x ..."
awk '
  ($1 == "pingpong" || $1 == "throughput") && $8 ~ /x$/ {
    sc = $1 " " $2 " " $3; srv = $4
    ratio = $8; sub(/x$/, "", ratio)
    lo = ratio; hi = ratio
    if ($9 ~ /^\(/) { r = $9; gsub(/[()]/, "", r); split(r, a, "-"); lo = a[1]; hi = a[2]; rest = 10 } else rest = 9
    cpur = $(NF - 1); sub(/x$/, "", cpur); if (cpur == "-") cpur = 0
    if (!(sc in seen)) { seen[sc] = 1; scs[++nsc] = sc }
    if (!(srv in sseen)) { sseen[srv] = 1; srvs[++nsrv] = srv }
    R[sc, srv] = ratio; L[sc, srv] = lo; H[sc, srv] = hi; C[sc, srv] = cpur
  }
  END {
    printf "scenario" > "'"$tmp"'/rate.dat"; printf "scenario" > "'"$tmp"'/cpu.dat"
    for (j = 1; j <= nsrv; j++) { printf " %s lo hi", srvs[j] > "'"$tmp"'/rate.dat"; printf " %s", srvs[j] > "'"$tmp"'/cpu.dat" }
    print "" > "'"$tmp"'/rate.dat"; print "" > "'"$tmp"'/cpu.dat"
    for (i = 1; i <= nsc; i++) {
      label = scs[i]; gsub(/ /, "_", label)
      printf "%s", label > "'"$tmp"'/rate.dat"; printf "%s", label > "'"$tmp"'/cpu.dat"
      for (j = 1; j <= nsrv; j++) {
        k = scs[i] SUBSEP srvs[j]
        if (k in R) { printf " %s %s %s", R[k], L[k], H[k] > "'"$tmp"'/rate.dat"; printf " %s", C[k] > "'"$tmp"'/cpu.dat" }
        else { printf " - - -" > "'"$tmp"'/rate.dat"; printf " -" > "'"$tmp"'/cpu.dat" }
      }
      print "" > "'"$tmp"'/rate.dat"; print "" > "'"$tmp"'/cpu.dat"
    }
    print nsrv > "'"$tmp"'/nsrv"
  }' "$in"
nsrv=$(cat "$tmp/nsrv")
[ "$nsrv" -gt 0 ] || { echo "plot.sh: no table rows in $in" >&2; exit 2; }

gnuplot <<EOF
set terminal pngcairo size 1400,900 font "DejaVu Sans,11" noenhanced
set output "$out"
set multiplot layout 2,1 title "$title"
set datafile missing "-"
set style data histograms
set style fill solid 0.8 border -1
set key outside right top
set grid ytics
set xtics noenhanced
set yrange [0:*]
set ylabel "rate vs base (median of per-round ratios)"
set style histogram errorbars gap 2 lw 1
plot for [j=1:$nsrv] "$tmp/rate.dat" using (column(3*j-1)):(column(3*j)):(column(3*j+1)):xtic(stringcolumn(1)) title columnheader(3*j-1)
set ylabel "server CPU per request (per MB) vs base"
set style histogram clustered gap 2
plot for [j=1:$nsrv] "$tmp/cpu.dat" using (column(j+1)):xtic(stringcolumn(1)) title columnheader(j+1)
unset multiplot
EOF
echo "plot.sh: wrote $out"
