#!/usr/bin/env python3
"""Connection floods against an llm-exporter binary, with the numbers docs/src/performance.md and the
hardening tests quote:

- how many of 2,000 connections that send half a request are still open after the header
  timeout (the exporter closes them; the kernel's accept queue holds some while the flood
  lasts);
- how many error or warn lines each client that goes away mid-request costs (100 half
  requests and 100 TLS ClientHellos to the plain port);
- the exit code on SIGTERM with connections open.

Usage: bench/connections.py [BINARY] [WAIT_SECONDS]   (default target/release/llm-exporter, 15)
"""
import resource
import socket
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/llm-exporter"
wait = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))

probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
log = tempfile.TemporaryFile("w+")
exporter = subprocess.Popen(
    [binary, "--web.listen-address", f"127.0.0.1:{port}", "--no-discovery", "--no-collector.nvml",
     "--no-collector.process"],
    stderr=log, stdout=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.1)

    def established():
        out = subprocess.run(["ss", "-tnH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True).stdout
        return sum(1 for line in out.splitlines() if line.strip())

    def loud_lines():
        log.flush()
        log.seek(0)
        return sum(1 for line in log if "level=error" in line or "level=warn" in line)

    held = []
    for _ in range(2000):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        held.append(c)
    print(f"flood: 2000 half requests sent; open on the exporter's side now: {established()}")
    time.sleep(wait)
    print(f"after {wait:.0f} s: still open: {established()}")
    for c in held:
        c.close()
    time.sleep(2)

    before = loud_lines()
    n = 100
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.01)
        c.close()
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(bytes([0x16, 3, 1, 2, 0, 1, 0, 1, 0xFC, 3, 3]))
        time.sleep(0.01)
        c.close()
    time.sleep(2)
    loud = loud_lines() - before
    print(f"aborted: {n} half requests + {n} TLS ClientHellos: {loud} error/warn lines "
          f"({loud / (2 * n):.2f} per connection)")
finally:
    exporter.terminate()
    try:
        code = exporter.wait(timeout=60)
    except subprocess.TimeoutExpired:
        exporter.kill()
        code = "none (killed after 60 s)"
print(f"exit code on SIGTERM: {code}")
