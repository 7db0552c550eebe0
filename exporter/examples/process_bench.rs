//! What the process collector costs on a proc tree of 1,000 processes of which 20 are LLM
//! servers: listing and discovery touch every PID once, reading touches only the 20. Prints a
//! table comparing our readers (bounded reads, parsed by `procfs-core`) with the raw-read floor
//! (the same files read into memory, unparsed), with the `procfs` crate opening and reading the
//! same facts itself, and with the hand-written parsers the readers used before `procfs-core`
//! (kept here only as a peer), all in the same run. The files are complete, as a kernel writes
//! them: the crate's parsers reject a `status` or `limits` that lacks a line.
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

    /// `/proc/stat` of the fixture tree (`tests/fixtures/proc/make-basic.py`).
    const PROC_STAT: &str = include_str!("../tests/fixtures/proc/basic/stat");

    /// A 6.x kernel's `status`, every line.
    const STATUS: &str = "Name:\t{comm}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t1\nTracerPid:\t0\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nGroups:\t1000 \nNStgid:\t{pid}\nNSpid:\t{pid}\nNSpgid:\t{pid}\nNSsid:\t{pid}\nKthread:\t0\nVmPeak:\t 9000000 kB\nVmSize:\t 8000000 kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t 2048000 kB\nVmRSS:\t 2048000 kB\nRssAnon:\t 2000000 kB\nRssFile:\t   48000 kB\nRssShmem:\t       0 kB\nVmData:\t 2000000 kB\nVmStk:\t     132 kB\nVmExe:\t    2048 kB\nVmLib:\t   10240 kB\nVmPTE:\t     512 kB\nVmSwap:\t       0 kB\nHugetlbPages:\t       0 kB\nCoreDumping:\t0\nTHP_enabled:\t1\nuntag_mask:\t0xffffffffffffffff\nThreads:\t9\nSigQ:\t0/96370\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001000\nSigCgt:\t0000000180004002\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\nSpeculation_Store_Bypass:\tthread vulnerable\nSpeculationIndirectBranch:\tconditional enabled\nCpus_allowed:\tffff\nCpus_allowed_list:\t0-15\nMems_allowed:\t00000000,00000001\nMems_allowed_list:\t0\nvoluntary_ctxt_switches:\t5000\nnonvoluntary_ctxt_switches:\t120\n";

    /// A 6.x kernel's `limits`, the fixture tree's.
    const LIMITS: &str = include_str!("../tests/fixtures/proc/basic/400/limits");

    /// Writes a synthetic tree: PIDs 1000.., every 50th a llama-server listening on loopback.
    fn make_tree(root: &Path) -> std::io::Result<()> {
        fs::write(root.join("stat"), PROC_STAT)?;
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
            fs::write(dir.join("status"), STATUS.replace("{comm}", comm).replace("{pid}", &pid.to_string()))?;
            fs::write(
                dir.join("io"),
                "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
            )?;
            fs::write(dir.join("limits"), LIMITS)?;
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

    /// The parsers the readers used before `procfs-core`: a key lookup per field, no more.
    fn hand_written(root: &Path, pid: u32) -> u64 {
        let dir = root.join(pid.to_string());
        let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap_or_default();
        let field = |text: &str, key: &str| -> u64 {
            let value = text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next());
            value.and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        let stat = read("stat");
        let rest: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
        let stat_sum: u64 = [11, 12, 20].iter().filter_map(|&i| rest.get(i)?.parse::<u64>().ok()).sum();
        let status = read("status");
        let io = read("io");
        let limits = read("limits");
        let cgroups = read("cgroup").lines().filter_map(|l| l.splitn(3, ':').nth(2)).count() as u64;
        let fds = fs::read_dir(dir.join("fd")).map_or(0, |d| d.count() as u64);
        stat_sum
            + field(&status, "VmRSS:")
            + field(&status, "voluntary_ctxt_switches:")
            + field(&io, "read_bytes:")
            + field(&limits, "Max open files")
            + cgroups
            + fds
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
        // Every reader must parse every file, or the table times failures.
        let ours = pids.first().and_then(|&pid| linux::read_process(root, pid));
        let complete =
            ours.is_some_and(|p| p.resident_bytes.is_some() && p.read_bytes.is_some() && p.max_fds.is_some());
        let by_crate = procfs::process::Process::new_with_root(root.join(pids[0].to_string()));
        let crate_complete = by_crate.is_ok_and(|p| p.status().is_ok() && p.limits().is_ok() && p.io().is_ok());
        if !complete || !crate_complete || linux::boot_time(root).is_none() {
            return eprintln!("a reader failed on the synthetic tree (ours: {complete}, crate: {crate_complete})");
        }

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
        let before = median(|| {
            for &pid in &pids {
                black_box(hand_written(root, pid));
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
        println!("| hand-written parsers (before procfs-core) | {} | {} |", per(before, 1), per(before, SERVERS));
    }
}
