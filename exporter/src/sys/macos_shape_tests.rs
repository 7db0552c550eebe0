//! Tests of `macos_shape.rs`, on structs filled as the kernel fills them: what a process of
//! the exporter's user and one of another user give, the names, usage records of each macOS
//! generation and architecture, and listening sockets of each address family.
use super::*;

/// Apple Silicon's timebase (125/3: one tick is 41.67 ns); Intel Macs have 1/1.
const M1: Timebase = Timebase { numer: 125, denom: 3 };
/// `EPERM`, what the kernel answers for another user's process to every call that checks the
/// caller's user (`proc_security_policy` in `bsd/kern/proc_info.c`).
const EPERM: i32 = 1;

fn comm(name: &str) -> [u8; MAXCOMLEN + 1] {
    let mut bytes = [0u8; MAXCOMLEN + 1];
    let n = name.len().min(MAXCOMLEN);
    bytes[..n].copy_from_slice(&name.as_bytes()[..n]);
    bytes
}

/// `kinfo_proc` of a llama-server running since 2025-12-01 00:00:00.25 UTC.
fn llama_kinfo() -> KinfoFacts {
    KinfoFacts {
        p_stat: 2,
        e_ppid: 512,
        p_comm: comm("llama-server"),
        start_tvsec: 1_764_547_200,
        start_tvusec: 250_000,
    }
}

fn llama_facts() -> ProcFacts {
    proc_facts(&llama_kinfo(), None)
}

/// A llama-server with a 4 GiB model in Metal buffers, as `ps -o rss,vsz,%cpu` and
/// `footprint` show such a process: RSS 4.4 GiB, footprint 4.6 GiB (Metal buffers count in
/// the footprint), 12 threads.
fn llama_task() -> TaskFacts {
    TaskFacts {
        pti_virtual_size: 443_000_000_000,
        pti_resident_size: 4_724_464_025,
        // 90 s user and 6 s system, in 41.67 ns ticks.
        pti_total_user: 2_160_000_000,
        pti_total_system: 144_000_000,
        pti_threadnum: 12,
        pti_csw: 1_234_567,
    }
}

fn llama_rusage(flavor: i32) -> Rusage {
    let info = RusageInfoV6 {
        ri_user_time: 2_160_000_000,
        ri_system_time: 144_000_000,
        ri_resident_size: 4_724_464_025,
        ri_phys_footprint: 4_939_212_390,
        ri_lifetime_max_phys_footprint: 5_100_000_000,
        ri_diskio_bytesread: 4_368_000_000,
        ri_diskio_byteswritten: 65_536,
        ri_energy_nj: 1_500_000_000_000,
        ri_neural_footprint: 0,
        ..RusageInfoV6::default()
    };
    Rusage { flavor, info }
}

#[test]
fn a_readable_process_on_apple_silicon() {
    let raw = raw_process(4242, &llama_facts(), Some(&llama_task()), Some(&llama_rusage(6)), Some(24), Some(M1));
    assert_eq!((raw.pid, raw.ppid, raw.comm.as_str()), (4242, 512, "llama-server"));
    assert_eq!((raw.utime_ticks, raw.stime_ticks), (90_000_000, 6_000_000));
    assert_eq!(raw.start_ticks, 1_764_547_200_250_000);
    assert_eq!((raw.threads, raw.virtual_bytes), (12, 443_000_000_000));
    assert_eq!(raw.resident_bytes, Some(4_724_464_025));
    assert_eq!((raw.read_bytes, raw.written_bytes), (Some(4_368_000_000), Some(65_536)));
    assert_eq!((raw.footprint_bytes, raw.footprint_peak_bytes), (Some(4_939_212_390), Some(5_100_000_000)));
    assert_eq!(raw.cpu_energy_nanojoules, Some(1_500_000_000_000));
    // No Neural Engine memory: no series, rather than a zero.
    assert_eq!(raw.neural_footprint_bytes, None);
    assert_eq!(raw.context_switches, Some(1_234_567));
    assert_eq!((raw.swap_bytes, raw.max_fds, raw.open_fds), (None, None, Some(24)));
    assert!(!raw.no_cpu && !raw.no_threads_or_virtual);
}

/// Ollama run as a LaunchDaemon (user `_ollama`) while the exporter runs as you: the kernel
/// refuses `PROC_PIDTBSDINFO`, `PROC_PIDTASKINFO`, `proc_pid_rusage` and `PROC_PIDLISTFDS` with
/// EPERM, and answers `sysctl(KERN_PROC_PID)` and `proc_pidpath`.
#[test]
fn another_users_process_is_found_named_and_gets_what_the_kernel_allows() {
    let kinfo = KinfoFacts { p_stat: 3, e_ppid: 1, p_comm: comm("ollama"), ..llama_kinfo() };
    let facts = proc_facts(&kinfo, Some("/Applications/Ollama.app/Contents/Resources/ollama"));
    assert_eq!(stat(&facts), Stat { state: 'S', ppid: 1 });
    assert_eq!(facts.name, "ollama");
    let raw = raw_process(88, &facts, None, None, listed_fds(0, EPERM, 8).map(|n| n as u64), Some(M1));
    assert!(raw.no_cpu && raw.no_threads_or_virtual);
    assert_eq!((raw.resident_bytes, raw.read_bytes, raw.open_fds, raw.cpu_energy_nanojoules), (None, None, None, None));
    assert_eq!(raw.start_ticks, 1_764_547_200_250_000);
    // The series this gives (exactly llm_process_info and the start time) are checked where
    // they are shaped: `collectors/process/macos_tests.rs`.
}

