#!/usr/bin/env python3
"""Memory and responsiveness of doorstep-local under stalled connections (slowloris-style).

Starts the release runner on a scratch data dir, opens N connections that send half a request
and stop, and reports the runner's resident memory before, during and after, and whether
/healthz still answers while they hang. Python's standard library only.

Usage: scripts/stall.py TARGET_DIR [N]   (TARGET_DIR holds the doorstep-local binary)
"""
import os, shutil, socket, subprocess, sys, tempfile, time, urllib.request

TARGET = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 100


def rss_kib(pid, field="VmRSS:"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def healthz(port):
    start = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        r.read()
    return (time.perf_counter() - start) * 1000


def main():
    data = tempfile.mkdtemp(prefix="doorstep-stall-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, DOORSTEP_DATA_DIR=data, DOORSTEP_PORT=str(port), RUST_LOG="warn")
    runner = subprocess.Popen([os.path.join(TARGET, "doorstep-local")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                healthz(port)
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(1)
        idle = rss_kib(runner.pid)
        stalled = []
        for i in range(N):
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"POST /webhooks/carriers/generic HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n")
            stalled.append(c)
        time.sleep(2)
        during = rss_kib(runner.pid)
        answer_ms = healthz(port)
        time.sleep(12)  # past the header timeout: the runner drops them
        dropped = 0
        for c in stalled:
            c.settimeout(0.5)
            try:
                if c.recv(1) == b"":
                    dropped += 1
            except (ConnectionResetError, socket.timeout, OSError):
                dropped += 1
            c.close()
        after = rss_kib(runner.pid)
        peak = rss_kib(runner.pid, "VmHWM:")
        print(f"doorstep-local with {N} stalled connections: RSS idle {idle / 1024:.1f} MiB, "
              f"with them open {during / 1024:.1f} MiB (+{(during - idle) / N:.0f} KiB each), "
              f"after they were dropped {after / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB; "
              f"/healthz answered in {answer_ms:.1f} ms meanwhile; {dropped}/{N} dropped by the header timeout")
    finally:
        runner.kill()
        runner.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
