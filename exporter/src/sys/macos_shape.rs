//! Pure shaping of what the kernel gives on macOS into the shared process structs: the fields
//! of `kinfo_proc`, `proc_taskinfo`, `rusage_info_v6` and `socket_fdinfo` that the series use,
//! copied out by `macos.rs` as the kernel filled them, then turned into [`RawProcess`],
//! [`Stat`] and [`Listener`]. No system calls here, so all of it is unit-tested on any host.
//!
//! Units: the kernel reports CPU times in Mach absolute time units, converted here with the
//! timebase `macos_clock.rs` picks. A [`RawProcess`] from macOS holds microseconds in its
//! `*_ticks` fields and its start as microseconds since the epoch (exact in an `f64`, where
//! nanoseconds would not be), so it is shaped with 1e6 ticks per second and a boot time of 0.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use super::listener::Listener;
pub use super::macos_clock::Timebase;
use super::raw_process::RawProcess;

/// `SZOMB` of `kinfo_proc.kp_proc.p_stat` (`sys/proc.h`).
const SZOMB: u32 = 5;
/// `rusage_info_v6` is 464 bytes: a 16-byte UUID and 56 `u64`s (`sys/resource.h`).
pub const RUSAGE_INFO_V6: i32 = 6;
/// `SOCKINFO_TCP` of `socket_info.soi_kind` and `TSI_S_LISTEN` of `tcpsi_state` (`sys/proc_info.h`).
pub const SOCKINFO_TCP: i32 = 2;
pub const TSI_S_LISTEN: i32 = 1;
/// `insi_vflag` bits.
pub const INI_IPV4: u8 = 0x1;
pub const INI_IPV6: u8 = 0x2;

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

/// The fields of `kinfo_proc` (`sysctl` `KERN_PROC_PID`) the series use, as the kernel filled
/// them. The kernel answers it for every process, whoever owns it; `proc_pidinfo`'s
/// `PROC_PIDTBSDINFO`, which has the same facts, refuses another user's process (EPERM) unless
/// the caller is root (`proc_pidinfo_internal` in `bsd/kern/proc_info.c`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KinfoFacts {
    /// `kp_proc.p_stat`: `SIDL` … `SZOMB`.
    pub p_stat: i8,
    /// `kp_eproc.e_ppid`.
    pub e_ppid: i32,
    /// `kp_proc.p_comm`: the program name, cut to `MAXCOMLEN` bytes.
    pub p_comm: [u8; MAXCOMLEN + 1],
    /// `kp_proc.p_starttime`.
    pub start_tvsec: i64,
    pub start_tvusec: i32,
}

/// A process as the series and discovery see it, from [`proc_facts`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcFacts {
    pub state: char,
    pub ppid: u32,
    /// The program name, whole (see [`long_name`]).
    pub name: String,
    /// Microseconds since the epoch.
    pub start_micros: u64,
}

/// What `kinfo_proc` and, for a name that may be cut, the executable's path
/// (`proc_pidpath`, also answered for every process) say of a process.
pub fn proc_facts(k: &KinfoFacts, path: Option<&str>) -> ProcFacts {
    let seconds = u64::try_from(k.start_tvsec).unwrap_or(0);
    let micros = u64::try_from(k.start_tvusec).unwrap_or(0);
    ProcFacts {
        state: state_char(u32::from(k.p_stat.cast_unsigned())),
        ppid: u32::try_from(k.e_ppid).unwrap_or(0),
        name: long_name(&c_name(&k.p_comm), path),
        start_micros: seconds.saturating_mul(1_000_000).saturating_add(micros),
    }
}

/// The fields of `proc_taskinfo` (`PROC_PIDTASKINFO`) the series use; another user's process
/// refuses this call, and the usage record too (the same check), unless the exporter is root.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TaskFacts {
    pub pti_virtual_size: u64,
    pub pti_resident_size: u64,
    /// Mach absolute time units, live and exited threads together.
    pub pti_total_user: u64,
    pub pti_total_system: u64,
    pub pti_threadnum: i32,
    /// The kernel stops counting at `i32::MAX` (`MIN(…, INT32_MAX)` in `fill_taskprocinfo`):
    /// about 25 days of a process switching 1,000 times a second; the counter then stays flat.
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

/// `MAXCOMLEN`: the bytes of a name `p_comm` keeps.
pub const MAXCOMLEN: usize = 16;
/// The bytes of the long name (`p_name`, `2 × MAXCOMLEN`) that `proc_name` and `ps -c` show.
const LONG_NAME: usize = 2 * MAXCOMLEN;

