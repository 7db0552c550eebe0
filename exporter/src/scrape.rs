//! One scrape: every enabled collector at once, each under the scrape deadline, plus the
//! exporter's own series, encoded once.
//!
//! Concurrent scrapes are coalesced: while a collection is running, every request that arrives
//! waits for that one instead of starting another. llama.cpp resets some values when read, and
//! an LLM server should see one scrape per collection however many Prometheus replicas ask.
//! The live console goes further ([`Scraper::recent`]): it takes the most recent collection
//! when that one started less than its minimum interval ago, or ended less than its own
//! duration ago, so open consoles never make a collector run more often than that, nor keep a
//! slow one running back to back.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::future::{join_all, BoxFuture, FutureExt, Shared};
use prometheus::core::Collector as _;

#[cfg(target_os = "linux")]
mod own_process;

use crate::collectors::local_scan::LocalScanner;
use crate::collectors::{Collector, ScrapeContext};
use crate::discovery::LocalView;
use crate::family::{encode_text, labels, merge, Family, Kind};

/// The scan for local servers may take at most this fraction of the scrape budget.
const SCAN_SHARE_OF_BUDGET: u32 = 4;

/// An encoded scrape body, shared by all requests that were coalesced into it.
pub type Body = Arc<String>;

type InFlight = Shared<BoxFuture<'static, Option<Body>>>;

/// A finished collection, kept for the console.
#[derive(Clone)]
pub struct Collection {
    pub body: Body,
    /// When the collection started (what the console's minimum interval counts from).
    pub started: Instant,
    /// When it ended: a collection slower than the interval is reused for as long as it took,
    /// so consoles cannot keep it running back to back.
    pub ended: Instant,
    /// When it ended, as wall-clock time: the moment its values were read.
    pub at: SystemTime,
}

pub struct Scraper {
    collectors: Vec<Arc<dyn Collector>>,
    /// Finds local servers before the collectors run; `None` when no collector needs them.
    scanner: Option<LocalScanner>,
    scrape_errors: prometheus::IntCounterVec,
    in_flight: Mutex<Option<InFlight>>,
    /// Each failing collector's last failure, so a failure that repeats is logged once.
    last_failure: Mutex<HashMap<&'static str, String>>,
    /// The most recent scan for local servers and when it ended, for the landing page.
    last_scan: Mutex<Option<(Instant, Arc<LocalView>)>>,
    /// The most recent finished collection, whoever asked for it.
    latest: Mutex<Option<Collection>>,
}

impl Scraper {
    pub fn new(collectors: Vec<Arc<dyn Collector>>, scanner: Option<LocalScanner>) -> Arc<Scraper> {
        let opts = prometheus::Opts::new(
            "llm_exporter_scrape_errors_total",
            "Scrapes in which a collector failed or ran out of time, and failed calls that cost part of a collector's series, since the exporter started",
        );
        let scrape_errors = prometheus::IntCounterVec::new(opts, &["collector"])
            .unwrap_or_else(|e| unreachable!("static metric options are valid: {e}"));
        for c in &collectors {
            scrape_errors.with_label_values(&[c.name()]);
        }
        Arc::new(Scraper {
            collectors,
            scanner,
            scrape_errors,
            in_flight: Mutex::new(None),
            last_failure: Mutex::default(),
            last_scan: Mutex::default(),
            latest: Mutex::default(),
        })
    }

    /// Returns the encoded body of a collection within `budget`, joining the one in flight if
    /// there is one. `None` only if the collection task itself died.
    pub async fn scrape(self: &Arc<Self>, budget: Duration) -> Option<Body> {
        let shared = {
            let mut slot = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            match slot.as_ref().filter(|s| s.peek().is_none()) {
                Some(running) => running.clone(),
                None => {
                    let me = Arc::clone(self);
                    // Spawned, so a client that hangs up does not cancel it for the others.
                    let task = tokio::spawn(async move {
                        let started = Instant::now();
                        let body = Arc::new(encode_text(&me.collect(budget).await));
                        let (ended, at) = (Instant::now(), SystemTime::now());
                        let done = Collection { body: Arc::clone(&body), started, ended, at };
                        *me.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(done);
                        body
                    });
                    let fresh = task.map(Result::ok).boxed().shared();
                    *slot = Some(fresh.clone());
                    fresh
                }
            }
        };
        shared.await
    }

