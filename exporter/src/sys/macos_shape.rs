//! Pure shaping of what libproc gives on macOS into the shared process structs: the fields of
//! `proc_bsdinfo`, `proc_taskinfo`, `rusage_info_v6` and `socket_fdinfo` that the series use,
//! copied out by `macos.rs` as the kernel filled them, then turned into [`RawProcess`],
//! [`Stat`] and [`Listener`]. No system calls here, so all of it is unit-tested on any host.
//!
//! Units: the kernel reports CPU times in Mach absolute time units (nanoseconds on Intel,
//! 1/24 µs ticks on Apple Silicon), converted here with the machine's timebase. A
//! [`RawProcess`] from macOS holds microseconds in its `*_ticks` fields and its start as
//! microseconds since the epoch (exact in an `f64`, where nanoseconds would not be), so it is
//! shaped with 1e6 ticks per second and a boot time of 0.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use super::listener::Listener;
use super::raw_process::RawProcess;

/// `SZOMB` of `proc_bsdinfo.pbi_status` (`sys/proc.h`).
const SZOMB: u32 = 5;
/// `rusage_info_v6` is 464 bytes: a 16-byte UUID and 56 `u64`s (`sys/resource.h`).
pub const RUSAGE_INFO_V6: i32 = 6;
/// `SOCKINFO_TCP` of `socket_info.soi_kind` and `TSI_S_LISTEN` of `tcpsi_state` (`sys/proc_info.h`).
const SOCKINFO_TCP: i32 = 2;
const TSI_S_LISTEN: i32 = 1;
/// `insi_vflag` bits.
const INI_IPV4: u8 = 0x1;
const INI_IPV6: u8 = 0x2;

/// `struct rusage_info_v6` of `sys/resource.h` (macOS 13 and later), field for field, as
/// `proc_pid_rusage(pid, RUSAGE_INFO_V6, …)` fills it. Times are Mach absolute time units.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RusageInfoV6 {
    pub ri_uuid: [u8; 16],
    pub ri_user_time: u64,
    pub ri_system_time: u64,
    pub ri_pkg_idle_wkups: u64,
    pub ri_interrupt_wkups: u64,
    pub ri_pageins: u64,
    pub ri_wired_size: u64,
    pub ri_resident_size: u64,
    pub ri_phys_footprint: u64,
    pub ri_proc_start_abstime: u64,
    pub ri_proc_exit_abstime: u64,
    pub ri_child_user_time: u64,
    pub ri_child_system_time: u64,
    pub ri_child_pkg_idle_wkups: u64,
    pub ri_child_interrupt_wkups: u64,
    pub ri_child_pageins: u64,
    pub ri_child_elapsed_abstime: u64,
    pub ri_diskio_bytesread: u64,
    pub ri_diskio_byteswritten: u64,
    pub ri_cpu_time_qos: [u64; 7],
    pub ri_billed_system_time: u64,
    pub ri_serviced_system_time: u64,
    pub ri_logical_writes: u64,
    pub ri_lifetime_max_phys_footprint: u64,
    pub ri_instructions: u64,
    pub ri_cycles: u64,
    pub ri_billed_energy: u64,
    pub ri_serviced_energy: u64,
    pub ri_interval_max_phys_footprint: u64,
    pub ri_runnable_time: u64,
    pub ri_flags: u64,
    pub ri_user_ptime: u64,
    pub ri_system_ptime: u64,
    pub ri_pinstructions: u64,
    pub ri_pcycles: u64,
    pub ri_energy_nj: u64,
    pub ri_penergy_nj: u64,
    pub ri_secure_time_in_system: u64,
    pub ri_secure_ptime_in_system: u64,
    pub ri_neural_footprint: u64,
    pub ri_lifetime_max_neural_footprint: u64,
    pub ri_interval_max_neural_footprint: u64,
    pub ri_reserved: [u64; 9],
}

const _: () = assert!(std::mem::size_of::<RusageInfoV6>() == 464);

