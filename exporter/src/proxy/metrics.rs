//! The proxy's in-memory counters and histograms, one [`ServerState`] per proxied server, and
//! their rendering as `llm_proxy_*` families at scrape time. Each finished request is recorded
//! once, under one lock, into exactly one series of each family.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::endpoint::{Endpoint, Kind};
use super::extract::Tally;
use super::models::{ModelSet, OTHER};
use crate::config::Backend;
use crate::family::{self, labels, Family, Labels};
use crate::server_facts::ServerFacts;

/// Time to first token: 5 ms to 2 min.
pub const TTFT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0,
    30.0, 60.0, 120.0,
];
/// Inter-token latency: 1 ms to 5 s.
pub const ITL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0,
    2.5, 5.0,
];
/// Request duration: 10 ms to 10 min.
pub const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0,
    600.0,
];

/// A histogram with fixed bounds: a count per bucket (not cumulative; the last is `+Inf`).
#[derive(Debug, Clone, PartialEq)]
pub struct Hist {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
}

impl Hist {
    pub fn new(bounds: &'static [f64]) -> Hist {
        Hist { bounds, counts: vec![0; bounds.len() + 1], sum: 0.0 }
    }

    pub fn observe(&mut self, seconds: f64) {
        let i = self.bounds.partition_point(|b| *b < seconds);
        self.counts[i] += 1;
        self.sum += seconds;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum += other.sum;
    }

    fn to_family_histogram(&self) -> family::Histogram {
        let mut running = 0u64;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (bound, count) in self.bounds.iter().chain([&f64::INFINITY]).zip(&self.counts) {
            running += count;
            buckets.push((*bound, running as f64));
        }
        family::Histogram { buckets, sum: self.sum, count: running as f64 }
    }
}

/// One finished request, as the tap saw it.
#[derive(Debug)]
pub struct Record {
    pub endpoint: Endpoint,
    pub model: Option<String>,
    pub outcome: &'static str,
    pub duration: f64,
    pub ttft: Option<f64>,
    pub itl: Hist,
    pub tally: Tally,
    /// Why tokens or latencies of this request could not be read, if they could not.
    pub unmeasured: Option<&'static str>,
    /// The backend the response showed (`ollama`, `llamacpp`).
    pub backend_seen: Option<&'static str>,
}

#[derive(Debug)]
struct Series {
    ttft: Hist,
    itl: Hist,
    duration: Hist,
    outcomes: BTreeMap<&'static str, u64>,
    prompt: Option<u64>,
    cached: Option<u64>,
    generated: Option<u64>,
    load_seconds: Option<f64>,
    prompt_seconds: Option<f64>,
    generation_seconds: Option<f64>,
}

impl Default for Series {
    fn default() -> Series {
        Series {
            ttft: Hist::new(TTFT_BUCKETS),
            itl: Hist::new(ITL_BUCKETS),
            duration: Hist::new(DURATION_BUCKETS),
            outcomes: BTreeMap::new(),
            prompt: None,
            cached: None,
            generated: None,
            load_seconds: None,
            prompt_seconds: None,
            generation_seconds: None,
        }
    }
}

impl Series {
    /// Adds another series' counts to this one's (a model folded into `other`).
    fn absorb(&mut self, other: Series) {
        self.ttft.merge(&other.ttft);
        self.itl.merge(&other.itl);
        self.duration.merge(&other.duration);
        for (outcome, n) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += n;
        }
        add(&mut self.prompt, other.prompt);
        add(&mut self.cached, other.cached);
        add(&mut self.generated, other.generated);
        add(&mut self.load_seconds, other.load_seconds);
        add(&mut self.prompt_seconds, other.prompt_seconds);
        add(&mut self.generation_seconds, other.generation_seconds);
    }
}

/// A total of numbers responses report: they come from outside, so counts saturate.
trait Total: Copy + Default {
    fn plus(self, other: Self) -> Self;
}

impl Total for u64 {
    fn plus(self, other: u64) -> u64 {
        self.saturating_add(other)
    }
}

impl Total for f64 {
    fn plus(self, other: f64) -> f64 {
        self + other
    }
}

fn add<T: Total>(total: &mut Option<T>, value: Option<T>) {
    if let Some(v) = value {
        *total = Some(total.unwrap_or_default().plus(v));
    }
}

