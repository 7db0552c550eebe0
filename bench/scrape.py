#!/usr/bin/env python3
"""What one scrape costs: llm-exporter against node_exporter and process-exporter, in one
interleaved run on this machine.

    bench/scrape.py [--smoke] [--rounds N] [--scrapes N]

World: this machine as it is, with four real llama-servers (tiny model) on loopback.
- llm-exporter scrapes the four servers (12 endpoints) and reports their processes;
- node_exporter runs its default collectors;
- process-exporter watches the same llama-server processes (`-procnames llama-server`).
Each round scrapes every exporter N times in turn (A×N, B×N, C×N), so load on the machine
falls on all of them alike. CPU per scrape is the exporter's own utime+stime over those
scrapes (from /proc/PID/stat), latency is the client's wall time. The table gives the median
over rounds with [min–max], then RSS after all scrapes and the peak (VmHWM).

Builds the release exporter; installs prometheus-node-exporter and prometheus-process-exporter
when missing. Every server listens on a free loopback port and is stopped at the end.
Unless --smoke, writes the table to bench/results/scrape.md.
"""
import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

from measure import ROOT, cpu_model, fmt, free_port, install_peers, one_round, pct, status_mib, wait_up


def start_llama_servers(n):
    servers = []
    for _ in range(n):
        out = subprocess.run(["bash", f"{ROOT}/scripts/run-llama-server.sh", str(free_port())],
                             capture_output=True, text=True, check=True).stdout.split()
        servers.append((int(out[0]), out[1]))
    for _, url in servers:  # one completion each, so every series has data
        req = urllib.request.Request(f"{url}/completion", data=b'{"prompt":"Hello","n_predict":16}',
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=60).read()
    return servers


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="2 rounds of 3 scrapes; writes nothing")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--scrapes", type=int, default=100, help="scrapes per exporter per round")
    a = ap.parse_args()
    if a.smoke:
        a.rounds, a.scrapes = 2, 3
    install_peers()
    subprocess.run(["cargo", "build", "--release", "-q", "--locked", "-p", "llm-exporter"], cwd=ROOT, check=True)
    procs, llamas = [], []

    def start(name, argv):
        port = free_port()
        # Go's flag package takes --name=value as well, so one form serves all three.
        p = subprocess.Popen([*argv, f"--web.listen-address=127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        wait_up(f"http://127.0.0.1:{port}/metrics")
        return name, p.pid, f"http://127.0.0.1:{port}/metrics"

    try:
        llamas = start_llama_servers(4)
        servers = [f"--server=llama{i}={url}" for i, (_, url) in enumerate(llamas)]
        exporters = [
            start("llm-exporter", [f"{ROOT}/target/release/llm-exporter", "--no-discovery", "--log.level=warn",
                                   *servers]),
            start("node_exporter (default collectors)", [shutil.which("prometheus-node-exporter")]),
            start("process-exporter (llama-server)",
                  [shutil.which("prometheus-process-exporter"), "-procnames", "llama-server"]),
        ]
        results = {name: {"cpu": [], "p50": [], "p99": [], "size": 0} for name, _, _ in exporters}
        for name, _, url in exporters:  # warm up: connections, first collection
            urllib.request.urlopen(url, timeout=10).read()
        for _ in range(a.rounds):
            for name, pid, url in exporters:
                cpu, times, size = one_round(pid, url, a.scrapes)
                times.sort()
                r = results[name]
                r["cpu"].append(cpu)
                r["p50"].append(pct(times, 0.5))
                r["p99"].append(pct(times, 0.99))
                r["size"] = size
        memory = {name: (status_mib(pid, "VmRSS"), status_mib(pid, "VmHWM")) for name, pid, _ in exporters}
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        for pid, _ in llamas:
            os.kill(pid, signal.SIGTERM)

    ours = statistics.median(results["llm-exporter"]["cpu"])
    lines = [
        f"{a.rounds} interleaved rounds of {a.scrapes} sequential scrapes per exporter; "
        f"median [min–max] over rounds. {os.cpu_count()} CPUs, {cpu_model()}, Linux {platform.release()}.",
        "",
        "| exporter | CPU ms/scrape | × llm-exporter | p50 ms | p99 ms | RSS MiB | peak RSS MiB | body bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        ratio = statistics.median(r["cpu"]) / ours if ours else float("nan")
        rss, hwm = memory[name]
        lines.append(f"| {name} | {fmt(r['cpu'])} | {ratio:.1f} | {fmt(r['p50'])} | {fmt(r['p99'])} | "
                     f"{rss:.1f} | {hwm:.1f} | {r['size']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not a.smoke:
        with open(os.path.join(ROOT, "bench", "results", "scrape.md"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(main())
