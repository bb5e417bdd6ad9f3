#!/usr/bin/env bash
# The Windows build from Linux: MinGW-w64 cross build (static and shared library, -Werror), then every
# test binary run under Wine through CMAKE_CROSSCOMPILING_EMULATOR, so the conformance suite runs on the
# IOCP backend: once as is, and once with RP_LOOP_IDLE_RECV (zero-byte receives), without
# FILE_SKIP_COMPLETION_PORT_ON_SUCCESS (every request completes through a packet) and with name lookups on
# the resolver's thread pool (GetAddrInfoW) instead of asynchronous GetAddrInfoExW. Installs mingw-w64,
# Wine and the GoogleTest sources when missing. Called by scripts/test.sh; usable on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

source "$root/scripts/install-deps.sh"
ringport_install_missing cmake make gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix wine wine64 googletest

export WINEDEBUG=-all
build="$root/build/mingw"
echo "== [mingw] configure and build (x86_64-w64-mingw32, static + shared)"
cmake -S "$root" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64.cmake" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRINGPORT_WERROR=ON -DRINGPORT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
# One wineserver for the whole run: by default it exits a few seconds after its last client, and a test
# process starting just then fails in 0.01 s with "wine client error: recvmsg: Connection reset by peer"
# before any of its code runs. Persistent (-p) until this script ends; started before anything else uses
# Wine (it refuses to start while another one runs).
wineserver -k >/dev/null 2>&1 || true
wineserver -p || echo "== (could not start a persistent wineserver; going on)"
trap 'wineserver -k >/dev/null 2>&1 || true' EXIT
# The first Wine start on a machine creates its prefix (~10 s): do it before any test is timed.
wine cmd /c exit >/dev/null 2>&1 || true

echo "== [mingw] ctest under Wine (IOCP)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 600
echo "== [mingw] the suites again under Wine with RP_LOOP_IDLE_RECV, RINGPORT_IOCP_NO_SKIP=1 and RINGPORT_RESOLVE_NO_ASYNC=1"
RINGPORT_TEST_LOOP_FLAGS=idle_recv RINGPORT_IOCP_NO_SKIP=1 RINGPORT_RESOLVE_NO_ASYNC=1 ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 600 \
  -R 'Backends/'
