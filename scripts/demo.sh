#!/usr/bin/env bash
# The main demo of ringport, from a fresh Debian/Ubuntu machine to figures in a few minutes:
#   1. installs what is missing (cmake, compilers, pkg-config, liburing, libuv, Boost, gtest; sudo when not
#      root),
#   2. builds Release in build/demo (tests left out for speed),
#   3. starts samples/echo_server on io_uring, then on epoll, and runs samples/echo_client against each
#      (every byte of every echo verified; one client threaded, one caller-driven),
#   4. restarts samples/restart_server under load without downtime: a successor takes its listener and
#      every connection over while samples/restart_client keeps 100 connections sending and checks every
#      byte,
#   5. serves a directory with samples/http_server and fetches from it with curl (a page, a 1 MiB file
#      checked against the original, a traversal attempt answered 404),
#   6. runs bench/compare.sh: ringport (io_uring, epoll) against libuv, Boost.Asio and hand-written epoll
#      and io_uring servers, same client for all, alternating rounds, per-round ratios to libuv,
#   7. stops everything it started, whatever happens.
#
#   bash scripts/demo.sh
# Environment: DEMO_ROUNDS (3) and DEMO_SECONDS (2) size the comparison; DEMO_PORT (7401) is the first port
# of the echo servers here, PORT_BASE (7301) that of the comparison's.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build="$root/build/demo"
rounds=${DEMO_ROUNDS:-3}
seconds=${DEMO_SECONDS:-2}
port=${DEMO_PORT:-7401}
started=$(date +%s)

step() { printf '\n== %s\n' "$*"; }

step "dependencies"
source "$root/scripts/install-deps.sh"
ringport_install_missing cmake make gcc g++ pkg-config liburing-dev libuv1-dev libboost-dev libgtest-dev curl
echo "cmake $(cmake --version | head -n1 | awk '{print $3}'), $(cc --version | head -n1)"

step "building ringport (Release) in build/demo"
mkdir -p "$build"
if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGPORT_BUILD_TESTS=OFF \
    >"$build/demo-configure.log" 2>&1; then
  cat "$build/demo-configure.log"; echo "demo: cmake configure failed" >&2; exit 1
fi
grep -E "ringport:" "$build/demo-configure.log" | sed 's/^-- /   /' || true
if ! cmake --build "$build" -j"$(nproc)" >"$build/demo-build.log" 2>&1; then
  tail -n 60 "$build/demo-build.log"; echo "demo: build failed" >&2; exit 1
fi
echo "built: $(cd "$build" && ls samples/echo_server samples/echo_client samples/restart_server bench/rp_load \
  bench/uv_echo_server bench/epoll_echo_server 2>/dev/null | tr '\n' ' ')"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
server_pid=""
stop_server() { # SIGINT, up to 10 s for the clean shutdown, then SIGKILL; returns the server's status
  [ -n "$server_pid" ] || return 0
  local p=$server_pid rc=0
  server_pid=""
  kill -INT "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    echo "demo: server $p ignored SIGINT: killed" >&2
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || rc=$?
  return $rc
}
extra_pids="" # the restart step's client and successor
trap 'stop_server >/dev/null 2>&1 || true; for p in $extra_pids; do kill -KILL "$p" 2>/dev/null || true; done' EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for backend in io_uring epoll; do
  step "echo_server on $backend (one worker per CPU), port $port"
  if port_open "$port"; then echo "demo: port $port is in use: set DEMO_PORT" >&2; exit 1; fi
  log="$build/demo-server-$backend.log"
  "$build/samples/echo_server" --backend "$backend" --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do port_open "$port" && break; kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
  if ! port_open "$port"; then
    cat "$log"
    stop_server || true
    if [ "$backend" = io_uring ]; then
      echo "(io_uring cannot run here, e.g. blocked by seccomp or kernel.io_uring_disabled: skipped)"
      port=$((port + 1)); continue
    fi
    echo "demo: echo_server did not start on $backend" >&2; exit 1
  fi
  cat "$log"
  "$build/samples/echo_client" --port "$port" --connections 100 --size 16384 --count 200
  "$build/samples/echo_client" --port "$port" --connections 500 --size 512 --count 50 --workers 0
  if ! stop_server; then cat "$log"; echo "demo: echo_server did not stop cleanly" >&2; exit 1; fi
  tail -n +2 "$log"
  port=$((port + 1))
