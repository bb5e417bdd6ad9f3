#!/usr/bin/env bash
# Zero-downtime restart of samples/restart_server under load, checked byte for byte by
# samples/restart_client:
#   1. a first server starts fresh (listener on 127.0.0.1, a free port; control socket in a temporary dir),
#   2. the client keeps CONNECTIONS connections sending pattern data for SECONDS and verifies every echo,
#      plus 10 stalled ones that send 8 MB at once and read their echo only at the end (the server's echo
#      sends to them stay blocked through every handover: the handover must not wait for them),
#   3. meanwhile: garbage and a silent connection on the control socket (ignored, serving goes on); a
#      successor that crashes in the middle of its take-over (the running server abandons the handover
#      and serves on with everything); a successor that never confirms (the running server gives up after
#      its --handover-timeout, tells it so and serves on; the successor exits 1); then HANDOVERS
#      successors in a row (the last but one dies between the acknowledgement and its go-ahead: its
#      successor must serve everything), each taking the listener and
#      every connection over from the previous one, which must exit 0; clients that vanish mid-echo
#      (reset while their echo is being sent) just before each handover,
#   4. the client must end with every connection intact and every byte verified; the last server must
#      stop cleanly on SIGTERM and remove its control socket,
#   5. a server started on a control path where something else answers with garbage must give up with a
#      clear error (exit 1) instead of hanging or crashing.
# Every wait is bounded; every process started is killed and the temporary directory removed on any exit.
#
#   bash tests/restart_test.sh SERVER CLIENT BACKENDS [SECONDS (10)] [CONNECTIONS (200)] [HANDOVERS (3)]
# RESTART_TEST_VERBOSE=1 prints every process's log at the end.
# BACKENDS: one backend (io_uring, epoll, kqueue) for every process, or a comma-separated list that the
# successive servers cycle through (a restart onto another backend). Exit 77 (skipped) if the first
# backend cannot run here.
set -euo pipefail

server=${1:?usage: restart_test.sh SERVER CLIENT BACKENDS [SECONDS] [CONNECTIONS] [HANDOVERS]}
client=${2:?client binary}
IFS=, read -r -a backends <<<"${3:?backends}"
seconds=${4:-10}
conns=${5:-200}
handovers=${6:-3}
stalled=10
name="restart_test[${3}]"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rp-restart.XXXXXX")
ctl="$tmp/control.sock"
pids=()
cleanup() {
  local p f
  if [ -n "${RESTART_TEST_VERBOSE:-}" ]; then
    for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- ${f##*/}"; cat "$f"; }; done
  fi
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "$name: $*"; }
fail() {
  echo "$name: FAIL: $*" >&2
  for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "--- ${f##*/}"; cat "$f"; } >&2; done
  exit 1
}
backend_of() { echo "${backends[$(( $1 % ${#backends[@]} ))]}"; }

# wait_line FILE REGEX SECONDS [PID]: until FILE has a line matching REGEX; fails early if PID has exited.
wait_line() {
  local deadline=$(( $(date +%s%N) / 1000000 + $3 * 1000 ))
  while ! grep -qE "$2" "$1" 2>/dev/null; do
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
      grep -qE "$2" "$1" 2>/dev/null && return 0
      return 1
    fi
    [ $(( $(date +%s%N) / 1000000 )) -lt "$deadline" ] || return 1
    sleep 0.02
  done
}

# wait_exit PID SECONDS: the process's exit status, or 124 (killed) if it is still running then.
wait_exit() {
  local i
  for (( i = 0; i < $2 * 50; i++ )); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.02
  done
  if kill -0 "$1" 2>/dev/null; then
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    return 124
  fi
  local rc=0
  wait "$1" || rc=$?
  return $rc
}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
started=$(date +%s%N)

# ---- 1. the first server ----
timeout_ms=2500 # every server's --handover-timeout (a handover of a few hundred connections takes ms)
"$server" --backend "$(backend_of 0)" --host 127.0.0.1 --port 0 --control "$ctl" --handover-timeout "$timeout_ms" \
  >"$tmp/server0.log" 2>&1 &
srv=$!
pids+=("$srv")
if ! wait_line "$tmp/server0.log" 'listening on' 10 "$srv"; then
  if grep -q 'cannot run the' "$tmp/server0.log"; then
    say "SKIP: $(cat "$tmp/server0.log")"
    exit 77
  fi
  fail "the first server did not start"