/// A C string in a fixed buffer: up to the first NUL, lossy UTF-8.
pub fn c_name(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// True when `comm` may be a longer name cut to `MAXCOMLEN` bytes, and so is worth the
/// executable's path (`proc_pidpath`) to make whole; shorter names are whole already.
pub fn may_be_cut(comm: &str) -> bool {
    comm.is_empty() || comm.len() >= MAXCOMLEN
}

/// The program name: `comm`, or where `comm` is cut at `MAXCOMLEN` bytes, the name of the
/// executable (`path`'s last part, up to 32 bytes as the kernel's long name) that it begins.
/// An executable of another name (the process ran a link of another name) leaves `comm`.
pub fn long_name(comm: &str, path: Option<&str>) -> String {
    let Some(base) = path.and_then(|p| p.rsplit('/').next()).filter(|b| !b.is_empty()) else {
        return comm.to_string();
    };
    if !may_be_cut(comm) || !base.starts_with(comm) {
        return comm.to_string();
    }
    let mut end = base.len().min(LONG_NAME);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

/// `p_stat` as the state letter of Linux `stat` (`ps` prints the same letters).
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

pub fn stat(facts: &ProcFacts) -> Stat {
    Stat { state: facts.state, ppid: facts.ppid }
}

/// The number of descriptors `proc_pidinfo(PROC_PIDLISTFDS)` listed, from the bytes it
/// returned and `errno` (cleared before the call): libproc returns 0 both for an error and for
/// a process with no descriptors, which has 0 open, not an unknown number.
pub fn listed_fds(returned: i32, errno: i32, entry_size: usize) -> Option<usize> {
    match usize::try_from(returned) {
        Ok(0) if errno == 0 => Some(0),
        Ok(bytes) if bytes > 0 => Some(bytes / entry_size.max(1)),
        _ => None,
    }
}

/// Everything the series need, from what could be read: `task` and `rusage` are `None` when
/// the kernel refused them (another user's process), and `timebase` when the CPU times' unit
/// is unknown (`macos_clock.rs`); their series are then left out.
pub fn raw_process(
    pid: u32,
    facts: &ProcFacts,
    task: Option<&TaskFacts>,
    rusage: Option<&Rusage>,
    open_fds: Option<u64>,
    timebase: Option<Timebase>,
) -> RawProcess {
    let mut raw = RawProcess {
        pid,
        ppid: facts.ppid,
        comm: facts.name.clone(),
        start_ticks: facts.start_micros,
        open_fds,
        no_cpu: true,
        no_threads_or_virtual: true,
        ..RawProcess::default()
    };
    if let Some(task) = task {
        if let Some(timebase) = timebase {
            raw.utime_ticks = timebase.micros(task.pti_total_user);
            raw.stime_ticks = timebase.micros(task.pti_total_system);
            raw.no_cpu = false;
        }
        raw.threads = u64::try_from(task.pti_threadnum).unwrap_or(0);
        raw.virtual_bytes = task.pti_virtual_size;
        raw.no_threads_or_virtual = false;
        raw.resident_bytes = Some(task.pti_resident_size);
        raw.context_switches = u64::try_from(task.pti_csw).ok();
    }
    if let Some(r) = rusage {
        let i = &r.info;
        raw.read_bytes = Some(i.ri_diskio_bytesread);
        raw.written_bytes = Some(i.ri_diskio_byteswritten);
        raw.footprint_bytes = Some(i.ri_phys_footprint);
        raw.footprint_peak_bytes = Some(i.ri_lifetime_max_phys_footprint);
        if r.flavor >= RUSAGE_INFO_V6 {
            raw.cpu_energy_nanojoules = cpu_energy(i.ri_energy_nj);
            raw.neural_footprint_bytes = Some(i.ri_neural_footprint).filter(|&b| b > 0);
        }
    }
    raw
}

/// `ri_energy_nj` where the kernel counts it. It is the CPU's energy only (Recount's "CPU energy
/// in nanojoules", sampled from the power manager), counted only by kernels built with
/// `CONFIG_PERVASIVE_ENERGY`, which Apple Silicon's are and Intel Macs' are not: there, and in
/// a virtual machine that samples nothing, it stays 0, which is no measurement, so no series.
pub fn cpu_energy(ri_energy_nj: u64) -> Option<u64> {
    Some(ri_energy_nj).filter(|&nj| nj > 0)
}

/// A listening TCP socket, or `None` for any other socket.
pub fn listener(s: &SocketFacts) -> Option<Listener> {
    if s.soi_kind != SOCKINFO_TCP || s.tcpsi_state != TSI_S_LISTEN {
        return None;
    }
    // The low 16 bits hold the port as it sits in memory, in network order.
    let port = u16::from_be(s.insi_lport as u16);
    let fd = u64::try_from(s.fd).ok()?;
    // An IPv6 socket bound to `::` without IPV6_V6ONLY has both flags (`tcp6_usr_bind`), and
    // its address is the IPv6 one: it is the `[::]` socket Linux shows, which also takes IPv4.
    // A bind to an IPv4-mapped address clears INI_IPV6 and keeps the address in `laddr4`.
    // The descriptor number stands in for Linux's socket inode.
    let (ipv6, address) = if s.insi_vflag & INI_IPV6 != 0 {
        (true, IpAddr::V6(Ipv6Addr::from(s.laddr6)))
    } else if s.insi_vflag & INI_IPV4 != 0 {
        (false, IpAddr::V4(Ipv4Addr::from(s.laddr4)))
    } else {
        return None;
    };
    Some(Listener { ipv6, address, port, inode: fd })
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
#[path = "macos_shape_tests.rs"]
mod tests;
