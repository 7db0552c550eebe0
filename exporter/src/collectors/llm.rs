//! The `llm` collector: scrapes every LLM server concurrently, each under its own deadline,
//! and exports `llm_server_up` for each. The servers are the configured ones plus, with
//! discovery on, those found listening on this machine's loopback. One server's failure costs
//! only its own series; the collector itself fails only when the scrape budget runs out.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::{join_all, BoxFuture};

use super::http::Fetcher;
use super::process::LocalServer;
use super::{llama_server, CollectError, Collector, ScrapeContext};
use crate::config::{Backend, Config, ServerConfig};
use crate::family::{labels, Family};

/// Targets get this share of the scrape budget, so a slow one is reported down before the
/// runner has to cut the whole collector off.
const TARGET_SHARE_OF_BUDGET: f64 = 0.9;

pub struct LlmCollector {
    configured: Vec<ServerConfig>,
    discovery: bool,
    fetcher: Fetcher,
    /// The last failure reason per server name, so each change of state is logged once, not
    /// every scrape. Servers that are gone are dropped from it.
    last_errors: Mutex<HashMap<String, String>>,
}

impl LlmCollector {
    pub fn new(config: &Config) -> Result<LlmCollector, String> {
        Ok(LlmCollector {
            configured: config.servers.clone(),
            discovery: config.discovery,
            fetcher: Fetcher::new(config.max_body_bytes)?,
            last_errors: Mutex::default(),
        })
    }

    async fn scrape_one(&self, server: &ServerConfig, budget: Duration) -> Vec<Family> {
        let timeout = server.timeout.unwrap_or(budget).min(budget.mul_f64(TARGET_SHARE_OF_BUDGET));
        let result = match server.backend {
            Backend::Llamacpp => llama_server::read(&self.fetcher, &server.url, server.api_key.as_deref(), timeout)
                .await
                .map_err(|e| format!("GET /metrics: {e}"))
                .and_then(|reading| llama_server::shape(server, &reading)),
        };
        match result {
            Ok(mut families) => {
                self.log_change(server, None);
                families.push(up_family(server, 1.0));
                families
            }
            Err(why) => {
                self.log_change(server, Some(why));
                vec![up_family(server, 0.0)]
            }
        }
    }

    /// Logs a server going down, changing reason, or coming back; stays quiet otherwise.
    fn log_change(&self, server: &ServerConfig, error: Option<String>) {
        let Ok(mut last) = self.last_errors.lock() else { return };
        let (name, url) = (&server.name, server.url.as_str());
        match error {
            Some(why) if last.get(name).is_none_or(|before| !same_reason(before, &why)) => {
                log::warn!("server {name} ({url}) is down: {why}");
                last.insert(name.clone(), why);
            }
            None if last.remove(name).is_some() => log::info!("server {name} ({url}) is up again"),
            _ => {}
        }
    }

    /// Configured servers, then discovered ones that no configured server already points at.
    fn targets(&self, local: &[LocalServer]) -> Vec<ServerConfig> {
        let mut targets = self.configured.clone();
        if self.discovery {
            targets.extend(local.iter().filter(|s| !s.configured).filter_map(discovered_target));
        }
        if let Ok(mut last) = self.last_errors.lock() {
            last.retain(|name, _| targets.iter().any(|t| &t.name == name));
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

/// A discovered server as a target, when it speaks a backend this version scrapes.
fn discovered_target(server: &LocalServer) -> Option<ServerConfig> {
    let backend = Backend::parse(server.backend).ok()?;
    let host = if server.ipv6_only { "[::1]" } else { "127.0.0.1" };
    let url = format!("http://{host}:{}/", server.port?).parse().ok()?;
    Some(ServerConfig { name: server.name.clone(), url, backend, api_key: None, timeout: None, kv_cache_tokens: None })
}

fn up_family(server: &ServerConfig, value: f64) -> Family {
    Family::gauge("llm_server_up", "1 when the LLM server's metrics endpoint answered and parsed, else 0")
        .with(labels([("server", &server.name), ("backend", server.backend.as_str())]), value)
}

impl Collector for LlmCollector {
    fn name(&self) -> &'static str {
        "llm"
    }

    fn collect<'a>(&'a self, scrape: &'a ScrapeContext) -> BoxFuture<'a, Result<Vec<Family>, CollectError>> {
        Box::pin(async move {
            let targets = self.targets(&scrape.local.servers);
            let per_target = join_all(targets.iter().map(|t| self.scrape_one(t, scrape.budget))).await;
            Ok(per_target.into_iter().flatten().collect())
        })
    }
}
