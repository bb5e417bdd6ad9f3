#!/usr/bin/env bash
# samples/http_server driven by curl (and a few raw requests from python3), every body checked byte for
# byte: GET, HEAD, Range (206, suffix, 416), If-Modified-Since (304), keep-alive, pipelining, a request
# body skipped, traversal (plain and encoded) 404, a directory 403, POST 405, an oversized head 431,
# garbage 400, a slow client closed by the idle timeout, 1000 idle clients while it keeps serving, and a
# clean SIGTERM.
#
#   bash tests/http_test.sh SERVER BACKEND
# Exit 77 (skipped) if curl or python3 is missing or the backend cannot run here.
set -euo pipefail
server=${1:?usage: http_test.sh SERVER BACKEND}
backend=${2:?backend}
name="http_test[$backend]"
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "$name: SKIP: needs curl and python3"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rp-http.XXXXXX")
srv=
cleanup() {
  [ -n "$srv" ] && kill -KILL "$srv" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "$name: FAIL: $*" >&2
  [ -f "$tmp/server.log" ] && cat "$tmp/server.log" >&2
  exit 1
}

root="$tmp/www"
mkdir -p "$root/dir" "$tmp/outside"
python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + i // 251) & 255 for i in range(3000000)))' >"$root/big.bin"
printf '<h1>hello</h1>\n' >"$root/index.html"
: >"$root/empty.txt"
echo secret >"$tmp/outside/secret.txt"

"$server" --root "$root" --host 127.0.0.1 --port 0 --backend "$backend" --workers 2 --idle-timeout 1500 \
  >"$tmp/server.log" 2>&1 &
srv=$!
for _ in $(seq 250); do grep -q 'serving' "$tmp/server.log" 2>/dev/null && break; sleep 0.02; done
if ! grep -q 'serving' "$tmp/server.log"; then
  grep -q 'cannot run the' "$tmp/server.log" && { echo "$name: SKIP: $(cat "$tmp/server.log")"; exit 77; }
  fail "the server did not start"
fi
port=$(grep -oE 'on 127\.0\.0\.1:[0-9]+' "$tmp/server.log" | grep -oE '[0-9]+$')
url="http://127.0.0.1:$port"
code() { rm -f "$tmp/body"; curl -s -o "$tmp/body" -w '%{http_code}' "$@"; }

# Whole files, HEAD, ranges.
[ "$(code "$url/big.bin")" = 200 ] && cmp -s "$tmp/body" "$root/big.bin" || fail "GET big.bin"
[ "$(code "$url/index.html")" = 200 ] && cmp -s "$tmp/body" "$root/index.html" || fail "GET index.html"
[ "$(code "$url/empty.txt")" = 200 ] && [ ! -s "$tmp/body" ] || fail "GET an empty file"
curl -sI "$url/big.bin" >"$tmp/head"
grep -q '^Content-Length: 3000000' "$tmp/head" && grep -q '^Content-Type: application/octet-stream' "$tmp/head" ||
  fail "HEAD headers: $(cat "$tmp/head")"
[ "$(curl -s -X HEAD --max-time 3 -o "$tmp/body" -w '%{size_download}' "$url/big.bin" 2>/dev/null || true)" = 0 ] ||
  fail "HEAD sent a body"
grep -q '^Content-Type: text/html' <(curl -sI "$url/index.html") || fail "text/html"
[ "$(code -r 1000-1999 "$url/big.bin")" = 206 ] && cmp -s "$tmp/body" <(tail -c +1001 "$root/big.bin" | head -c 1000) ||
  fail "Range 1000-1999"
[ "$(code -r -500 "$url/big.bin")" = 206 ] && cmp -s "$tmp/body" <(tail -c 500 "$root/big.bin") || fail "suffix Range"
[ "$(code -r 2999000- "$url/big.bin")" = 206 ] && cmp -s "$tmp/body" <(tail -c 1000 "$root/big.bin") || fail "open Range"
[ "$(code -r 3000000- "$url/big.bin")" = 416 ] || fail "unsatisfiable Range"
grep -q 'Content-Range: bytes 0-9/3000000' <(curl -s -D - -o /dev/null -r 0-9 "$url/big.bin") || fail "Content-Range"

