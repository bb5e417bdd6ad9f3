#!/usr/bin/env bash
# The main demo: builds ringport (Release), serves echo on io_uring and on epoll, checks real clients
# against both (every byte verified), then runs the side-by-side load comparison with libuv and a
# hand-written epoll server. Installs what it needs on Debian/Ubuntu.
#   bash scripts/demo.sh            (DEMO_ROUNDS, DEMO_SECONDS tune the comparison: default 3 rounds x 3 s)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

source "$root/scripts/install-deps.sh"
ringport_install_missing cmake make gcc g++ pkg-config liburing-dev libuv1-dev

build="$root/build/demo"
echo "== building (Release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGPORT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

port=7400
for backend in io_uring epoll; do
  port=$((port + 1))
  echo
  echo "== echo_server on $backend"
  "$build/samples/echo_server" --backend "$backend" --port "$port" &
  pid=$!
  pids+=($pid)
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  "$build/samples/echo_client" --port "$port" --connections 100 --size 16384 --count 200
  "$build/samples/echo_client" --port "$port" --connections 1000 --size 512 --count 20
  kill -INT "$pid"
  wait "$pid" || true
done
pids=()

echo
echo "== load comparison (same client for every server)"
bash "$root/bench/compare.sh" "$build" "${DEMO_ROUNDS:-3}" "${DEMO_SECONDS:-3}"