    /// The most recent collection when it started less than `min_interval` ago or ended less
    /// than its own duration ago; else a fresh one, joined with any in flight (as
    /// [`Scraper::scrape`]). `None` only if the collection task itself died.
    pub async fn recent(self: &Arc<Self>, min_interval: Duration, budget: Duration) -> Option<Collection> {
        if let Some(fresh) = self
            .latest()
            .filter(|c| c.started.elapsed() < min_interval || c.ended.elapsed() < c.ended.duration_since(c.started))
        {
            return Some(fresh);
        }
        let body = self.scrape(budget).await?;
        // The collection that produced `body` is the latest one unless another has ended
        // since, which is fresher still.
        self.latest().or_else(|| {
            Some(Collection { body, started: Instant::now(), ended: Instant::now(), at: SystemTime::now() })
        })
    }

    fn latest(&self) -> Option<Collection> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What the most recent scrape's scan for local servers found, and when; `None` before the
    /// first scrape or when nothing scans. Reading it costs nothing, so `/` can show it.
    pub fn last_scan(&self) -> Option<(Instant, Arc<LocalView>)> {
        self.last_scan.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs every collector concurrently and returns all families, merged and sorted.
    pub async fn collect(&self, budget: Duration) -> Vec<Family> {
        let start = Instant::now();
        let local = match &self.scanner {
            Some(scanner) => {
                let local = scanner.scan(budget / SCAN_SHARE_OF_BUDGET).await;
                *self.last_scan.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), Arc::clone(&local)));
                local
            }
            None => Arc::default(),
        };
        let budget = budget.saturating_sub(start.elapsed());
        let scan_failure = local.incomplete.clone();
        let unreadable = self.scanner.as_ref().map(|_| unreadable_family(local.unreadable.len()));
        let context = ScrapeContext { budget, local };
        let context = &context;
        let runs = self.collectors.iter().map(|c| async move {
            let start = Instant::now();
            let result = match tokio::time::timeout(budget, c.collect(context)).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("ran out of the {:.3}s scrape budget", budget.as_secs_f64())),
            };
            (c.name(), start.elapsed(), result)
        });
        let mut families = Vec::new();
        let mut success =
            Family::gauge("llm_exporter_collector_success", "1 when the collector succeeded in this scrape, else 0");
        let mut duration =
            Family::gauge("llm_exporter_collector_duration_seconds", "Seconds the collector took in this scrape");
        for (collector, (name, elapsed, result)) in self.collectors.iter().zip(join_all(runs).await) {
            // Discovered servers missing from an unfinished scan would vanish in silence: what was
            // collected is kept, and the collector reports the failure.
            let result = match (result, &scan_failure) {
                (Ok(found), Some(why)) if collector.uses_local_scan() => {
                    families.extend(found);
                    Err(format!("discovery incomplete: {why}"))
                }
                (result, _) => result,
            };
            let ok = match result {
                Ok(found) => {
                    families.extend(found);
                    self.log_outcome(name, None);
                    true
                }
                Err(why) => {
                    self.log_outcome(name, Some(why));
                    self.scrape_errors.with_label_values(&[name]).inc();
                    false
                }
            };
            let partial = collector.take_partial_errors();
            if partial > 0 {
                self.scrape_errors.with_label_values(&[name]).inc_by(partial);
            }
            success.push(labels([("collector", name)]), if ok { 1.0 } else { 0.0 });
            duration.push(labels([("collector", name)]), elapsed.as_secs_f64());
        }
        families.push(success);
        families.push(duration);
        families.push(build_info());
        families.extend(unreadable);
        families.extend(self.own_families());
        merge(families)
    }

    /// Logs a collector's failure when it differs from its previous one (at debug when it
    /// repeats), and its recovery: a source that stays down is logged once, not every scrape.
    fn log_outcome(&self, name: &'static str, failure: Option<String>) {
        let mut last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        match failure {
            Some(why) if last.get(name) == Some(&why) => log::debug!("collector {name} failed again: {why}"),
            Some(why) => {
                log::warn!("collector {name} failed: {why}");
                last.insert(name, why);
            }
            None => {
                if last.remove(name).is_some() {
                    log::info!("collector {name} succeeded again");
                }
            }
        }
    }

    /// `llm_exporter_scrape_errors_total` and, on Linux, the exporter's own `process_*`.
    fn own_families(&self) -> Vec<Family> {
        #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
        let mut found: Vec<Family> = self.scrape_errors.collect().iter().map(from_prometheus).collect();
        #[cfg(target_os = "linux")]
        found.extend(own_process::families());
        found
    }
}

