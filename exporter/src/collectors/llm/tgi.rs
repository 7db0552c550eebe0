//! Hugging Face text-generation-inference (TGI): reads the router's `/metrics` (the `tgi_`
//! families) and `/info`, and shapes them into the normalized `llm_*` series.
//!
//! Reading is thin ([`read`]); shaping ([`shape`]) is pure and tested on fixtures. TGI's
//! counters have no `_total` suffix and most families no HELP; token counts come from the
//! `_sum` of its per-request token histograms (`tgi_request_input_length`,
//! `tgi_request_generated_tokens`), which move when a request completes. `tgi_batch_inference_count`
//! counts forward passes by `method` (prefill, decode); their sum is `llm_decode_calls_total`.
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::http::{optional, FetchError, Fetcher};
use super::normalize::{self, Rule, Upstream};
use crate::config::ServerConfig;
use crate::family::{labels, Family, Kind};

const PREFIX: &str = "tgi_";

/// How each upstream family maps onto ours.
pub const TABLE: &[Rule] = &[
    Rule {
        from: "tgi_batch_current_size",
        to: "llm_requests_running",
        kind: Kind::Gauge,
        help: "Requests in the running batch",
        labels: &[],
    },
    Rule {
        from: "tgi_queue_size",
        to: "llm_requests_waiting",
        kind: Kind::Gauge,
        help: "Requests waiting in the queue",
        labels: &[],
    },
    Rule {
        from: "tgi_request_input_length_sum",
        to: "llm_prompt_tokens_total",
        kind: Kind::Counter,
        help: "Prompt tokens of validated requests",
        labels: &[],
    },
    Rule {
        from: "tgi_request_generated_tokens_sum",
        to: "llm_generation_tokens_total",
        kind: Kind::Counter,
        help: "Generated tokens; moves when a request completes",
        labels: &[],
    },
    Rule {
        from: "tgi_batch_inference_count",
        to: "llm_decode_calls_total",
        kind: Kind::Counter,
        help: "Forward passes, prefill and decode together",
        labels: &[],
    },
    Rule {
        from: "tgi_request_success",
        to: "llm_requests_completed_total",
        kind: Kind::Counter,
        help: "Requests finished successfully (no reason given)",
        labels: &[],
    },
    Rule {
        from: "tgi_request_mean_time_per_token_duration",
        to: "llm_inter_token_latency_seconds",
        kind: Kind::Histogram,
        help: "Mean time per generated token of each request, seconds",
        labels: &[],
    },
    Rule {
        from: "tgi_request_duration",
        to: "llm_request_duration_seconds",
        kind: Kind::Histogram,
        help: "Request duration, seconds",
        labels: &[],
    },
    Rule {
        from: "tgi_request_queue_duration",
        to: "llm_request_queue_seconds",
        kind: Kind::Histogram,
        help: "Time requests waited in the queue, seconds",
        labels: &[],
    },
];

/// What one scrape of a TGI router read. Only `/metrics` is required.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub metrics: Vec<u8>,
    pub info: Option<String>,
}

/// GETs `/metrics` (unless detection already did) and `/info` concurrently.
pub async fn read(
    fetcher: &Fetcher,
    base: &Url,
    api_key: Option<&str>,
    timeout: Duration,
    metrics: Option<Vec<u8>>,
) -> Result<Reading, FetchError> {
    let metrics = fetcher.metrics(base, api_key, timeout, metrics);
    let (metrics, info) = tokio::join!(metrics, fetcher.get_text(base, "info", api_key, timeout));
    Ok(Reading { metrics: metrics?, info: optional(base, "info", info) })
}

/// Shapes a reading into families. `Err` means the body is not a TGI router's.
pub fn shape(server: &ServerConfig, reading: &Reading) -> Result<Vec<Family>, String> {
    let parsed = normalize::parse(&reading.metrics, PREFIX, TABLE);
    if !parsed.has_prefix {
        return Err(normalize::no_series(PREFIX, &parsed.exposition, "text-generation-inference router"));
    }
    let upstream = Upstream::new(&parsed.exposition, PREFIX);
    let base = labels([("server", &server.name), ("backend", "tgi")]);
    let info = reading.info.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok());
    let field = |key: &str| info.as_ref().and_then(|i| i.get(key));
    let model = field("model_id").and_then(Value::as_str).map(normalize::model_label).unwrap_or_default();
    let series = normalize::with_model(&base, &model);
    let mut out = normalize::apply(TABLE, &upstream, &series, &[], "TGI");

    if let Some(total) = field("max_total_tokens").and_then(Value::as_u64) {
        let help = "Context window of one request, prompt plus generation, in tokens (TGI /info max_total_tokens)";
        out.push(Family::new("llm_context_size_tokens", help, Kind::Gauge).with(series.clone(), total as f64));
    }
    let version: String = field("version").and_then(Value::as_str).unwrap_or("").chars().take(64).collect();
    let mut info_labels = base.clone();
    info_labels.extend([("model".into(), model), ("version".into(), version)]);
    out.push(
        Family::gauge("llm_server_info", "Model served and server version; always 1 (TGI /info)")
            .with(info_labels, 1.0),
    );
    Ok(out)
}
