//! The `llm` collector: scrapes every LLM server concurrently, each under its own deadline,
//! and exports `llm_server_up` for each. The servers are the configured ones plus, with
//! discovery on, those found listening on this machine's loopback. One server's failure costs
//! only its own series; the collector itself fails only when the scrape budget runs out.
//!
//! A server whose backend the config does not name is detected on first contact
//! ([`detect`]: metric prefixes on `/metrics`, else, when `/metrics` is missing or
//! foreign, Ollama's `/api/version`). The result
//! is kept for as long as the target is scraped and its answers keep matching: when the
//! remembered backend's endpoint answers 404, or its `/metrics` no longer has that backend's
//! series (another server now listens on the port), the target is detected afresh in the same
//! scrape. A discovered server starts from the backend its program name suggests.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{join_all, BoxFuture};

pub mod detect;
pub mod http;
pub mod impossible;
pub mod llama_models;
pub mod llama_router;
pub mod llama_server;
pub mod llama_slots;
pub mod llama_swap;
pub mod mlx;
pub mod normalize;
pub mod ollama;
pub mod sglang;
pub mod tgi;
pub mod vllm;

use super::{CollectError, Collector, ScrapeContext};
use crate::config::{Backend, Config, ServerConfig};
use crate::discovery::LocalServer;
use crate::family::{labels, Family, Kind};
use crate::server_facts::ServerFacts;
use http::{FetchError, Fetcher};
use llama_server::KvLayout;

/// Targets get this share of the scrape budget, so a slow one is reported down before the
/// runner has to cut the whole collector off.
const TARGET_SHARE_OF_BUDGET: f64 = 0.9;

/// The `backend` label of a server whose backend is not known yet.
const UNKNOWN_BACKEND: &str = "unknown";

pub struct LlmCollector {
    configured: Vec<ServerConfig>,
    discovery: bool,
    fetcher: Fetcher,
    /// The last failure reason per server name, so each change of state is logged once, not
    /// every scrape. Servers that are gone are dropped from it.
    last_errors: Mutex<HashMap<String, String>>,
    /// The backend each server without a configured one was found to run, by server name.
    /// Servers that are gone are dropped from it.
    detected: Mutex<HashMap<String, Backend>>,
    /// Series beyond this many per target are dropped ([`cap_series`]).
    max_series: usize,
    /// Series dropped by a cap so far, by server name: `llm_exporter_target_series_dropped_total`.
    /// Servers that are gone are dropped from it.
    dropped: Mutex<HashMap<String, u64>>,
    /// Impossible values dropped so far ([`impossible`]), by server name and reason:
    /// `llm_exporter_target_values_dropped_total`. Servers that are gone are dropped from it.
    rejected: Mutex<HashMap<String, [u64; 2]>>,
    /// What each local llama-server's command line says about its KV cache, by server name;
    /// replaced on every scrape.
    layouts: Mutex<HashMap<String, KvLayout>>,
    /// Each server's backend and reported models, for the proxies in front of them.
    facts: Arc<ServerFacts>,
}

/// The per-target deadline: every GET of one target gets what is left of it.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    fn remaining(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
}

/// Why a target gave no series this scrape.
struct Failure {
    why: String,
    /// The answer suggests another backend now serves the target: a 404 on the backend's main
    /// endpoint, or a body without its series.
    mismatch: bool,
    /// The server answered, and its answer says it will not serve metrics to us: the endpoint
    /// is switched off (llama-server without `--metrics`: 501) or needs a key (401, 403). It
    /// runs, so it is not down; it cannot be monitored as it is configured.
    refused: bool,
}

impl Failure {
    fn fetch(path: &str, e: FetchError, deadline: Deadline) -> Failure {
        let mismatch = e == FetchError::Status(404);
        let refused = matches!(e, FetchError::Status(501) | FetchError::Denied { .. });
        // Every GET of a target shares its deadline: report the deadline, not what was left.
        let e = if let FetchError::Timeout(_) = e { FetchError::Timeout(deadline.total) } else { e };
        Failure { why: format!("GET {path}: {e}"), mismatch, refused }
    }

    fn mismatch(why: String) -> Failure {
        Failure { why, mismatch: true, refused: false }
    }
}

/// A body that detection already read, handed on so it is not fetched twice.
enum Prefetched {
    Nothing,
    Metrics(Vec<u8>),
    Version(String),
}