done

step "zero-downtime restart: restart_server hands its listener and connections to a successor, port $port"
if port_open "$port"; then echo "demo: port $port is in use: set DEMO_PORT" >&2; exit 1; fi
ctl="${TMPDIR:-/tmp}/ringport-demo-restart-$$.sock" # short: a Unix socket path has at most 107 bytes
"$build/samples/restart_server" --host 127.0.0.1 --port "$port" --control "$ctl" >"$build/demo-restart-0.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do port_open "$port" && break; kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
port_open "$port" || { cat "$build/demo-restart-0.log"; echo "demo: restart_server did not start" >&2; exit 1; }
"$build/samples/restart_client" --port "$port" --connections 100 --seconds 4 >"$build/demo-restart-client.log" 2>&1 &
client_pid=$!
extra_pids=$client_pid
sleep 2
"$build/samples/restart_server" --control "$ctl" >"$build/demo-restart-1.log" 2>&1 & # the successor
successor=$!
extra_pids="$extra_pids $successor"
old_rc=0 # the first server must hand everything over and exit 0 within 10 s
for _ in $(seq 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$server_pid" 2>/dev/null; then old_rc=124; else wait "$server_pid" || old_rc=$?; fi
[ "$old_rc" -eq 124 ] || server_pid=$successor # stop_server then stops whichever one serves now
client_rc=0
wait "$client_pid" || client_rc=$?
cat "$build/demo-restart-0.log" "$build/demo-restart-1.log" "$build/demo-restart-client.log"
if [ "$old_rc" -ne 0 ] || [ "$client_rc" -ne 0 ]; then
  echo "demo: the restart failed (first server: exit $old_rc, client: exit $client_rc)" >&2; exit 1
fi
if ! stop_server; then echo "demo: restart_server did not stop cleanly" >&2; exit 1; fi
tail -n 1 "$build/demo-restart-1.log"
extra_pids=""
port=$((port + 1))

step "http_server: a static file sent with rp_sendfile, port $port"
www="$build/demo-www"
mkdir -p "$www"
printf '<h1>ringport</h1>\n' >"$www/index.html"
head -c 1048576 /dev/urandom >"$www/1mb.bin"
"$build/samples/http_server" --root "$www" --host 127.0.0.1 --port "$port" >"$build/demo-http.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do port_open "$port" && break; sleep 0.05; done
port_open "$port" || { cat "$build/demo-http.log"; echo "demo: http_server did not start" >&2; exit 1; }
if command -v curl >/dev/null; then
  curl -si "http://127.0.0.1:$port/index.html"
  curl -s -o "$build/demo-1mb.bin" -w 'GET /1mb.bin: %{http_code}, %{size_download} bytes in %{time_total} s\n' \
    "http://127.0.0.1:$port/1mb.bin"
  cmp -s "$build/demo-1mb.bin" "$www/1mb.bin" && echo "the downloaded file is identical"
  curl -s -o /dev/null -w 'GET /../etc/passwd: %{http_code}\n' --path-as-is "http://127.0.0.1:$port/../etc/passwd"
else
  echo "(curl is not installed: skipped the requests)"
fi
if ! stop_server; then echo "demo: http_server did not stop cleanly" >&2; exit 1; fi
tail -n 1 "$build/demo-http.log"
port=$((port + 1))

step "load comparison: ringport vs libuv, Boost.Asio, hand-written epoll and io_uring ($rounds rounds x ${seconds} s per scenario)"
bash "$root/bench/compare.sh" "$build" "$rounds" "$seconds"

step "demo finished in $(( $(date +%s) - started )) s"
echo "samples: $build/samples/echo_server --help, $build/samples/echo_client --help," \
  "$build/samples/restart_server --help, $build/samples/http_server --help"
echo "longer comparison: bash bench/compare.sh build/demo 12 2"
