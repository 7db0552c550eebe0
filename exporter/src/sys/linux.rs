//! Reads process facts from a proc filesystem (`--path.procfs`), one small file at a time.
//!
//! Only the files the series need are read: `stat`, `status`, `io`, the `fd` directory and
//! `limits`, plus `comm`, `cmdline` and `cgroup` for selection and labels. The parsers are
//! our own: each is a few lines, never panics on malformed input, and is as fast as the
//! `procfs` crate (see `examples/process_bench.rs`). A process that exits between listing and
//! reading is skipped; a file we may not read (another user's `io` or `fd`) leaves just its
//! series out.
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use super::listener::Listener;
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
    let stat = fs::read_to_string(root.join("stat")).ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// Everything the process series need, or `None` if the process is gone or is a zombie.
pub fn read_process(root: &Path, pid: u32) -> Option<RawProcess> {
    let dir = pid_dir(root, pid);
    let stat = parse_stat(&fs::read_to_string(dir.join("stat")).ok()?)?;
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
    if let Ok(status) = fs::read_to_string(dir.join("status")) {
        let kib = |key: &str| status_field(&status, key).map(|v| v * 1024);
        raw.resident_bytes = kib("VmRSS:");
        raw.swap_bytes = kib("VmSwap:");
        raw.voluntary_switches = status_field(&status, "voluntary_ctxt_switches:");
        raw.involuntary_switches = status_field(&status, "nonvoluntary_ctxt_switches:");
    }
    if let Ok(io) = fs::read_to_string(dir.join("io")) {
        raw.read_bytes = status_field(&io, "read_bytes:");
        raw.written_bytes = status_field(&io, "write_bytes:");
    }
    raw.open_fds = fs::read_dir(dir.join("fd")).ok().map(|d| d.count() as u64);
    raw.max_fds = fs::read_to_string(dir.join("limits")).ok().and_then(|l| parse_max_open_files(&l));
    raw.container = fs::read_to_string(dir.join("cgroup")).ok().map(|c| container_id(&c)).unwrap_or_default();
    Some(raw)
}

/// The fields of `stat` we use.
#[derive(Debug, PartialEq)]
pub struct Stat {
    pub comm: String,
    pub state: char,
    pub ppid: u32,
    pub utime: u64,
    pub stime: u64,
    pub threads: u64,
    pub starttime: u64,
    pub vsize: u64,
}

/// Parses `/proc/PID/stat`. The command name sits in parentheses and may itself contain
/// spaces and parentheses, so the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        comm,
        state: rest.first()?.chars().next()?,
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
        threads: field(20)?,
        starttime: field(22)?,
        vsize: field(23)?,
    })
}

/// A `Key:   123 kB` style field of `status` or `io`, as a number (units are the caller's).
pub fn status_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The soft limit of `Max open files` in `limits` (`unlimited` gives `None`).
pub fn parse_max_open_files(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("Max open files")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The short (12-hex) id of the container a process runs in, from its cgroup path; empty on
/// bare metal. Knows docker, containerd (and Kubernetes pods through it), CRI-O and podman.
pub fn container_id(cgroup: &str) -> String {
    for line in cgroup.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
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
        link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
    })
    .collect()
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
    let in_use = |file: &str, prefix: &str| -> Option<u64> {
        let mut text = String::new();
        fs::File::open(net.join(file)).ok()?.take(4096).read_to_string(&mut text).ok()?;
        parse_sockstat_in_use(&text, prefix)
    };
    Some(in_use("sockstat", "TCP:")?.saturating_add(in_use("sockstat6", "TCP6:")?))
}

/// The `inuse` count of the `prefix` line (`TCP:`, `TCP6:`) of a `sockstat` file.
pub fn parse_sockstat_in_use(text: &str, prefix: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix(prefix))?;
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == "inuse" {
            return words.next()?.parse().ok();
        }
    }
    None
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
        found.extend(rows.map_while(|row| parse_tcp_listen_row(&row, ipv6)));
    }
    found
}

/// LISTEN rows read from one table at most.
pub const MAX_LISTEN_ROWS: usize = 65_536;

/// One row of `/proc/net/tcp{,6}`; `None` unless it is a LISTEN socket (state `0A`).
pub fn parse_tcp_listen_row(row: &str, ipv6: bool) -> Option<Listener> {
    let fields: Vec<&str> = row.split_whitespace().collect();
    if fields.get(3) != Some(&"0A") {
        return None;
    }
    let (address, port) = fields.get(1)?.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let inode = fields.get(9)?.parse().ok()?;
    let address = parse_hex_address(address, ipv6)?;
    Some(Listener { ipv6, address, port, inode })
}

