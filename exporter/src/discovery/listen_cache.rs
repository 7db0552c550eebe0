//! The listening sockets of each server process, kept from one scan to the next while nothing
//! that could change them changed.
//!
//! This is the one state discovery keeps between scrapes, an agreed exception to "nothing is
//! kept": an entry is used only when exactly what would invalidate it is unchanged, so a scan
//! with the cache finds what a scan without it would. An entry is keyed on the proc root and
//! the PID, and holds what was true when the sockets were read:
//! - the process's network namespace (`ns/net`): a process that moved, or a PID reused by
//!   another process, is read again;
//! - the numbers of its open file descriptors (the names in `fd/`, one directory read, no
//!   link read): a socket opened or closed;
//! - the count of TCP sockets hashed in its namespace (`net/sockstat{,6}` `inuse`): `listen()`
//!   on a socket the process already held changes no inode but adds one here. The count also
//!   moves with every connection made or closed in that namespace, so a busy namespace is read
//!   again more often than needed, never less.
//!
//! One case slips past these: a listener that appears while another TCP socket of the
//! namespace closes (the count is unchanged), where the listener is a socket bound earlier, or
//! a new one that took the descriptor number the closed one freed. So no entry is used after
//! [`REFRESH`]: such a listener is found within that time, and every other one at the next
//! scan. Reading the `socket:[N]` links instead of the numbers would catch the second shape
//! but costs one system call per descriptor on every scan (a hundred per server in a busy pod).
//!
//! A process with no socket is remembered too (as listening nowhere).
//!
//! A process seen for the first time is read. Where the count cannot be read (a fixture tree
//! without `sockstat`), nothing is kept and every scan reads. Entries a scan did not ask for
//! (the process is gone, or no longer a server) are forgotten when that scan ends, and the
//! cache holds [`MAX_ENTRIES`] at most.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use crate::sys::Listener;

/// Server processes remembered at most, over every proc root.
pub const MAX_ENTRIES: usize = 4096;
/// How long an entry is used at most, whatever its stamp.
pub const REFRESH: Duration = Duration::from_secs(30);

/// What the listeners of a process depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub netns: Option<PathBuf>,
    /// A hash of the sorted descriptor numbers (`sys::linux::fd_fingerprint`).
    pub fds: u64,
    pub tcp_in_use: u64,
}

#[derive(Debug)]
struct Entry {
    stamp: Stamp,
    listeners: Vec<Listener>,
    read_at: Instant,
    /// The scan that last asked for it.
    scan: u64,
}

/// Remembered listeners per (proc root, PID).
#[derive(Debug)]
pub struct ListenCache {
    entries: HashMap<(PathBuf, u32), Entry>,
    /// The number of the last scan begun, of any root.
    last_scan: u64,
    refresh: Duration,
}

impl Default for ListenCache {
    fn default() -> ListenCache {
        ListenCache { entries: HashMap::new(), last_scan: 0, refresh: REFRESH }
    }
}

impl ListenCache {
    /// Starts a scan; returns its number, for [`ListenCache::get`] and [`ListenCache::end`].
    pub fn begin(&mut self) -> u64 {
        self.last_scan += 1;
        self.last_scan
    }

    /// The listeners of `pid` as last read, when `stamp` is what they were read under.
    pub fn get(&mut self, root: &Path, pid: u32, stamp: &Stamp, scan: u64) -> Option<Vec<Listener>> {
        let entry = self.entries.get_mut(&(root.to_path_buf(), pid))?;
        entry.scan = scan;
        (entry.stamp == *stamp && entry.read_at.elapsed() < self.refresh).then(|| entry.listeners.clone())
    }

    /// Remembers what was just read under `stamp`, unless the cache is full.
    pub fn put(&mut self, root: &Path, pid: u32, stamp: Stamp, listeners: &[Listener], scan: u64) {
        let key = (root.to_path_buf(), pid);
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(&key) {
            return;
        }
        self.entries.insert(key, Entry { stamp, listeners: listeners.to_vec(), read_at: Instant::now(), scan });
    }

    /// Ends scan `scan` of `root`: forgets the processes of `root` it did not ask for.
    pub fn end(&mut self, root: &Path, scan: u64) {
        self.entries.retain(|(r, _), e| r != root || e.scan == scan);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The cache every scan of this exporter shares.
pub fn shared() -> std::sync::MutexGuard<'static, ListenCache> {
    static CACHE: LazyLock<Mutex<ListenCache>> = LazyLock::new(Mutex::default);
    CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(fds: &[u64], tcp_in_use: u64) -> Stamp {
        Stamp { netns: Some("net:[1]".into()), fds: fds.iter().sum::<u64>() * 31 + fds.len() as u64, tcp_in_use }
    }

    fn listener(port: u16) -> Listener {
        Listener { ipv6: false, address: [0, 0, 0, 0].into(), port, inode: u64::from(port) }
    }

    #[test]
    fn an_entry_serves_only_under_its_stamp() {
        let (mut cache, root) = (ListenCache::default(), Path::new("/proc"));
        let scan = cache.begin();
        assert_eq!(cache.get(root, 7, &stamp(&[1], 1), scan), None, "first sight");
        cache.put(root, 7, stamp(&[1], 1), &[listener(8080)], scan);
        assert_eq!(cache.get(root, 7, &stamp(&[1], 1), scan), Some(vec![listener(8080)]));
        assert_eq!(cache.get(root, 7, &stamp(&[1, 2], 1), scan), None, "a descriptor more");
        assert_eq!(cache.get(root, 7, &stamp(&[1], 2), scan), None, "listen() on a held socket");
        let moved = Stamp { netns: Some("net:[2]".into()), ..stamp(&[1], 1) };
        assert_eq!(cache.get(root, 7, &moved, scan), None, "another namespace");
        assert_eq!(cache.get(Path::new("/host/proc"), 7, &stamp(&[1], 1), scan), None, "another root");

        let mut stale = ListenCache { refresh: Duration::ZERO, ..ListenCache::default() };
        stale.put(root, 7, stamp(&[1], 1), &[listener(8080)], scan);
        assert_eq!(stale.get(root, 7, &stamp(&[1], 1), scan), None, "older than the refresh time");
    }

    #[test]
    fn processes_a_scan_did_not_ask_for_are_forgotten_and_the_size_is_bounded() {
        let (mut cache, root, other) = (ListenCache::default(), Path::new("/proc"), Path::new("/host/proc"));
        let (first, elsewhere) = (cache.begin(), cache.begin());
        cache.put(root, 1, stamp(&[1], 1), &[], first);
        cache.put(root, 2, stamp(&[2], 1), &[], first);
        cache.put(other, 1, stamp(&[1], 1), &[], elsewhere);
        cache.end(root, first);
        let second = cache.begin();
        assert!(cache.get(root, 1, &stamp(&[1], 1), second).is_some());
        cache.end(root, second);
        assert_eq!(cache.len(), 2, "pid 2 of /proc is gone; /host/proc is another scan's");
        assert!(cache.get(root, 2, &stamp(&[2], 1), second + 1).is_none());

        for pid in 0..(MAX_ENTRIES as u32 + 10) {
            cache.put(root, pid, stamp(&[1], 1), &[], second);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
    }
}
