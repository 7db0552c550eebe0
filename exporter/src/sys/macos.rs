//! Reads process facts on macOS through `sysctl` (`KERN_PROC_PID`, `KERN_PROCARGS2`,
//! `sysctlbyname`) and libproc (`proc_listallpids`, `proc_pidinfo`, `proc_pidfdinfo`,
//! `proc_pid_rusage`, `proc_pidpath`), with the same functions as `linux.rs` (see `sys.rs`).
//! Each call copies the fields the series use into the plain structs of `macos_shape.rs` and
//! `macos_clock.rs`, which decide the rest.
//!
//! Nothing here needs root. The kernel answers `KERN_PROC_PID` (name, parent, state, start)
//! and `proc_pidpath` for every process; task info, usage, descriptors, sockets and the
//! command line of another user's process are refused unless the exporter is root, and then
//! just those series are left out. A process that exits between listing and reading is
//! skipped. The `root` arguments are the proc root of Linux and are not used here.
use std::collections::HashMap;
use std::ffi::CStr;
use std::path::Path;

use libproc::libproc::file_info::{pidfdinfo, ProcFDType};
use libproc::libproc::kinfo::{Eproc, ExternProc, KinfoProc};
use libproc::libproc::net_info::{SocketFDInfo, SocketInfoKind};
use libproc::libproc::proc_pid::{kproc_info_raw, pidinfo, pidpath};
use libproc::libproc::task_info::TaskInfo;
use libproc::processes::{pids_by_type, ProcFilter};

use super::macos_clock::{self, Timebase};
use super::macos_shape::{self, KinfoFacts, Listener, ProcFacts, Rusage, RusageInfoV6, SocketFacts, Stat, TaskFacts};
use super::raw_process::RawProcess;

/// `RUSAGE_INFO_V4`, asked for when the kernel predates V6 (macOS 12 and older).
const RUSAGE_INFO_V4: i32 = 4;
/// Descriptors listed per process at most.
const MAX_FDS: usize = 65_536;

// libproc's mirror of `struct kinfo_proc` (`sys/sysctl.h`, `sys/proc.h`) must have the C
// layout of 64-bit macOS, 648 bytes, or `sysctl` fills other fields than the ones read: these
// sizes and offsets are those the C compiler gives on a Mac (as in Go's generated
// `ztypes_darwin_arm64.go`, `SizeofKinfoProc = 0x288`).
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<KinfoProc>() == 648);
    assert!(offset_of!(KinfoProc, kp_eproc) == 296);
    assert!(offset_of!(ExternProc, p_stat) == 36);
    assert!(offset_of!(ExternProc, p_comm) == 243);
    assert!(offset_of!(Eproc, e_ppid) == 264);
};