/// An address of `net/tcp{,6}`: 32-bit words printed in hex in host byte order, each holding
/// four bytes of the address in network order.
fn parse_hex_address(hex: &str, ipv6: bool) -> Option<IpAddr> {
    let words = if ipv6 { 4 } else { 1 };
    if hex.len() != words * 8 || !hex.is_ascii() {
        return None;
    }
    let mut bytes = Vec::with_capacity(words * 4);
    for i in 0..words {
        let word = u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    Some(match <[u8; 16]>::try_from(bytes.as_slice()) {
        Ok(v6) => IpAddr::from(v6),
        Err(_) => IpAddr::from(<[u8; 4]>::try_from(bytes.as_slice()).ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parentheses_in_the_name() {
        let text = "4242 (llama (srv) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 7 0 12345 987654321 4000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.comm, "llama (srv) x");
        assert_eq!(
            (s.state, s.ppid, s.utime, s.stime, s.threads, s.starttime, s.vsize),
            ('S', 1, 250, 75, 7, 12345, 987654321)
        );
        assert_eq!(parse_stat("12 (x) S 1"), None);
        assert_eq!(parse_stat(")("), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn listen_rows_v4_and_v6() {
        let v4 = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 55123 1 0000000000000000 100 0 0 10 0";
        let localhost = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(
            parse_tcp_listen_row(v4, false),
            Some(Listener { ipv6: false, address: localhost, port: 8080, inode: 55123 })
        );
        assert!(parse_tcp_listen_row(v4, false).unwrap().reaches_loopback());
        let any = v4.replace("0100007F", "00000000");
        assert!(parse_tcp_listen_row(&any, false).unwrap().reaches_loopback());
        let lan = parse_tcp_listen_row(&v4.replace("0100007F", "0500000A"), false).unwrap();
        assert!(!lan.reaches_loopback());
        assert_eq!(lan.address, IpAddr::from([10, 0, 0, 5]));
        let established = v4.replace(" 0A ", " 01 ");
        assert_eq!(parse_tcp_listen_row(&established, false), None);
        let v6 = "   0: 00000000000000000000000001000000:2B67 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            parse_tcp_listen_row(v6, true),
            Some(Listener { ipv6: true, address: std::net::Ipv6Addr::LOCALHOST.into(), port: 11111, inode: 777 })
        );
        let mapped = v6.replace("00000000000000000000000001000000", "0000000000000000FFFF00000100007F");
        assert!(parse_tcp_listen_row(&mapped, true).unwrap().reaches_loopback());
        let doc = v6.replace("00000000000000000000000001000000", "B80D0120000000000000000002000000");
        let doc = parse_tcp_listen_row(&doc, true).unwrap();
        assert_eq!(doc.address, "2001:db8::2".parse::<IpAddr>().unwrap());
        assert!(!doc.reaches_loopback());
        assert_eq!(parse_tcp_listen_row("garbage", false), None);
        assert_eq!(parse_tcp_listen_row(&v4.replace("0100007F", "0100007Fé"), false), None);
    }

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
    fn sockstat_in_use_counts() {
        let v4 = "sockets: used 290\nTCP: inuse 7 orphan 0 tw 2 alloc 9 mem 1\nUDP: inuse 1 mem 0\n";
        assert_eq!(parse_sockstat_in_use(v4, "TCP:"), Some(7));
        assert_eq!(parse_sockstat_in_use("TCP6: inuse 3\nUDP6: inuse 1\n", "TCP6:"), Some(3));
        assert_eq!(parse_sockstat_in_use("TCP: inuse\n", "TCP:"), None, "truncated");
        assert_eq!(parse_sockstat_in_use("TCP: inuse x9\n", "TCP:"), None);
        assert_eq!(parse_sockstat_in_use("UDP: inuse 1\n", "TCP:"), None);
        assert_eq!(parse_sockstat_in_use(&format!("TCP: inuse {}\n", "9".repeat(40)), "TCP:"), None, "huge");
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
    fn only_the_asked_environment_entries_are_kept() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("123")).unwrap();
        let environ = b"PATH=/bin\0LLAMA_ARG_CTX_SIZE=4096\0LLAMA_ARG_API_KEY=secret\0LLAMA_ARG_CTX_SIZE_X=1\0\xff=\0";
        std::fs::write(root.path().join("123/environ"), environ).unwrap();
        let keys = ["LLAMA_ARG_CTX_SIZE", "LLAMA_ARG_N_PARALLEL"];
        assert_eq!(read_environ(root.path(), 123, &keys), ["LLAMA_ARG_CTX_SIZE=4096"]);
        assert!(read_environ(root.path(), 124, &keys).is_empty(), "a process that is gone");
    }

    #[test]
    fn limits_and_status_fields() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
        assert_eq!(
            parse_max_open_files("Max open files            unlimited            unlimited            files\n"),
            None
        );
        assert_eq!(status_field("Name:\tx\nVmRSS:\t  5120 kB\n", "VmRSS:"), Some(5120));
        assert_eq!(status_field("VmRSS:\tlots kB\n", "VmRSS:"), None);
    }
}