/// The usage record and the flavor the kernel filled it as: 6 on macOS 13 and later, 4 before
/// (then the fields v5 and v6 added are zero and are not reported).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rusage {
    pub flavor: i32,
    pub info: RusageInfoV6,
}

/// The Mach timebase (`mach_timebase_info`): nanoseconds = ticks × numer ÷ denom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timebase {
    pub numer: u32,
    pub denom: u32,
}

impl Timebase {
    /// Mach absolute time units as microseconds.
    pub fn micros(self, ticks: u64) -> u64 {
        let (numer, denom) = if self.denom == 0 { (1, 1) } else { (self.numer, self.denom) };
        let micros = u128::from(ticks) * u128::from(numer) / (u128::from(denom) * 1000);
        u64::try_from(micros).unwrap_or(u64::MAX)
    }
}

/// The fields of `proc_bsdinfo` (`PROC_PIDTBSDINFO`) the series use; readable for any process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BsdFacts {
    pub pbi_status: u32,
    pub pbi_ppid: u32,
    /// `pbi_name` (up to 32 bytes) when set, else `pbi_comm` (16), as `proc_name` and `ps -c` do.
    pub name: String,
    pub pbi_start_tvsec: u64,
    pub pbi_start_tvusec: u64,
}

/// The fields of `proc_taskinfo` (`PROC_PIDTASKINFO`) the series use; another user's process
/// refuses this call unless the exporter runs as root.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TaskFacts {
    pub pti_virtual_size: u64,
    pub pti_resident_size: u64,
    /// Mach absolute time units, live and exited threads together.
    pub pti_total_user: u64,
    pub pti_total_system: u64,
    pub pti_threadnum: i32,
    pub pti_csw: i32,
}

/// State and parent of a process, the part of `/proc/PID/stat` discovery needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: u32,
}

/// The fields of `socket_fdinfo` (`PROC_PIDFDSOCKETINFO`) that tell a listening TCP socket.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SocketFacts {
    pub fd: i32,
    /// `psi.soi_kind`.
    pub soi_kind: i32,
    /// `pri_tcp.tcpsi_state`.
    pub tcpsi_state: i32,
    /// `tcpsi_ini.insi_lport`: the port in network byte order, in an `int`.
    pub insi_lport: i32,
    /// `tcpsi_ini.insi_vflag`.
    pub insi_vflag: u8,
    /// `insi_laddr.ina_46.i46a_addr4` in network byte order (IPv4 sockets).
    pub laddr4: [u8; 4],
    /// `insi_laddr.ina_6` (IPv6 sockets).
    pub laddr6: [u8; 16],
}

