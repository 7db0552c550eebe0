#!/usr/bin/env python3
"""What the live console costs, in one run on this machine:

1. The exporter's CPU per second against 4 LLM servers with 0, 1 and 10 consoles open (tabs of
   Debian's headless Chromium), beside its peer: the same exporter scraped once a second on
   /metrics, which is one collection a second. Collections are counted at the servers (their
   /metrics requests). The servers are 4 loopback HTTP servers in this process answering with
   captured llama-server bodies (exporter/tests/fixtures), so the exporter does the work of 4
   real ones; NVML and the process collector are off, so only the LLM collector's cost moves.
2. The page's own work per update with 8 GPUs, 50 processes, 8 models and 4 servers: a
   synthetic collection (counters advancing each time) fed to the page's update function 200
   times; script time (parse, rates, DOM and sparklines) and the style and layout it causes,
   median and p95.

    bench/console.py [--smoke] [--seconds S] [--page-only]
        (default 30 s per case; --smoke: 3 s, 20 updates; --page-only: part 2 alone)

Builds the release exporter (LLM_EXPORTER_BIN names another binary); installs Playwright into its venv (scripts/lib/playwright_venv.py).
Unless --smoke, writes bench/results/console.md.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
import playwright_venv  # noqa: E402

playwright_venv.reexec_in_venv(__file__)

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

from playwright.sync_api import sync_playwright  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "bench"))
from measure import cpu_model, cpu_seconds, free_port, wait_up  # noqa: E402

FIXTURES = os.path.join(ROOT, "exporter", "tests", "fixtures")
ROUTES = {
    "/metrics": ("llamacpp_2026_real_metrics_after.txt", "text/plain; version=0.0.4"),
    "/slots": ("llamacpp_2026_real_slots_after.json", "application/json"),
    "/props": ("llamacpp_2026_real_props.json", "application/json"),
}


class Targets:
    """Four stand-in llama-servers on loopback; counts the /metrics requests (one a collection)."""

    def __init__(self, n=4):
        self.hits = 0
        self.lock = threading.Lock()
        routes = {path: (open(os.path.join(FIXTURES, f), "rb").read(), ctype) for path, (f, ctype) in ROUTES.items()}
        targets = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    with targets.lock:
                        targets.hits += 1
                body, ctype = routes.get(path, (b"not found\n", "text/plain"))
                self.send_response(200 if path in routes else 404)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.servers = []
        for _ in range(n):
            server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)
        self.urls = [f"http://127.0.0.1:{s.server_address[1]}" for s in self.servers]

    def collections(self):
        with self.lock:
            return self.hits / len(self.servers)


def synthetic(step, gpus=8, processes=50, models=8, servers=4):
    """A collection's text with the given counts; counters advance with `step`."""
    out = []
    add = out.append
    for name in ("llm", "process", "nvml"):
        add(f'llm_exporter_collector_success{{collector="{name}"}} 1')
    for s in range(servers):
        lab = f'server="llama-{s}",backend="llamacpp"'
        mod = f'{lab},model="model-{s}.gguf"'
        add(f"llm_server_up{{{lab}}} 1")
        add(f'llm_server_info{{{mod},version="b1"}} 1')
        add(f"llm_server_sleeping{{{lab}}} 0")
        add(f'llm_slots{{{mod},state="busy"}} {step % 4}')
        add(f'llm_slots{{{mod},state="idle"}} {4 - step % 4}')
        add(f"llm_requests_running{{{mod}}} {step % 4}")
        add(f"llm_requests_waiting{{{mod}}} 0")
        add(f"llm_generation_tokens_total{{{mod}}} {step * 173 * (s + 1)}")
        add(f"llm_prompt_tokens_total{{{mod}}} {step * 411 * (s + 1)}")
        add(f"llm_context_size_tokens{{{mod}}} 8192")
        for slot in range(4):
            add(f'llm_slot_context_used_tokens{{{mod},slot="{slot}"}} {(step * 37 + slot * 100) % 8192}')
        add(f"llm_kv_cache_usage_ratio{{{mod}}} {(step % 100) / 100}")
        add(f"llm_request_duration_seconds_sum{{{mod}}} {step * 1.7}")
        add(f"llm_request_duration_seconds_count{{{mod}}} {step}")
        add(f"llm_time_to_first_token_seconds_sum{{{mod}}} {step * 0.05}")
        add(f"llm_time_to_first_token_seconds_count{{{mod}}} {step}")
    add('llm_server_up{server="router",backend="llamacpp"} 1')
    for m in range(models):
        lab = f'server="router",backend="llamacpp",model="model-{m}"'
        for state in ("loaded", "loading", "sleeping", "unloaded", "failed"):
            add(f'llm_model_state{{{lab},state="{state}"}} {1 if state == ("loaded" if m < 3 else "unloaded") else 0}')
        add(f"llm_model_loaded{{{lab}}} {1 if m < 3 else 0}")
        add(f"llm_model_size_bytes{{{lab}}} {4_000_000_000 + m}")
    for p in range(processes):
        pid = 1000 + p
        lab = f'server="llama-{p % servers}",process="llama-server",pid="{pid}"'
        add(f'llm_process_info{{{lab},workload="llm_inference",container="",namespace="",pod=""}} 1')
        add(f"llm_process_cpu_seconds_total{{{lab}}} {step * 0.8 + p}")
        add(f"llm_process_resident_memory_bytes{{{lab}}} {2_000_000_000 + step * 4096 + p}")
        add(f"llm_process_virtual_memory_bytes{{{lab}}} {9_000_000_000 + p}")
        add(f"llm_process_threads{{{lab}}} 12")
        add(f"llm_process_open_fds{{{lab}}} 40")
        add(f"llm_process_max_fds{{{lab}}} 1048576")
        add(f"llm_process_read_bytes_total{{{lab}}} {step * 100000}")
        add(f"llm_process_written_bytes_total{{{lab}}} {step * 2000}")
        add(f'llm_process_gpu_memory_bytes{{{lab},gpu="{p % gpus}"}} {1_000_000_000 + p}')
    for g in range(gpus):
        lab = f'gpu="{g}"'
        add(f'llm_gpu_info{{{lab},uuid="GPU-{g}",name="NVIDIA H100 80GB HBM3",pci_bus_id="0:{g}",driver_version="550",cuda_version="12.4"}} 1')
        add(f"llm_gpu_utilization_ratio{{{lab}}} {((step + g) % 100) / 100}")
        add(f"llm_gpu_memory_used_bytes{{{lab}}} {40_000_000_000 + step * 1_000_000}")
        add(f"llm_gpu_memory_total_bytes{{{lab}}} 85899345920")
        add(f"llm_gpu_temperature_celsius{{{lab}}} {50 + step % 20}")
        add(f"llm_gpu_power_watts{{{lab}}} {300 + step % 100}")
        add(f"llm_gpu_power_limit_watts{{{lab}}} 700")
        for clock, mhz in (("graphics", 1980), ("sm", 1980), ("memory", 2619)):
            add(f'llm_gpu_clock_hertz{{{lab},clock="{clock}"}} {mhz * 1_000_000}')
            add(f'llm_gpu_clock_max_hertz{{{lab},clock="{clock}"}} {mhz * 1_000_000}')
        add(f'llm_gpu_fan_speed_ratio{{{lab},fan="0"}} 0.3')
        add(f"llm_gpu_performance_state{{{lab}}} 0")
        for reason in ("gpu_idle", "sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown"):
            add(f'llm_gpu_throttled{{{lab},reason="{reason}"}} {1 if reason == "sw_power_cap" and step % 2 else 0}')
    return "\n".join(out) + "\n"