impl LlmCollector {
    pub fn new(config: &Config) -> Result<LlmCollector, String> {
        Ok(LlmCollector {
            configured: config.servers.clone(),
            discovery: config.discovery,
            fetcher: Fetcher::new(config.max_body_bytes)?,
            last_errors: Mutex::default(),
            detected: Mutex::default(),
            max_series: config.max_series_per_target,
            dropped: Mutex::default(),
            rejected: Mutex::default(),
            layouts: Mutex::default(),
            facts: Arc::default(),
        })
    }

    /// Publishes what each scrape learns into `facts` (shared with the proxies).
    pub fn sharing_facts(mut self, facts: Arc<ServerFacts>) -> LlmCollector {
        self.facts = facts;
        self
    }

    /// The series of one target. A discovered server that refuses to serve metrics (see
    /// [`Failure::refused`]) is not scraped: it gets no series at all, so it does not count as
    /// a down server, and the log says why once.
    async fn scrape_one(&self, server: &ServerConfig, budget: Duration) -> Vec<Family> {
        let total = server.timeout.unwrap_or(budget).min(budget.mul_f64(TARGET_SHARE_OF_BUDGET));
        let deadline = Deadline { at: Instant::now() + total, total };
        let (backend, result) = self.scrape_target(server, deadline).await;
        let label = if backend == Backend::Auto { UNKNOWN_BACKEND } else { backend.as_str() };
        let discovered = !self.configured.iter().any(|c| c.name == server.name);
        self.facts.learned(&server.name, backend, result.as_ref().ok().map(Vec::as_slice));
        let (mut families, up) = match result {
            Ok(families) => {
                self.log_change(server, None);
                (families, 1.0)
            }
            Err(failure) if discovered && failure.refused => {
                self.log_change(server, Some(format!("is not scraped: {}", failure.why)));
                return Vec::new();
            }
            Err(failure) => {
                self.log_change(server, Some(format!("is down: {}", failure.why)));
                (Vec::new(), 0.0)
            }
        };
        let rejected = self.count_rejected(server, impossible::drop_impossible(&mut families));
        let dropped = families.iter().map(|f| f.dropped).sum::<usize>() + cap_series(&mut families, self.max_series);
        let dropped_total = self.count_dropped(server, dropped);
        families.push(up_family(server, label, up));
        families.push(dropped_family(server, dropped_total));
        families.push(rejected_family(server, rejected));
        families
    }

    /// Adds this scrape's dropped series to the server's total and returns it; the first drop
    /// of a server is logged.
    fn count_dropped(&self, server: &ServerConfig, now: usize) -> u64 {
        let mut dropped = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        let total = dropped.entry(server.name.clone()).or_default();
        if now > 0 && *total == 0 {
            log::warn!(
                "server {} ({}): {now} series over a cap dropped (at most {} per server, {} per family, \
                 {} models per router; unloaded models are left out first); \
                 see llm_exporter_target_series_dropped_total",
                server.name,
                server.url,
                self.max_series,
                normalize::MAX_SERIES_PER_FAMILY,
                llama_router::MAX_MODELS
            );
        }
        *total += now as u64;
        *total
    }

    /// Adds this scrape's impossible values to the server's totals and returns them; the first
    /// of a server is logged.
    fn count_rejected(&self, server: &ServerConfig, now: [u64; 2]) -> [u64; 2] {
        let mut rejected = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        let total = rejected.entry(server.name.clone()).or_default();
        if now.iter().sum::<u64>() > 0 && total.iter().sum::<u64>() == 0 {
            log::warn!(
                "server {} ({}): {} negative and {} infinite values dropped; \
                 see llm_exporter_target_values_dropped_total",
                server.name,
                server.url,
                now[0],
                now[1]
            );
        }
        for (total, now) in total.iter_mut().zip(now) {
            *total += now;
        }
        *total
    }

    /// Scrapes one target as its configured, remembered or detected backend. Returns the
    /// backend its series are labelled with (`Auto` while unknown) and the families or why not.
    async fn scrape_target(
        &self,
        server: &ServerConfig,
        deadline: Deadline,
    ) -> (Backend, Result<Vec<Family>, Failure>) {
        let as_is = |backend, prefetched| async move {
            let result = self.scrape_as(backend, server, deadline, prefetched).await;
            (backend, result)
        };
        if server.backend != Backend::Auto {
            return as_is(server.backend, Prefetched::Nothing).await;
        }
        let remembered = self.detected.lock().ok().and_then(|d| d.get(&server.name).copied());
        if let Some(backend) = remembered {
            let failure = match self.scrape_as(backend, server, deadline, Prefetched::Nothing).await {
                Ok(families) => return (backend, Ok(families)),
                Err(failure) => failure,
            };
            if failure.mismatch {
                if let Ok((found, prefetched, also)) = self.detect(server, deadline).await {
                    if found != backend {
                        self.remember(server, found, &also, Some(backend));
                        return as_is(found, prefetched).await;
                    }
                }
            }
            return (backend, Err(failure));
        }
        match self.detect(server, deadline).await {
            Ok((found, prefetched, also)) => {
                self.remember(server, found, &also, None);
                as_is(found, prefetched).await
            }
            Err(why) => (Backend::Auto, Err(why)),
        }
    }

