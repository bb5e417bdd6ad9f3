#!/usr/bin/env python3
"""Resident memory per idle connection: starts each echo server, opens N idle connections to it, and
reports the growth of the server's RSS divided by N. Every server here keeps a 64 KiB receive buffer per
connection, posted but never written to, so untouched buffer pages cost nothing until data arrives.

    bench/idle_memory.py BUILD_DIR [N=10000]
"""
import os
import resource
import socket
import subprocess
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(cmd, port, n):
    proc = subprocess.Popen(cmd + ["--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)
        before = rss_kib(proc.pid)
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        time.sleep(1.0)
        after = rss_kib(proc.pid)
        for c in conns:
            c.close()
        return (after - before) * 1024 / n, before, after
    finally:
        proc.send_signal(2)
        proc.wait(timeout=10)


def main():
    build = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    servers = [
        ("ringport io_uring", [f"{build}/samples/echo_server", "--backend", "io_uring", "--workers", "1"]),
        ("ringport epoll", [f"{build}/samples/echo_server", "--backend", "epoll", "--workers", "1"]),
        ("libuv", [f"{build}/bench/uv_echo_server"]),
        ("epoll by hand", [f"{build}/bench/epoll_echo_server"]),
    ]
    print(f"{n} idle connections; server RSS growth per connection")
    for i, (name, cmd) in enumerate(servers):
        per, before, after = measure(cmd, 7600 + i, n)
        print(f"  {name:18s} {per:8.0f} B/conn   (RSS {before} KiB -> {after} KiB)")


if __name__ == "__main__":
    main()