def exporter(tmp, targets):
    binary = os.environ.get("LLM_EXPORTER_BIN")
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--locked", "-p", "llm-exporter", "--bin", "llm-exporter"],
                       cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "llm-exporter")
    port = free_port()
    servers = [arg for i, url in enumerate(targets.urls) for arg in ("--server", f"llama-{i}={url}")]
    log = open(os.path.join(tmp, "exporter.log"), "w")
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}",
                             "--no-discovery", "--no-collector.nvml", "--no-collector.process", *servers],
                            stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/-/healthy", proc)
    return proc, base


def scraper(url, stop):
    """A Prometheus stand-in: /metrics once a second."""
    while not stop.wait(1.0):
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()


def measure_case(context, proc, base, targets, consoles, prometheus, seconds):
    pages = [context.new_page() for _ in range(consoles)]
    for page in pages:
        page.goto(base + "/")
    stop = threading.Event()
    thread = threading.Thread(target=scraper, args=(base + "/metrics", stop)) if prometheus else None
    if thread:
        thread.start()
    time.sleep(2)  # let the pages settle into their one-a-second rhythm
    cpu0, hits0, t0 = cpu_seconds(proc.pid), targets.collections(), time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline:
        pages[0].wait_for_timeout(200) if pages else time.sleep(0.2)  # keep the pages' event loop served
    wall = time.monotonic() - t0
    cpu, hits = cpu_seconds(proc.pid) - cpu0, targets.collections() - hits0
    stop.set()
    if thread:
        thread.join()
    for page in pages:
        page.close()
    return cpu / wall * 1000, hits / wall


