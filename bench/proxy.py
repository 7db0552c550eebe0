#!/usr/bin/env python3
"""The measuring proxy against a direct connection and against nginx (proxy_buffering off),
in the same run: a fake upstream streams TOKENS SSE chunks at one per INTERVAL to 1, 16 and 64
concurrent clients; the table gives time to first token (p50, p99), the mean gap between
tokens, throughput, and the exporter's CPU seconds and peak RSS.

    bench/proxy.py [--smoke] [--binary target/release/llm-exporter] [--tokens 1000]

Unless --smoke, writes the table to bench/results/proxy.md.

The exporter binary must be built (cargo build --release -p llm-exporter); nginx must be on
PATH (Debian's nginx package). Nothing here asserts speed: it prints numbers.
"""
import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- fake upstream

async def serve_fake(port, tokens, interval):
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"tok"}}]}\n\n'
    final = (b'data: {"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":%d}}\n\ndata: [DONE]\n\n' % tokens)

    def framed(data):
        return b"%x\r\n%s\r\n" % (len(data), data)

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
                start = time.monotonic()
                for i in range(tokens):
                    # An absolute schedule, so the pace does not drift with the writes.
                    delay = start + (i + 1) * interval - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    writer.write(framed(chunk))
                    await writer.drain()
                writer.write(framed(final) + b"0\r\n\r\n")
                await writer.drain()
                if b"connection: close" in head.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# ----------------------------------------------------------------------------- clients

async def one_stream(port):
    """Time to first token, mean gap between tokens, tokens seen."""
    body = b'{"model":"bench","stream":true,"messages":[{"role":"user","content":"hi"}]}'
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    first = last = None
    count = 0
    tail = b""
    while True:
        data = await reader.read(65536)
        if not data:
            break
        now = time.monotonic()
        n = (tail + data).count(b'"content"') - tail.count(b'"content"')
        if n:
            count += n
            first = first or now
            last = now
        tail = data[-16:]
    writer.close()
    gap = (last - first) / (count - 1) if count > 1 else 0.0
    return (first - start if first else float("nan")), gap, count


async def round_of(port, streams):
    return await asyncio.gather(*(one_stream(port) for _ in range(streams)))


def run_clients(port, streams, rounds):
    samples = []
    start = time.monotonic()
    for _ in range(rounds):
        samples.extend(asyncio.run(round_of(port, streams)))
    return samples, time.monotonic() - start


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# ----------------------------------------------------------------------------- peers

def start_exporter(binary, upstream_port):
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--web.listen-address", "127.0.0.1:0", "--no-discovery", "--no-collector.nvml",
         "--no-collector.process", "--no-collector.llm", "--proxy", f"127.0.0.1:{port}=http://127.0.0.1:{upstream_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "proxy on" in line:
            break
    return proc, port


def start_nginx(upstream_port, tmp):
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  upstream fake {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://fake;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }}
  }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/llm-exporter"))
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=0.001)
    ap.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_fake:
        asyncio.run(serve_fake(args.serve_fake, args.tokens, args.interval))
        return
    tokens = 50 if args.smoke else args.tokens
    fake_port = free_port()
    fake = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(fake_port), "--tokens", str(tokens),
                             "--interval", str(args.interval)])
    time.sleep(0.5)
    tmp = tempfile.mkdtemp(prefix="llm-exporter-bench-proxy-")
    exporter, proxy_port = start_exporter(args.binary, fake_port)
    nginx, nginx_port = (start_nginx(fake_port, tmp) if shutil.which("nginx") else (None, None))
    peers = [("direct", fake_port, None), ("llm-exporter", proxy_port, exporter.pid)]
    if nginx:
        peers.append(("nginx", nginx_port, None))
    lines = [
        f"Fake upstream: {tokens} SSE tokens per stream, one every {args.interval * 1000:g} ms; a fresh client "
        f"connection per stream; {os.cpu_count()} CPUs, Linux {os.uname().release}. gap: mean time between "
        "tokens as the client sees them; CPU and peak RSS: the exporter's.",
        "",
        "| streams | path | TTFT p50 ms | TTFT p99 ms | gap ms | tokens/s | % of direct | CPU s | peak RSS MiB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    try:
        for streams in ([1, 16] if args.smoke else [1, 16, 64]):
            rounds = 2 if args.smoke else max(3, 20 // streams)
            direct_rate = None
            for name, port, pid in peers:
                cpu0 = cpu_seconds(pid) if pid else 0.0
                samples, wall = run_clients(port, streams, rounds)
                ttft = [s[0] * 1000 for s in samples]
                gap = statistics.mean(s[1] for s in samples) * 1000
                rate = sum(s[2] for s in samples) / wall
                direct_rate = direct_rate or rate
                cpu = f"{cpu_seconds(pid) - cpu0:.2f}" if pid else ""
                rss = f"{status_kib(pid, 'VmHWM:') / 1024:.1f}" if pid else ""
                lines.append(f"| {streams} | {name} | {pct(ttft, 50):.2f} | {pct(ttft, 99):.2f} | {gap:.3f} | "
                             f"{rate:.0f} | {100 * rate / direct_rate:.1f} | {cpu} | {rss} |")
                print(lines[-1], flush=True)
        if not args.smoke:
            # 256 streams open at once: the exporter's resident memory with them.
            idle = status_kib(exporter.pid, "VmRSS:")
            run_clients(proxy_port, 256, 1)
            lines += ["", f"256 streams at once through llm-exporter: peak RSS "
                      f"{status_kib(exporter.pid, 'VmHWM:') / 1024:.1f} MiB (before them {idle / 1024:.1f} MiB)."]
        text = "\n".join(lines) + "\n"
        print(text)
        if not args.smoke:
            with open(os.path.join(ROOT, "bench", "results", "proxy.md"), "w") as f:
                f.write(text)
    finally:
        for proc in (exporter, nginx, fake):
            if proc:
                proc.terminate()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