fi
port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$tmp/server0.log" | grep -oE '[0-9]+$')
say "server 0 (pid $srv, $(backend_of 0)) on port $port"

# ---- 2. the client ----
"$client" --backend "$(backend_of 0)" --port "$port" --connections "$conns" --seconds "$seconds" \
  --drain-timeout 30 --stalled "$stalled" --stall-bytes 8000000 >"$tmp/client.log" 2>&1 &
cli=$!
pids+=("$cli")

# ---- 3. hostile input, a crashing successor, then the handovers ----
# Garbage on the control socket, and a connection that sends nothing: both ignored.
perl -MIO::Socket::UNIX -e '
  my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect $ARGV[0]: $!\n";
  print $s "GET / HTTP/1.0\r\n\r\n" x 8; sleep 1;' "$ctl" 2>>"$tmp/perl.log" &
pids+=("$!")
perl -MIO::Socket::UNIX -e '
  my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect $ARGV[0]: $!\n"; sleep 3;' "$ctl" \
  2>>"$tmp/perl.log" &
pids+=("$!")
wait_line "$tmp/server0.log" 'ignored a control connection' 10 "$srv" ||
  fail "server 0 did not report the garbage on its control socket"

# Clients that vanish mid-echo: connect, send without reading, reset.
vanish() {
  perl -MIO::Socket::INET -MSocket -e '
    my @s;
    for (1 .. 20) {
      my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]") or die "connect: $!\n";
      $s->blocking(0); push @s, $s;
    }
    for my $s (@s) { syswrite $s, "v" x 40000 }
    select undef, undef, undef, 0.05;
    for my $s (@s) { setsockopt($s, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0)); close $s }' "$port" \
    2>>"$tmp/perl.log" &
  pids+=("$!")
}

client_alive() { kill -0 "$cli" 2>/dev/null || fail "the client ended early (status: see its log)"; }
# ms between the events below, all inside the client's run (the stalled successor takes timeout_ms)
gap=$(( (seconds * 1000 - timeout_ms) / (handovers + 2) ))
[ "$gap" -ge 200 ] || gap=200
sleep "$(( gap / 1000 )).$(printf %03d $(( gap % 1000 )))"

client_alive
# A successor that dies after half of the connections have reached it.
RESTART_SERVER_CRASH_AFTER=$(( conns / 2 )) "$server" --backend "$(backend_of 0)" --control "$ctl" \
  >"$tmp/crash.log" 2>&1 &
crash=$!
pids+=("$crash")
rc=0; wait_exit "$crash" 20 || rc=$?
[ "$rc" -eq 3 ] || fail "the crashing successor exited with $rc, not 3 (its crash)"
wait_line "$tmp/server0.log" 'abandoned' 10 "$srv" || fail "server 0 did not abandon the handover to a crashed successor"
kill -0 "$srv" 2>/dev/null || fail "server 0 died after the crashed handover"
say "a successor crashed mid-handover: server 0 serves on ($(grep -m1 abandoned "$tmp/server0.log" | sed 's/^restart_server: //'))"

# A successor that receives everything and never confirms, as if it hung: server 0 gives up after its
# timeout, says so, and serves on; the successor closes its copies and exits 1.
client_alive
RESTART_SERVER_STALL_ACK=1 "$server" --backend "$(backend_of 1)" --control "$ctl" >"$tmp/stall.log" 2>&1 &
stall=$!
pids+=("$stall")
rc=0; wait_exit "$stall" $(( timeout_ms / 1000 + 20 )) || rc=$?
[ "$rc" -eq 1 ] || fail "the successor that never confirmed exited with $rc, not 1"
grep -q 'gave the handover up' "$tmp/stall.log" || fail "the stalled successor was not told: $(cat "$tmp/stall.log")"
wait_line "$tmp/server0.log" 'abandoned.*handover timeout' 10 "$srv" ||
  fail "server 0 did not give up on a successor that never confirmed"
kill -0 "$srv" 2>/dev/null || fail "server 0 died after giving up on a stalled successor"
say "a successor never confirmed: server 0 gave up after ${timeout_ms} ms and serves on"