#[test]
fn older_macos_intel_macs_and_unknown_clocks_yield_what_can_be_read() {
    // macOS 12 answers RUSAGE_INFO_V4 only: no energy, no Neural Engine.
    let raw = raw_process(1, &llama_facts(), Some(&llama_task()), Some(&llama_rusage(4)), None, Some(M1));
    assert_eq!((raw.cpu_energy_nanojoules, raw.footprint_bytes), (None, Some(4_939_212_390)));
    // An Intel Mac (x86_64): V6, but its kernel counts no energy (no CONFIG_PERVASIVE_ENERGY),
    // so ri_energy_nj is 0, which is no measurement.
    let mut intel = llama_rusage(6);
    intel.info.ri_energy_nj = 0;
    let raw =
        raw_process(2, &llama_facts(), Some(&llama_task()), Some(&intel), None, Some(Timebase { numer: 1, denom: 1 }));
    assert_eq!(raw.cpu_energy_nanojoules, None);
    // Task info refused, usage record allowed can't happen (one check guards both); a usage
    // record alone (a race with exit) gives no CPU, threads or resident memory.
    let raw = raw_process(3, &llama_facts(), None, Some(&llama_rusage(6)), None, Some(M1));
    assert!(raw.no_threads_or_virtual && raw.no_cpu);
    assert_eq!((raw.resident_bytes, raw.footprint_bytes), (None, Some(4_939_212_390)));
    let mut neural = llama_rusage(6);
    neural.info.ri_neural_footprint = 268_435_456;
    let raw = raw_process(4, &llama_facts(), None, Some(&neural), None, Some(M1));
    assert_eq!(raw.neural_footprint_bytes, Some(268_435_456));
    // Under Rosetta without hw.tbfrequency: no CPU times, the rest as usual.
    let raw = raw_process(5, &llama_facts(), Some(&llama_task()), None, None, None);
    assert!(raw.no_cpu && !raw.no_threads_or_virtual);
    assert_eq!(raw.threads, 12);
}

#[test]
fn rosetta_cpu_seconds_come_from_the_hardware_clock() {
    // The Intel build under Rosetta: mach_timebase_info says 1/1, the ticks are 24 MHz.
    let one = Timebase { numer: 1, denom: 1 };
    let timebase = super::super::macos_clock::cpu_timebase(one, true, Some(24_000_000));
    let raw = raw_process(6, &llama_facts(), Some(&llama_task()), None, None, timebase);
    assert_eq!((raw.utime_ticks, raw.stime_ticks), (90_000_000, 6_000_000));
}

#[test]
fn names_states_and_descriptor_counts() {
    assert_eq!(c_name(b"llama-server\0\0\0\0"), "llama-server");
    assert_eq!(c_name(b"no-nul-at-all"), "no-nul-at-all");
    assert_eq!(c_name(b"\xffbad\0"), "\u{fffd}bad");
    assert_eq!(state_char(3), 'S');
    assert_eq!(state_char(99), '?');
    let zombie = proc_facts(&KinfoFacts { p_stat: 5, e_ppid: 1, ..KinfoFacts::default() }, None);
    assert_eq!(stat(&zombie), Stat { state: 'Z', ppid: 1 });
    let odd =
        proc_facts(&KinfoFacts { p_stat: -1, e_ppid: -1, start_tvsec: -5, start_tvusec: -1, ..llama_kinfo() }, None);
    assert_eq!((odd.state, odd.ppid, odd.start_micros), ('?', 0, 0));
    // p_comm keeps 16 bytes; the path's last part makes a name whole where it begins it.
    let long = KinfoFacts { p_comm: comm("com.docker.backend"), ..llama_kinfo() };
    assert_eq!(c_name(&long.p_comm), "com.docker.backe");
    assert!(may_be_cut("com.docker.backe") && !may_be_cut("ollama") && may_be_cut(""));
    let path = "/Applications/Docker.app/Contents/MacOS/com.docker.backend";
    assert_eq!(proc_facts(&long, Some(path)).name, "com.docker.backend");
    assert_eq!(proc_facts(&long, None).name, "com.docker.backe");
    // A link of another name, a short name, no path part: comm as it is.
    assert_eq!(long_name("com.docker.backe", Some("/usr/local/bin/other-program-name")), "com.docker.backe");
    assert_eq!(long_name("ollama", Some("/opt/homebrew/bin/ollama-0.5")), "ollama");
    assert_eq!(long_name("abcdefghijklmnop", Some("/x/")), "abcdefghijklmnop");
    assert_eq!(long_name("", Some("/opt/homebrew/bin/llama-server")), "llama-server");
    // The long name is 32 bytes at most, cut on a character boundary.
    let name = format!("abcdefghijklmnop{}", "é".repeat(20));
    assert_eq!(long_name("abcdefghijklmnop", Some(&name)), format!("abcdefghijklmnop{}", "é".repeat(8)));
    // No descriptors is 0 open; a refusal is unknown.
    assert_eq!(listed_fds(0, 0, 8), Some(0));
    assert_eq!(listed_fds(0, EPERM, 8), None);
    assert_eq!(listed_fds(24 * 8, 0, 8), Some(24));
    assert_eq!(listed_fds(-1, 0, 8), None);
}

