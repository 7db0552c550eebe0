//! What the process collector costs on a proc tree of 1,000 processes of which 20 are LLM
//! servers: listing and discovery touch every PID once, reading touches only the 20. Prints a
//! table comparing our readers with the raw-read floor (the same files read into memory,
//! unparsed) and with the `procfs` crate reading the same facts, all in the same run.
//!
//! Run: cargo run --release -p llm-exporter --example process_bench
#[cfg(target_os = "linux")]
fn main() {
    bench::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("process_bench reads a Linux proc tree; nothing to measure here");
}

#[cfg(target_os = "linux")]
mod bench {
    use std::fs;
    use std::hint::black_box;
    use std::io::Read;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use llm_exporter::collectors::process::{select, shape};
    use llm_exporter::discovery;
    use llm_exporter::sys::linux;

    const PROCESSES: u32 = 1000;
    const SERVERS: u32 = 20;
    const ROUNDS: u32 = 200;

    /// Writes a synthetic tree: PIDs 1000.., every 50th a llama-server listening on loopback.
    fn make_tree(root: &Path) -> std::io::Result<()> {
        fs::write(root.join("stat"), "cpu 1 2 3 4\nbtime 1700000000\n")?;
        let mut tcp = String::from(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
        );
        for i in 0..SERVERS {
            let row = format!("   {i}: 0100007F:{:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 {} 1 0000000000000000 100 0 0 10 0\n", 8000 + i, 90000 + i);
            tcp.push_str(&row);
        }
        for n in 0..PROCESSES {
            let pid = 1000 + n;
            let server = n % (PROCESSES / SERVERS) == 0;
            let comm = if server { "llama-server" } else { "worker" };
            let dir = root.join(pid.to_string());
            fs::create_dir_all(dir.join("fd"))?;
            fs::create_dir_all(dir.join("net"))?;
            fs::write(dir.join("comm"), format!("{comm}\n"))?;
            fs::write(dir.join("cmdline"), format!("/usr/bin/{comm}\0--flag\0"))?;
            fs::write(dir.join("stat"), format!("{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 500 60 0 0 20 0 9 0 12345 987654321 4000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n"))?;
            fs::write(dir.join("status"), format!("Name:\t{comm}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t1\nVmPeak:\t 9000000 kB\nVmSize:\t 8000000 kB\nVmRSS:\t 2048000 kB\nVmSwap:\t 0 kB\nThreads:\t9\nvoluntary_ctxt_switches:\t5000\nnonvoluntary_ctxt_switches:\t120\n"))?;
            fs::write(
                dir.join("io"),
                "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
            )?;
            fs::write(dir.join("limits"), "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n")?;
            fs::write(dir.join("cgroup"), "0::/user.slice\n")?;
            fs::write(dir.join("net/tcp"), &tcp)?;
            fs::write(dir.join("net/tcp6"), "  sl  local_address\n")?;
            for fd in 0..3 {
                std::os::unix::fs::symlink("/dev/null", dir.join(format!("fd/{fd}")))?;
            }
            if server {
                std::os::unix::fs::symlink(
                    format!("socket:[{}]", 90000 + n / (PROCESSES / SERVERS)),
                    dir.join("fd/3"),
                )?;
            }
        }
        Ok(())
    }

