//! How many client connections may be open: the open files limit (raised to the hard limit at
//! start), the cap derived from it, and the table of open connections that enforces the cap by
//! evicting the oldest connection that is not serving a request.
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::conn::ConnState;

/// File descriptors kept free for everything but client connections: target scrapes, `/proc`
/// reads, NVML's device files, the runtime and the listeners.
pub const FD_RESERVE: u64 = 128;
/// The most client connections by default, however many descriptors there are: Prometheus
/// needs a few, and each idle connection costs memory.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How often a warning about the cap may repeat.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Every open client connection of the process (all listeners share one), oldest first.
pub struct ConnectionTable {
    cap: usize,
    open: Mutex<BTreeMap<u64, Arc<ConnState>>>,
    next_id: AtomicU64,
    /// Signalled when a connection ends, for an accept loop waiting for room.
    released: Notify,
    last_warning: Mutex<Option<Instant>>,
}

/// A connection's place in the table; gives it up when dropped.
pub(super) struct Seat {
    table: Arc<ConnectionTable>,
    id: u64,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.table.open().remove(&self.id);
        self.table.released.notify_one();
    }
}

impl ConnectionTable {
    pub fn new(cap: usize) -> Arc<ConnectionTable> {
        Arc::new(ConnectionTable {
            cap: cap.max(1),
            open: Mutex::default(),
            next_id: Default::default(),
            released: Notify::new(),
            last_warning: Mutex::default(),
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    fn open(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<ConnState>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a seat for a new connection. At the cap, first evicts the oldest connection that
    /// serves no request; `None` when every open connection is serving one.
    pub(super) fn admit(self: &Arc<Self>, now: Instant) -> Option<(Seat, Arc<ConnState>)> {
        let mut open = self.open();
        // Evicted connections are closing and about to give their seat up.
        let live = open.values().filter(|c| !c.is_evicted()).count();
        if live >= self.cap {
            let evicted = open.values().any(|c| c.evict_if_idle());
            self.warn_at_cap(evicted);
            if !evicted {
                return None;
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = ConnState::new(now);
        open.insert(id, Arc::clone(&state));
        Some((Seat { table: Arc::clone(self), id }, state))
    }

    /// Waits for a seat, or until `shutdown` resolves (then `None`).
    pub(super) async fn seat(
        self: &Arc<Self>,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Option<(Seat, Arc<ConnState>)> {
        loop {
            if let Some(seat) = self.admit(Instant::now()) {
                return Some(seat);
            }
            // A second as a fallback: a release may have woken another listener's loop.
            tokio::select! {
                () = self.released.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = &mut *shutdown => return None,
            }
        }
    }

    /// Closes every connection that is not serving a request.
    pub(super) fn evict_idle(&self) {
        for connection in self.open().values() {
            connection.evict_if_idle();
        }
    }

    fn warn_at_cap(&self, evicted: bool) {
        let mut last = self.last_warning.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let action = if evicted {
            "closing the oldest idle connection for each new one"
        } else {
            "every connection is serving a request; new connections wait"
        };
        if last.is_some_and(|at| now.duration_since(at) < CAP_WARNING_EVERY) {
            log::debug!("connection cap of {} reached: {action}", self.cap);
            return;
        }
        *last = Some(now);
        log::warn!(
            "connection cap of {} reached: {action} (--web.max-connections; this warning repeats at most once a minute)",
            self.cap
        );
    }
}

/// Raises the soft limit on open files to the hard limit, as Go programs do at start, and
/// returns the soft limit in force; `None` when it cannot be read.
#[cfg(unix)]
pub fn raise_fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    // RLIM_INFINITY is u64::MAX: any cap is below it.
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
pub fn raise_fd_limit() -> Option<u64> {
    None
}

/// The connection cap: the configured one, else [`DEFAULT_MAX_CONNECTIONS`], never more than
/// the descriptors left after [`FD_RESERVE`] (or half of them, when there are few). Returns
/// the cap and, when the configured one had to be lowered, why.
pub fn connection_cap(configured: Option<usize>, fd_limit: Option<u64>) -> (usize, Option<String>) {
    let wanted = configured.unwrap_or(DEFAULT_MAX_CONNECTIONS).max(1);
    let Some(fds) = fd_limit else { return (wanted, None) };
    let room = fds.saturating_sub(FD_RESERVE).max(fds / 2).max(1);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    match configured {
        Some(n) if n > room => (
            room,
            Some(format!(
                "--web.max-connections {n} lowered to {room}: the open files limit is {fds}, and {} are kept for scrapes (raise LimitNOFILE or ulimit -n)",
                fds - room as u64
            )),
        ),
        _ => (wanted.min(room), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_scrapes() {
        assert_eq!(connection_cap(None, None), (DEFAULT_MAX_CONNECTIONS, None));
        assert_eq!(connection_cap(None, Some(1 << 20)), (DEFAULT_MAX_CONNECTIONS, None));
        assert_eq!(connection_cap(None, Some(1024)), (1024 - FD_RESERVE as usize, None));
        assert_eq!(connection_cap(None, Some(256)), (128, None));
        assert_eq!(connection_cap(None, Some(64)), (32, None));
        assert_eq!(connection_cap(Some(10), Some(1 << 20)), (10, None));
        assert_eq!(connection_cap(Some(5000), Some(1 << 20)), (5000, None));
        let (cap, why) = connection_cap(Some(500), Some(256));
        assert_eq!(cap, 128);
        assert!(why.is_some_and(|w| w.contains("500 lowered to 128")));
    }

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let table = ConnectionTable::new(2);
        let now = Instant::now();
        let (_a, a) = table.admit(now).unwrap();
        let (_b, b) = table.admit(now).unwrap();
        let (_c, c) = table.admit(now).unwrap();
        assert!(a.is_evicted() && !b.is_evicted() && !c.is_evicted());
        let (_d, _) = table.admit(now).unwrap();
        assert!(b.is_evicted() && !c.is_evicted());
    }

    #[test]
    fn a_connection_serving_a_request_is_never_evicted() {
        let table = ConnectionTable::new(1);
        let (seat, busy) = table.admit(Instant::now()).unwrap();
        let request = super::super::tracked::InFlight::start(&busy);
        assert!(table.admit(Instant::now()).is_none(), "the only connection serves a request: wait");
        assert!(!busy.is_evicted());
        drop(request);
        let (_next, _) = table.admit(Instant::now()).unwrap();
        assert!(busy.is_evicted(), "idle again, it makes room");
        drop(seat);
    }

    #[test]
    fn a_seat_is_given_back_when_its_connection_ends() {
        let table = ConnectionTable::new(1);
        let (seat, first) = table.admit(Instant::now()).unwrap();
        drop(seat);
        let (_seat, second) = table.admit(Instant::now()).unwrap();
        assert!(!first.is_evicted() && !second.is_evicted());
    }
}