# Conditional requests and keep-alive.
lm=$(curl -sI "$url/index.html" | grep -i '^last-modified' | cut -d' ' -f2- | tr -d '\r')
[ "$(code -H "If-Modified-Since: $lm" "$url/index.html")" = 304 ] && [ ! -s "$tmp/body" ] || fail "304"
[ "$(code -H "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT" "$url/index.html")" = 200 ] || fail "modified since 1994"
curl -sv "$url/index.html" "$url/big.bin" "$url/index.html" -o /dev/null -o /dev/null -o /dev/null 2>"$tmp/kv" ||
  fail "keep-alive requests"
[ "$(grep -c 'Re-using existing connection' "$tmp/kv")" -eq 2 ] || fail "keep-alive: $(grep -i connect "$tmp/kv")"

# What must not be served, and bad input.
for t in /../outside/secret.txt /dir/../../outside/secret.txt /%2e%2e/outside/secret.txt /%2E%2e%2foutside/secret.txt \
         /..%5coutside%5csecret.txt /index.html%00 /nope; do
  [ "$(code --path-as-is "$url$t")" = 404 ] || fail "$t was not 404"
  ! grep -q secret "$tmp/body" || fail "$t served the secret"
done
[ "$(code "$url/dir")" = 403 ] || fail "a directory is not 403"
[ "$(code -X POST -d x "$url/index.html")" = 405 ] || fail "POST is not 405"
[ "$(code -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "$url/index.html")" = 431 ] || fail "431"

# Raw requests: garbage, pipelining (with a request body to skip), a slow client, many idle clients.
python3 - "$port" "$root" <<'EOF' || fail "raw requests (see above)"
import resource, socket, sys, time
port, root = int(sys.argv[1]), sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
index = open(root + "/index.html", "rb").read()
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s
def read_all(s):
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b
s = conn(); s.sendall(b"garbage\r\n\r\n"); r = read_all(s)
assert r.startswith(b"HTTP/1.1 400 "), r[:80]
# Three pipelined requests in one write, the second with a body to skip; the last closes.
s = conn()
s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"
          b"GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nBODY!"
          b"HEAD /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
r = read_all(s)
parts = r.split(b"HTTP/1.1 200 OK")
assert len(parts) == 4, r
assert parts[1].endswith(b"\r\n\r\n" + index) and parts[2].endswith(b"\r\n\r\n" + index), r
assert parts[3].endswith(b"\r\n\r\n"), "HEAD sent a body"
# A request split in single bytes still works; a client that stops mid-head is closed by the timeout.
s = conn()
for ch in b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n":
    s.send(bytes([ch]))
assert read_all(s).endswith(index)
s = conn(); s.sendall(b"GET /index.html HTTP/1.1\r\nHo")
t0 = time.time(); r = read_all(s)
assert r == b"" and time.time() - t0 < 5, (r, time.time() - t0)
# 1000 idle clients, one trickling; the server still answers at once.
idle = [conn() for _ in range(1000)]
s = conn(); s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
t0 = time.time(); r = read_all(s)
assert r.endswith(index) and time.time() - t0 < 2, time.time() - t0
for c in idle:
    c.close()
print("raw requests: ok")
EOF

kill -TERM "$srv"
for _ in $(seq 250); do kill -0 "$srv" 2>/dev/null || break; sleep 0.02; done
kill -0 "$srv" 2>/dev/null && fail "the server did not stop on SIGTERM"
rc=0; wait "$srv" || rc=$?
srv=
[ "$rc" -eq 0 ] || fail "the server exited with $rc on SIGTERM"
grep -q 'stopped;' "$tmp/server.log" || fail "no summary"
echo "$name: PASS: $(grep 'stopped;' "$tmp/server.log" | sed 's/^http_server: //')"