    /// Reads and shapes one target as `backend`.
    async fn scrape_as(
        &self,
        backend: Backend,
        server: &ServerConfig,
        deadline: Deadline,
        prefetched: Prefetched,
    ) -> Result<Vec<Family>, Failure> {
        let (fetcher, base, key, timeout) =
            (&self.fetcher, &server.url, server.api_key.as_deref(), deadline.remaining());
        let (metrics, version) = match prefetched {
            Prefetched::Nothing => (None, None),
            Prefetched::Metrics(body) => (Some(body), None),
            Prefetched::Version(body) => (None, Some(body)),
        };
        let failed = |e| Failure::fetch("/metrics", e, deadline);
        match backend {
            Backend::Llamacpp => {
                let layout = self.layouts.lock().ok().and_then(|l| l.get(&server.name).copied());
                // A server that sleeps when idle, or may (its command line is not visible here),
                // stays awake as long as /slots is read.
                let when = llama_server::SlotsRead::from_layout(layout.as_ref());
                let reading = match llama_server::read_with(fetcher, base, key, timeout, metrics, when).await {
                    // A router answers a bare /metrics with 400: its models are read one by one.
                    Err(e @ FetchError::Status(400)) => return self.scrape_router(server, deadline, e).await,
                    other => other.map_err(failed)?,
                };
                llama_server::shape_with_layout(server, &reading, layout.as_ref()).map_err(Failure::mismatch)
            }
            Backend::Vllm => {
                let reading = vllm::read(fetcher, base, key, timeout, metrics).await.map_err(failed)?;
                vllm::shape(server, &reading).map_err(Failure::mismatch)
            }
            Backend::Sglang => {
                let reading = sglang::read(fetcher, base, key, timeout, metrics).await.map_err(failed)?;
                sglang::shape(server, &reading).map_err(Failure::mismatch)
            }
            Backend::Tgi => {
                let reading = tgi::read(fetcher, base, key, timeout, metrics).await.map_err(failed)?;
                tgi::shape(server, &reading).map_err(Failure::mismatch)
            }
            Backend::Ollama => {
                let reading = ollama::read(fetcher, base, key, timeout, version)
                    .await
                    .map_err(|e| Failure::fetch("/api/version", e, deadline))?;
                ollama::shape(server, &reading).map_err(Failure::mismatch)
            }
            Backend::Llamaswap => match llama_swap::read(fetcher, base, key, timeout).await {
                Ok(Some(reading)) => Ok(llama_swap::shape(server, &reading)),
                Ok(None) => Err(Failure::mismatch("/running is not llama-swap's".into())),
                Err(e) => Err(Failure::fetch("/running", e, deadline)),
            },
            Backend::Mlx => {
                let models = mlx::read(fetcher, base, key, timeout)
                    .await
                    .map_err(|e| Failure::fetch("/v1/models", e, deadline))?;
                if mlx::is_empty_answer(&models) {
                    // The server answers; another backend would not answer so. Not a mismatch.
                    return Err(Failure { why: mlx::EMPTY_MODELS.into(), mismatch: false, refused: false });
                }
                mlx::shape(server, &models).map_err(Failure::mismatch)
            }
            Backend::Auto => Err(Failure::mismatch("the backend is not known yet".into())),
        }
    }

    /// Reads a llama.cpp router ([`llama_router`]); `bare` is what its bare `/metrics` said,
    /// the failure reported when `/models` is not a router's list after all.
    async fn scrape_router(
        &self,
        server: &ServerConfig,
        deadline: Deadline,
        bare: FetchError,
    ) -> Result<Vec<Family>, Failure> {
        let (base, key) = (&server.url, server.api_key.as_deref());
        match llama_router::read(&self.fetcher, base, key, deadline.remaining()).await {
            Ok(Some(reading)) => Ok(llama_router::shape(server, &reading)),
            Ok(None) => Err(Failure::fetch("/metrics", bare, deadline)),
            Err(e) => Err(Failure::fetch("/models", e, deadline)),
        }
    }

