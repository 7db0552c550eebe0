#!/usr/bin/env python3
"""A real llama-server router with many models: llm-exporter's scrape cost with the router
found by discovery and given by URL, against node_exporter, in one run.

    bench/router.py [--smoke] [--models N] [--loaded N] [--rounds N] [--scrapes N] [--exporter BINARY]

The world: a real llama-server (scripts/llama-server-install.sh) in router mode over a
`--models-dir` of N models (default 64), each a symbolic link to the tiny model of the tests
(generated once with scripts/make-tiny-gguf.py), with `--loaded` of them (default 2) loaded by
a completion request before the exporters start; the others stay unloaded (a scrape never
loads one). Run as root, everything runs in a network namespace of its own (`unshare --net`),
so discovery finds this run's router and no other server listening on the machine.

Exporters: llm-exporter with discovery (the router found on loopback; namespaces off),
llm-exporter given the router by URL (`--server`, discovery off), llm-exporter with no LLM
server at all (discovery off: what the router adds is the difference), and node_exporter with
its default collectors. Each round scrapes every exporter S times in turn; CPU per scrape is
the exporter's utime+stime over those scrapes, latency the client's wall time; median
[min–max] over rounds; RSS at the end. The load average is printed beside the table.

Writes bench/results/router.md unless --smoke. Builds the release exporter when --exporter is
not given and target/release/llm-exporter is missing.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import ROOT, cpu_model, fmt, free_port, get, install_peers, interleaved, status_mib, wait_up  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results")
VENV = os.environ.get("LLAMA_VENV", os.path.expanduser("~/.cache/llm-exporter/llama-venv"))


def llama_server():
    """The installed llama-server binary, and the tiny model (made when missing)."""
    script = os.path.join(ROOT, "scripts", "llama-server-install.sh")
    binary = subprocess.run(["bash", script, VENV], capture_output=True, text=True, check=True).stdout.strip()
    model = os.path.join(os.path.dirname(VENV), "tiny-llama.gguf")
    if not os.path.exists(model):
        subprocess.run([os.path.join(VENV, "bin", "python"), os.path.join(ROOT, "scripts", "make-tiny-gguf.py"),
                        model], check=True)
    return binary, model


def post(url, body, timeout=120):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return r.status


def statuses(url):
    data = json.loads(get(f"{url}/models")).get("data", [])
    return {m.get("id"): (m.get("status") or {}).get("value") for m in data}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="4 models, 1 loaded, 2 rounds of 3 scrapes; writes nothing")
    ap.add_argument("--models", type=int, default=64)
    ap.add_argument("--loaded", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--exporter", help="llm-exporter binary (default: this checkout's release build)")
    ap.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if os.geteuid() == 0 and not a.in_netns:
        os.execvp("unshare", ["unshare", "--net", sys.executable, os.path.abspath(__file__), "--in-netns",
                              *sys.argv[1:]])
    if a.in_netns:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if a.smoke:
        a.models, a.loaded, a.rounds, a.scrapes = 4, 1, 2, 3
    exe = a.exporter or os.path.join(ROOT, "target", "release", "llm-exporter")
    if not a.exporter and not os.path.exists(exe):
        subprocess.run(["cargo", "build", "--release", "-q", "--locked", "-p", "llm-exporter"], cwd=ROOT, check=True)
    install_peers()
    binary, tiny = llama_server()
    tmp = tempfile.mkdtemp(prefix="llm-exporter-router-")
    started = []
    try:
        models = os.path.join(tmp, "models")
        os.mkdir(models)
        names = [f"model-{i:02d}" for i in range(a.models)]
        for name in names:
            os.symlink(tiny, os.path.join(models, f"{name}.gguf"))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(os.path.join(tmp, "router.log"), "w")
        router = subprocess.Popen([binary, "--models-dir", models, "--host", "127.0.0.1", "--port", str(port),
                                   "--metrics", "-c", "2048", "-np", "2", "-t", "1"], stdout=log, stderr=log)
        started.append(router)
        wait_up(f"{url}/health", router, tries=1200)
        for name in names[:a.loaded]:
            post(f"{url}/completion", {"model": name, "prompt": "Hello", "n_predict": 4})
        states = statuses(url)
        loaded = sorted(n for n, s in states.items() if s == "loaded")

        def start(name, argv):
            p = free_port()
            proc = subprocess.Popen([*argv, f"--web.listen-address=127.0.0.1:{p}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started.append(proc)
            wait_up(f"http://127.0.0.1:{p}/metrics", proc)
            return name, proc.pid, f"http://127.0.0.1:{p}/metrics"

        flags = ["--log.level=warn", "--no-collector.nvml"]
        targets = [
            start("llm-exporter, the router found by discovery", [exe, *flags, "--no-discovery.namespaces"]),
            start("llm-exporter, the router by URL", [exe, *flags, "--no-discovery", f"--server=router={url}"]),
            start("llm-exporter, no LLM server", [exe, *flags, "--no-discovery"]),
            start("node_exporter (default collectors)", [shutil.which("prometheus-node-exporter")]),
        ]
        seen = {}
        for name, _, target in targets:  # warm up; what each one reports of the router
            body = get(target, timeout=60).decode()
            up = sum(1 for line in body.splitlines() if line.startswith("llm_server_up{") and line.endswith(" 1"))
            models_seen = {line.split('model="', 1)[1].split('"', 1)[0] for line in body.splitlines()
                           if line.startswith("llm_model_") and 'model="' in line}
            seen[name] = (up, len(models_seen))
        results = interleaved(targets, a.rounds, a.scrapes)
        rss = {name: status_mib(pid, "VmRSS") for name, pid, _ in targets}
        after = statuses(url)
        newly = sorted(n for n, s in after.items() if s == "loaded" and n not in loaded)
        version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        lines = [
            "# A llama-server router with many models: scrape cost\n",
            f"Reproduce: `{'sudo ' if a.in_netns else ''}python3 bench/router.py --models {a.models} --loaded "
            f"{a.loaded} --rounds {a.rounds} --scrapes {a.scrapes}`. {os.cpu_count()} CPUs, {cpu_model()}, "
            f"Linux {platform.release()}; {version}; load average at the end {load}.\n",
            f"A real llama-server router (`--models-dir`, {a.models} models, tiny model links) with "
            f"{len(loaded)} loaded ({', '.join(loaded)}); {a.rounds} interleaved rounds of {a.scrapes} scrapes; "
            f"median [min–max] over rounds. Models loaded by the scrapes: {len(newly)}"
            + (f" ({', '.join(newly)})" if newly else "") + ".\n",
            "| exporter | servers up | models in llm_model_* | CPU ms/scrape | p50 ms | p99 ms | body bytes | RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in results.items():
            up, labelled = seen[name]
            lines.append(f"| {name} | {up} | {labelled} | {fmt(r['cpu'])} | {fmt(r['p50'])} | {fmt(r['p99'])} | "
                         f"{r['size']} | {rss[name]:.1f} |")
        text = "\n".join(lines) + "\n"
        print(text)
        if not a.smoke:
            with open(os.path.join(RESULTS, "router.md"), "w") as f:
                f.write(text)
    finally:
        for proc in reversed(started):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