#[derive(Debug, Default)]
struct Inner {
    backend_seen: Option<&'static str>,
    models: ModelSet,
    series: BTreeMap<(&'static str, Arc<str>), Series>,
    unmeasured: BTreeMap<&'static str, u64>,
}

/// Everything measured for one proxied server.
#[derive(Debug)]
pub struct ServerState {
    server: String,
    backend: Backend,
    /// What the upstream's own scrape found: its backend and models.
    facts: Arc<ServerFacts>,
    in_flight: AtomicI64,
    inner: Mutex<Inner>,
}

impl ServerState {
    pub fn new(server: &str, backend: Backend, facts: Arc<ServerFacts>) -> ServerState {
        ServerState {
            server: server.to_string(),
            backend,
            facts,
            in_flight: AtomicI64::new(0),
            inner: Mutex::default(),
        }
    }

    /// The server's reported models, applied when they changed: series of models it no longer
    /// reports (or never did: names seen before its first scrape) are folded into `other`.
    /// Returns the list.
    fn sync_models(&self, inner: &mut Inner) -> Arc<std::collections::BTreeSet<String>> {
        let reported = self.facts.reported(&self.server);
        for gone in inner.models.sync(&reported) {
            let keys: Vec<_> = inner.series.keys().filter(|(_, m)| *m == gone).cloned().collect();
            for key in keys {
                if let Some(series) = inner.series.remove(&key) {
                    inner.series.entry((key.0, Arc::from(OTHER))).or_default().absorb(series);
                }
            }
        }
        reported.names
    }

    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished request (and ends its in-flight count).
    pub fn record(&self, record: Record) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if record.backend_seen.is_some() {
            inner.backend_seen = record.backend_seen;
        }
        if let Some(reason) = record.unmeasured {
            *inner.unmeasured.entry(reason).or_default() += 1;
        }
        let reported = self.sync_models(&mut inner);
        // A request that failed names its model on the client's word only.
        let ok = matches!(record.outcome, "2xx" | "stream_error");
        let model = inner.models.admit(record.model.as_deref(), &reported, ok);
        let series = inner.series.entry((record.endpoint.path, model)).or_default();
        *series.outcomes.entry(record.outcome).or_default() += 1;
        series.duration.observe(record.duration);
        if let Some(ttft) = record.ttft.filter(|_| record.endpoint.kind == Kind::Generation) {
            series.ttft.observe(ttft);
        }
        series.itl.merge(&record.itl);
        let tokens = record.tally.tokens();
        add(&mut series.prompt, tokens.prompt);
        add(&mut series.cached, tokens.cached);
        add(&mut series.generated, tokens.generated);
        add(&mut series.load_seconds, record.tally.load_seconds);
        add(&mut series.prompt_seconds, record.tally.prompt_seconds);
        add(&mut series.generation_seconds, record.tally.generation_seconds);
    }

    /// The configured backend, else the one the upstream's scrape detected (so the series
    /// join the server's own by `server` and `backend`), else the one the responses showed,
    /// else `unknown`.
    fn backend_label(&self, inner: &Inner) -> &'static str {
        match self.backend {
            Backend::Auto => match self.facts.backend(&self.server) {
                Some(detected) if detected != Backend::Auto => detected.as_str(),
                _ => inner.backend_seen.unwrap_or("unknown"),
            },
            known => known.as_str(),
        }
    }
}

#[path = "render.rs"]
mod render;
pub use render::render;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_upstream_json_saturate_instead_of_overflowing() {
        let state = ServerState::new("s", Backend::Auto, Arc::default());
        let endpoint = super::super::endpoint::lookup(&http::Method::POST, "/v1/completions").unwrap();
        for _ in 0..2 {
            let mut tally = Tally::default();
            let huge = format!(r#"{{"model":"m","usage":{{"completion_tokens":{}}}}}"#, u64::MAX);
            super::super::extract::read(huge.as_bytes(), &mut tally);
            state.started();
            state.record(Record {
                endpoint,
                model: Some("m".into()),
                outcome: "2xx",
                duration: 0.1,
                ttft: Some(0.1),
                itl: Hist::new(ITL_BUCKETS),
                tally,
                unmeasured: None,
                backend_seen: None,
            });
        }
        let inner = state.inner.lock().unwrap();
        let series = inner.series.values().next().unwrap();
        assert_eq!(series.generated, Some(u64::MAX));
        assert_eq!(series.outcomes["2xx"], 2);
    }
}