def page_cost(context, base, updates):
    page = context.new_page()
    first = synthetic(0)
    page.route("**/-/console/metrics", lambda route: route.fulfill(
        status=200, body=first, headers={"content-type": "text/plain", "x-collection-time": "1000"}))
    page.goto(base + "/")
    # Polled from here: the page's CSP forbids the eval that wait_for_function's polling uses.
    while not page.evaluate("() => Boolean(window.llmConsole && window.llmConsole.lastMs !== null)"):
        page.wait_for_timeout(100)
    texts = [synthetic(i + 1) for i in range(updates)]
    timings = page.evaluate("""(texts) => {
        const script = [], layout = [];
        texts.forEach((text, i) => {
            window.llmConsole.update(text, 2000000 + i * 1000);
            script.push(window.llmConsole.lastMs);
            const t = performance.now();
            document.body.getBoundingClientRect();
            layout.push(performance.now() - t);
        });
        return { script, layout, rows: document.querySelectorAll('tbody tr').length,
                 cards: document.querySelectorAll('.card').length };
    }""", texts)
    page.close()
    return timings, len(first)


def q(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--page-only", action="store_true", help="only the page's work per update")
    a = parser.parse_args()
    seconds = 3 if a.smoke else a.seconds
    updates = 20 if a.smoke else 200
    targets = Targets()
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        proc, base = exporter(tmp, targets)
        try:
            with sync_playwright() as pw:
                context = playwright_venv.launch(pw, os.path.join(tmp, "profile"), viewport={"width": 1280, "height": 800})
                try:
                    cases = [("idle: nothing reads the exporter", 0, False),
                             ("peer: /metrics scraped once a second", 0, True),
                             ("1 console", 1, False),
                             ("10 consoles", 10, False),
                             ("10 consoles and /metrics once a second", 10, True)]
                    rows = [] if a.page_only else [(name, *measure_case(context, proc, base, targets, n, prom, seconds))
                                                   for name, n, prom in cases]
                    timings, size = page_cost(context, base, updates)
                finally:
                    context.close()
        finally:
            proc.terminate()
            proc.wait()
    report(a, seconds, rows, timings, size, updates)


def report(a, seconds, rows, timings, size, updates):
    lines = ["# The live console's cost", "",
             f"Machine: {os.cpu_count()} CPUs, {cpu_model()}. Reproduce: `python3 bench/console.py` "
             f"({seconds:g} s per case; `--smoke` for a quick check).", "",
             "## Exporter CPU with consoles open", "",
             "4 LLM servers (stand-ins answering with captured llama-server bodies), NVML and process collectors off; "
             "each console is a tab of headless Chromium polling every 1.05 s. Collections counted at the servers.", "",
             "| case | exporter CPU ms per second | % of one core | collections per second |",
             "|---|---:|---:|---:|"]
    for name, cpu, collections in rows:
        lines.append(f"| {name} | {cpu:.2f} | {cpu / 10:.2f} | {collections:.2f} |")
    script, layout = timings["script"], timings["layout"]
    lines += ["", "## The page's work per update", "",
              f"A synthetic collection of {size} bytes: 8 GPUs, 50 processes, 8 router models, 4 servers "
              f"({timings['rows']} table rows, {timings['cards']} GPU cards), {updates} updates with advancing counters.", "",
              "| | min ms | median ms | p95 ms | max ms |", "|---|---:|---:|---:|---:|",
              f"| script (parse, rates, DOM, sparklines) | {min(script):.2f} | {statistics.median(script):.2f} | "
              f"{q(script, .95):.2f} | {max(script):.2f} |",
              f"| style and layout it causes | {min(layout):.2f} | {statistics.median(layout):.2f} | "
              f"{q(layout, .95):.2f} | {max(layout):.2f} |",
              "", f"Load average of the machine (shared with other work) at the end: {os.getloadavg()[0]:.1f}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not (a.smoke or a.page_only):
        with open(os.path.join(ROOT, "bench", "results", "console.md"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