total_handed=0
for (( i = 1; i <= handovers; i++ )); do
  sleep "$(( gap / 1000 )).$(printf %03d $(( gap % 1000 )))"
  client_alive
  vanish
  sleep 0.03 # their echoes under way when the handover starts
  dies=0 # this server dies when its own successor acknowledges
  if [ "$handovers" -ge 2 ] && [ "$i" -eq $(( handovers - 1 )) ]; then dies=1; fi
  RESTART_SERVER_EXIT_ON_ACK=$dies "$server" --backend "$(backend_of "$i")" --control "$ctl" \
    --handover-timeout "$timeout_ms" >"$tmp/server$i.log" 2>&1 &
  next=$!
  pids+=("$next")
  wait_line "$tmp/server$i.log" 'took over' 30 "$next" || fail "server $i did not take over"
  rc=0; wait_exit "$srv" 30 || rc=$?
  if [ "${died_next:-0}" -eq 1 ]; then
    [ "$rc" -eq 3 ] || fail "server $(( i - 1 )) exited with $rc, not 3 (its death on the acknowledgement)"
    grep -q 'without a word: serving' "$tmp/server$i.log" ||
      fail "server $i did not notice that its predecessor died after the acknowledgement"
    line=$(grep -m1 'took over the listener' "$tmp/server$i.log")
  else
    [ "$rc" -eq 0 ] || fail "server $(( i - 1 )) exited with $rc after handing over"
    line=$(grep -m1 'handed the listener' "$tmp/server$(( i - 1 )).log") || fail "server $(( i - 1 )) printed no summary"
  fi
  died_next=$dies
  n=$(echo "$line" | grep -oE 'listener and [0-9]+' | grep -oE '[0-9]+$')
  [ "$n" -ge $(( conns + stalled )) ] || fail "server $(( i - 1 )) handed over only $n connections: $line"
  total_handed=$(( total_handed + n ))
  say "handover $i: ${line#restart_server: } (to $(backend_of "$i"))"
  srv=$next
done

# ---- 4. the verdict ----
rc=0; wait_exit "$cli" $(( seconds + 60 )) || rc=$?
[ "$rc" -eq 0 ] || fail "the client exited with $rc"
result=$(grep 'connections intact' "$tmp/client.log") || fail "the client printed no result"
all=$(( conns + stalled ))
echo "$result" | grep -qE " $all/$all connections intact.* 0 errors" || fail "client: $result"
kill -TERM "$srv"
rc=0; wait_exit "$srv" 20 || rc=$?
[ "$rc" -eq 0 ] || fail "the last server exited with $rc on SIGTERM"
[ ! -e "$ctl" ] || fail "the last server left its control socket behind"
grep -q 'connection errors' "$tmp/server$handovers.log" || fail "the last server printed no summary"
# Resets by the vanishing clients are not errors; anything else that ended a connection is.
if grep -h 'connection errors' "$tmp"/server*.log | grep -qvE ' 0 connection errors'; then
  fail "a server counted connection errors"
fi
if grep -hE 'cannot|rp_[a-z_]+:|refused a handover' "$tmp"/server*.log; then
  fail "a server reported a problem"
fi

# ---- 5. something else on the control path ----
fake="$tmp/fake.sock"
perl -MIO::Socket::UNIX -e '
  my $l = IO::Socket::UNIX->new(Local => $ARGV[0], Listen => 5) or die "listen $ARGV[0]: $!\n";
  while (my $c = $l->accept) { print $c "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"; sleep 5; close $c }' \
  "$fake" 2>>"$tmp/perl.log" &
pids+=("$!")
for _ in $(seq 250); do [ -S "$fake" ] && break; sleep 0.02; done
"$server" --backend "$(backend_of 0)" --control "$fake" >"$tmp/fake.log" 2>&1 &
fk=$!
pids+=("$fk")
rc=0; wait_exit "$fk" 20 || rc=$?
[ "$rc" -eq 1 ] || fail "a server facing garbage on its control path exited with $rc, not 1"
grep -q 'not a handover message' "$tmp/fake.log" || fail "no clear error about the garbage: $(cat "$tmp/fake.log")"

ms=$(( ($(date +%s%N) - started) / 1000000 ))
say "PASS: ${result#restart_client: }; $handovers handovers ($total_handed connections handed in all) + 2 abandoned" \
  "(a successor's crash, a successor that never confirmed); garbage on the control socket ignored and refused; $(( ms / 1000 )).$(( ms % 1000 / 100 )) s"
