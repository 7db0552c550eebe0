#!/usr/bin/env python3
"""llm-exporter in a synthetic world of 1,000 processes, 8 GPUs and 8 LLM servers: scrape cost
against node_exporter and process-exporter, memory, scaling, and overhead at a 1 s interval,
in one run on this machine.

    bench/world.py [--smoke] [--rounds N] [--scrapes N] [--overhead-seconds S]
                   [--before BINARY] [--world-only]

World (b), built in a temporary directory for every run:
- a synthetic proc tree (`--path.procfs`) of 1,000 processes: 8 llama-servers listening on
  loopback, 12 `trainer` processes (selected by a `[[process.match]]` rule), 980 others (shells,
  daemons, interpreters running something else, kernel threads). The top-level files
  node_exporter's default collectors read (stat, meminfo, net/*, ...) are copied from this
  machine's /proc; every process has the files process-exporter reads (stat, status, io,
  limits, cgroup, wchan, smaps_rollup, fd/, task/);
- 8 LLM targets: one Python process serving captured llama-server bodies (/metrics, /slots,
  /props) on 8 free loopback ports; the 8 synthetic llama-servers listen on exactly those
  ports, so discovery finds them (no --server flags) and their processes carry the server label;
- 8 stand-in GPUs (the NVML stand-in of the tests, exporter/tests/nvml-standin) with 64 GPU
  process entries: on GPU g, llama-server g and 7 of the trainers, all PIDs of the tree.
Peers: node_exporter with its default collectors (`--path.procfs`), process-exporter watching
the same 20 processes (`-procfs`, comm llama-server and trainer, its default -threads and
-gather-smaps). Each round scrapes every exporter N times in turn (A×N, B×N, C×N), as
bench/scrape.py does: CPU per scrape is the exporter's utime+stime over those scrapes (from
/proc/PID/stat), latency the client's wall time; median [min–max] over rounds.

With `--before BINARY` (another llm-exporter build, e.g. main's), world (b) scrapes that build
too, in the same rounds, as "llm-exporter before". With `--world-only`, only world (b) and the
memory of its exporters are measured (no scaling curves, no 1 s interval test), and the table
goes to bench/results/world-before-after.md instead of world.md.

Then: RSS after those scrapes and peak RSS with 200 concurrent scrapers; llm-exporter's CPU per
scrape as processes, GPUs, targets and target body size grow (one dimension at a time, the
others small: 100 processes of which 20 selected, 1 GPU with 4 GPU processes, 1 target), with a
linear fit; and its CPU share of one core when scraped once a second.

The tree is made of plain files in a temporary directory, not procfs: every exporter pays the
same per-file costs there, which differ somewhat from a real /proc.

Full run: about 10 minutes, half of it the 1 s interval test (--overhead-seconds); --smoke:
well under a minute once built. Plots need matplotlib (Debian's python3-matplotlib is used
through the system Python when the first python3 lacks it).

Builds the release exporter and runs a copy of it; builds the NVML stand-in with cc; installs
prometheus-node-exporter and prometheus-process-exporter when missing. Every server listens on
a free loopback port and is stopped at the end. Unless --smoke, writes bench/results/world.md
and bench/results/scaling-*.png.
"""
import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from measure import (ROOT, cpu_model, cpu_seconds, fmt, free_port, get, install_peers, one_round, pct,
                     status_mib, wait_up)

FIXTURES = os.path.join(ROOT, "exporter", "tests", "fixtures")
STANDIN = os.path.join(ROOT, "exporter", "tests", "nvml-standin")
RESULTS = os.path.join(ROOT, "bench", "results")
NETNS = "net:[4026531840]"


# ---------------------------------------------------------------------------------------------
# The LLM targets: one Python process, one ThreadingHTTPServer per port

