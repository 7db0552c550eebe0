//! The measuring proxy (`--proxy LISTEN=UPSTREAM`): forwards every request to one LLM server
//! unchanged and as it arrives, and measures generation and embedding requests on the way.
//!
//! Design, in short (the README's "Per-request series" section says the same for users):
//!
//! - **Own families.** Everything the proxy measures is in `llm_proxy_*` families
//!   (`llm_proxy_time_to_first_token_seconds`, `…_inter_token_latency_seconds`,
//!   `…_request_duration_seconds`, `…_requests_total{outcome}`, `…_requests_in_flight`,
//!   `…_prompt_tokens_total`, `…_prompt_cached_tokens_total`, `…_generation_tokens_total`,
//!   `…_load_seconds_total`, `…_prompt_seconds_total`, `…_generation_seconds_total`,
//!   `…_unmeasured_total{reason}`), never mixed into the server-reported `llm_*` ones, so each
//!   measurement is in exactly one family and summing a family never counts a request twice.
//!   The rule for one panel over every server: the server's own series win, the proxy's fill
//!   in for servers that have none: `A or on(server) B` with A the `llm_*` expression and B the
//!   same over `llm_proxy_*` (`on(server)` also keeps B's differing buckets out for a server
//!   that has both).
//! - **Bounded labels.** `server` and `backend` as configured; `endpoint` is the request path
//!   from a fixed table ([`endpoint`]); `model` is the response's (else the request's) model
//!   when the server reports it (its own scrape found it: [`crate::server_facts`]), else
//!   `other`; for a server that reports none, the first 63 distinct names, then `other`
//!   ([`models::ModelSet`]).
//! - **Bounded memory.** A stream is cut into lines (NDJSON, SSE) or read whole (JSON) in one
//!   buffer of at most [`lines::MAX_LINE_BYTES`]; a longer line is still forwarded, only its
//!   measurement is dropped and counted. Compressed bodies are forwarded and counted
//!   unmeasured.
//! - **Requests untouched.** The proxy never changes a byte of a body: an OpenAI-style stream
//!   whose client did not ask for `stream_options.include_usage` carries no token counts, and
//!   is counted as `unmeasured{reason="no_usage"}` (its latencies are still measured).
//!
//! Modules: [`listen`] accepts and bounds client connections, [`forward`] relays one request
//! through hyper, [`tap`] passes the bodies by the [`meter`], [`lines`] splits them, [`extract`] reads
//! tokens and timings from each backend's JSON (into [`shapes`], read by [`lenient`]: only the
//! fields measured are built, whatever else a body holds), [`metrics`] holds the counters and renders them
//! at scrape time.
pub mod endpoint;
pub mod extract;
pub mod forward;
pub mod lenient;
pub mod lines;
pub mod listen;
pub mod meter;
pub mod metrics;
pub mod models;
pub mod shapes;
pub mod tap;

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::collectors::{CollectError, Collector, ScrapeContext};
use crate::config::ProxyConfig;
use crate::family::Family;
use crate::server_facts::ServerFacts;

/// Binds every configured proxy and serves it until the process ends. Returns the collector
/// that renders their series, or an error naming the address that could not be bound.
pub async fn start(proxies: &[ProxyConfig], facts: &Arc<ServerFacts>) -> Result<ProxyCollector, String> {
    let mut states = Vec::new();
    for proxy in proxies {
        let state = Arc::new(metrics::ServerState::new(&proxy.server, proxy.backend, Arc::clone(facts)));
        let listener = tokio::net::TcpListener::bind(&proxy.listen)
            .await
            .map_err(|e| format!("cannot listen on {} for the proxy to {}: {e}", proxy.listen, proxy.upstream))?;
        let local = listener.local_addr().map_err(|e| format!("{}: {e}", proxy.listen))?;
        log::info!("proxy on {local} forwards to {} (server {})", proxy.upstream, proxy.server);
        let forwarder = Arc::new(forward::Forwarder::new(proxy, Arc::clone(&state)));
        tokio::spawn(listen::serve(listener, forwarder, proxy.max_connections));
        states.push(state);
    }
    Ok(ProxyCollector { states })
}

/// Renders every proxy's series on each scrape (the `proxy` collector). Reading the counters
/// costs a lock per server; nothing is fetched.
pub struct ProxyCollector {
    states: Vec<Arc<metrics::ServerState>>,
}

impl Collector for ProxyCollector {
    fn name(&self) -> &'static str {
        "proxy"
    }

    fn collect<'a>(&'a self, _: &'a ScrapeContext) -> BoxFuture<'a, Result<Vec<Family>, CollectError>> {
        Box::pin(async move { Ok(metrics::render(&self.states)) })
    }
}
