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
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = {"prometheus-node-exporter": "prometheus-node-exporter",
         "prometheus-process-exporter": "prometheus-process-exporter"}


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


def status_mib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def install_peers():
    missing = [pkg for cmd, pkg in PEERS.items() if not shutil.which(cmd)]
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                       check=True, stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def one_round(pid, url, scrapes):
    """CPU ms per scrape and the latencies of `scrapes` sequential scrapes."""
    cpu0 = cpu_seconds(pid)
    times, size = [], 0
    for _ in range(scrapes):
        t0 = time.perf_counter()
        size = len(urllib.request.urlopen(url, timeout=10).read())
        times.append((time.perf_counter() - t0) * 1000)
    return (cpu_seconds(pid) - cpu0) * 1000 / scrapes, times, size


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


def fmt(values):
    return f"{statistics.median(values):.2f} [{min(values):.2f}–{max(values):.2f}]"


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
                r["p50"].append(times[len(times) // 2])
                r["p99"].append(times[min(len(times) - 1, int(0.99 * len(times)))])
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


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


if __name__ == "__main__":
    sys.exit(main())