fn tcp(fd: i32, port: u16, vflag: u8) -> SocketFacts {
    SocketFacts {
        fd,
        soi_kind: SOCKINFO_TCP,
        tcpsi_state: TSI_S_LISTEN,
        insi_lport: i32::from(port.to_be()),
        insi_vflag: vflag,
        ..SocketFacts::default()
    }
}

#[test]
fn listening_sockets() {
    // llama-server --host 127.0.0.1 --port 8080
    let v4 = SocketFacts { laddr4: [127, 0, 0, 1], ..tcp(5, 8080, INI_IPV4) };
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(listener(&v4), Some(Listener { ipv6: false, address: localhost, port: 8080, inode: 5 }));
    // ollama on [::]:11434 (the wildcard of IPv6)
    let any6 = tcp(7, 11434, INI_IPV6);
    let any = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    assert_eq!(listener(&any6), Some(Listener { ipv6: true, address: any, port: 11434, inode: 7 }));
    // A [::] bind without IPV6_V6ONLY, the default: both flags, and still the IPv6 wildcard.
    let dual = listener(&tcp(7, 11434, INI_IPV4 | INI_IPV6));
    assert_eq!(dual, Some(Listener { ipv6: true, address: any, port: 11434, inode: 7 }));
    // That a server configured at [::1] or 127.0.0.1 is then this process is checked in
    // `collectors/process/macos_tests.rs`, above discovery.
    // A bind to ::ffff:127.0.0.1 clears INI_IPV6 and keeps the IPv4 address.
    let mapped = SocketFacts { laddr4: [127, 0, 0, 1], ..tcp(6, 8080, INI_IPV4) };
    assert_eq!(listener(&mapped).map(|l| (l.ipv6, l.address)), Some((false, localhost)));
    let lan = SocketFacts { laddr4: [192, 168, 1, 20], ..tcp(8, 1234, INI_IPV4) };
    assert_eq!(listener(&lan).map(|l| l.reaches_loopback()), Some(false));
    let mut loop6 = [0u8; 16];
    loop6[15] = 1;
    assert!(listener(&SocketFacts { laddr6: loop6, ..tcp(9, 1, INI_IPV6) }).is_some_and(|l| l.reaches_loopback()));
    let mut lan6 = [0u8; 16];
    lan6[0] = 0xfe;
    lan6[1] = 0x80;
    assert!(listener(&SocketFacts { laddr6: lan6, ..tcp(9, 1, INI_IPV6) }).is_some_and(|l| !l.reaches_loopback()));
    // Not listening, not TCP, no address family, a negative descriptor: not a listener.
    assert_eq!(listener(&SocketFacts { tcpsi_state: 4, ..v4 }), None);
    assert_eq!(listener(&SocketFacts { soi_kind: 1, ..v4 }), None);
    assert_eq!(listener(&SocketFacts { insi_vflag: 0, ..v4 }), None);
    assert_eq!(listener(&SocketFacts { fd: -1, ..v4 }), None);
}

#[test]
fn procargs2_buffers() {
    let mut buf = 3i32.to_ne_bytes().to_vec();
    buf.extend_from_slice(b"/opt/homebrew/bin/python3.12\0\0\0\0python3\0-m\0mlx_lm.server\0HOME=/Users/x\0");
    assert_eq!(parse_procargs2(&buf), ["python3", "-m", "mlx_lm.server"]);
    assert_eq!(parse_procargs2(&[]), Vec::<String>::new());
    assert_eq!(parse_procargs2(&[1, 0, 0]), Vec::<String>::new());
    let mut no_args = 0i32.to_ne_bytes().to_vec();
    no_args.extend_from_slice(b"/bin/x\0\0arg\0");
    assert_eq!(parse_procargs2(&no_args), Vec::<String>::new());
    let mut negative = (-1i32).to_ne_bytes().to_vec();
    negative.extend_from_slice(b"/bin/x\0a\0");
    assert_eq!(parse_procargs2(&negative), Vec::<String>::new());
    let mut unterminated = 1i32.to_ne_bytes().to_vec();
    unterminated.extend_from_slice(b"/bin/x");
    assert_eq!(parse_procargs2(&unterminated), Vec::<String>::new());
}
