//! The `llm` collector: scrapes every configured LLM server concurrently, each under its own
//! deadline, and exports `llm_server_up` for each. One server's failure costs only its own
//! series; the collector itself fails only when the whole scrape budget runs out.
use std::sync::Mutex;
use std::time::Duration;

use futures::future::{join_all, BoxFuture};

use super::http::Fetcher;
use super::{llama_server, CollectError, Collector, ScrapeContext};
use crate::config::{Backend, Config, ServerConfig};
use crate::family::{labels, Family};

/// Targets get this share of the scrape budget, so a slow one is reported down before the
/// runner has to cut the whole collector off.
const TARGET_SHARE_OF_BUDGET: f64 = 0.9;

struct Target {
    config: ServerConfig,
    /// The last failure reason, so each change of state is logged once, not every scrape.
    last_error: Mutex<Option<String>>,
}

pub struct LlmCollector {
    targets: Vec<Target>,
    fetcher: Fetcher,
}

impl LlmCollector {
    pub fn new(config: &Config) -> Result<LlmCollector, String> {
        let targets =
            config.servers.iter().map(|s| Target { config: s.clone(), last_error: Mutex::new(None) }).collect();
        Ok(LlmCollector { targets, fetcher: Fetcher::new(config.max_body_bytes)? })
    }

    async fn scrape_one(&self, target: &Target, budget: Duration) -> Vec<Family> {
        let server = &target.config;
        let timeout = server.timeout.unwrap_or(budget).min(budget.mul_f64(TARGET_SHARE_OF_BUDGET));
        let result = match server.backend {
            Backend::Llamacpp => llama_server::read(&self.fetcher, &server.url, server.api_key.as_deref(), timeout)
                .await
                .map_err(|e| format!("GET /metrics: {e}"))
                .and_then(|reading| llama_server::shape(server, &reading)),
        };
        let (up, mut families) = match result {
            Ok(families) => (1.0, families),
            Err(why) => {
                log_change(target, Some(why));
                return vec![up_family(server, 0.0)];
            }
        };
        log_change(target, None);
        families.push(up_family(server, up));
        families
    }
}

fn up_family(server: &ServerConfig, value: f64) -> Family {
    Family::gauge("llm_server_up", "1 when the LLM server's metrics endpoint answered and parsed, else 0")
        .with(labels([("server", &server.name), ("backend", server.backend.as_str())]), value)
}

/// Logs a target going down, changing reason, or coming back; stays quiet otherwise.
fn log_change(target: &Target, error: Option<String>) {
    let Ok(mut last) = target.last_error.lock() else { return };
    if *last == error {
        return;
    }
    let name = &target.config.name;
    let url = target.config.url.as_str();
    match (&*last, &error) {
        (_, Some(why)) => log::warn!("server {name} ({url}) is down: {why}"),
        (Some(_), None) => log::info!("server {name} ({url}) is up again"),
        (None, None) => {}
    }
    *last = error;
}

impl Collector for LlmCollector {
    fn name(&self) -> &'static str {
        "llm"
    }

    fn collect<'a>(&'a self, scrape: &'a ScrapeContext) -> BoxFuture<'a, Result<Vec<Family>, CollectError>> {
        Box::pin(async move {
            let per_target = join_all(self.targets.iter().map(|t| self.scrape_one(t, scrape.budget))).await;
            Ok(per_target.into_iter().flatten().collect())
        })
    }
}
