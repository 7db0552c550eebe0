"""What bench/scrape.py and bench/world.py measure with, and how they report it: free loopback
ports, an exporter's own CPU time and memory from /proc, rounds of sequential scrapes, medians
with [min–max], and the peers installed from Debian when missing."""
import os
import platform
import shutil
import socket
import statistics
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = {"prometheus-node-exporter": "prometheus-node-exporter",
         "prometheus-process-exporter": "prometheus-process-exporter"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_up(url, proc=None, tries=300):
    """Waits until `url` answers; gives up early when `proc` (a Popen) has exited."""
    for _ in range(tries):
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {proc.returncode}")
        try:
            get(url, timeout=5)
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"no answer from {url}")


def cpu_seconds(pid):
    """utime + stime of `pid`, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_mib(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, RssAnon, ...) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def one_round(pid, url, scrapes):
    """CPU ms per scrape, the latencies (ms) of `scrapes` sequential scrapes, the body size."""
    cpu0 = cpu_seconds(pid)
    times, size = [], 0
    for _ in range(scrapes):
        t0 = time.perf_counter()
        size = len(get(url))
        times.append((time.perf_counter() - t0) * 1000)
    return (cpu_seconds(pid) - cpu0) * 1000 / scrapes, times, size


def interleaved(targets, rounds, scrapes):
    """`rounds` rounds of `scrapes` sequential scrapes of each (name, pid, url) in turn: per name,
    the CPU ms per scrape, p50 and p99 ms of each round, and the last body size."""
    results = {name: {"cpu": [], "p50": [], "p99": [], "size": 0} for name, _, _ in targets}
    for _ in range(rounds):
        for name, pid, url in targets:
            cpu, times, size = one_round(pid, url, scrapes)
            times.sort()
            results[name]["cpu"].append(cpu)
            results[name]["p50"].append(pct(times, 0.5))
            results[name]["p99"].append(pct(times, 0.99))
            results[name]["size"] = size
    return results


def pct(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def fmt(values, digits=2):
    """Median [min–max]."""
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}–{max(values):.{digits}f}]"


def install_peers():
    missing = [pkg for cmd, pkg in PEERS.items() if not shutil.which(cmd)]
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                       check=True, stdout=subprocess.DEVNULL, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()
