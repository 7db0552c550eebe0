//! PIDs whose `/proc` files hang when read: a process in uninterruptible sleep (D state: a
//! hung driver, a dead NFS server) blocks reads of its `cmdline` and `environ` until it wakes,
//! which may be never. The scan that hit one runs out of its budget and is reported failed;
//! its thread stays blocked, and the PID it was reading is remembered, so later scans skip it
//! and every other process keeps its series. A PID is skipped while the read of it still
//! hangs and for [`REMEMBER`] after it came back, then tried again.
//!
//! Each scan says which PID it is reading through a [`Watch`]; when the scan overruns, the
//! PID it was on for a good part of the budget is marked, and logged once when its read is
//! still blocked [`TOLD_AFTER`] later. A scan that was merely slow (its thread comes back
//! within [`SLOW_NOT_HUNG`]) unmarks it again. At most [`MAX_BLOCKED_SCANS`]
//! scan threads may hang at once: past that, scans are skipped (and reported failed) rather
//! than piling up threads.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a PID whose read came back is still skipped.
pub const REMEMBER: Duration = Duration::from_secs(600);

/// Scan threads that may be blocked at once (each on another PID).
pub const MAX_BLOCKED_SCANS: usize = 4;

/// A marked PID whose read came back sooner than this was slow (a loaded machine), not hung.
pub const SLOW_NOT_HUNG: Duration = Duration::from_secs(10);

/// A marked PID whose read is still blocked this long after is reported as hanging (once).
pub const TOLD_AFTER: Duration = Duration::from_secs(1);

/// PIDs remembered at most; the oldest are forgotten first.
const MAX_REMEMBERED: usize = 256;

/// Where one scan is: the PID it reads now (0 between PIDs) and since when.
#[derive(Default)]
pub struct Watch {
    pid: AtomicU32,
    since: Mutex<Option<Instant>>,
    /// The PIDs this scan skips.
    skip: Vec<u32>,
    /// The PID this scan was marked as hanging on, if it was.
    marked: AtomicU32,
    /// The scan's thread has finished; set and read under [`Unreadable`]'s lock, so a scan
    /// that finishes just as it is found late is not marked for good.
    done: AtomicBool,
}

impl Watch {
    pub fn new(skip: Vec<u32>) -> Arc<Watch> {
        Arc::new(Watch { skip, ..Watch::default() })
    }

    /// Notes that the scan now reads `pid`; `false` when `pid` is to be skipped.
    pub fn enter(&self, pid: u32) -> bool {
        if self.skip.contains(&pid) {
            return false;
        }
        if self.pid.swap(pid, Ordering::Relaxed) != pid {
            *self.since.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
        true
    }

    /// The PID the scan has been reading for at least `at_least`, if any.
    fn stuck_on(&self, at_least: Duration) -> Option<u32> {
        let pid = self.pid.load(Ordering::Relaxed);
        let since = *self.since.lock().unwrap_or_else(|p| p.into_inner());
        (pid != 0 && since.is_some_and(|s| s.elapsed() >= at_least)).then_some(pid)
    }
}

/// A PID being skipped: since when, when its read came back (`None` while it hangs), and
/// whether the log has been told.
#[derive(Clone, Copy)]
struct Mark {
    since: Instant,
    back: Option<Instant>,
    told: bool,
}

/// The PIDs being skipped.
#[derive(Default)]
pub struct Unreadable {
    pids: Mutex<HashMap<u32, Mark>>,
}

impl Unreadable {
    /// After a scan overran `budget`: marks the PID it has been on for half the budget or
    /// more, and returns it when it was not marked yet.
    pub fn overran(&self, watch: &Watch, budget: Duration) -> Option<u32> {
        let pid = watch.stuck_on(budget / 2)?;
        let mut pids = self.pids.lock().unwrap_or_else(|p| p.into_inner());
        if watch.done.load(Ordering::Relaxed) {
            return None;
        }
        watch.marked.store(pid, Ordering::Relaxed);
        if pids.len() >= MAX_REMEMBERED {
            let oldest = pids.iter().filter_map(|(pid, m)| Some((*pid, m.back?))).min_by_key(|(_, back)| *back);
            if let Some((oldest, _)) = oldest {
                pids.remove(&oldest);
            }
        }
        let mark = Mark { since: Instant::now(), back: None, told: false };
        pids.insert(pid, mark).is_none().then_some(pid)
    }

