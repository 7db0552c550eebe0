#!/usr/bin/env python3
"""Scrape latency and memory of llm-exporter against four real llama-servers, with
node_exporter (default collectors) scraped in the same run on the same machine as the peer.

Usage: bench/scrape_latency.py [--scrapes N]   (builds the release binary first; about a minute)
Prints one table: p50/p90/p99/max latency per scrape, CPU seconds per scrape, and peak RSS.
Everything listens on loopback ports chosen at run time and is stopped at the end.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url, tries=200):
    for _ in range(tries):
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"no answer from {url}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def measure(name, pid, url, scrapes):
    urllib.request.urlopen(url).read()  # warm up: connections, first collection
    times = []
    cpu0 = cpu_seconds(pid)
    size = 0
    for _ in range(scrapes):
        t0 = time.perf_counter()
        size = len(urllib.request.urlopen(url, timeout=10).read())
        times.append(time.perf_counter() - t0)
    cpu = (cpu_seconds(pid) - cpu0) / scrapes
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
    return (name, pick(0.5), pick(0.9), pick(0.99), times[-1] * 1000, cpu * 1000, rss_kib(pid, "VmRSS") / 1024,
            rss_kib(pid, "VmHWM") / 1024, size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scrapes", type=int, default=200)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "llm-exporter"], cwd=ROOT, check=True)
    procs, llamas = [], []
    try:
        for _ in range(4):
            out = subprocess.run(["bash", f"{ROOT}/scripts/run-llama-server.sh", str(free_port())],
                                 capture_output=True, text=True, check=True).stdout.split()
            llamas.append((int(out[0]), out[1]))
        for _, url in llamas:  # one completion each, so every series has data
            req = urllib.request.Request(f"{url}/completion", data=b'{"prompt":"Hello","n_predict":16}',
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req).read()
        port = free_port()
        servers = [f"--server=llama{i}={url}" for i, (_, url) in enumerate(llamas)]
        exporter = subprocess.Popen([f"{ROOT}/target/release/llm-exporter", f"--web.listen-address=127.0.0.1:{port}",
                                     "--log.level=warn", *servers])
        procs.append(exporter)
        wait_up(f"http://127.0.0.1:{port}/")
        rows = [measure("llm-exporter, 4 llama-servers", exporter.pid, f"http://127.0.0.1:{port}/metrics", a.scrapes)]
        node = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
        if node:
            nport = free_port()
            peer = subprocess.Popen([node, f"--web.listen-address=127.0.0.1:{nport}"], stderr=subprocess.DEVNULL)
            procs.append(peer)
            wait_up(f"http://127.0.0.1:{nport}/")
            rows.append(measure("node_exporter, default collectors", peer.pid, f"http://127.0.0.1:{nport}/metrics",
                                a.scrapes))
        else:
            print("node_exporter not installed (apt-get install prometheus-node-exporter): peer row skipped")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        for pid, _ in llamas:
            os.kill(pid, signal.SIGTERM)
    print(f"\n{a.scrapes} sequential scrapes each, {os.cpu_count()} CPUs, {os.uname().machine}\n")
    print("| exporter | p50 ms | p90 ms | p99 ms | max ms | CPU ms/scrape | RSS MiB | peak RSS MiB | body bytes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.1f} | {r[7]:.1f} | {r[8]} |")


if __name__ == "__main__":
    sys.exit(main())