    /// Tells the backend from `/metrics`, else from `/api/version`. Returns the backend, the
    /// body read on the way, and the other backends whose series share the body.
    ///
    /// Ollama is asked only when `/metrics` is not there (404) or has no known series: any
    /// other answer (501 without `--metrics`, 401, 503 while loading) comes from a server that
    /// has the endpoint, so it is not Ollama, and its failure is reported as it is.
    async fn detect(
        &self,
        server: &ServerConfig,
        deadline: Deadline,
    ) -> Result<(Backend, Prefetched, Vec<Backend>), Failure> {
        let (base, key) = (&server.url, server.api_key.as_deref());
        let why_not_metrics = match self.fetcher.get_path(base, "metrics", key, deadline.remaining()).await {
            Ok(body) => match detect::from_metrics(&body) {
                Some(found) => return Ok((found.backend, Prefetched::Metrics(body), found.also)),
                None => "/metrics has no llamacpp:, vllm:, sglang: or tgi_ series".to_string(),
            },
            Err(e @ FetchError::Status(404)) => Failure::fetch("/metrics", e, deadline).why,
            // A llama.cpp router wants a model named on /metrics; /models tells it.
            Err(e @ FetchError::Status(400)) => {
                let models = self.fetcher.get_text(base, "models", key, deadline.remaining()).await;
                if models.ok().and_then(|b| llama_router::parse_models(&b)).is_some() {
                    return Ok((Backend::Llamacpp, Prefetched::Nothing, Vec::new()));
                }
                return Err(Failure::fetch("/metrics", e, deadline));
            }
            Err(e) => return Err(Failure::fetch("/metrics", e, deadline)),
        };
        let failed = |why| Failure { why, mismatch: false, refused: false };
        // llama-swap answers /api/version too: its /running goes first.
        let running = self.fetcher.get_text(base, "running", key, deadline.remaining()).await;
        if running.ok().and_then(|b| llama_swap::parse_running(&b, base)).is_some() {
            return Ok((Backend::Llamaswap, Prefetched::Nothing, Vec::new()));
        }
        match self.fetcher.get_text(base, "api/version", key, deadline.remaining()).await {
            Ok(body) if detect::is_ollama_version(&body) => {
                Ok((Backend::Ollama, Prefetched::Version(body), Vec::new()))
            }
            Ok(_) => Err(failed(format!("{why_not_metrics}, and /api/version is not Ollama's"))),
            Err(e) => {
                let version = Failure::fetch("/api/version", e, deadline);
                Err(Failure { why: format!("{why_not_metrics}, and {}", version.why), ..version })
            }
        }
    }

    /// Keeps a detected backend and logs the news once.
    fn remember(&self, server: &ServerConfig, found: Backend, also: &[Backend], before: Option<Backend>) {
        if let Ok(mut detected) = self.detected.lock() {
            detected.insert(server.name.clone(), found);
        }
        let (name, url, found) = (&server.name, server.url.as_str(), found.as_str());
        let also = match also {
            [] => String::new(),
            others => {
                let names: Vec<&str> = others.iter().map(|b| b.as_str()).collect();
                format!(" (/metrics also has {} series; set backend in the config to choose)", names.join(", "))
            }
        };
        match before {
            None => log::info!("server {name} ({url}): backend {found} detected{also}"),
            Some(before) => {
                log::warn!("server {name} ({url}): backend changed from {} to {found}{also}", before.as_str())
            }
        }
    }

    /// Logs a server going down (or out of reach), changing reason, or coming back; stays
    /// quiet otherwise. `error` starts with the state: `is down: …`, `is not scraped: …`.
    fn log_change(&self, server: &ServerConfig, error: Option<String>) {
        let Ok(mut last) = self.last_errors.lock() else { return };
        let (name, url) = (&server.name, server.url.as_str());
        match error {
            Some(why) if last.get(name).is_none_or(|before| !same_reason(before, &why)) => {
                log::warn!("server {name} ({url}) {why}");
                last.insert(name.clone(), why);
            }
            None if last.remove(name).is_some() => log::info!("server {name} ({url}) is up again"),
            _ => {}
        }
    }

