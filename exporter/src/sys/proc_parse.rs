//! Turns the text of `/proc` files into the numbers the exporter uses, with the `procfs-core`
//! crate's parsers. `linux.rs` opens and reads the files (bounded); this module only parses,
//! so it is pure and tested on strings.
//!
//! The crate's parsers trust the kernel, and a proc tree can be anything (`--path.procfs`, a
//! fixture, a damaged mount). Three of them index into their input and panic on shapes the
//! kernel never writes: `stat` with nothing after the `)` or nothing before the `(`, `limits`
//! with a row of fewer than three words, `io` with a non-ASCII key. Each is called here only
//! after a check that rules out exactly those shapes (see the `*_is_safe` functions and their
//! tests); anything else the crate rejects is an error, and the file's series are left out.
//!
//! Hand-written, because the crate does not parse them: `net/sockstat{,6}` (its `inuse`
//! count), and, in `discovery/ns_addresses.rs`, `fib_trie`, `if_inet6` and `ipv6_route`.
use std::io::BufRead;

use procfs_core::net::{TcpNetEntries, TcpState};
use procfs_core::process::{FDTarget, Io, LimitValue, Limits, Status};
use procfs_core::{ExplicitSystemInfo, FromBufRead, FromBufReadSI, FromRead, KernelStats, ProcessCGroups};

use super::listener::Listener;

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
/// spaces and parentheses; the crate counts the fields from the last `)`.
pub fn stat(text: &str) -> Option<Stat> {
    if !stat_is_safe(text) {
        return None;
    }
    let stat = procfs_core::process::Stat::from_read(text.as_bytes()).ok()?;
    Some(Stat {
        comm: stat.comm,
        state: stat.state,
        ppid: u32::try_from(stat.ppid).ok()?,
        utime: stat.utime,
        stime: stat.stime,
        threads: u64::try_from(stat.num_threads).ok()?,
        starttime: stat.starttime,
        vsize: stat.vsize,
    })
}

/// `PID (comm) rest`: digits and a space before the first `(`, a space and more after the
/// last `)`, which the crate slices around without checking.
fn stat_is_safe(text: &str) -> bool {
    let text = text.trim();
    let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) else { return false };
    let pid_then_space = text.get(..open).and_then(|s| s.strip_suffix(' '));
    pid_then_space.is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        && close > open
        && text.as_bytes().get(close + 1) == Some(&b' ')
        && text.len() > close + 2
}

/// What the series take from `status`, in bytes and counts.
#[derive(Debug, Default, PartialEq)]
pub struct StatusFields {
    pub resident_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    pub voluntary_switches: Option<u64>,
    pub involuntary_switches: Option<u64>,
}

/// Parses `/proc/PID/status`. The crate wants every field a kernel since 4.x writes, so a file
/// that lacks one gives nothing.
pub fn status(text: &str) -> Option<StatusFields> {
    let status = Status::from_buf_read(text.as_bytes()).ok()?;
    let bytes = |kib: Option<u64>| kib.and_then(|k| k.checked_mul(1024));
    Some(StatusFields {
        resident_bytes: bytes(status.vmrss),
        swap_bytes: bytes(status.vmswap),
        voluntary_switches: status.voluntary_ctxt_switches,
        involuntary_switches: status.nonvoluntary_ctxt_switches,
    })
}

/// `read_bytes` and `write_bytes` of `/proc/PID/io`.
pub fn io(text: &str) -> Option<(u64, u64)> {
    // The crate cuts the last byte off each key, inside a character if it is not ASCII.
    if !text.is_ascii() {
        return None;
    }
    let io = Io::from_buf_read(text.as_bytes()).ok()?;
    Some((io.read_bytes, io.write_bytes))
}

/// The soft limit of `Max open files` in `/proc/PID/limits` (`None` when unlimited).
pub fn max_open_files(text: &str) -> Option<u64> {
    if !limits_is_safe(text) {
        return None;
    }
    match Limits::from_buf_read(text.as_bytes()).ok()?.max_open_files.soft_limit {
        LimitValue::Value(limit) => Some(limit),
        LimitValue::Unlimited => None,
    }
}

/// Every row but the header has at least three words (name, soft, hard; the crate subtracts
/// three from the count); the crate stops at the first line it cannot read as text.
fn limits_is_safe(text: &str) -> bool {
    text.as_bytes()
        .lines()
        .map_while(Result::ok)
        .all(|line| line.trim().starts_with("Limit") || line.split_whitespace().count() >= 3)
}

/// The cgroup paths of `/proc/PID/cgroup` (one per hierarchy; one on cgroup v2).
pub fn cgroup_paths(text: &str) -> Vec<String> {
    ProcessCGroups::from_buf_read(text.as_bytes())
        .map(|groups| groups.0.into_iter().map(|g| g.pathname).collect())
        .unwrap_or_default()
}

/// The inode of a `socket:[N]` link of `fd/`.
pub fn socket_inode(link: &str) -> Option<u64> {
    match link.parse::<FDTarget>().ok()? {
        FDTarget::Socket(inode) => Some(inode),
        _ => None,
    }
}

/// `btime` of `/proc/stat`: boot time in seconds since the epoch.
pub fn boot_time(text: &str) -> Option<u64> {
    Some(KernelStats::from_buf_read(text.as_bytes(), &system_info()).ok()?.btime)
}

/// LISTEN sockets among the rows of a `net/tcp{,6}` table (without its header line).
pub fn listeners(rows: &str, ipv6: bool) -> Vec<Listener> {
    // The crate skips the first line as the table's header.
    let table = format!("header\n{rows}");
    let Ok(entries) = TcpNetEntries::from_buf_read(table.as_bytes(), &system_info()) else { return Vec::new() };
    let listening = entries.0.into_iter().filter(|e| e.state == TcpState::Listen);
    listening
        .map(|e| Listener { ipv6, address: e.local_address.ip(), port: e.local_address.port(), inode: e.inode })
        .collect()
}

/// The row's state column (`0A` is LISTEN), read without parsing the row.
pub fn is_listen_row(row: &str) -> bool {
    row.split_whitespace().nth(3) == Some("0A")
}

/// The `inuse` count of the `prefix` line (`TCP:`, `TCP6:`) of a `sockstat` file.
pub fn sockstat_in_use(text: &str, prefix: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix(prefix))?;
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == "inuse" {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// The facts the crate's table parsers ask for: only the byte order of the addresses in
/// `net/tcp` matters to what is used here.
fn system_info() -> ExplicitSystemInfo {
    ExplicitSystemInfo {
        boot_time_secs: 0,
        ticks_per_second: 100,
        page_size: 4096,
        is_little_endian: cfg!(target_endian = "little"),
    }
}

#[cfg(test)]
#[path = "proc_parse_tests.rs"]
mod tests;
