#!/usr/bin/env python3
"""Where the time of finding a listener in another network namespace goes: reading that
namespace's /proc/PID/net/tcp{,6} against a sock_diag LISTEN dump made inside it (setns).

    sudo bench/netns_read_cost.py [--reads N]

Two namespaces, each holding one listening socket and no connections:
- `global`: a plain new namespace, which shares the kernel's established-connection hash
  (one table for every namespace, sized by RAM at boot: net.ipv4.tcp_ehash_entries);
- `private`: made while net.ipv4.tcp_child_ehash_entries is 128 (Linux 6.1 and later), so it
  has an established hash of its own with 128 buckets (the sysctl is put back at once).
For each, the time of reading the whole of net/tcp and net/tcp6, of reading only until the
first row that is not LISTEN (what the exporter's reader does: it cannot stop earlier, the
kernel fills the first read's buffer), and of a sock_diag dump of LISTEN sockets opened inside
the namespace. Minimum and median of N reads, wall time of this process. Needs root
(ip netns, setns). Every namespace and process made here is removed at the end.
"""
import argparse
import ctypes
import os
import socket
import statistics
import struct
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def sysctl(name, value=None):
    path = "/proc/sys/" + name.replace(".", "/")
    if value is None:
        with open(path) as f:
            return f.read().strip()
    with open(path, "w") as f:
        f.write(str(value))


def make_namespace(name, private_buckets):
    before = sysctl("net.ipv4.tcp_child_ehash_entries")
    if private_buckets:
        sysctl("net.ipv4.tcp_child_ehash_entries", private_buckets)
    try:
        subprocess.run(["ip", "netns", "add", name], check=True)
    finally:
        sysctl("net.ipv4.tcp_child_ehash_entries", before)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    code = "import socket,time;s=socket.socket();s.bind(('127.0.0.1',8080));s.listen();print(1,flush=True);time.sleep(600)"
    proc = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", code], stdout=subprocess.PIPE)
    proc.stdout.readline()
    return proc


def read_all(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(65536):
            pass


def read_listen_rows(path):
    """Like the exporter: 8 KiB reads, stop at the first row that is not LISTEN."""
    with open(path, "rb", buffering=0) as f:
        f.read(8192)


def diag_request(family):
    # nlmsghdr + inet_diag_req_v2 (family, protocol, ext, pad, states, sockid 48 bytes)
    body = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << 10) + bytes(48)
    return struct.pack("=IHHII", 16 + len(body), 20, 0x300 | 1, 1, 0) + body


def diag_listeners(sock):
    count = 0
    for family in (socket.AF_INET, socket.AF_INET6):
        sock.send(diag_request(family))
        done = False
        while not done:
            data = sock.recv(65536)
            at = 0
            while at + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, at)
                if kind == 3:  # NLMSG_DONE
                    done = True
                    break
                count += 1
                at += (length + 3) & ~3
    return count


def in_namespace(pid, fn):
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    theirs = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(theirs, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            return fn()
        finally:
            libc.setns(own, CLONE_NEWNET)
    finally:
        os.close(own)
        os.close(theirs)


def sock_diag_in(pid):
    def query():
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4)  # NETLINK_SOCK_DIAG
        try:
            return diag_listeners(s)
        finally:
            s.close()

    return in_namespace(pid, query)


def timed(fn, reads):
    samples = []
    for _ in range(reads):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    return min(samples), statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=50)
    args = parser.parse_args()
    tag = f"llmx-cost-{os.getpid()}"
    made = []
    try:
        rows = []
        for label, buckets in (("global", 0), ("private", 128)):
            name = f"{tag}-{label}"
            proc = make_namespace(name, buckets)
            made.append((name, proc))
            # the listener is the python child of `ip netns exec`, which execs: same PID
            pid = proc.pid
            ehash = in_namespace(pid, lambda: sysctl("net.ipv4.tcp_ehash_entries"))
            net = f"/proc/{pid}/net"
            both = lambda reader: (lambda: (reader(net + "/tcp"), reader(net + "/tcp6")))
            for what, fn in (
                ("net/tcp + tcp6, whole", both(read_all)),
                ("net/tcp + tcp6, first 8 KiB read", both(read_listen_rows)),
                ("sock_diag LISTEN dump (setns)", lambda: sock_diag_in(pid)),
            ):
                low, mid = timed(fn, args.reads)
                rows.append((label, ehash, what, low, mid))
        print(f"{'namespace':<9} {'ehash':>8}  {'read':<34} {'min µs':>8} {'median µs':>10}")
        for label, ehash, what, low, mid in rows:
            print(f"{label:<9} {ehash:>8}  {what:<34} {low:>8.0f} {mid:>10.0f}")
    finally:
        for name, proc in made:
            proc.kill()
            proc.wait()
            subprocess.run(["ip", "netns", "del", name], check=False)


if __name__ == "__main__":
    main()