    /// Configured servers, then discovered ones that no configured server already points at.
    /// Names are unique: a second target of the same name would repeat the first one's series
    /// under the same labels, so it is left out.
    fn targets(&self, local: &[LocalServer]) -> Vec<ServerConfig> {
        let mut targets = self.configured.clone();
        let mut hints = Vec::new();
        if self.discovery {
            for (target, hint) in local.iter().filter(|s| !s.configured).filter_map(discovered_target) {
                if targets.iter().any(|t| t.name == target.name) {
                    continue;
                }
                hints.push((target.name.clone(), hint));
                targets.push(target);
            }
        }
        if let Ok(mut layouts) = self.layouts.lock() {
            *layouts = local.iter().filter_map(|s| Some((s.name.clone(), s.kv?))).collect();
        }
        if let Ok(mut last) = self.last_errors.lock() {
            last.retain(|name, _| targets.iter().any(|t| &t.name == name));
        }
        if let Ok(mut dropped) = self.dropped.lock() {
            dropped.retain(|name, _| targets.iter().any(|t| &t.name == name));
        }
        if let Ok(mut rejected) = self.rejected.lock() {
            rejected.retain(|name, _| targets.iter().any(|t| &t.name == name));
        }
        if let Ok(mut detected) = self.detected.lock() {
            detected.retain(|name, _| targets.iter().any(|t| &t.name == name));
            for (name, hint) in hints.into_iter().filter(|(_, hint)| *hint != Backend::Auto) {
                detected.entry(name).or_insert(hint);
            }
        }
        targets
    }
}

/// True when two failure reasons differ at most in their numbers (a deadline that is a few
/// milliseconds shorter this scrape is the same failure, not news for the log).
fn same_reason(a: &str, b: &str) -> bool {
    let words = |s: &str| s.split(|c: char| c.is_ascii_digit() || c == '.').collect::<String>();
    words(a) == words(b)
}

/// The discovered servers of a scan that this collector scrapes, with the backend each one's
/// program suggests; the landing page lists them.
pub fn discovered_targets(local: &[LocalServer]) -> Vec<(ServerConfig, Backend)> {
    local.iter().filter(|s| !s.configured).filter_map(discovered_target).collect()
}

/// A discovered server as a target, when it speaks a backend this version scrapes, with the
/// backend its program suggests. The target itself is `Auto`: a wrong guess is corrected by
/// detection.
fn discovered_target(server: &LocalServer) -> Option<(ServerConfig, Backend)> {
    let hint = Backend::parse(server.backend).ok()?;
    let url = format!("http://{}/", server.target?).parse().ok()?;
    let target = ServerConfig {
        name: server.name.clone(),
        url,
        backend: Backend::Auto,
        api_key: None,
        timeout: None,
        kv_cache_tokens: None,
    };
    Some((target, hint))
}

/// Keeps at most `max` series of one target, in the order the backend shaped them, and returns
/// how many were left out. A histogram or summary is cut only after a whole series (its
/// `_count`), so no series is written half.
fn cap_series(families: &mut [Family], max: usize) -> usize {
    let mut room = max;
    let mut dropped = 0;
    for family in families {
        let mut keep = family.samples.len().min(room);
        if keep < family.samples.len() && matches!(family.kind, Kind::Histogram | Kind::Summary) {
            keep = family.samples[..keep].iter().rposition(|s| s.suffix == "_count").map_or(0, |i| i + 1);
        }
        dropped += family.samples.len() - keep;
        family.samples.truncate(keep);
        room -= keep;
    }
    dropped
}

fn dropped_family(server: &ServerConfig, total: u64) -> Family {
    Family::counter(
        "llm_exporter_target_series_dropped_total",
        "Series of this server left out by a cap (per family, per server, histogram buckets) since the exporter started",
    )
    .with(labels([("server", &server.name)]), total as f64)
}

fn rejected_family(server: &ServerConfig, totals: [u64; 2]) -> Family {
    let mut family = Family::counter(
        "llm_exporter_target_values_dropped_total",
        "Values of this server dropped as impossible (a negative or infinite counter or gauge), by reason, since the exporter started",
    );
    for (reason, total) in impossible::REASONS.iter().zip(totals) {
        family.push(labels([("server", &server.name), ("reason", reason)]), total as f64);
    }
    family
}

fn up_family(server: &ServerConfig, backend: &str, value: f64) -> Family {
    Family::gauge(
        "llm_server_up",
        "1 when the LLM server answered and its answer parsed (/metrics; Ollama: /api/version), else 0",
    )
    .with(labels([("server", &server.name), ("backend", backend)]), value)
}

impl Collector for LlmCollector {
    fn name(&self) -> &'static str {
        "llm"
    }

    /// Discovered servers come from the scan.
    fn uses_local_scan(&self) -> bool {
        self.discovery
    }

    fn collect<'a>(&'a self, scrape: &'a ScrapeContext) -> BoxFuture<'a, Result<Vec<Family>, CollectError>> {
        Box::pin(async move {
            let targets = self.targets(&scrape.local.servers);
            self.facts.keep_only(&targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>());
            let per_target = join_all(targets.iter().map(|t| self.scrape_one(t, scrape.budget))).await;
            Ok(per_target.into_iter().flatten().collect())
        })
    }
}

#[cfg(test)]
mod tests;