/// Every PID, ascending.
pub fn list_pids(_root: &Path) -> Vec<u32> {
    let mut pids = pids_by_type(ProcFilter::All).unwrap_or_default();
    pids.retain(|&p| p > 0);
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Name, parent, state and start of any process (`kinfo_proc`), and for a name `p_comm` may
/// have cut, the executable's path to make it whole.
fn proc_facts(pid: u32) -> Option<ProcFacts> {
    let id = i32::try_from(pid).ok()?;
    let k = kproc_info_raw(id).ok()?;
    let facts = KinfoFacts {
        p_stat: k.kp_proc.p_stat,
        e_ppid: k.kp_eproc.e_ppid,
        p_comm: k.kp_proc.p_comm.map(|c| c.cast_unsigned()),
        start_tvsec: k.kp_proc.p_un.tv_sec,
        start_tvusec: k.kp_proc.p_un.tv_usec,
    };
    let path = macos_shape::may_be_cut(&macos_shape::c_name(&facts.p_comm)).then(|| pidpath(id).ok()).flatten();
    Some(macos_shape::proc_facts(&facts, path.as_deref()))
}

fn task_facts(pid: i32) -> Option<TaskFacts> {
    let t = pidinfo::<TaskInfo>(pid, 0).ok()?;
    Some(TaskFacts {
        pti_virtual_size: t.pti_virtual_size,
        pti_resident_size: t.pti_resident_size,
        pti_total_user: t.pti_total_user,
        pti_total_system: t.pti_total_system,
        pti_threadnum: t.pti_threadnum,
        pti_csw: t.pti_csw,
    })
}

/// The usage record, as V6 or (older kernels) V4, whose layout V6 extends.
fn rusage(pid: i32) -> Option<Rusage> {
    for flavor in [macos_shape::RUSAGE_INFO_V6, RUSAGE_INFO_V4] {
        let mut info = RusageInfoV6::default();
        // SAFETY: `info` is a plain `repr(C)` record at least as large as the flavor asked
        // for (V6 is the largest), and it outlives the call.
        let rc = unsafe {
            libc::proc_pid_rusage(pid, flavor, (&mut info as *mut RusageInfoV6).cast::<libc::rusage_info_t>())
        };
        if rc == 0 {
            return Some(Rusage { flavor, info });
        }
    }
    None
}

/// `mach_timebase_info_data_t` of `mach/mach_time.h`.
#[repr(C)]
struct MachTimebaseInfo {
    numer: u32,
    denom: u32,
}

extern "C" {
    /// In libSystem, like the libproc calls.
    fn mach_timebase_info(info: *mut MachTimebaseInfo) -> libc::c_int;
}

/// The timebase of the CPU times the kernel reports, or `None` when it is unknown (see
/// `macos_clock.rs`): under Rosetta, `mach_timebase_info` describes Rosetta's clock.
fn cpu_timebase() -> Option<Timebase> {
    let mut info = MachTimebaseInfo { numer: 0, denom: 0 };
    // SAFETY: `info` outlives the call; the function only writes to it.
    let rc = unsafe { mach_timebase_info(&mut info) };
    let mach =
        if rc == 0 { Timebase { numer: info.numer, denom: info.denom } } else { Timebase { numer: 1, denom: 1 } };
    // Absent (ENOENT) on Intel Macs, whose kernels have no Rosetta.
    let translated = sysctl_by_name::<libc::c_int>(c"sysctl.proc_translated") == Some(1);
    let frequency = if translated { sysctl_by_name::<u64>(c"hw.tbfrequency") } else { None };
    macos_clock::cpu_timebase(mach, translated, frequency)
}

/// A number the kernel gives by name, when it fills exactly a `T` (an integer type: the
/// callers ask for `c_int` and `u64`).
fn sysctl_by_name<T: Copy + Default>(name: &CStr) -> Option<T> {
    let mut value = T::default();
    let mut size = std::mem::size_of::<T>();
    // SAFETY: `value` is an integer, valid for any bytes, with `size` writable bytes that
    // outlives the call; the kernel writes at most `size` bytes and sets `size` to what it wrote.
    let rc =
        unsafe { libc::sysctlbyname(name.as_ptr(), (&mut value as *mut T).cast(), &mut size, std::ptr::null_mut(), 0) };
    (rc == 0 && size == std::mem::size_of::<T>()).then_some(value)
}

/// The descriptors of a process, or `None` when it may not be read. The kernel says how much
/// room the list needs when asked without a buffer (its descriptor table and 20 to spare).
fn fds(pid: i32) -> Option<Vec<(i32, u32)>> {
    let entry = std::mem::size_of::<libc::proc_fdinfo>();
    // SAFETY: a null buffer of size 0 asks for the size only; nothing is written.
    let needed = unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, std::ptr::null_mut(), 0) };
    let slots = usize::try_from(needed).ok().filter(|&n| n > 0)? / entry;
    let mut list = vec![libc::proc_fdinfo { proc_fd: 0, proc_fdtype: 0 }; slots.clamp(16, MAX_FDS)];
    let size = libc::c_int::try_from(list.len() * entry).ok()?;
    // SAFETY: errno is this thread's; it is cleared so that a 0 below can be told from an error.
    unsafe { *libc::__error() = 0 };
    // SAFETY: `list` has `size` writable bytes of plain `proc_fdinfo` records and outlives the
    // call; the kernel writes at most `size` bytes.
    let returned = unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, list.as_mut_ptr().cast(), size) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    list.truncate(macos_shape::listed_fds(returned, errno, entry)?);
    Some(list.iter().map(|f| (f.proc_fd, f.proc_fdtype)).collect())
}

/// The program name, for every process (`p_comm`, made whole where it was cut).
pub fn read_comm(_root: &Path, pid: u32) -> Option<String> {
    proc_facts(pid).map(|f| f.name)
}

/// State and parent, or `None` if the process is gone.
pub fn read_stat(_root: &Path, pid: u32) -> Option<Stat> {
    proc_facts(pid).map(|f| macos_shape::stat(&f))
}

/// Environment entries named in `keys`. Not read on macOS: the KV sizing they feed comes from
/// the command line there (`KERN_PROCARGS2` holds the environment too; worth reading once a
/// Mac can confirm its layout).
pub fn read_environ(_root: &Path, _pid: u32, _keys: &[&str]) -> Vec<String> {
    Vec::new()
}