    /// Median time of `ROUNDS` runs of `f`.
    fn median(mut f: impl FnMut()) -> Duration {
        let mut times: Vec<Duration> = (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect();
        times.sort_unstable();
        times[times.len() / 2]
    }

    fn raw_floor(root: &Path, pid: u32) -> usize {
        let dir = root.join(pid.to_string());
        let files = ["stat", "status", "io", "limits", "cgroup"];
        let bytes: usize = files.iter().map(|f| fs::read(dir.join(f)).map_or(0, |b| b.len())).sum();
        bytes + fs::read_dir(dir.join("fd")).map_or(0, |d| d.count())
    }

    fn with_procfs_crate(root: &Path, pid: u32) -> u64 {
        let Ok(p) = procfs::process::Process::new_with_root(root.join(pid.to_string())) else { return 0 };
        let stat = p.stat().map_or(0, |s| s.utime + s.stime + s.vsize);
        let status = p.status().map_or(0, |s| s.vmrss.unwrap_or(0) + s.voluntary_ctxt_switches.unwrap_or(0));
        let io = p.io().map_or(0, |io| io.read_bytes);
        let limits = p.limits().map_or(0, |l| match l.max_open_files.soft_limit {
            procfs::process::LimitValue::Value(v) => v,
            procfs::process::LimitValue::Unlimited => 0,
        });
        let fds = p.fd_count().map_or(0, |n| n as u64);
        let cgroups = p.cgroups().map_or(0, |c| c.0.len() as u64);
        stat + status + io + limits + fds + cgroups
    }

    pub fn main() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => return eprintln!("no temp dir: {e}"),
        };
        if let Err(e) = make_tree(dir.path()) {
            return eprintln!("cannot write the synthetic tree: {e}");
        }
        let root = dir.path();
        let view = discovery::scan(root, &[], &[], true);
        assert_eq!(view.servers.len(), SERVERS as usize, "the tree holds {SERVERS} servers");
        let pids: Vec<u32> = view.servers.iter().map(|s| s.pid).collect();

        let list = median(|| {
            black_box(linux::list_pids(root));
        });
        let scan = median(|| {
            black_box(discovery::scan(root, &[], &[], true));
        });
        let comm_floor = median(|| {
            for pid in linux::list_pids(root) {
                // The fewest system calls that read it: open, one read, close.
                let mut buffer = [0u8; 64];
                let file = fs::File::open(root.join(pid.to_string()).join("comm"));
                black_box(file.and_then(|mut f| f.read(&mut buffer)).unwrap_or(0));
            }
        });
        let read_only = median(|| {
            for &pid in &pids {
                black_box(linux::read_process(root, pid));
            }
        });
        let read_and_shape = median(|| {
            black_box(shape::shape(&select(root, &view), 100.0, linux::boot_time(root)));
        });
        let floor = median(|| {
            for &pid in &pids {
                black_box(raw_floor(root, pid));
            }
        });
        let crate_reads = median(|| {
            for &pid in &pids {
                black_box(with_procfs_crate(root, pid));
            }
        });
        let real = Path::new("/proc");
        let real_count = linux::list_pids(real).len() as u32;
        let real_scan = median(|| {
            black_box(discovery::scan(real, &[], &[], true));
        });
        let per = |d: Duration, n: u32| format!("{:.1}", d.as_secs_f64() * 1e6 / n as f64);
        println!("process collector, synthetic proc tree: {PROCESSES} processes, {SERVERS} servers, median of {ROUNDS} rounds\n");
        println!("| step | per scrape (µs) | per process (µs) |");
        println!("|---|---:|---:|");
        println!("| list PIDs ({PROCESSES}) | {} | {} |", per(list, 1), per(list, PROCESSES));
        println!(
            "| discovery: list, comm of each, ports of servers | {} | {} per listed |",
            per(scan, 1),
            per(scan, PROCESSES)
        );
        println!(
            "| floor: list + read each comm, nothing else | {} | {} per listed |",
            per(comm_floor, 1),
            per(comm_floor, PROCESSES)
        );
        println!(
            "| discovery on this machine's /proc ({real_count} processes) | {} | {} per listed |",
            per(real_scan, 1),
            per(real_scan, real_count.max(1))
        );
        println!(
            "| read + shape the {SERVERS} selected (llm-exporter) | {} | {} |",
            per(read_and_shape, 1),
            per(read_and_shape, SERVERS)
        );
        println!("| read only, llm-exporter readers | {} | {} |", per(read_only, 1), per(read_only, SERVERS));
        println!(
            "| raw-read floor: stat, status, io, limits, cgroup, fd count, unparsed | {} | {} |",
            per(floor, 1),
            per(floor, SERVERS)
        );
        println!("| procfs crate: the same files, parsed | {} | {} |", per(crate_reads, 1), per(crate_reads, SERVERS));
    }
}
