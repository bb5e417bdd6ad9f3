#!/usr/bin/env python3
"""Server memory per idle connection: starts each echo server in turn, opens N connections to it that each
echo one small message and then stay idle, and reports the growth of the server's resident memory (VmRSS
in /proc/PID/status, before the connections and after) divided by N; VmData, the private memory reserved
whether touched or not, likewise.

    bench/idle_memory.py BUILD_DIR [--connections 10000,100000] [--rounds 1] [--server NAME[=COMMAND]] ...

Servers: --server NAME=COMMAND, repeatable, run in the order given, alternating round by round. COMMAND is
split like a shell line; {build}, {host} and {port} in it are replaced (each run gets a fresh port). When its
first word names a preset, the preset's command is used with the rest of the words appended, so variants
only add their arguments:  --server 'pool=rp-uring --recv pool' --server 'buffer=rp-uring --recv buffer'.
A bare NAME runs that preset. Without --server: rp-uring, rp-epoll and uv.

Client: one process, non-blocking sockets on epoll, at most --window connections being set up at a time
(well under the servers' listen backlog). Each socket binds its source address before connecting: 127.0.0.2,
then 127.0.0.3, ... with --per-source connections each, because one (source, destination) pair has only
as many connections as net.ipv4.ip_local_port_range has ports. It binds with IP_BIND_ADDRESS_NO_PORT, so
the kernel picks the port at connect time for that 4-tuple only: ports taken by an ordinary bind() would be
barred from every other connect() on the machine for the duration. The default --per-source stays under half
the range: connect() tries the even ports first, and once they are all taken every further connect() scans
them all (20,000 connections from one address took 12-20 s instead of 2 s with the default 32768-60999). Connections are closed with an RST
(SO_LINGER 0), so neither side keeps TIME_WAIT entries between runs.

Descriptors: client and server each need N + a few. The script raises RLIMIT_NOFILE (soft, and hard when
allowed) before it starts the servers, which inherit it; a count above what it can get is skipped with the
reason. Everything it opened is closed and every server stopped on exit, error or Ctrl-C.
"""
import argparse
import ctypes
import errno
import os
import resource
import select
import shlex
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

PRESETS = {
    "rp-uring": "{build}/samples/echo_server --host {host} --port {port} --workers 1 --backend io_uring",
    "rp-epoll": "{build}/samples/echo_server --host {host} --port {port} --workers 1 --backend epoll",
    "uv": "{build}/bench/uv_echo_server --host {host} --port {port}",
    "epoll-hand": "{build}/bench/epoll_echo_server --host {host} --port {port}",
}
DEFAULT_SERVERS = ["rp-uring", "rp-epoll", "uv"]
FD_MARGIN = 64  # descriptors beyond the connections: listener, io_uring, epoll, eventfd, stdio, probes


def sysctl(name):
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().split()
    except OSError:
        return ["?"]


def listening(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def memory_kib(pid):
    """(VmRSS, VmData) of pid in KiB: resident memory, and the private memory it has reserved, touched or not."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmData"):
                found[key] = int(line.split()[1])
    if len(found) != 2:
        raise RuntimeError(f"no VmRSS/VmData for pid {pid}")
    return found["VmRSS"], found["VmData"]


def raise_nofile(need):
    """Lifts RLIMIT_NOFILE to need if allowed, else as far as the hard limit. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(need, hard)))
        except (ValueError, OSError):  # raising the hard limit needs CAP_SYS_RESOURCE
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def parse_server(spec):
    name, eq, command = spec.partition("=")
    if not eq and name not in PRESETS:
        raise argparse.ArgumentTypeError(f"{name!r} is not a preset ({', '.join(PRESETS)}): use NAME=COMMAND")
    words = shlex.split(command) if command else [name]
    if words and words[0] in PRESETS:
        words = shlex.split(PRESETS[words[0]]) + words[1:]
    if not name or not words:
        raise argparse.ArgumentTypeError(f"expected NAME=COMMAND or a preset name, got {spec!r}")
    return name, words


