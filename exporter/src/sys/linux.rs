//! Reads process facts from a proc filesystem (`--path.procfs`), one small file at a time.
//!
//! Only the files the series need are read: `stat`, `status`, `io`, the `fd` directory and
//! `limits`, plus `comm`, `cmdline` and `cgroup` for selection and labels. Each read is
//! bounded; the text is parsed by `proc_parse.rs` (the `procfs-core` crate). `comm`,
//! `cmdline` and `environ` are not parsed, only cut: a single bounded read each, which is what
//! a scan of every process on every scrape spends its time on. A process that exits between
//! listing and reading is skipped; a file we may not read (another user's `io` or `fd`) leaves
//! just its series out.
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub use super::listener::Listener;
use super::proc_parse;
pub use super::proc_parse::Stat;
use super::raw_process::RawProcess;
use super::sock_diag;

/// Bytes read from `cmdline` at most: enough for the interpreter and the module it runs.
const CMDLINE_CAP: usize = 4096;

/// Every numeric entry of the proc root: the PIDs, in ascending order.
pub fn list_pids(root: &Path) -> Vec<u32> {
    let Ok(entries) = fs::read_dir(root) else { return Vec::new() };
    let mut pids: Vec<u32> = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    pids
}

fn pid_dir(root: &Path, pid: u32) -> PathBuf {
    root.join(pid.to_string())
}

/// Bytes read from one of the small per-process files at most (`stat`, `status`, `io`,
/// `limits`, `cgroup` are each under 2 KiB on a real kernel).
const SMALL_FILE_CAP: u64 = 64 * 1024;

/// A small proc file's text, read up to `SMALL_FILE_CAP`; `None` if it cannot be opened or read.
pub fn read_small(path: &Path) -> Option<String> {
    read_capped(path, SMALL_FILE_CAP)
}

