//! One client connection's life: what it is doing ([`ConnState`]) and the timeouts that close
//! it when it does nothing useful.
//!
//! hyper 1.x has a `header_read_timeout`, but its timer starts whenever hyper waits for a
//! request head: on a new connection and again after every response. It would close an idle
//! keep-alive connection after the header timeout and leave no room for a longer idle timeout,
//! and HTTP/2 has none. So hyper's is turned off and [`watchdog`] applies both, from what
//! [`super::tracked`]'s wrappers report (bytes read, writes blocked, requests in flight):
//!
//! - a new connection must deliver its first request head within the header timeout of being
//!   accepted (the TLS handshake included);
//! - between requests, a connection may stay silent for the idle timeout; once the first byte
//!   of the next request arrives, its head must be complete within the header timeout;
//! - a connection serving a request is closed by neither; but when writing its answer stays
//!   blocked for the idle timeout (a client that does not read), it is closed, so clients that
//!   never read cannot hold every seat of the connection cap;
//! - a connection picked for eviction by the connection cap closes at once.
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The two timeouts of [`watchdog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From accepting a connection, or from the first byte of a later request, until its
    /// request head is complete.
    pub read_header: Duration,
    /// How long a connection may stay silent between requests.
    pub idle: Duration,
}

/// What one open connection is doing, shared by its IO, its service, its watchdog and the
/// accept loop's connection table.
#[derive(Debug)]
pub struct ConnState {
    activity: Mutex<Activity>,
    /// Wakes the watchdog when its deadline may have changed.
    wake: Notify,
}

#[derive(Debug, Clone, Copy)]
struct Activity {
    accepted: Instant,
    /// Requests whose answer is not yet written out.
    in_flight: usize,
    /// True once a request has been received on the connection.
    served: bool,
    /// When the last answer was written out (or when the connection was accepted).
    idle_since: Instant,
    /// The first byte received since then, while idle.
    first_byte: Option<Instant>,
    /// Since when writing has been blocked (the client reads nothing); `None` while writes
    /// go through.
    write_blocked: Option<Instant>,
    /// Picked by the connection cap to make room: close now.
    evicted: bool,
}

impl Activity {
    /// When the watchdog closes the connection if nothing changes; `None` while it serves.
    fn deadline(&self, timeouts: Timeouts) -> Option<Instant> {
        if self.evicted {
            return Some(self.accepted);
        }
        if self.in_flight > 0 {
            return self.write_blocked.map(|since| since + timeouts.idle);
        }
        Some(match (self.served, self.first_byte) {
            (false, _) => self.accepted + timeouts.read_header,
            (true, Some(first)) => first + timeouts.read_header,
            (true, None) => self.idle_since + timeouts.idle,
        })
    }
}

impl ConnState {
    pub fn new(now: Instant) -> Arc<ConnState> {
        let activity = Activity {
            accepted: now,
            in_flight: 0,
            served: false,
            idle_since: now,
            first_byte: None,
            write_blocked: None,
            evicted: false,
        };
        Arc::new(ConnState { activity: Mutex::new(activity), wake: Notify::new() })
    }

    fn activity(&self) -> MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True while no request is being served: such a connection may be evicted.
    pub fn is_idle(&self) -> bool {
        let activity = self.activity();
        activity.in_flight == 0 && !activity.evicted
    }

    pub fn is_evicted(&self) -> bool {
        self.activity().evicted
    }

    /// Marks the connection for closing unless it serves a request; true when it was marked.
    pub fn evict_if_idle(&self) -> bool {
        let mut activity = self.activity();
        if activity.in_flight > 0 || activity.evicted {
            return false;
        }
        activity.evicted = true;
        drop(activity);
        self.wake.notify_one();
        true
    }

    pub(super) fn bytes_received(&self, now: Instant) {
        let mut activity = self.activity();
        // Only the first byte after an answer matters: it ends the idle wait and starts the
        // header timeout (a new connection is on the header timeout already).
        if activity.served && activity.in_flight == 0 && activity.first_byte.is_none() {
            activity.first_byte = Some(now);
            drop(activity);
            self.wake.notify_one();
        }
    }

    /// Records whether a write went through or had to wait for the client.
    pub(super) fn write_polled(&self, blocked: bool, now: Instant) {
        let mut activity = self.activity();
        match (blocked, activity.write_blocked) {
            (true, None) => {
                activity.write_blocked = Some(now);
                drop(activity);
                self.wake.notify_one();
            }
            (false, Some(_)) => activity.write_blocked = None,
            _ => {}
        }
    }

    pub(super) fn request_started(&self) {
        let mut activity = self.activity();
        activity.in_flight += 1;
        activity.served = true;
        activity.first_byte = None;
    }

    pub(super) fn request_finished(&self, now: Instant) {
        let mut activity = self.activity();
        activity.in_flight = activity.in_flight.saturating_sub(1);
        if activity.in_flight == 0 {
            activity.idle_since = now;
            activity.first_byte = None;
            drop(activity);
            self.wake.notify_one();
        }
    }
}

/// Why [`watchdog`] closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    HeaderTimeout,
    IdleTimeout,
    WriteStalled,
    Evicted,
}

/// Resolves when the connection should be closed: a timeout ran out, or it was evicted.
pub async fn watchdog(state: &ConnState, timeouts: Timeouts) -> Closed {
    loop {
        let (deadline, why) = {
            let activity = state.activity();
            let why = if activity.evicted {
                Closed::Evicted
            } else if activity.in_flight > 0 {
                Closed::WriteStalled
            } else if activity.served && activity.first_byte.is_none() {
                Closed::IdleTimeout
            } else {
                Closed::HeaderTimeout
            };
            (activity.deadline(timeouts), why)
        };
        match deadline {
            Some(at) if at <= Instant::now() => return why,
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = state.wake.notified() => {}
                }
            }
            None => state.wake.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tracked::InFlight;
    use super::*;

    const T: Timeouts = Timeouts { read_header: Duration::from_secs(10), idle: Duration::from_secs(60) };

    fn deadline(state: &ConnState) -> Option<Instant> {
        state.activity().deadline(T)
    }

    #[test]
    fn a_new_connection_has_the_header_timeout_from_accept_even_when_bytes_trickle_in() {
        let t0 = Instant::now();
        let state = ConnState::new(t0);
        assert_eq!(deadline(&state), Some(t0 + T.read_header));
        state.bytes_received(t0 + Duration::from_secs(5));
        assert_eq!(deadline(&state), Some(t0 + T.read_header));
    }

    #[test]
    fn between_requests_the_idle_timeout_runs_until_the_next_first_byte() {
        let t0 = Instant::now();
        let state = ConnState::new(t0);
        let request = InFlight::start(&state);
        assert_eq!(deadline(&state), None, "serving: never closed");
        assert!(!state.is_idle() && !state.evict_if_idle(), "serving: never evicted");
        state.bytes_received(t0 + Duration::from_secs(1));
        assert_eq!(deadline(&state), None, "a request body arriving is not a new request");
        drop(request);
        let idle_since = state.activity().idle_since;
        assert_eq!(deadline(&state), Some(idle_since + T.idle));
        let first = idle_since + Duration::from_secs(30);
        state.bytes_received(first);
        assert_eq!(deadline(&state), Some(first + T.read_header));
        state.bytes_received(first + Duration::from_secs(5));
        assert_eq!(deadline(&state), Some(first + T.read_header), "only the first byte counts");
        let _next = InFlight::start(&state);
        assert_eq!(deadline(&state), None);
    }

    #[test]
    fn an_answer_the_client_does_not_read_is_cut_after_the_idle_timeout() {
        let t0 = Instant::now();
        let state = ConnState::new(t0);
        let _request = InFlight::start(&state);
        state.write_polled(false, t0);
        assert_eq!(deadline(&state), None);
        let blocked = t0 + Duration::from_secs(1);
        state.write_polled(true, blocked);
        state.write_polled(true, blocked + Duration::from_secs(5));
        assert_eq!(deadline(&state), Some(blocked + T.idle), "from the first blocked write");
        state.write_polled(false, blocked + Duration::from_secs(6));
        assert_eq!(deadline(&state), None, "the client reads again");
    }

    #[test]
    fn an_evicted_connection_closes_at_once() {
        let t0 = Instant::now();
        let state = ConnState::new(t0);
        assert!(state.is_idle() && state.evict_if_idle());
        assert!(!state.is_idle() && state.is_evicted() && !state.evict_if_idle());
        assert_eq!(deadline(&state), Some(t0));
    }

    #[tokio::test]
    async fn the_watchdog_names_why_it_closed() {
        let quick = Timeouts { read_header: Duration::from_millis(1), idle: Duration::from_millis(1) };
        let state = ConnState::new(Instant::now());
        assert_eq!(watchdog(&state, quick).await, Closed::HeaderTimeout);
        drop(InFlight::start(&state));
        assert_eq!(watchdog(&state, quick).await, Closed::IdleTimeout);
        let request = InFlight::start(&state);
        state.write_polled(true, Instant::now());
        assert_eq!(watchdog(&state, quick).await, Closed::WriteStalled);
        drop(request);
        let state = ConnState::new(Instant::now());
        state.evict_if_idle();
        assert_eq!(watchdog(&state, T).await, Closed::Evicted);
    }
}