def die_with_parent():
    """Runs in the server child: the kernel sends it SIGTERM if this script dies without cleaning up."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    def __init__(self, name, argv):
        self.name, self.argv = name, argv
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=die_with_parent)

    def last_words(self):
        self.log.flush()
        self.log.seek(0)
        lines = [l.strip() for l in self.log.read().splitlines() if l.strip()]
        return lines[-1] if lines else "(no output)"

    def wait_listening(self, host, port, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.last_words()}")
            if listening(host, port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} is not listening on {host}:{port} after {timeout} s")

    def stop(self):
        """SIGINT (the servers then close everything and report), SIGKILL after 10 s. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def open_idle(n, host, port, per_source, payload, window, stall_s, socks):
    """Opens n connections that each echo payload once, appending them to socks (which the caller closes)."""
    ep = select.epoll()
    by_fd, got = {}, {}
    linger = struct.pack("ii", 1, 0)
    started = done = 0
    last_progress = time.monotonic()
    try:
        while done < n:
            while started - done < window and started < n:
                src = f"127.0.0.{2 + started // per_source}"
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.setblocking(False)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24), 1)
                s.bind((src, 0))
                err = s.connect_ex((host, port))
                if err not in (0, errno.EINPROGRESS):
                    raise OSError(err, f"connect from {src} (connection {started + 1}): {os.strerror(err)}")
                by_fd[s.fileno()] = s
                ep.register(s.fileno(), select.EPOLLOUT)
                started += 1
            for fd, _ in ep.poll(1.0, 1024):
                s = by_fd[fd]
                if fd not in got:  # connecting: writable means connected, or failed
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, f"connection {started}: {os.strerror(err)}")
                    if s.send(payload) != len(payload):
                        raise RuntimeError("short send of the echo payload")
                    got[fd] = b""
                    ep.modify(fd, select.EPOLLIN)
                    continue
                data = s.recv(len(payload))
                if not data:
                    raise RuntimeError(f"the server closed a connection during setup ({done} of {n} echoed)")
                got[fd] += data
                if len(got[fd]) >= len(payload):
                    if got[fd] != payload:
                        raise RuntimeError("the echo differs from what was sent")
                    ep.unregister(fd)
                    del by_fd[fd], got[fd]
                    done += 1
                    last_progress = time.monotonic()
            if time.monotonic() - last_progress > stall_s:
                raise RuntimeError(f"{done} of {n} connections echoed, none for {stall_s:.0f} s")
    finally:
        ep.close()


def close_all(socks):
    for s in socks:
        s.close()
    socks.clear()