/// A proc file's text, read up to `cap` bytes. Bytes that are not UTF-8 become U+FFFD: the
/// kernel cuts a command name at 15 bytes, inside a character if need be, and `stat` and
/// `status` carry that name.
fn read_capped(path: &Path, cap: u64) -> Option<String> {
    // Room for the whole of a usual file, so the first read takes it and a second ends it.
    let mut bytes = Vec::with_capacity(4096);
    fs::File::open(path).ok()?.take(cap).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// The short command name (`comm`), at most 15 bytes.
///
/// This is read for every process on every scrape, so it costs three system calls (open, one
/// read, close): `fs::read_to_string` would add a `statx` for the size and a second `read`
/// for the end of file, and system calls are what a scan of 1,000 processes spends its time on.
pub fn read_comm(root: &Path, pid: u32) -> Option<String> {
    let mut buffer = [0u8; 64];
    let read = fs::File::open(pid_dir(root, pid).join("comm")).ok()?.read(&mut buffer).ok()?;
    // The kernel cuts names at 15 bytes, possibly inside a UTF-8 character.
    Some(String::from_utf8_lossy(&buffer[..read]).trim_end_matches('\n').to_string())
}

/// The first arguments of the command line (capped), split on NUL. Used for classification
/// only; a command line is never exported.
pub fn read_cmdline(root: &Path, pid: u32) -> Vec<String> {
    let Ok(mut file) = fs::File::open(pid_dir(root, pid).join("cmdline")) else { return Vec::new() };
    // One read: the kernel answers up to a page at once, and the cap is below that.
    let mut bytes = vec![0u8; CMDLINE_CAP];
    let Ok(read) = file.read(&mut bytes) else { return Vec::new() };
    bytes[..read]
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Bytes read from `environ` at most.
const ENVIRON_CAP: u64 = 64 * 1024;

/// The entries of a process's environment whose names are in `keys`, as `KEY=VALUE`; empty
/// when it cannot be read (another user's process). Other entries, secrets among them, are
/// dropped as they are read.
pub fn read_environ(root: &Path, pid: u32, keys: &[&str]) -> Vec<String> {
    let Ok(file) = fs::File::open(pid_dir(root, pid).join("environ")) else { return Vec::new() };
    let mut bytes = Vec::new();
    if file.take(ENVIRON_CAP).read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .filter(|entry| {
            keys.iter().any(|k| entry.strip_prefix(k.as_bytes()).is_some_and(|rest| rest.first() == Some(&b'=')))
        })
        .map(|entry| String::from_utf8_lossy(entry).into_owned())
        .collect()
}

/// The executable's path (`exe` link); `None` for kernel threads and other users' processes.
pub fn read_exe(root: &Path, pid: u32) -> Option<String> {
    let target = fs::read_link(pid_dir(root, pid).join("exe")).ok()?;
    Some(target.to_string_lossy().trim_end_matches(" (deleted)").to_string())
}

/// System boot time in seconds since the epoch (`btime` of `/proc/stat`).
pub fn boot_time(root: &Path) -> Option<f64> {
    // One line per CPU: 1 MiB holds thousands of them.
    proc_parse::boot_time(&read_capped(&root.join("stat"), 1 << 20)?).map(|secs| secs as f64)
}

/// Everything the process series need, or `None` if the process is gone or is a zombie.
pub fn read_process(root: &Path, pid: u32) -> Option<RawProcess> {
    let dir = pid_dir(root, pid);
    let stat = proc_parse::stat(&read_small(&dir.join("stat"))?)?;
    if stat.state == 'Z' || stat.state == 'X' {
        return None;
    }
    let mut raw = RawProcess {
        pid,
        ppid: stat.ppid,
        comm: stat.comm,
        utime_ticks: stat.utime,
        stime_ticks: stat.stime,
        start_ticks: stat.starttime,
        threads: stat.threads,
        virtual_bytes: stat.vsize,
        ..RawProcess::default()
    };
    if let Some(status) = read_small(&dir.join("status")).and_then(|t| proc_parse::status(&t)) {
        raw.resident_bytes = status.resident_bytes;
        raw.swap_bytes = status.swap_bytes;
        raw.voluntary_switches = status.voluntary_switches;
        raw.involuntary_switches = status.involuntary_switches;
    }
    if let Some((read, written)) = read_small(&dir.join("io")).and_then(|t| proc_parse::io(&t)) {
        raw.read_bytes = Some(read);
        raw.written_bytes = Some(written);
    }
    raw.open_fds = fs::read_dir(dir.join("fd")).ok().map(|d| d.count() as u64);
    raw.max_fds = read_small(&dir.join("limits")).and_then(|l| proc_parse::max_open_files(&l));
    raw.container = read_small(&dir.join("cgroup")).map(|c| container_id(&c)).unwrap_or_default();
    Some(raw)
}

/// The short (12-hex) id of the container a process runs in, from its cgroup path; empty on
/// bare metal. Knows docker, containerd (and Kubernetes pods through it), CRI-O and podman.
pub fn container_id(cgroup: &str) -> String {
    for path in proc_parse::cgroup_paths(cgroup) {
        let path = path.as_str();
        for segment in path.split('/').rev() {
            let id = segment.trim_end_matches(".scope");
            let id = ["docker-", "cri-containerd-", "crio-", "libpod-"]
                .iter()
                .find_map(|prefix| id.strip_prefix(prefix))
                .or_else(|| (path.contains("/docker/") || path.contains("/kubepods")).then_some(id));
            if let Some(id) = id.filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())) {
                return id[..12].to_string();
            }
        }
    }
    String::new()
}

/// Socket inodes of a process's open files (`socket:[123]` links in `fd/`).
pub fn socket_inodes(root: &Path, pid: u32) -> Vec<u64> {
    let Ok(dir) = fs::read_dir(pid_dir(root, pid).join("fd")) else { return Vec::new() };
    dir.filter_map(|e| {
        let link = fs::read_link(e.ok()?.path()).ok()?;
        proc_parse::socket_inode(link.to_str()?)
    })
    .collect()
}

/// A hash of the numbers of a process's open file descriptors: the names in `fd/`, read in one
/// directory listing without reading a link. It changes when a descriptor is opened or closed,
/// unless one closes and another opens under the same number between two reads.
pub fn fd_fingerprint(root: &Path, pid: u32) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let dir = fs::read_dir(pid_dir(root, pid).join("fd")).ok()?;
    let mut fds: Vec<u32> = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    fds.sort_unstable();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    fds.hash(&mut hasher);
    Some(hasher.finish())
}