/// The first arguments of the command line (`KERN_PROCARGS2`, capped). Used for
/// classification only; a command line is never exported.
pub fn read_cmdline(_root: &Path, pid: u32) -> Vec<String> {
    let Ok(pid) = libc::c_int::try_from(pid) else { return Vec::new() };
    // Sized by `kern.argmax`, as `ps` sizes it: room for the whole argument area.
    let mut argmax: libc::c_int = 0;
    let mut size = std::mem::size_of::<libc::c_int>();
    let mut mib = [libc::CTL_KERN, libc::KERN_ARGMAX];
    // SAFETY: `mib`, `argmax` and `size` outlive the call, and `size` is `argmax`'s size.
    let rc = unsafe {
        libc::sysctl(mib.as_mut_ptr(), 2, (&mut argmax as *mut libc::c_int).cast(), &mut size, std::ptr::null_mut(), 0)
    };
    let Ok(argmax) = usize::try_from(argmax) else { return Vec::new() };
    if rc != 0 || argmax == 0 {
        return Vec::new();
    }
    let mut buffer = vec![0u8; argmax.min(4 << 20)];
    let mut size = buffer.len();
    let mut mib = [libc::CTL_KERN, libc::KERN_PROCARGS2, pid];
    // SAFETY: `buffer` has `size` writable bytes and outlives the call; the kernel writes at
    // most `size` bytes and updates `size` to what it wrote.
    let rc =
        unsafe { libc::sysctl(mib.as_mut_ptr(), 3, buffer.as_mut_ptr().cast(), &mut size, std::ptr::null_mut(), 0) };
    if rc != 0 {
        return Vec::new();
    }
    macos_shape::parse_procargs2(&buffer[..size.min(buffer.len())])
}

/// The executable's path (`proc_pidpath`).
pub fn read_exe(_root: &Path, pid: u32) -> Option<String> {
    pidpath(i32::try_from(pid).ok()?).ok().filter(|p| !p.is_empty())
}

/// Everything the process series need, or `None` if the process is gone or is a zombie.
pub fn read_process(_root: &Path, pid: u32) -> Option<RawProcess> {
    let facts = proc_facts(pid)?;
    if facts.state == 'Z' {
        return None;
    }
    let id = i32::try_from(pid).ok()?;
    let task = task_facts(id);
    let usage = rusage(id);
    let open_fds = fds(id).map(|f| f.len() as u64);
    Some(macos_shape::raw_process(pid, &facts, task.as_ref(), usage.as_ref(), open_fds, cpu_timebase()))
}

/// Socket descriptors of a process (the `inode` of its [`Listener`]s).
pub fn socket_inodes(_root: &Path, pid: u32) -> Vec<u64> {
    let Some(fds) = i32::try_from(pid).ok().and_then(fds) else { return Vec::new() };
    fds.into_iter()
        .filter(|&(_, kind)| matches!(ProcFDType::from(kind), ProcFDType::Socket))
        .filter_map(|(fd, _)| u64::try_from(fd).ok())
        .collect()
}

/// The listening sockets of each process, read once per process in a scan. macOS has no
/// network namespaces: every process sees the same loopback.
pub struct SocketTables<'a> {
    _root: &'a Path,
    tables: HashMap<u32, Vec<Listener>>,
}

impl<'a> SocketTables<'a> {
    pub fn new(root: &'a Path) -> Self {
        SocketTables { _root: root, tables: HashMap::new() }
    }

    /// LISTEN TCP sockets of `pid` itself.
    pub fn listeners(&mut self, pid: u32) -> &[Listener] {
        self.tables.entry(pid).or_insert_with(|| listeners_of(pid))
    }
}

fn listeners_of(pid: u32) -> Vec<Listener> {
    let Ok(id) = i32::try_from(pid) else { return Vec::new() };
    let Some(fds) = fds(id) else { return Vec::new() };
    fds.into_iter()
        .filter(|&(_, kind)| matches!(ProcFDType::from(kind), ProcFDType::Socket))
        .filter_map(|(fd, _)| macos_shape::listener(&socket_facts(id, fd)?))
        .collect()
}

fn socket_facts(pid: i32, fd: i32) -> Option<SocketFacts> {
    let info = pidfdinfo::<SocketFDInfo>(pid, fd).ok()?;
    if !matches!(SocketInfoKind::from(info.psi.soi_kind), SocketInfoKind::Tcp) {
        return None;
    }
    // SAFETY: `soi_kind` is TCP, so the kernel filled the `pri_tcp` member of the union; all
    // of its fields are plain integers, valid for any bit pattern.
    let tcp = unsafe { info.psi.soi_proto.pri_tcp };
    let ini = tcp.tcpsi_ini;
    // SAFETY: both members of the address union are plain bytes, valid for any bit pattern.
    let (laddr4, laddr6) =
        unsafe { (ini.insi_laddr.ina_46.i46a_addr4.s_addr.to_ne_bytes(), ini.insi_laddr.ina_6.s6_addr) };
    Some(SocketFacts {
        fd,
        soi_kind: info.psi.soi_kind,
        tcpsi_state: tcp.tcpsi_state,
        insi_lport: ini.insi_lport,
        insi_vflag: ini.insi_vflag,
        laddr4,
        laddr6,
    })
}