    /// A scan thread finished, late or not: the PID it was marked on no longer hangs. Back
    /// soon, it was slow and is forgotten; else it is remembered for [`REMEMBER`].
    pub fn finished(&self, watch: &Watch) {
        let mut pids = self.pids.lock().unwrap_or_else(|p| p.into_inner());
        watch.done.store(true, Ordering::Relaxed);
        let pid = watch.marked.load(Ordering::Relaxed);
        let Some(mark) = pids.get_mut(&pid).filter(|m| m.back.is_none()) else { return };
        if mark.since.elapsed() < SLOW_NOT_HUNG {
            pids.remove(&pid);
        } else {
            mark.back = Some(Instant::now());
        }
    }

    /// The marked PIDs whose reads have been blocked for [`TOLD_AFTER`] or more and were not
    /// reported yet: each is returned once, to be logged.
    pub fn newly_hung(&self) -> Vec<u32> {
        let mut pids = self.pids.lock().unwrap_or_else(|p| p.into_inner());
        let mut hung: Vec<u32> = pids
            .iter_mut()
            .filter(|(_, m)| !m.told && m.back.is_none() && m.since.elapsed() >= TOLD_AFTER)
            .map(|(pid, m)| {
                m.told = true;
                *pid
            })
            .collect();
        hung.sort_unstable();
        hung
    }

    /// The PIDs to skip now, ascending; those remembered past [`REMEMBER`] are forgotten.
    pub fn current(&self) -> Vec<u32> {
        let mut pids = self.pids.lock().unwrap_or_else(|p| p.into_inner());
        pids.retain(|_, m| m.back.is_none_or(|back| back.elapsed() < REMEMBER));
        let mut now: Vec<u32> = pids.keys().copied().collect();
        now.sort_unstable();
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan that has read PID 7 for 30 ms of a 40 ms budget, and overran it.
    fn overran_on_7() -> (Unreadable, Arc<Watch>) {
        let unreadable = Unreadable::default();
        let watch = Watch::new(Vec::new());
        assert!(watch.enter(7));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(unreadable.overran(&watch, Duration::from_millis(40)), Some(7));
        (unreadable, watch)
    }

    #[test]
    fn a_pid_read_for_most_of_the_budget_is_skipped_until_a_quick_return_shows_it_was_slow() {
        let (unreadable, watch) = overran_on_7();
        assert_eq!(unreadable.overran(&watch, Duration::from_millis(40)), None, "marked once");
        assert_eq!(unreadable.current(), [7]);
        assert!(unreadable.newly_hung().is_empty(), "not blocked for TOLD_AFTER yet");
        let next = Watch::new(unreadable.current());
        assert!(!next.enter(7) && next.enter(8));
        unreadable.finished(&next);
        assert_eq!(unreadable.current(), [7], "another scan finishing says nothing about 7");
        // Back within SLOW_NOT_HUNG: the machine was slow, and 7 is read again.
        unreadable.finished(&watch);
        assert!(unreadable.current().is_empty());
    }

    #[test]
    fn a_pid_that_hung_long_is_remembered_after_its_read_came_back() {
        let (unreadable, watch) = overran_on_7();
        let long_ago = Instant::now().checked_sub(SLOW_NOT_HUNG * 2).expect("a clock that far back");
        unreadable.pids.lock().unwrap().get_mut(&7).expect("marked").since = long_ago;
        assert_eq!(unreadable.newly_hung(), [7]);
        assert!(unreadable.newly_hung().is_empty(), "told once");
        unreadable.finished(&watch);
        assert_eq!(unreadable.current(), [7], "remembered for a while");
    }

    #[test]
    fn a_scan_that_finished_just_as_it_was_found_late_marks_nothing() {
        let unreadable = Unreadable::default();
        let watch = Watch::new(Vec::new());
        assert!(watch.enter(7));
        std::thread::sleep(Duration::from_millis(30));
        unreadable.finished(&watch);
        assert_eq!(unreadable.overran(&watch, Duration::from_millis(40)), None);
        assert!(unreadable.current().is_empty());
    }

    #[test]
    fn a_scan_that_was_merely_slow_marks_nothing() {
        let unreadable = Unreadable::default();
        let watch = Watch::new(Vec::new());
        assert_eq!(unreadable.overran(&watch, Duration::ZERO), None, "between PIDs");
        assert!(watch.enter(9));
        assert_eq!(unreadable.overran(&watch, Duration::from_secs(10)), None, "on 9 for less than half the budget");
        assert!(unreadable.current().is_empty());
    }
}