/// A C string in a fixed buffer: up to the first NUL, lossy UTF-8.
pub fn c_name(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `pbi_status` as the state letter of Linux `stat` (`ps` prints the same letters).
pub fn state_char(status: u32) -> char {
    match status {
        1 => 'I',
        2 => 'R',
        3 => 'S',
        4 => 'T',
        SZOMB => 'Z',
        _ => '?',
    }
}

pub fn stat(bsd: &BsdFacts) -> Stat {
    Stat { state: state_char(bsd.pbi_status), ppid: bsd.pbi_ppid }
}

/// Everything the series need, from what could be read: `task` and `rusage` are `None` when
/// the kernel refused them (another user's process), and their series are then left out.
pub fn raw_process(
    pid: u32,
    bsd: &BsdFacts,
    task: Option<&TaskFacts>,
    rusage: Option<&Rusage>,
    open_fds: Option<u64>,
    timebase: Timebase,
) -> RawProcess {
    let start_micros = bsd.pbi_start_tvsec.saturating_mul(1_000_000).saturating_add(bsd.pbi_start_tvusec);
    let mut raw = RawProcess {
        pid,
        ppid: bsd.pbi_ppid,
        comm: bsd.name.clone(),
        start_ticks: start_micros,
        open_fds,
        ..RawProcess::default()
    };
    match (task, rusage) {
        (Some(task), _) => {
            raw.utime_ticks = timebase.micros(task.pti_total_user);
            raw.stime_ticks = timebase.micros(task.pti_total_system);
            raw.threads = u64::try_from(task.pti_threadnum).unwrap_or(0);
            raw.virtual_bytes = task.pti_virtual_size;
            raw.resident_bytes = Some(task.pti_resident_size);
            raw.context_switches = u64::try_from(task.pti_csw).ok();
        }
        (None, Some(r)) => {
            // CPU and resident memory from the usage record; threads and virtual size are not in it.
            raw.utime_ticks = timebase.micros(r.info.ri_user_time);
            raw.stime_ticks = timebase.micros(r.info.ri_system_time);
            raw.resident_bytes = Some(r.info.ri_resident_size);
            raw.no_threads_or_virtual = true;
        }
        (None, None) => (raw.no_cpu, raw.no_threads_or_virtual) = (true, true),
    }
    if let Some(r) = rusage {
        let i = &r.info;
        raw.read_bytes = Some(i.ri_diskio_bytesread);
        raw.written_bytes = Some(i.ri_diskio_byteswritten);
        raw.footprint_bytes = Some(i.ri_phys_footprint);
        raw.footprint_peak_bytes = Some(i.ri_lifetime_max_phys_footprint);
        if r.flavor >= RUSAGE_INFO_V6 {
            raw.energy_nanojoules = Some(i.ri_energy_nj);
            raw.neural_footprint_bytes = Some(i.ri_neural_footprint).filter(|&b| b > 0);
        }
    }
    raw
}

/// A listening TCP socket, or `None` for any other socket.
pub fn listener(s: &SocketFacts) -> Option<Listener> {
    if s.soi_kind != SOCKINFO_TCP || s.tcpsi_state != TSI_S_LISTEN {
        return None;
    }
    // The low 16 bits hold the port as it sits in memory, in network order.
    let port = u16::from_be(s.insi_lport as u16);
    let fd = u64::try_from(s.fd).ok()?;
    let v4 = s.insi_vflag & INI_IPV4 != 0;
    let v6 = s.insi_vflag & INI_IPV6 != 0;
    // The descriptor number stands in for Linux's socket inode.
    let address = if v4 {
        IpAddr::V4(Ipv4Addr::from(s.laddr4))
    } else if v6 {
        IpAddr::V6(Ipv6Addr::from(s.laddr6))
    } else {
        return None;
    };
    Some(Listener { ipv6: v6 && !v4, address, port, inode: fd })
}

/// Bytes of `KERN_PROCARGS2` looked at, at most: enough for the interpreter and what it runs.
pub const CMDLINE_CAP: usize = 4096;

/// The arguments in a `KERN_PROCARGS2` buffer: `argc` (a native-endian `int`), the executable
/// path, NUL padding, then `argc` NUL-terminated arguments (then the environment, never read).
pub fn parse_procargs2(bytes: &[u8]) -> Vec<String> {
    let Some(argc) = bytes.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(i32::from_ne_bytes) else {
        return Vec::new();
    };
    let argc = usize::try_from(argc).unwrap_or(0);
    let bytes = &bytes[4..bytes.len().min(CMDLINE_CAP)];
    let Some(path_end) = bytes.iter().position(|&b| b == 0) else { return Vec::new() };
    let Some(args_start) = bytes[path_end..].iter().position(|&b| b != 0).map(|p| path_end + p) else {
        return Vec::new();
    };
    bytes[args_start..]
        .split(|&b| b == 0)
        .take(argc)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Apple Silicon's timebase (125/3: one tick is 41.67 ns); Intel Macs have 1/1.
    const M1: Timebase = Timebase { numer: 125, denom: 3 };

    fn llama_bsd() -> BsdFacts {
        BsdFacts {
            pbi_status: 2,
            pbi_ppid: 512,
            name: "llama-server".into(),
            pbi_start_tvsec: 1_764_547_200,
            pbi_start_tvusec: 250_000,
        }
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
        let raw = raw_process(4242, &llama_bsd(), Some(&llama_task()), Some(&llama_rusage(6)), Some(24), M1);
        assert_eq!((raw.pid, raw.ppid, raw.comm.as_str()), (4242, 512, "llama-server"));
        assert_eq!((raw.utime_ticks, raw.stime_ticks), (90_000_000, 6_000_000));
        assert_eq!(raw.start_ticks, 1_764_547_200_250_000);
        assert_eq!((raw.threads, raw.virtual_bytes), (12, 443_000_000_000));
        assert_eq!(raw.resident_bytes, Some(4_724_464_025));
        assert_eq!((raw.read_bytes, raw.written_bytes), (Some(4_368_000_000), Some(65_536)));
        assert_eq!((raw.footprint_bytes, raw.footprint_peak_bytes), (Some(4_939_212_390), Some(5_100_000_000)));
        assert_eq!(raw.energy_nanojoules, Some(1_500_000_000_000));
        // No Neural Engine memory: no series, rather than a zero.
        assert_eq!(raw.neural_footprint_bytes, None);
        assert_eq!(raw.context_switches, Some(1_234_567));
        assert_eq!((raw.swap_bytes, raw.max_fds, raw.open_fds), (None, None, Some(24)));
        assert!(!raw.no_cpu && !raw.no_threads_or_virtual);
    }

    #[test]
    fn older_macos_and_other_users_processes_yield_what_can_be_read() {
        // macOS 12 answers RUSAGE_INFO_V4 only: no energy, no Neural Engine.
        let raw = raw_process(1, &llama_bsd(), Some(&llama_task()), Some(&llama_rusage(4)), None, M1);
        assert_eq!((raw.energy_nanojoules, raw.footprint_bytes), (None, Some(4_939_212_390)));
        // Another user's process: only the BSD facts (name, parent, start).
        let raw = raw_process(2, &llama_bsd(), None, None, None, M1);
        assert!(raw.no_cpu && raw.no_threads_or_virtual);
        assert_eq!((raw.resident_bytes, raw.read_bytes, raw.open_fds), (None, None, None));
        assert_eq!(raw.start_ticks, 1_764_547_200_250_000);
        // Task info refused, usage record allowed: CPU and resident memory from the latter.
        let raw = raw_process(3, &llama_bsd(), None, Some(&llama_rusage(6)), None, Timebase { numer: 1, denom: 1 });
        assert!(raw.no_threads_or_virtual && !raw.no_cpu);
        assert_eq!((raw.utime_ticks, raw.resident_bytes), (2_160_000, Some(4_724_464_025)));
        let mut neural = llama_rusage(6);
        neural.info.ri_neural_footprint = 268_435_456;
        let raw = raw_process(4, &llama_bsd(), None, Some(&neural), None, M1);
        assert_eq!(raw.neural_footprint_bytes, Some(268_435_456));
    }

    #[test]
    fn timebase_and_names() {
        assert_eq!(Timebase { numer: 1, denom: 1 }.micros(5_000), 5);
        assert_eq!(M1.micros(24_000), 1_000);
        assert_eq!(Timebase { numer: 1, denom: 0 }.micros(7_000), 7);
        assert_eq!(Timebase { numer: u32::MAX, denom: 1 }.micros(u64::MAX), u64::MAX);
        assert_eq!(c_name(b"llama-server\0\0\0\0"), "llama-server");
        assert_eq!(c_name(b"no-nul-at-all"), "no-nul-at-all");
        assert_eq!(c_name(b"\xffbad\0"), "\u{fffd}bad");
        assert_eq!(stat(&BsdFacts { pbi_status: 5, pbi_ppid: 1, ..BsdFacts::default() }), Stat { state: 'Z', ppid: 1 });
        assert_eq!(state_char(3), 'S');
        assert_eq!(state_char(99), '?');
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
}
