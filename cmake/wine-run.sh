#!/usr/bin/env bash
# Runs a Windows test binary under Wine (CMAKE_CROSSCOMPILING_EMULATOR of cmake/mingw-w64.cmake), and
# starts it again when Wine itself failed to start it: a process that exits non-zero having printed
# nothing but Wine's own client errors never ran any of its code (seen in CI: "wine client error ...
# Connection reset by peer" 0.01 s after the start, even with a persistent wineserver). A test that ran
# and failed always prints GoogleTest's output, so it is never retried.
wine=${RINGPORT_WINE:-wine}
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
for attempt in 1 2 3; do
  "$wine" "$@" >"$out" 2>"$err"
  rc=$?
  if [ "$rc" -eq 0 ] || [ -s "$out" ] || grep -qv '^wine client error\|^wine: ' "$err"; then
    break
  fi
  echo "wine-run.sh: Wine failed to start $1 (attempt $attempt): $(head -c 200 "$err")" >&2
  sleep 1
done
cat "$out"
cat "$err" >&2
exit "$rc"