TARGET_SERVER = r"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sites = json.load(open(sys.argv[1]))
def handler(routes):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes
        def do_GET(self):
            route = routes.get(self.path.split("?", 1)[0])
            body, ctype, code = (route[0], route[1], 200) if route else (b"not found\n", "text/plain", 404)
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    return H
ports = []
for site in sites:
    routes = {path: (open(file, "rb").read(), ctype) for path, (file, ctype) in site.items()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(routes))
    server.daemon_threads = True
    ports.append(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
print(json.dumps(ports), flush=True)
threading.Event().wait()
"""

LLAMA_ROUTES = {
    "/metrics": ("llamacpp_2026_real_metrics_after.txt", "text/plain; version=0.0.4"),
    "/slots": ("llamacpp_2026_real_slots_after.json", "application/json"),
    "/props": ("llamacpp_2026_real_props.json", "application/json"),
}


def vllm_body(models):
    """A vLLM-style body (as prometheus_client serves it) for `models` models; the same shape as
    the synthetic bodies of exporter/promtext/benches/common/mod.rs."""
    rng = random.Random(42)
    out = []
    model = lambda m: f'engine="0",model_name="meta-llama/Llama-3.1-{m}B-Instruct"'
    for name, help_ in [("vllm:num_requests_running", "Number of requests in model execution batches."),
                        ("vllm:num_requests_waiting", "Number of requests waiting to be processed."),
                        ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.")]:
        out.append(f"# HELP {name} {help_}\n# TYPE {name} gauge\n")
        out += [f"{name}{{{model(m)}}} {rng.randrange(64)}.0\n" for m in range(models)]
    for name, help_ in [("vllm:prompt_tokens", "Number of prefill tokens processed."),
                        ("vllm:generation_tokens", "Number of generation tokens processed."),
                        ("vllm:num_preemptions", "Cumulative number of preemption from the engine.")]:
        out.append(f"# HELP {name}_total {help_}\n# TYPE {name}_total counter\n")
        out += [f"{name}_total{{{model(m)}}} {rng.randrange(1 << 31)}.0\n" for m in range(models)]
        out.append(f"# HELP {name}_created {help_}\n# TYPE {name}_created gauge\n")
        out += [f"{name}_created{{{model(m)}}} 1.7561e+09\n" for m in range(models)]
    out.append("# HELP vllm:request_success_total Count of successfully processed requests.\n"
               "# TYPE vllm:request_success_total counter\n")
    for m in range(models):
        for reason in ("stop", "length", "abort"):
            out.append(f'vllm:request_success_total{{{model(m)},finished_reason="{reason}"}} {rng.randrange(10000)}.0\n')
    latency = ["0.001", "0.005", "0.01", "0.02", "0.04", "0.06", "0.08", "0.1", "0.25", "0.5", "0.75", "1.0",
               "2.5", "5.0", "7.5", "10.0", "20.0", "40.0", "80.0", "160.0", "640.0", "2560.0", "+Inf"]
    tokens = ["1.0", "2.0", "5.0", "10.0", "20.0", "50.0", "100.0", "200.0", "500.0", "1000.0", "2000.0",
              "5000.0", "10000.0", "+Inf"]
    for name, buckets in [("vllm:time_to_first_token_seconds", latency), ("vllm:inter_token_latency_seconds", latency),
                          ("vllm:e2e_request_latency_seconds", latency), ("vllm:request_queue_time_seconds", latency),
                          ("vllm:request_prefill_time_seconds", latency), ("vllm:request_decode_time_seconds", latency),
                          ("vllm:request_prompt_tokens", tokens), ("vllm:request_generation_tokens", tokens)]:
        out.append(f"# HELP {name} Histogram of {name} per request.\n# TYPE {name} histogram\n")
        for m in range(models):
            count = 0
            for le in buckets:
                count += rng.randrange(50)
                out.append(f'{name}_bucket{{{model(m)},le="{le}"}} {count}.0\n')
            out.append(f"{name}_count{{{model(m)}}} {count}.0\n")
            out.append(f"{name}_sum{{{model(m)}}} {rng.randrange(1 << 31) / 1e3}\n")
    return "".join(out)


def vllm_body_of(nbytes):
    per_model = len(vllm_body(2)) - len(vllm_body(1))
    return vllm_body(max(1, -(-nbytes // per_model)))


# ---------------------------------------------------------------------------------------------
# The synthetic proc tree

# Top-level files node_exporter's default collectors read (found with strace on /proc), copied
# from this machine when it has them; `stat` also gives every exporter the boot time.
NODE_FILES = ["stat", "uptime", "loadavg", "meminfo", "vmstat", "diskstats", "schedstat", "mdstat", "cpuinfo",
              "pressure/cpu", "pressure/memory", "pressure/io", "sys/fs/file-nr",
              "sys/kernel/random/entropy_avail", "sys/kernel/random/poolsize",
              "sys/kernel/random/read_wakeup_threshold", "sys/kernel/random/write_wakeup_threshold",
              "sys/kernel/random/urandom_min_reseed_secs",
              "sys/net/netfilter/nf_conntrack_count", "sys/net/netfilter/nf_conntrack_max",
              "net/dev", "net/netstat", "net/snmp", "net/snmp6", "net/sockstat", "net/sockstat6",
              "net/softnet_stat", "net/arp", "net/udp", "net/udp6", "net/stat/nf_conntrack"]

# The unselected processes, in turn: (comm, argv, exe); exe None is a kernel thread.
OTHERS = [
    ("kworker/0:1", [], None),
    ("bash", ["-bash"], "/usr/bin/bash"),
    ("sshd", ["sshd: admin@pts/0"], "/usr/sbin/sshd"),
    ("python3", ["/usr/bin/python3", "/opt/app/worker.py", "--queue", "default"], "/usr/bin/python3.11"),
    ("node", ["node", "/srv/app/server.js"], "/usr/bin/node"),
    ("ksoftirqd/1", [], None),
    ("postgres", ["postgres: checkpointer"], "/usr/lib/postgresql/15/bin/postgres"),
    ("nginx", ["nginx: worker process"], "/usr/sbin/nginx"),
    ("containerd-shim", ["/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-address",
                         "/run/containerd/containerd.sock"], "/usr/bin/containerd-shim-runc-v2"),
    ("rcu_gp", [], None),
    ("java", ["/usr/bin/java", "-Xmx2g", "-jar", "/opt/svc/service.jar"], "/usr/lib/jvm/java-17/bin/java"),
    ("systemd-journal", ["/lib/systemd/systemd-journald"], "/lib/systemd/systemd-journald"),
]

STATUS = """Name:\t{comm}
Umask:\t0022
State:\t{state_long}
Tgid:\t{pid}
Ngid:\t0
Pid:\t{pid}
PPid:\t{ppid}
TracerPid:\t0
Uid:\t1000\t1000\t1000\t1000
Gid:\t1000\t1000\t1000\t1000
FDSize:\t64
Groups:\t1000
NStgid:\t{pid}
NSpid:\t{pid}
NSpgid:\t{pid}
NSsid:\t{pid}
Kthread:\t{kthread}
{vm}Threads:\t{threads}
SigQ:\t0/96365
SigPnd:\t0000000000000000
ShdPnd:\t0000000000000000
SigBlk:\t0000000000000000
SigIgn:\t0000000000001000
SigCgt:\t0000000180004a02
CapInh:\t0000000000000000
CapPrm:\t0000000000000000
CapEff:\t0000000000000000
CapBnd:\t000001ffffffffff
CapAmb:\t0000000000000000
NoNewPrivs:\t0
Seccomp:\t0
Seccomp_filters:\t0
Speculation_Store_Bypass:\tthread vulnerable
SpeculationIndirectBranch:\tconditional enabled
Cpus_allowed:\tffff
Cpus_allowed_list:\t0-15
Mems_allowed:\t00000000,00000001
Mems_allowed_list:\t0
voluntary_ctxt_switches:\t{vol}
nonvoluntary_ctxt_switches:\t{invol}
"""

VM = """VmPeak:\t {vsz_kb} kB
VmSize:\t {vsz_kb} kB
VmLck:\t       0 kB
VmPin:\t       0 kB
VmHWM:\t {rss_kb} kB
VmRSS:\t {rss_kb} kB
RssAnon:\t {anon_kb} kB
RssFile:\t {file_kb} kB
RssShmem:\t       0 kB
VmData:\t {anon_kb} kB
VmStk:\t     132 kB
VmExe:\t    2048 kB
VmLib:\t   10240 kB
VmPTE:\t     512 kB
VmSwap:\t       0 kB
HugetlbPages:\t       0 kB
CoreDumping:\t0
THP_enabled:\t1
"""

SMAPS_ROLLUP = """55d0c0a00000-7ffd1c5f1000 ---p 00000000 00:00 0                          [rollup]
Rss:             {rss_kb} kB
Pss:             {rss_kb} kB
Pss_Dirty:       {anon_kb} kB
Pss_Anon:        {anon_kb} kB
Pss_File:        {file_kb} kB
Pss_Shmem:             0 kB
Shared_Clean:          0 kB
Shared_Dirty:          0 kB
Private_Clean:   {file_kb} kB
Private_Dirty:   {anon_kb} kB
Referenced:      {rss_kb} kB
Anonymous:       {anon_kb} kB
KSM:                   0 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
"""

LIMITS = """Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max data size             unlimited            unlimited            bytes     
Max stack size            8388608              unlimited            bytes     
Max core file size        0                    unlimited            bytes     
Max resident set          unlimited            unlimited            bytes     
Max processes             96365                96365                processes 
Max open files            {nofile:<20} 524288               files     
Max locked memory         8388608              8388608              bytes     
Max address space         unlimited            unlimited            bytes     
Max file locks            unlimited            unlimited            locks     
Max pending signals       96365                96365                signals   
Max msgqueue size         819200               819200               bytes     
Max nice priority         0                    0                    
Max realtime priority     0                    0                    
Max realtime timeout      unlimited            unlimited            us        
"""

TCP_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")


def tcp_row(i, local, port, remote, rport, state, inode):
    return (f"{i:4}: {local}:{port:04X} {remote}:{rport:04X} {state} 00000000:00000000 00:00000000 00000000  "
            f"1000        0 {inode} 1 0000000000000000 100 0 0 10 0\n")


class Tree:
    """A synthetic proc tree under `root`: `n` processes of which the `servers` ([(comm, argv,
    port)], each listening on 127.0.0.1:port) and `trainers` trainer processes are selected,
    spread evenly among the others. `selected` lists their PIDs, servers first."""

    def __init__(self, root, n, servers, trainers):
        self.root = root
        self.servers, self.trainers = [], []
        os.makedirs(root)
        for rel in NODE_FILES:
            try:
                with open(os.path.join("/proc", rel), "rb") as f:
                    data = f.read()
            except OSError:
                continue
            self.write(rel, data)
        selected = len(servers) + trainers
        step = max(1, (n - 1) // max(1, selected))
        # PIDs leave room for the thread ids of selected processes (4 threads each).
        pids = [1] + [1000 + 5 * i for i in range(n - 1)]
        chosen = set(range(1, n, step)[:selected]) if selected else set()
        assert len(chosen) == selected, (n, selected)
        listen = []  # (port, inode) of every server
        tcp_rows, k = [], 0
        for s, (_, _, port) in enumerate(servers):
            listen.append(90000 + s)
            tcp_rows.append(tcp_row(k, "0100007F", port, "00000000", 0, "0A", 90000 + s)); k += 1
        tcp_rows.append(tcp_row(k, "00000000", 22, "00000000", 0, "0A", 80000)); k += 1
        tcp_rows.append(tcp_row(k, "0100007F", 5432, "00000000", 0, "0A", 80001)); k += 1
        for j in range(40):  # established connections: the table holds more than listeners
            tcp_rows.append(tcp_row(k, "0100007F", 40000 + j, "0100007F", 5432, "01", 81000 + j)); k += 1
        self.tcp = TCP_HEADER + "".join(tcp_rows)
        self.tcp6 = TCP_HEADER + (f"   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A "
                                  f"00000000:00000000 00:00000000 00000000     0        0 80002 1 0000000000000000 100 0 0 10 0\n")
        sel_i = 0
        for i, pid in enumerate(pids):
            if i in chosen:
                if sel_i < len(servers):
                    comm, argv, _ = servers[sel_i]
                    exe = "/usr/bin/python3.11" if comm == "python3" else f"/usr/local/bin/{comm}"
                    self.process(pid, comm, argv, exe, selected=True, socket_inode=listen[sel_i])
                    self.servers.append(pid)
                else:
                    r = sel_i - len(servers)
                    self.process(pid, "trainer", ["/opt/train/bin/trainer", "--rank", str(r)],
                                 "/opt/train/bin/trainer", selected=True)
                    self.trainers.append(pid)
                sel_i += 1
            elif pid == 1:
                self.process(1, "systemd", ["/sbin/init"], "/usr/lib/systemd/systemd", ppid=0)
                try:
                    with open("/proc/1/mounts", "rb") as f:
                        self.write("1/mounts", f.read())
                except OSError:
                    pass
            else:
                comm, argv, exe = OTHERS[i % len(OTHERS)]
                self.process(pid, comm, argv, exe, ppid=2 if exe is None else 1)
        self.selected = self.servers + self.trainers

    def write(self, rel, data):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())

    def process(self, pid, comm, argv, exe, selected=False, socket_inode=None, ppid=1):
        kernel = exe is None
        threads = 4 if selected else 1
        rss_kb = 0 if kernel else (2_048_000 if selected else 4_000 + pid % 50_000)
        anon_kb, file_kb = rss_kb * 3 // 4, rss_kb - rss_kb * 3 // 4
        vsz_kb = 0 if kernel else rss_kb * 4 + 100_000
        utime, stime = (123_456, 4_567) if selected else (pid % 997, pid % 101)
        d = str(pid)
        stat = (f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1 {0x208040 if kernel else 0x400100} {pid * 3} 0 {pid % 7} 0 "
                f"{utime} {stime} 0 0 20 0 {threads} 0 {1000 + pid} {vsz_kb * 1024} {rss_kb // 4} "
                f"18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 {pid % 2} 0 0 0 0 0 0 0 0 0 0 0 0 0\n")
        vm = "" if kernel else VM.format(vsz_kb=vsz_kb, rss_kb=rss_kb, anon_kb=anon_kb, file_kb=file_kb)
        status = STATUS.format(comm=comm, pid=pid, ppid=ppid, state_long="S (sleeping)", kthread=int(kernel), vm=vm,
                               threads=threads, vol=pid * 11, invol=pid % 13)
        io = (f"rchar: {pid * 1000}\nwchar: {pid * 10}\nsyscr: {pid}\nsyscw: {pid // 2}\n"
              f"read_bytes: {4096 * (pid % 100)}\nwrite_bytes: 0\ncancelled_write_bytes: 0\n")
        cgroup = "0::/\n" if kernel else ("0::/system.slice/docker-3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708.scope\n"
                                          if selected else f"0::/system.slice/{comm.split('/')[0]}.service\n")
        cmdline = "".join(a + "\0" for a in argv)
        files = {"comm": comm + "\n", "cmdline": cmdline, "stat": stat, "status": status, "io": io,
                 "limits": LIMITS.format(nofile=1048576 if selected else 1024), "cgroup": cgroup,
                 "wchan": "do_epoll_wait",
                 "smaps_rollup": "" if kernel else SMAPS_ROLLUP.format(rss_kb=rss_kb, anon_kb=anon_kb, file_kb=file_kb)}
        for name, text in files.items():
            self.write(f"{d}/{name}", text)
        for t in range(threads):
            tid = pid + t
            for name in ("stat", "status", "io", "cmdline", "comm", "cgroup", "wchan"):
                text = files[name]
                if t and name == "stat":
                    text = text.replace(f"{pid} (", f"{tid} (", 1)
                self.write(f"{d}/task/{tid}/{name}", text)
        os.makedirs(os.path.join(self.root, d, "fd"), exist_ok=True)
        os.makedirs(os.path.join(self.root, d, "ns"), exist_ok=True)
        os.symlink(NETNS, os.path.join(self.root, d, "ns", "net"))
        if not kernel:
            os.symlink(exe, os.path.join(self.root, d, "exe"))
            targets = ["/dev/null", "/dev/null", "/dev/null"]
            if socket_inode is not None:
                targets += [f"socket:[{socket_inode}]", "socket:[81000]", "/models/model-q4_k_m.gguf",
                            "/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "anon_inode:[eventfd]"]
                self.write(f"{d}/net/tcp", self.tcp)
                self.write(f"{d}/net/tcp6", self.tcp6)
            elif selected:
                targets += ["/data/shard-0001.bin", "/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm",
                            "anon_inode:[eventfd]", "socket:[81001]"]
            for n, target in enumerate(targets):
                os.symlink(target, os.path.join(self.root, d, "fd", str(n)))


def nvml_config(path, gpu_pids):
    """Writes a stand-in NVML config: one GPU per entry of `gpu_pids` (the PIDs using it),
    every field the series read filled in, from the eight-GPU example of the tests."""
    with open(os.path.join(STANDIN, "eight-gpus.json")) as f:
        example = json.load(f)
    gpus = []
    for g, pids in enumerate(gpu_pids):
        gpu = json.loads(json.dumps(example["gpus"][g % len(example["gpus"])]))
        gpu["uuid"] = f"GPU-{g:08x}-7b2d-4e6a-9f81-3d5c7e9a1b20"
        gpu["pci_bus_id"] = f"00000000:{(0x18 + g) % 256:02X}:00.0"
        gpu["compute_processes"] = [{"pid": p, "used_memory": (1 + j) * 1_073_741_824} for j, p in enumerate(pids)]
        gpu["process_utilization"] = [{"pid": p, "sm": 10 + j, "mem": 5 + j, "enc": 0, "dec": 0}
                                      for j, p in enumerate(pids)]
        gpus.append(gpu)
    with open(path, "w") as f:
        json.dump({**example, "gpus": gpus}, f)


# ---------------------------------------------------------------------------------------------
# Running things

class Fleet:
    """Every process this run starts, each in its own process group, stopped at the end."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def spawn(self, argv, env=None, log=None, **kw):
        err = open(log, "wb") if log else subprocess.DEVNULL
        p = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stderr=err, start_new_session=True, **kw)
        if log:
            err.close()
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