/// The listening sockets each process sees, read once per network namespace in a scan.
///
/// On the live proc filesystem the kernel is asked through `sock_diag`, in the process's own
/// namespace (see `sock_diag.rs` for why); in a fixture tree, or when that is refused, the
/// `net/tcp{,6}` files of the process are read. A process whose namespace cannot be told
/// (another user's, a fixture tree) gets its own read.
pub struct SocketTables<'a> {
    root: &'a Path,
    live: bool,
    own_netns: Option<PathBuf>,
    tables: HashMap<PathBuf, Vec<Listener>>,
    /// Set once entering another namespace was refused: not tried again in this scan.
    setns_refused: bool,
}

impl<'a> SocketTables<'a> {
    pub fn new(root: &'a Path) -> Self {
        // `root` is our own live proc filesystem when its `self` is this process.
        let live = fs::read_link(root.join("self")).is_ok_and(|p| p == Path::new(&std::process::id().to_string()));
        let own_netns = if live { fs::read_link(root.join("self/ns/net")).ok() } else { None };
        SocketTables { root, live, own_netns, tables: HashMap::new(), setns_refused: false }
    }

    /// LISTEN sockets of the network namespace of `pid`.
    pub fn listeners(&mut self, pid: u32) -> &[Listener] {
        let dir = pid_dir(self.root, pid);
        let netns = fs::read_link(dir.join("ns/net")).ok();
        let own = netns.is_some() && netns == self.own_netns;
        let key = netns.unwrap_or_else(|| PathBuf::from(format!("pid {pid}")));
        let (live, refused) = (self.live, &mut self.setns_refused);
        self.tables.entry(key).or_insert_with(|| {
            if own {
                match sock_diag::tcp_listeners() {
                    Ok(listeners) => return listeners,
                    Err(e) => log::debug!("sock_diag refused ({e}); reading net/tcp instead"),
                }
            } else if live && !*refused {
                match sock_diag::tcp_listeners_in(&dir.join("ns/net")) {
                    Ok(listeners) => return listeners,
                    Err(e) => {
                        log::debug!("sock_diag in the namespace of pid {pid} refused ({e}); reading net/tcp instead");
                        *refused = e.kind() == std::io::ErrorKind::PermissionDenied;
                    }
                }
            }
            listeners_from_files(&dir.join("net"))
        })
    }
}

/// TCP sockets hashed in `pid`'s network namespace (`inuse` of `net/sockstat` and
/// `net/sockstat6`): listening and connected ones. A socket that starts listening adds one, so
/// with the process's socket set it tells when its listeners may have changed (discovery's
/// `listen_cache.rs` says which case it misses). `None` when unreadable.
pub fn tcp_sockets_in_use(root: &Path, pid: u32) -> Option<u64> {
    let net = pid_dir(root, pid).join("net");
    let in_use = |file: &str, prefix: &str| proc_parse::sockstat_in_use(&read_small(&net.join(file))?, prefix);
    Some(in_use("sockstat", "TCP:")?.saturating_add(in_use("sockstat6", "TCP6:")?))
}

/// LISTEN rows of the `tcp` and `tcp6` tables of a `net/` directory.
///
/// The kernel (4.4 and later) writes the listening sockets first, then the others: reading stops at the first
/// row that is not LISTEN, so a namespace with many connections costs no more than one with
/// none (the table is made as it is read), and at [`MAX_LISTEN_ROWS`] rows.
pub fn listeners_from_files(net: &Path) -> Vec<Listener> {
    let mut found = Vec::new();
    for (file, ipv6) in [("tcp", false), ("tcp6", true)] {
        let Ok(file) = fs::File::open(net.join(file)) else { continue };
        let rows = BufReader::new(file).lines().skip(1).map_while(Result::ok).take(MAX_LISTEN_ROWS);
        let listen_rows: Vec<String> = rows.take_while(|row| proc_parse::is_listen_row(row)).collect();
        found.extend(proc_parse::listeners(&listen_rows.join("\n"), ipv6));
    }
    found
}

