#!/usr/bin/env python3
"""Discovery at fleet scale: N network namespaces ("pods"), each with a llama-server-like
listener and held connections to its neighbour, scraped by two builds of llm-exporter and by
node_exporter in one run.

    sudo bench/namespaces.py --before BINARY [--after BINARY] [--pods N] [--connections N]
                             [--rounds N] [--scrapes N]

The world, all of it private to this run and removed at the end:
- a "node" namespace with a bridge (10.200.0.1/16) where the exporters run, as on a
  Kubernetes node; this script enters it (setns), so it scrapes them from there;
- N pod namespaces on that bridge (10.200.x.y/16), made by root (`ip netns add`), each running
  one Python process named `llama-server` (a symlink to the interpreter, so the kernel names
  it so) serving captured llama-server bodies (/metrics, /slots, /props) on 0.0.0.0:8080, and
  holding `connections / N` open connections to the next pod's server (established sockets in
  both namespaces).
Exporters: `--before` and `--after` (two llm-exporter binaries, e.g. an older and a newer build)
with discovery on (every pod's server found and scraped at its pod address), the after build
with `--no-discovery.namespaces` (the same scan, no pod entered, nothing scraped), the after
build given every pod's server by URL with `--no-discovery.namespaces` (the same scrapes
without finding them: the difference to the second row is what discovery in the pods costs),
and node_exporter with its default collectors. "servers up" counts `llm_server_up 1` at the
first scrape: a build whose scan overruns its budget finds none. Each round scrapes every exporter S times in turn;
CPU per scrape is the exporter's utime+stime over those scrapes, latency the client's wall
time; median [min–max] over rounds; RSS at the end. The machine's established-connection hash
size is printed (the cost of reading another namespace's net/tcp grows with it), and the load
average at the start and the end.
"""
import argparse
import ctypes
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import ROOT, cpu_model, fmt, free_port, install_peers, interleaved, status_mib, wait_up  # noqa: E402

FIXTURES = os.path.join(ROOT, "exporter", "tests", "fixtures")
ROUTES = {
    "/metrics": "llamacpp_2026_real_metrics_after.txt",
    "/slots": "llamacpp_2026_real_slots_after.json",
    "/props": "llamacpp_2026_real_props.json",
}

POD_SERVER = r"""
import functools, socket, sys, threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
class H(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as llama-server
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("0.0.0.0", 8080), functools.partial(H, directory=sys.argv[1]))
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
print("up", flush=True)
sys.stdin.readline()  # the neighbour is up: connect to it
held = []
for _ in range(int(sys.argv[3])):
    try:
        held.append(socket.create_connection((sys.argv[2], 8080), timeout=5))
    except OSError:
        pass
print(len(held), flush=True)
sys.stdin.readline()
"""

libc = ctypes.CDLL(None, use_errno=True)


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def enter(name):
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:
        raise OSError(ctypes.get_errno(), f"setns {name}")
    os.close(fd)


def address(i):
    return f"10.200.{1 + i // 250}.{2 + i % 250}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="llm-exporter binary to compare against (main's build)")
    ap.add_argument("--after", default=os.path.join(ROOT, "target", "release", "llm-exporter"))
    ap.add_argument("--pods", type=int, default=50)
    ap.add_argument("--connections", type=int, default=1000, help="established connections in all")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scrapes", type=int, default=10)
    a = ap.parse_args()
    install_peers()
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    tag = f"llmxb{os.getpid()}"
    node = f"{tag}-node"
    pods, procs, exporters = [], [], []
    tmp = tempfile.mkdtemp()
    try:
        sh("ip", "netns", "add", node)
        enter(node)  # from here on, this script and what it starts live on the "node"
        sh("ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "addr", "add", "10.200.0.1/16", "dev", "br0")
        sh("ip", "link", "set", "br0", "up")
        program = os.path.join(tmp, "llama-server")
        python = subprocess.run(["python3", "-c", "import sys; print(sys.executable)"],
                                capture_output=True, text=True, check=True).stdout.strip()
        os.symlink(python, program)
        site = os.path.join(tmp, "site")  # served as files: /metrics, /slots, /props
        os.mkdir(site)
        for path, file in ROUTES.items():
            shutil.copy(os.path.join(FIXTURES, file), os.path.join(site, path.lstrip("/")))
        per_pod = a.connections // max(1, a.pods)
        for i in range(a.pods):
            pod = f"{tag}-{i}"
            sh("ip", "netns", "add", pod)
            pods.append(pod)
            sh("ip", "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", pod)
            sh("ip", "link", "set", f"v{i}", "master", "br0", "up")
            for cmd in (["link", "set", "lo", "up"], ["addr", "add", f"{address(i)}/16", "dev", "eth0"],
                        ["link", "set", "eth0", "up"]):
                sh("ip", "-n", pod, *cmd)
            p = subprocess.Popen(["ip", "netns", "exec", pod, program, "-c", POD_SERVER, site,
                                  address((i + 1) % a.pods), str(per_pod)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            procs.append(p)
            p.stdout.readline()
        held = 0
        for p in procs:
            p.stdin.write("\n")
            p.stdin.flush()
        for p in procs:
            held += int(p.stdout.readline() or 0)

        def start(name, argv):
            port = free_port()
            p = subprocess.Popen([*argv, f"--web.listen-address=127.0.0.1:{port}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            exporters.append((name, p))
            wait_up(f"http://127.0.0.1:{port}/metrics", p)
            return name, p.pid, f"http://127.0.0.1:{port}/metrics"

        flags = ["--discovery", "--log.level=warn", "--no-collector.nvml"]
        targets = [
            start("llm-exporter before", [a.before, *flags]),
            start("llm-exporter after", [a.after, *flags]),
            start("llm-exporter after, --no-discovery.namespaces", [a.after, *flags, "--no-discovery.namespaces"]),
            start("llm-exporter after, the pods' servers by URL, --no-discovery.namespaces",
                  [a.after, *flags, "--no-discovery.namespaces",
                   *[f"--server=pod{i}=http://{address(i)}:8080" for i in range(a.pods)]]),
            start("node_exporter (default collectors)", [shutil.which("prometheus-node-exporter")]),
        ]
        found = {}
        for name, _, url in targets:  # warm up; count the pods' servers each one scrapes
            body = urllib.request.urlopen(url, timeout=60).read().decode()
            found[name] = sum(1 for line in body.splitlines()
                              if line.startswith("llm_server_up{") and line.endswith(" 1"))
        results = interleaved(targets, a.rounds, a.scrapes)
        rss = {name: status_mib(pid, "VmRSS") for name, pid, _ in targets}
        with open("/proc/sys/net/ipv4/tcp_ehash_entries") as f:
            ehash = f.read().strip().lstrip("-")
        print(f"{a.pods} pods, {held} held connections, established hash {ehash} buckets; {a.rounds} interleaved "
              f"rounds of {a.scrapes} scrapes; median [min–max] over rounds. {os.cpu_count()} CPUs, "
              f"{cpu_model()}, Linux {platform.release()}; load average at the start {load_start}, at the end "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}.\n")
        print("| exporter | servers up | CPU ms/scrape | p50 ms | p99 ms | RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, r in results.items():
            print(f"| {name} | {found[name]} | {fmt(r['cpu'])} | {fmt(r['p50'])} | {fmt(r['p99'])} | {rss[name]:.1f} |")
    finally:
        for _, p in exporters:
            p.terminate()
            p.wait()
        for p in procs:
            p.kill()
            p.wait()
        for pod in pods:
            subprocess.run(["ip", "netns", "del", pod], check=False)
        subprocess.run(["ip", "netns", "del", node], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