class Exporter:
    def __init__(self, fleet, name, argv, env=None):
        port = free_port()
        self.name = name
        self.log = os.path.join(fleet.tmp, f"log-{re.sub(r'[^A-Za-z0-9]+', '-', name)}-{port}.txt")
        # Go's flag package takes --name=value as well, so one form serves all three.
        self.proc = fleet.spawn([*argv, f"--web.listen-address=127.0.0.1:{port}"], env=env, log=self.log,
                                stdout=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.fleet = fleet

    def wait(self):
        wait_up(self.url, self.proc)
        return self

    def stop(self):
        self.fleet.stop(self.proc)

    def complaints(self):
        """Warning and error lines of its log, distinct, with counts."""
        seen = {}
        try:
            with open(self.log, errors="replace") as f:
                for line in f:
                    if re.search(r"level=(warn|error)|\berror\b|\bwarn", line, re.I):
                        key = re.sub(r"^\S+ \S+ |ts=\S+ |time=\S+ |duration_seconds=\S+ ", "", line.strip())[:200]
                        seen[key] = seen.get(key, 0) + 1
        except OSError:
            pass
        return seen


def trace_reads(pid, url, tree_root, seconds=1.0):
    """Opens and readlinks under the tree during one scrape (strace), grouped by file kind."""
    if not shutil.which("strace"):
        return None
    out = os.path.join(os.path.dirname(tree_root), f"strace-{pid}.txt")
    st = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=openat,open,readlinkat,readlink", "-o", out,
                           "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    get(url)
    time.sleep(0.3)
    st.send_signal(signal.SIGINT)
    st.wait()
    kinds = {}
    prefix = tree_root.rstrip("/") + "/"
    with open(out, errors="replace") as f:
        for line in f:
            m = re.search(r'"([^"]*)"', line)
            if not m or not m.group(1).startswith(prefix):
                continue
            rel = m.group(1)[len(prefix):]
            rel = re.sub(r"^\d+(/|$)", r"PID\1", rel)
            rel = re.sub(r"task/\d+", "task/TID", rel)
            rel = re.sub(r"fd/\d+", "fd/N", rel)
            kinds[rel] = kinds.get(rel, 0) + 1
    os.remove(out)
    return kinds


def trace_syscalls(pid, url, scrapes):
    """System calls per scrape over `scrapes` scrapes (strace -c -f), {name: calls}."""
    if not shutil.which("strace"):
        return None
    out = os.path.join(tempfile.gettempdir(), f"strace-c-{pid}-{os.getpid()}.txt")
    st = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(pid)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    for _ in range(scrapes):
        get(url)
    time.sleep(0.3)
    st.send_signal(signal.SIGINT)
    st.wait()
    calls = {}
    with open(out) as f:
        for line in f:
            cols = line.split()
            if len(cols) >= 5 and cols[0][0].isdigit() and cols[-1] != "total":
                calls[cols[-1]] = int(cols[3]) / scrapes
    os.remove(out)
    return calls


def describe_syscalls(calls, top=8):
    if calls is None:
        return "(strace not installed)"
    parts = [f"{k} {v:.0f}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:top]]
    return f"{sum(calls.values()):.0f}: " + ", ".join(parts)


def describe_reads(kinds, top=9):
    if kinds is None:
        return "(strace not installed)"
    total = sum(kinds.values())
    parts = [f"{k} ×{v}" for k, v in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    more = len(kinds) - top
    return f"{total} opens: " + ", ".join(parts) + (f", {more} more kinds" if more > 0 else "")


def linear_fit(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys))
    r2 = 1 - ss_res / ss_tot if ss_tot else 1.0
    return slope, intercept, r2


def plot(path, title, xlabel, unit, xs, cpus, slope, intercept, r2):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    med = [statistics.median(c) for c in cpus]
    lo = [m - min(c) for m, c in zip(med, cpus)]
    hi = [max(c) - m for m, c in zip(med, cpus)]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax.errorbar(xs, med, yerr=[lo, hi], fmt="o", capsize=4, label="median [min–max] over rounds")
    grid = [0, max(xs)]
    ax.plot(grid, [intercept + slope * x for x in grid], "-",
            label=f"fit: {intercept:.2f} ms + {slope * 1000:.2f} µs per {unit} (R² {r2:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("llm-exporter CPU ms per scrape")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def have_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="seconds in all: tiny counts, 2 rounds; writes nothing")
    ap.add_argument("--rounds", type=int, default=10, help="interleaved rounds, world (b)")
    ap.add_argument("--scrapes", type=int, default=100, help="scrapes per exporter per round, world (b)")
    ap.add_argument("--scaling-rounds", type=int, default=8)
    ap.add_argument("--scaling-scrapes", type=int, default=100)
    ap.add_argument("--overhead-seconds", type=float, default=300)
    ap.add_argument("--before", help="another llm-exporter binary scraped in world (b) beside this build")
    ap.add_argument("--world-only", action="store_true", help="world (b) only: no scaling, no 1 s interval test")
    a = ap.parse_args()
    if not have_matplotlib() and not os.environ.get("WORLD_PY_REEXEC"):
        # Debian's python3-matplotlib lives with the system Python, which may not be the first python3.
        for python in ("/usr/bin/python3",):
            if os.path.exists(python) and os.path.realpath(python) != os.path.realpath(sys.executable):
                if subprocess.run([python, "-c", "import matplotlib"], capture_output=True).returncode == 0:
                    os.environ["WORLD_PY_REEXEC"] = "1"
                    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])
    if a.smoke:
        a.rounds, a.scrapes, a.scaling_rounds, a.scaling_scrapes, a.overhead_seconds = 2, 3, 2, 3, 3
    n_world = 1000
    threads_n, per_thread = (20, 1) if a.smoke else (200, 5)
    proc_points = [100, 300] if a.smoke else [100, 1000, 10000]
    gpu_points = [1, 2] if a.smoke else [1, 2, 4, 8, 16]
    target_points = [1, 2] if a.smoke else [1, 2, 4, 8, 16, 32]
    # The smallest vLLM-style body, one model, is about 24 KB.
    body_points = [1, 100_000] if a.smoke else [1, 100_000, 1_000_000, 2_000_000]
    if a.world_only:
        proc_points, gpu_points, target_points, body_points = [], [], [], []

    started = time.time()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that everything started is stopped
    install_peers()
    subprocess.run(["cargo", "build", "--release", "-q", "--locked", "-p", "llm-exporter"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="llm-exporter-world-")
    fleet = Fleet(tmp)
    out_dir = tempfile.mkdtemp(prefix="plots-", dir=tmp) if a.smoke else RESULTS
    try:
        return run(a, tmp, fleet, out_dir, n_world, threads_n, per_thread, proc_points, gpu_points, target_points,
                   body_points, started)
    finally:
        fleet.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


def run(a, tmp, fleet, out_dir, n_world, threads_n, per_thread, proc_points, gpu_points, target_points,
        body_points, started):
    exe = os.path.join(tmp, "llm-exporter")
    shutil.copy2(os.path.join(ROOT, "target", "release", "llm-exporter"), exe)
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    nvml = os.path.join(tmp, "libnvidia-ml.so.1")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", nvml, os.path.join(STANDIN, "standin.c")], check=True)

    # The targets: 32 llama-servers (world (b) uses 8), one vLLM-style server per body size.
    sites = [{path: (os.path.join(FIXTURES, f), ctype) for path, (f, ctype) in LLAMA_ROUTES.items()}
             for _ in range(max([8, *target_points]))]
    models = os.path.join(FIXTURES, "vllm_v1_models.json")
    versionf = os.path.join(FIXTURES, "vllm_version.json")
    body_sizes = {}
    for size in body_points:
        f = os.path.join(tmp, f"vllm-{size}.txt")
        with open(f, "w") as out:
            body = vllm_body_of(size)
            body_sizes[size] = len(body.encode())
            out.write(body)
        sites.append({"/metrics": (f, "text/plain; version=0.0.4"), "/v1/models": (models, "application/json"),
                      "/version": (versionf, "application/json")})
    spec = os.path.join(tmp, "sites.json")
    with open(spec, "w") as f:
        json.dump(sites, f)
    targets = fleet.spawn([sys.executable, "-c", TARGET_SERVER, spec], stdout=subprocess.PIPE,
                          log=os.path.join(tmp, "targets.log"))
    ports = json.loads(targets.stdout.readline())
    llama_ports, vllm_ports = ports[:len(ports) - len(body_points)], ports[len(ports) - len(body_points):]
    for p in ports:
        wait_up(f"http://127.0.0.1:{p}/metrics", targets)

    rule = os.path.join(tmp, "llm-exporter.toml")
    with open(rule, "w") as f:
        f.write('[[process.match]]\nname = "trainer"\ncomm = "trainer"\nworkload = "ml_training"\n')

    def llama(port):
        return ("llama-server", ["/usr/local/bin/llama-server", "-m", "/models/qwen2.5-7b-instruct-q4_k_m.gguf",
                                 "-c", "8192", "--metrics", "--slots", "--port", str(port)], port)

    def ours(name, tree, gpu_pids, binary=exe):
        cfg = os.path.join(tmp, f"nvml-{re.sub(r'[^A-Za-z0-9]+', '-', name)}.json")
        nvml_config(cfg, gpu_pids)
        return Exporter(fleet, name, [binary, f"--path.procfs={tree.root}", f"--nvml.library={nvml}",
                                      f"--config.file={rule}", "--log.level=warn"],
                        env={"NVML_STANDIN_CONFIG": cfg})

    # ---- world (b)
    print(f"[{time.time() - started:.0f} s] built; writing the trees", flush=True)
    t0 = time.time()
    world = Tree(os.path.join(tmp, "proc-world"), n_world, [llama(p) for p in llama_ports[:8]], 12)
    tree_seconds = time.time() - t0
    gpu_pids = [[world.servers[g]] + [world.trainers[(g * 7 + j) % 12] for j in range(7)] for g in range(8)]
    pe_config = os.path.join(tmp, "process-exporter.yml")
    with open(pe_config, "w") as f:
        f.write('process_names:\n  - name: "{{.Comm}}"\n    comm:\n    - llama-server\n    - trainer\n')
    exporters = [
        ours("llm-exporter", world, gpu_pids),
        Exporter(fleet, "node_exporter (default collectors)",
                 [shutil.which("prometheus-node-exporter"), f"--path.procfs={world.root}"]),
        Exporter(fleet, "process-exporter (the same 20 processes)",
                 [shutil.which("prometheus-process-exporter"), f"-procfs={world.root}", f"-config.path={pe_config}"]),
    ]
    if a.before:
        exporters.append(ours("llm-exporter before", world, gpu_pids, binary=a.before))
    for e in exporters:
        e.wait()
        get(e.url)  # warm up: connections, detection, first collection
    real_node = Exporter(fleet, "node_exporter on /proc", [shutil.which("prometheus-node-exporter")]).wait()
    real_failing = failing_collectors(get(real_node.url).decode())
    real_node.stop()
    check = world_check(get(exporters[0].url).decode(), get(exporters[2].url).decode(),
                        get(exporters[1].url).decode(), real_failing)
    print(f"[{time.time() - started:.0f} s] world (b): {check}", flush=True)

    results = {e.name: {"cpu": [], "p50": [], "p99": [], "size": 0} for e in exporters}
    for r in range(a.rounds):
        for e in exporters:
            cpu, times, size = one_round(e.pid, e.url, a.scrapes)
            times.sort()
            res = results[e.name]
            res["cpu"].append(cpu)
            res["p50"].append(pct(times, 0.5))
            res["p99"].append(pct(times, 0.99))
            res["size"] = size
        print(f"  round {r + 1}/{a.rounds}: " + ", ".join(f"{e.name.split()[0]} {results[e.name]['cpu'][-1]:.2f} ms"
                                                         for e in exporters), flush=True)
    total_scrapes = a.rounds * a.scrapes + 2
    rss = {e.name: status_mib(e.pid, "VmRSS") for e in exporters}
    rss_parts = {k: status_mib(exporters[0].pid, k) for k in ("RssAnon", "RssFile", "RssShmem")}
    hwm_before = {e.name: status_mib(e.pid, "VmHWM") for e in exporters}
    reads = {e.name: trace_reads(e.pid, e.url, world.root) for e in exporters}
    syscalls = {e.name: trace_syscalls(e.pid, e.url, 5 if a.smoke else 20) for e in exporters}
    complaints = {e.name: e.complaints() for e in exporters}

    # ---- memory: 200 concurrent scrapers on llm-exporter
    ours_e = exporters[0]
    barrier = threading.Barrier(threads_n)
    conc_times, conc_fail, lock = [], [], threading.Lock()

    def scraper():
        barrier.wait()
        for _ in range(per_thread):
            t = time.perf_counter()
            try:
                body = get(ours_e.url, timeout=60)
                ok = b"llm_gpu" in body
            except OSError as err:
                ok, body = False, str(err)
            with lock:
                conc_times.append((time.perf_counter() - t) * 1000)
                if not ok:
                    conc_fail.append(body if isinstance(body, str) else "incomplete body")

    rss_conc_before = status_mib(ours_e.pid, "VmRSS")
    threads = [threading.Thread(target=scraper) for _ in range(threads_n)]
    t_conc = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_conc = time.perf_counter() - t_conc
    conc_times.sort()
    memory = {"rss_before": rss_conc_before, "hwm": status_mib(ours_e.pid, "VmHWM"),
              "rss_after": status_mib(ours_e.pid, "VmRSS"), "threads": threads_n, "per_thread": per_thread,
              "failed": len(conc_fail), "p50": pct(conc_times, 0.5), "max": conc_times[-1], "wall": t_conc,
              "why": sorted(set(conc_fail))[:3]}
    print(f"[{time.time() - started:.0f} s] memory: RSS {rss['llm-exporter']:.1f} MiB after {total_scrapes} scrapes; "
          f"{threads_n} concurrent scrapers: peak {memory['hwm']:.1f} MiB, {len(conc_fail)} failed", flush=True)

    if a.world_only:  # no scaling, no 1 s interval test
        text = report_world(a, results, rss, hwm_before, memory, check, total_scrapes, version, n_world, started)
        print(text)
        if not a.smoke:
            with open(os.path.join(RESULTS, "world-before-after.md"), "w") as f:
                f.write(text)
        return

    # ---- scaling: one exporter per point, all running, interleaved rounds
    small_gpu = lambda tree: [[tree.selected[j % len(tree.selected)] for j in range(4)]]
    points = {"processes": [], "gpus": [], "targets": [], "body": []}
    t0 = time.time()
    for n in proc_points:
        tree = Tree(os.path.join(tmp, f"proc-n{n}"), n, [llama(llama_ports[0])], 19)
        points["processes"].append((n, ours(f"processes-{n}", tree, small_gpu(tree))))
    tree = Tree(os.path.join(tmp, "proc-gpus"), 100, [llama(llama_ports[0])], 19)
    for g in gpu_points:
        gp = [[tree.selected[(i * 4 + j) % 20] for j in range(4)] for i in range(g)]
        points["gpus"].append((g, ours(f"gpus-{g}", tree, gp)))
    for k in target_points:
        tree = Tree(os.path.join(tmp, f"proc-t{k}"), 100, [llama(p) for p in llama_ports[:k]], max(0, 20 - k))
        points["targets"].append((k, ours(f"targets-{k}", tree, small_gpu(tree))))
    for size, port in zip(body_points, vllm_ports):
        server = ("python3", ["/usr/bin/python3", "-m", "vllm.entrypoints.openai.api_server", "--model",
                              "meta-llama/Llama-3.1-8B-Instruct", "--port", str(port)], port)
        tree = Tree(os.path.join(tmp, f"proc-b{size}"), 100, [server], 19)
        points["body"].append((round(body_sizes[size] / 1000), ours(f"body-{size}", tree, small_gpu(tree))))
    tree_seconds += time.time() - t0
    every = [e for pts in points.values() for _, e in pts]
    for e in every:
        e.wait()
        get(e.url)
    scaling = {id(e): {"cpu": [], "p50": [], "size": 0} for e in every}
    for r in range(a.scaling_rounds):
        for e in every:
            cpu, times, size = one_round(e.pid, e.url, a.scaling_scrapes)
            times.sort()
            s = scaling[id(e)]
            s["cpu"].append(cpu)
            s["p50"].append(pct(times, 0.5))
            s["size"] = size
        print(f"[{time.time() - started:.0f} s] scaling round {r + 1}/{a.scaling_rounds}", flush=True)
    scaling_complaints = {}
    for e in every:
        for k, v in e.complaints().items():
            scaling_complaints[f"{e.name}: {k}"] = v
        e.stop()

    # ---- overhead at a 1 s interval: every exporter scraped once a second, in turn
    print(f"[{time.time() - started:.0f} s] overhead: {a.overhead_seconds:.0f} s", flush=True)
    cpu0 = {e.name: cpu_seconds(e.pid) for e in exporters}
    w0 = time.perf_counter()
    ticks = 0
    while time.perf_counter() - w0 < a.overhead_seconds:
        for e in exporters:
            get(e.url)
        ticks += 1
        time.sleep(max(0.0, w0 + ticks - time.perf_counter()))
    wall = time.perf_counter() - w0
    overhead = {e.name: (cpu_seconds(e.pid) - cpu0[e.name]) / wall * 100 for e in exporters}
    rss_end = status_mib(ours_e.pid, "VmRSS")

    text = report(a, results, rss, rss_parts, hwm_before, reads, syscalls, complaints, memory, points, scaling, overhead, ticks, wall,
                  rss_end, check, total_scrapes, version, n_world, body_sizes, tree_seconds, scaling_complaints,
                  out_dir, started)
    print(text)
    if not a.smoke:
        with open(os.path.join(RESULTS, "world.md"), "w") as f:
            f.write(text)


def failing_collectors(node_body):
    return re.findall(r'^node_scrape_collector_success\{collector="([^"]+)"\} 0', node_body, re.M)


def world_check(ours_body, pe_body, node_body, real_failing):
    pids = set(re.findall(r'^llm_process_info\{[^}]*pid="(\d+)"', ours_body, re.M))
    gpus = set(re.findall(r'^llm_gpu_\w+\{[^}]*gpu="([^"]+)"', ours_body, re.M))
    gpu_procs = len(re.findall(r"^llm_process_gpu_memory_bytes\{", ours_body, re.M))
    servers = set(re.findall(r'^llm_server_up\{[^}]*server="([^"]+)"[^}]*\} 1', ours_body, re.M))
    labelled = len(re.findall(r'^llm_process_info\{[^}]*server="llama-server:\d+"', ours_body, re.M))
    procs = sum(float(v) for v in re.findall(r"^namedprocess_namegroup_num_procs\{[^}]*\} (\S+)", pe_body, re.M))
    failing = failing_collectors(node_body)
    same = ("the same as on this machine's /proc" if set(failing) == set(real_failing)
            else f"on this machine's /proc: {', '.join(real_failing) or 'none'}")
    return (f"llm-exporter reports {len(pids)} processes ({labelled} with a llama-server label), {len(gpus)} GPUs, "
            f"{gpu_procs} GPU process series, {len(servers)} targets up; process-exporter counts {procs:.0f} "
            f"processes; node_exporter collectors failing (no such hardware or service here): "
            f"{', '.join(failing) or 'none'}, {same}")


def report_world(a, results, rss, hwm_before, memory, check, total_scrapes, version, n_world, started):
    """The table of world (b) alone, for --world-only."""
    ours = statistics.median(results["llm-exporter"]["cpu"])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    L = ["# llm-exporter in a synthetic world of 1,000 processes: scrape cost\n",
         f"Reproduce: `python3 bench/world.py --world-only"
         + (" --before BINARY" if a.before else "") + f" --rounds {a.rounds} --scrapes {a.scrapes}`. "
         f"{os.cpu_count()} CPUs, {cpu_model()}, Linux {platform.release()}; this build: {version}"
         + (f"; before: `{os.path.basename(a.before)}`" if a.before else "") + f". Load average at the end: {load}.\n",
         f"World (b) of `bench/world.py`: {n_world} processes (20 selected), 8 stand-in GPUs, 8 targets. "
         f"{a.rounds} interleaved rounds of {a.scrapes} scrapes per exporter; median [min–max] over rounds. "
         f"Check: {check}.\n",
         f"| exporter | CPU ms/scrape | × llm-exporter | p50 ms | p99 ms | body bytes | RSS MiB after {total_scrapes} "
         "scrapes | peak RSS MiB |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        ratio = statistics.median(r["cpu"]) / ours if ours else float("nan")
        L.append(f"| {name} | {fmt(r['cpu'])} | {ratio:.2f} | {fmt(r['p50'])} | {fmt(r['p99'])} | {r['size']} | "
                 f"{rss[name]:.1f} | {hwm_before[name]:.1f} |")
    L.append("")
    L.append(f"llm-exporter with {memory['threads']} concurrent scrapers: peak {memory['hwm']:.1f} MiB, "
             f"{memory['failed']} failed. The whole run took {time.time() - started:.0f} s.")
    return "\n".join(L) + "\n"


def report(a, results, rss, rss_parts, hwm_before, reads, syscalls, complaints, memory, points, scaling, overhead, ticks, wall, rss_end,
           check, total_scrapes, version, n_world, body_sizes, tree_seconds, scaling_complaints, out_dir, started):
    L = []
    kernel = platform.release()
    L.append("# llm-exporter in a synthetic world: scrape cost, memory, scaling, overhead\n")
    L.append(f"Machine: {os.cpu_count()} CPUs, {cpu_model()}, Linux {kernel}. {version}. "
             f"Peers: node_exporter and process-exporter from Debian's packages.\n")
    L.append("Reproduce: `python3 bench/world.py` (or `bench/run`; `--smoke` for a quick check). The proc tree is "
             "plain files in a temporary directory, not procfs: every exporter pays the same per-file costs there, "
             "which differ somewhat from a real /proc.\n")
    L.append("## World (b): scrape cost\n")
    L.append(f"A synthetic proc tree of {n_world} processes of which 20 are selected (8 llama-servers found by "
             "discovery on the loopback ports of 8 stand-in llama-servers serving captured bodies, 12 trainers "
             "selected by a `[[process.match]]` rule), 8 stand-in GPUs with 64 GPU process entries (PIDs among "
             "the 20). "
             f"{a.rounds} interleaved rounds of {a.scrapes} sequential scrapes per exporter; median [min–max] over "
             "rounds. CPU is the exporter's utime+stime over a round; latency is the client's. "
             f"Check: {check}.\n")
    ours = statistics.median(results["llm-exporter"]["cpu"])
    L.append("| exporter | CPU ms/scrape | × llm-exporter | p50 ms | p99 ms | body bytes | RSS MiB after "
             f"{total_scrapes} scrapes |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        ratio = statistics.median(r["cpu"]) / ours if ours else float("nan")
        L.append(f"| {name} | {fmt(r['cpu'])} | {ratio:.1f} | {fmt(r['p50'])} | {fmt(r['p99'])} | {r['size']} | "
                 f"{rss[name]:.1f} |")
    L.append("")
    L.append("What each one reads under the synthetic tree in one scrape (strace, opens and readlinks):\n")
    for name, kinds in reads.items():
        L.append(f"- {name}: {describe_reads(kinds)}")
    L.append("")
    L.append("System calls per scrape (strace -c -f over consecutive scrapes; strace slows the exporter, the "
             "counts are what matters):\n")
    for name, calls in syscalls.items():
        L.append(f"- {name}: {describe_syscalls(calls)}")
    L.append("")
    L.append("Warnings and errors in their logs (distinct lines, count):\n")
    for name, seen in complaints.items():
        if not seen:
            L.append(f"- {name}: none")
        for line, count in list(seen.items())[:4]:
            L.append(f"- {name}: `{line}` ×{count}")
    L.append("")
    L.append("## Memory\n")
    steady_ok = rss["llm-exporter"] < 10
    L.append("| llm-exporter | MiB |")
    L.append("|---|---:|")
    L.append(f"| RSS (VmRSS) after {total_scrapes} scrapes of world (b) | {rss['llm-exporter']:.1f} |")
    L.append(f"| of which anonymous (RssAnon: heap, stacks) | {rss_parts['RssAnon']:.1f} |")
    L.append(f"| of which file-backed (RssFile + RssShmem: the binary's and libraries' pages) | "
             f"{rss_parts['RssFile'] + rss_parts['RssShmem']:.1f} |")
    L.append(f"| peak (VmHWM) before the concurrent scrapers | {hwm_before['llm-exporter']:.1f} |")
    L.append(f"| peak (VmHWM) with {memory['threads']} concurrent scrapers ({memory['per_thread']} scrapes each) | "
             f"{memory['hwm']:.1f} |")
    L.append(f"| RSS right after them | {memory['rss_after']:.1f} |")
    L.append(f"| RSS at the end of the run (after the 1 s interval test) | {rss_end:.1f} |")
    L.append("")
    L.append(f"The {memory['threads'] * memory['per_thread']} concurrent scrapes took {memory['wall']:.1f} s: latency "
             f"p50 {memory['p50']:.0f} ms, max {memory['max']:.0f} ms; {memory['failed']} failed or incomplete"
             + (f" ({'; '.join(memory['why'])})" if memory["why"] else "") + ". "
             f"Peers after the same {total_scrapes} scrapes: "
             + ", ".join(f"{n} {v:.1f} MiB" for n, v in rss.items() if n != "llm-exporter")
             + f". Target: under 10 MB steady: {'met' if steady_ok else 'missed'} "
             f"({rss['llm-exporter'] * 1.048576:.1f} MB).\n")

    L.append("## Scaling\n")
    L.append(f"llm-exporter alone; one exporter per point, all running, {a.scaling_rounds} interleaved rounds of "
             f"{a.scaling_scrapes} scrapes. One dimension grows at a time; the others stay small: 100 processes "
             "of which 20 are selected, 1 GPU with 4 GPU process entries, 1 llama-server target. The targets "
             "curve has one llama-server process per target in the tree (the selected are the servers and "
             "trainers up to 20, the servers alone beyond). The body curve is one vLLM-style target (a Python "
             "process running `vllm.entrypoints.openai.api_server` in the tree) whose /metrics body grows.\n")
    dims = [("processes", "processes in the tree (20 selected)", "process", "scaling-processes.png"),
            ("gpus", "GPUs (4 GPU processes each)", "GPU", "scaling-gpus.png"),
            ("targets", "LLM targets (llama-server)", "target", "scaling-targets.png"),
            ("body", "target /metrics body KB (1 vLLM-style target)", "KB", "scaling-body.png")]
    plots_ok = have_matplotlib()
    fits = {}
    for key, xlabel, unit, png in dims:
        xs = [x for x, _ in points[key]]
        cpus = [scaling[id(e)]["cpu"] for _, e in points[key]]
        meds = [statistics.median(c) for c in cpus]
        slope, intercept, r2 = linear_fit(xs, meds)
        fits[key] = (slope, intercept, r2)
        per = f"{slope * 1000:.2f} µs per {unit}"
        L.append(f"### {xlabel}\n")
        L.append(f"Fit: {intercept:.2f} ms + {per} (R² {r2:.3f}); plot `bench/results/{png}`.\n")
        L.append(f"| {'body KB' if key == 'body' else key} | CPU ms/scrape | fit ms | p50 ms | exporter body bytes |")
        L.append("|---:|---:|---:|---:|---:|")
        for (x, e), c in zip(points[key], cpus):
            s = scaling[id(e)]
            L.append(f"| {x} | {fmt(c)} | {intercept + slope * x:.2f} | {fmt(s['p50'])} | {s['size']} |")
        L.append("")
        if plots_ok:
            plot(os.path.join(out_dir, png), f"llm-exporter CPU per scrape vs {xlabel}", xlabel, unit, xs, cpus,
                 slope, intercept, r2)
    slope_p = fits["processes"][0]
    L.append(f"Scanning unselected processes: {slope_p * 1000:.1f} µs of CPU per unselected process per scrape "
             f"(slope of the processes curve), {slope_p * 1000:.2f} ms per 1,000.\n")
    if scaling_complaints:
        L.append("Warnings in the scaling exporters' logs: " + "; ".join(
            f"`{k}` ×{v}" for k, v in list(scaling_complaints.items())[:6]) + "\n")
    if not plots_ok:
        L.append("(matplotlib is missing: no plots were drawn.)\n")

    L.append("## Overhead at a 1 s scrape interval\n")
    L.append(f"World (b), every exporter scraped once a second in turn for {wall:.0f} s ({ticks} scrapes each); "
             "CPU time over wall time, as a share of one core.\n")
    L.append("| exporter | CPU % of one core |")
    L.append("|---|---:|")
    for name, v in overhead.items():
        L.append(f"| {name} | {v:.3f} |")
    L.append("")
    L.append("## Targets\n")
    node = statistics.median(results["node_exporter (default collectors)"]["cpu"])
    L.append(f"- CPU per scrape at most node_exporter's: {'met' if ours <= node else 'missed'} "
             f"({ours:.2f} ms against {node:.2f} ms).")
    L.append(f"- RSS under 10 MB steady: {'met' if steady_ok else 'missed'} ({rss['llm-exporter']:.1f} MiB; "
             f"peak with {memory['threads']} concurrent scrapers {memory['hwm']:.1f} MiB).")
    L.append(f"- Under 0.5 % of one core at a 1 s interval: "
             f"{'met' if overhead['llm-exporter'] < 0.5 else 'missed'} ({overhead['llm-exporter']:.3f} %).")
    for key in ("processes", "gpus", "targets", "body"):
        L.append(f"- Linear in {key}: R² {fits[key][2]:.3f}.")
    L.append("")
    L.append(f"Tree generation took {tree_seconds:.0f} s; the whole run {time.time() - started:.0f} s.")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