fn unreadable_family(pids: usize) -> Family {
    Family::gauge(
        "llm_exporter_process_unreadable_pids",
        "Processes left out of the reads of /proc (discovery and the process collector) because reading their files hung (uninterruptible sleep); each is skipped while it hangs and for 10 minutes after",
    )
    .with(labels([]), pids as f64)
}

fn build_info() -> Family {
    Family::gauge("llm_exporter_build_info", "Version, git revision and compiler of this exporter; always 1").with(
        labels([
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", env!("LLM_EXPORTER_REVISION")),
            ("rustc", env!("LLM_EXPORTER_RUSTC")),
        ]),
        1.0,
    )
}

/// Converts a counter or gauge family of the `prometheus` crate into ours.
fn from_prometheus(mf: &prometheus::proto::MetricFamily) -> Family {
    use prometheus::proto::MetricType;
    let kind = match mf.get_field_type() {
        MetricType::COUNTER => Kind::Counter,
        MetricType::GAUGE => Kind::Gauge,
        // The exporter registers only counters and gauges.
        _ => Kind::Untyped,
    };
    let mut family = Family::new(mf.name().to_string(), mf.help().to_string(), kind);
    for m in mf.get_metric() {
        let labels = m.get_label().iter().map(|l| (l.name().to_string().into(), l.value().to_string())).collect();
        match kind {
            Kind::Counter => family.push(labels, m.get_counter().get_value()),
            Kind::Gauge => family.push(labels, m.get_gauge().get_value()),
            _ => {}
        }
    }
    family
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::collectors::CollectError;

    /// Counts its runs; each takes 50 ms, so concurrent requests overlap.
    struct Counting(AtomicUsize);

    impl Collector for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }

        fn collect<'a>(&'a self, _: &'a ScrapeContext) -> BoxFuture<'a, Result<Vec<Family>, CollectError>> {
            async move {
                let run = self.0.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(vec![Family::counter("runs_total", "runs").with(Vec::new(), run as f64)])
            }
            .boxed()
        }
    }

    #[tokio::test]
    async fn consoles_reuse_a_collection_younger_than_the_minimum_interval() {
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let scraper = Scraper::new(vec![Arc::clone(&counting) as Arc<dyn Collector>], None);
        let budget = Duration::from_secs(5);
        let runs = || counting.0.load(Ordering::SeqCst);
        // Ten consoles at once: one collection.
        let first = join_all((0..10).map(|_| scraper.recent(Duration::from_secs(60), budget))).await;
        assert_eq!(runs(), 1);
        let at = first[0].as_ref().unwrap().at;
        assert!(first.iter().all(|c| c.as_ref().is_some_and(|c| c.at == at && c.body.contains("runs_total 1"))));
        // Later consoles within the interval: still that one.
        for _ in 0..5 {
            assert_eq!(scraper.recent(Duration::from_secs(60), budget).await.unwrap().at, at);
        }
        assert_eq!(runs(), 1);
        // A Prometheus scrape always collects, and consoles then show its collection.
        assert!(scraper.scrape(budget).await.unwrap().contains("runs_total 2"));
        let after = scraper.recent(Duration::from_secs(60), budget).await.unwrap();
        assert!(after.body.contains("runs_total 2") && after.at > at);
        // Past the interval, but less than the collection's own duration (200 ms) after it ended:
        // still that one, so consoles cannot keep a slow collection running back to back.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(scraper.recent(Duration::from_millis(10), budget).await.unwrap().at, after.at);
        assert_eq!(runs(), 2);
        // Past both, a console starts a new one.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let next = scraper.recent(Duration::from_millis(10), budget).await.unwrap();
        assert!(next.body.contains("runs_total 3"));
        assert_eq!(runs(), 3);
    }
}