/// LISTEN rows read from one table at most.
pub const MAX_LISTEN_ROWS: usize = 65_536;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_rows_are_read_until_the_first_other_row() {
        let net = tempfile::tempdir().unwrap();
        let row = |i: u32, port: &str, state: &str| {
            format!("{i:4}: 0100007F:{port} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000 0 0 {i} 1\n")
        };
        let table =
            format!("  sl  local_address\n{}{}{}", row(1, "1F90", "0A"), row(2, "1F91", "01"), row(3, "1F92", "0A"));
        std::fs::write(net.path().join("tcp"), table).unwrap();
        let ports: Vec<u16> = listeners_from_files(net.path()).iter().map(|l| l.port).collect();
        assert_eq!(ports, [8080], "the kernel lists no LISTEN socket after another one");
    }

    #[test]
    fn containers_from_cgroup_paths() {
        let id = "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708";
        assert_eq!(container_id(&format!("0::/system.slice/docker-{id}.scope\n")), "3f2a1b4c5d6e");
        assert_eq!(container_id(&format!("12:memory:/docker/{id}\n")), "3f2a1b4c5d6e");
        let k8s = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-{id}.scope"
        );
        assert_eq!(container_id(&k8s), "3f2a1b4c5d6e");
        assert_eq!(container_id(&format!("0::/machine.slice/libpod-{id}.scope")), "3f2a1b4c5d6e");
        assert_eq!(container_id("0::/user.slice/user-1000.slice/session-2.scope\n"), "");
        assert_eq!(container_id("4:memory:/process_api/aef30e3de970ab07ae2893bdb5bba4c6\n0::/\n"), "");
    }

    #[test]
    fn descriptor_numbers_fingerprint() {
        let root = tempfile::tempdir().unwrap();
        let fd = root.path().join("9/fd");
        std::fs::create_dir_all(&fd).unwrap();
        for (n, target) in [("0", "/dev/null"), ("3", "socket:[5]")] {
            std::os::unix::fs::symlink(target, fd.join(n)).unwrap();
        }
        let before = fd_fingerprint(root.path(), 9).unwrap();
        std::fs::remove_file(fd.join("3")).unwrap();
        std::os::unix::fs::symlink("socket:[6]", fd.join("3")).unwrap();
        assert_eq!(fd_fingerprint(root.path(), 9), Some(before), "the same numbers, whatever they point to");
        std::os::unix::fs::symlink("socket:[7]", fd.join("4")).unwrap();
        assert_ne!(fd_fingerprint(root.path(), 9), Some(before), "a descriptor more");
        assert_eq!(fd_fingerprint(root.path(), 10), None, "a process that is gone");
    }

    #[test]
    fn a_name_cut_inside_a_character_is_read() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("77");
        std::fs::create_dir(&dir).unwrap();
        // "llama-服务" cut at 15 bytes by the kernel: the last character loses its last byte.
        let mut stat =
            b"77 (llama-\xe6\x9c\x8d\xe5\x8a) S 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 3 0 100 4096 10".to_vec();
        stat.extend_from_slice(b" 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
        std::fs::write(dir.join("stat"), stat).unwrap();
        let process = read_process(root.path(), 77).expect("read despite the cut name");
        assert_eq!((process.comm.as_str(), process.threads), ("llama-服\u{fffd}", 3));
    }

    #[test]
    fn only_the_asked_environment_entries_are_kept() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("123")).unwrap();
        let environ = b"PATH=/bin\0LLAMA_ARG_CTX_SIZE=4096\0LLAMA_ARG_API_KEY=secret\0LLAMA_ARG_CTX_SIZE_X=1\0\xff=\0";
        std::fs::write(root.path().join("123/environ"), environ).unwrap();
        let keys = ["LLAMA_ARG_CTX_SIZE", "LLAMA_ARG_N_PARALLEL"];
        assert_eq!(read_environ(root.path(), 123, &keys), ["LLAMA_ARG_CTX_SIZE=4096"]);
        assert!(read_environ(root.path(), 124, &keys).is_empty(), "a process that is gone");
    }
}