def measure(name, argv, n, port, args, socks):
    """One run: fresh server, RSS before and after n idle connections. Returns bytes per connection."""
    server = Server(name, argv)
    started = False
    try:
        server.wait_listening(args.host, port)
        started = True
        # One echo first, so that whatever the first connection sets up (lazily) is in the "before" figure.
        open_idle(1, args.host, port, args.per_source, args.payload_bytes, 1, args.stall, socks)
        close_all(socks)
        time.sleep(args.settle)
        before, data_before = memory_kib(server.proc.pid)
        t0 = time.monotonic()
        open_idle(n, args.host, port, args.per_source, args.payload_bytes, args.window, args.stall, socks)
        setup_s = time.monotonic() - t0
        time.sleep(args.settle)
        if server.proc.poll() is not None:
            raise RuntimeError(f"{name} died: {server.last_words()}")
        after, data_after = memory_kib(server.proc.pid)
        per, data_per = (after - before) * 1024 / n, (data_after - data_before) * 1024 / n
        print(f"  {name:14s} {n:7d} conns  RSS {before:8d} -> {after:8d} KiB  {per:8.0f} B/conn"
              f"   (VmData {data_per:.0f} B/conn; set up in {setup_s:.1f} s)", flush=True)
        return per, data_per
    finally:
        close_all(socks)
        rc = server.stop()
        if started and rc not in (0, -signal.SIGINT):  # a failed start has been reported already
            print(f"  {name}: exit {rc}: {server.last_words()}", file=sys.stderr)
        server.log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="presets:\n" + "\n".join(f"  {k:11s} {v}" for k, v in PRESETS.items()))
    ap.add_argument("build", help="build directory (with samples/echo_server, bench/uv_echo_server, ...)")
    ap.add_argument("--connections", default="10000,100000", help="counts to measure, comma-separated")
    ap.add_argument("--server", action="append", type=parse_server, metavar="NAME[=COMMAND]",
                    help="a server to measure, repeatable (see above; presets below)")
    ap.add_argument("--rounds", type=int, default=1, help="runs of every server per count, alternating")
    ap.add_argument("--host", default="127.0.0.1", help="IPv4 address the servers listen on")
    ap.add_argument("--port-base", type=int, default=7700, help="first port; each run takes the next")
    ap.add_argument("--per-source", type=int, default=0,
                    help="connections per client source address (default: half of "
                         "ip_local_port_range less 1000, at most 50000)")
    ap.add_argument("--payload", type=int, default=32, help="bytes each connection echoes once")
    ap.add_argument("--window", type=int, default=256, help="connections being set up at a time")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait before reading RSS")
    ap.add_argument("--stall", type=float, default=30.0, help="give up after this long without progress")
    args = ap.parse_args()
    try:
        counts = [int(c) for c in args.connections.split(",")]
    except ValueError:
        ap.error(f"--connections: expected numbers separated by commas, got {args.connections!r}")
    if min(counts) < 1 or args.rounds < 1 or args.window < 1 or args.payload < 1:
        ap.error("--connections, --rounds, --window and --payload must be positive")
    build = os.path.abspath(args.build)
    if not os.path.isdir(build):
        ap.error(f"no build directory {args.build}")
    servers = args.server or [parse_server(s) for s in DEFAULT_SERVERS]
    if len({name for name, _ in servers}) != len(servers):
        ap.error("two --server options have the same NAME")

    lo, hi = (int(x) for x in sysctl("net.ipv4.ip_local_port_range"))
    span = hi - lo + 1
    if args.per_source <= 0:
        args.per_source = max(1, min(50000, span // 2 - 1000))  # the even ports, less a margin for others
    args.payload_bytes = bytes(i % 251 for i in range(args.payload))
    need = max(counts) + FD_MARGIN
    nr_open = int(sysctl("fs.nr_open")[0])
    limit = raise_nofile(min(need, nr_open))
    print(f"ip_local_port_range {lo}-{hi} ({span} ports), somaxconn {sysctl('net.core.somaxconn')[0]}, "
          f"fs.nr_open {nr_open}, RLIMIT_NOFILE {limit}/{resource.getrlimit(resource.RLIMIT_NOFILE)[1]}; "
          f"{args.per_source} connections per source address, payload {args.payload} B, "
          f"{args.rounds} round(s)")

    socks, results, failures = [], {}, 0
    run = 0
    for n in counts:
        sources = -(-n // args.per_source)
        if n + FD_MARGIN > limit:
            print(f"{n} connections: skipped: client and server each need {n + FD_MARGIN} descriptors, "
                  f"RLIMIT_NOFILE is {limit} and cannot be raised further here (the hard limit needs "
                  f"CAP_SYS_RESOURCE, e.g. root: ulimit -Hn {n + FD_MARGIN}; fs.nr_open is {nr_open})")
            failures += 1
            continue
        if span < args.per_source or sources > 253:
            print(f"{n} connections: skipped: {sources} source addresses of {args.per_source} connections "
                  f"do not fit (127.0.0.2-254, {span} ports each)")
            failures += 1
            continue
        print(f"{n} connections from 127.0.0.2-{1 + sources}:")
        for r in range(args.rounds):
            for name, words in servers:
                while listening(args.host, args.port_base + run):  # taken by something else
                    run += 1
                port = args.port_base + run
                run += 1
                argv = [w.replace("{build}", build).replace("{host}", args.host).replace("{port}", str(port))
                        for w in words]
                if not os.access(argv[0], os.X_OK):
                    print(f"  {name:14s} skipped: {argv[0]} is not built")
                    continue
                try:
                    results.setdefault((name, n), []).append(measure(name, argv, n, port, args, socks))
                except (RuntimeError, OSError) as e:
                    failures += 1
                    print(f"  {name:14s} {n:7d} conns  failed: {e}", file=sys.stderr)

    # VmRSS counts only touched pages (a 64 KiB buffer that received 32 bytes costs one page); VmData counts
    # what was reserved, which is what a buffer pool changes even where the pages were never touched.
    for k, what in ((0, "RSS"), (1, "VmData")):
        print(f"\nserver {what} growth per idle connection, bytes (median of the rounds; lowest-highest):")
        print(f"  {'server':14s}" + "".join(f"{n:>22d}" for n in counts))
        for name, _ in servers:
            cells = []
            for n in counts:
                v = [r[k] for r in results.get((name, n), [])]
                cells.append("-" if not v else f"{statistics.median(v):.0f}" +
                             (f" ({min(v):.0f}-{max(v):.0f})" if len(v) > 1 else ""))
            print(f"  {name:14s}" + "".join(f"{c:>22s}" for c in cells))
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where it was inherited ignored (nohup, &)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through the finally blocks
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: connections closed, servers stopped", file=sys.stderr)
        sys.exit(130)
