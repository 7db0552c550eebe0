//! SGLang's server (`python -m sglang.launch_server --enable-metrics`): reads `/metrics` (the
//! `sglang:` families) and `/get_model_info`, and shapes them into the normalized `llm_*`
//! series.
//!
//! Reading is thin ([`read`]); shaping ([`shape`]) is pure and tested on fixtures. `/metrics`
//! decides whether the server is up (without `--enable-metrics` it is a 404, and the server is
//! reported down with that reason). SGLang's token counters move when a request completes, as
//! llama.cpp's do. Scheduler series carry `tp_rank`, `pp_rank`, `dp_rank`, … labels: they are
//! dropped (gauges that then coincide, one scheduler seen by several ranks, take the largest
//! value), except `dp_rank`, kept as `engine` when there is more than one data-parallel rank. Series with unbounded labels
//! (per-function latency, per-stage and per-routing-key breakdowns) have no rule and are not
//! re-exported. The version is not read: only `/get_server_info` reports it, and that call
//! asks every scheduler for its internal state.
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::http::{optional, FetchError, Fetcher};
use super::normalize::{self, Rule, Upstream};
use crate::config::ServerConfig;
use crate::family::{labels, Family, Kind};

const PREFIX: &str = "sglang:";

/// How each upstream family maps onto ours. Rules that feed the same family are tried in order.
pub const TABLE: &[Rule] = &[
    Rule {
        from: "sglang:num_running_reqs",
        to: "llm_requests_running",
        kind: Kind::Gauge,
        help: "Requests being processed",
        labels: &[],
    },
    Rule {
        from: "sglang:num_queue_reqs",
        to: "llm_requests_waiting",
        kind: Kind::Gauge,
        help: "Requests waiting in the queue",
        labels: &[],
    },
    Rule {
        from: "sglang:token_usage",
        to: "llm_kv_cache_usage_ratio",
        kind: Kind::Gauge,
        help: "KV cache use, 0 to 1: tokens held over the token pool",
        labels: &[],
    },
    Rule {
        from: "sglang:context_len",
        to: "llm_context_size_tokens",
        kind: Kind::Gauge,
        help: "Context window of one sequence, in tokens",
        labels: &[],
    },
    Rule {
        from: "sglang:prompt_tokens_total",
        to: "llm_prompt_tokens_total",
        kind: Kind::Counter,
        help: "Prompt tokens of finished requests, cached tokens included; moves when a request completes",
        labels: &[],
    },
    Rule {
        from: "sglang:cached_tokens_total",
        to: "llm_prompt_cached_tokens_total",
        kind: Kind::Counter,
        help: "Prompt tokens found in the radix cache; moves when a request completes",
        labels: &[],
    },
    Rule {
        from: "sglang:generation_tokens_total",
        to: "llm_generation_tokens_total",
        kind: Kind::Counter,
        help: "Generated tokens; moves when a request completes",
        labels: &[],
    },
    Rule {
        from: "sglang:num_requests_total",
        to: "llm_requests_completed_total",
        kind: Kind::Counter,
        help: "Requests finished (no reason given)",
        labels: &[],
    },
    Rule {
        from: "sglang:time_to_first_token_seconds",
        to: "llm_time_to_first_token_seconds",
        kind: Kind::Histogram,
        help: "Time to the first generated token, seconds",
        labels: &[],
    },
    Rule {
        from: "sglang:inter_token_latency_seconds",
        to: "llm_inter_token_latency_seconds",
        kind: Kind::Histogram,
        help: "Time between generated tokens, seconds",
        labels: &[],
    },
    Rule {
        from: "sglang:time_per_output_token_seconds",
        to: "llm_inter_token_latency_seconds",
        kind: Kind::Histogram,
        help: "Time between generated tokens, seconds",
        labels: &[],
    },
    Rule {
        from: "sglang:e2e_request_latency_seconds",
        to: "llm_request_duration_seconds",
        kind: Kind::Histogram,
        help: "Request duration from arrival to the last token, seconds",
        labels: &[],
    },
    Rule {
        from: "sglang:queue_time_seconds",
        to: "llm_request_queue_seconds",
        kind: Kind::Histogram,
        help: "Time requests waited in the queue, seconds",
        labels: &[],
    },
];

/// The data-parallel rank, kept as `engine` when there is more than one.
const ENGINE: &[(&str, &str)] = &[("dp_rank", "engine")];

/// What one scrape of an SGLang server read. Only `/metrics` is required.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub metrics: Vec<u8>,
    pub model_info: Option<String>,
}

/// GETs `/metrics` (unless detection already did) and `/get_model_info` concurrently.
pub async fn read(
    fetcher: &Fetcher,
    base: &Url,
    api_key: Option<&str>,
    timeout: Duration,
    metrics: Option<Vec<u8>>,
) -> Result<Reading, FetchError> {
    let metrics = fetcher.metrics(base, api_key, timeout, metrics);
    let (metrics, model_info) = tokio::join!(metrics, fetcher.get_text(base, "get_model_info", api_key, timeout));
    Ok(Reading { metrics: metrics?, model_info: optional(base, "get_model_info", model_info) })
}

/// Shapes a reading into families. `Err` means the body is not an SGLang server's.
pub fn shape(server: &ServerConfig, reading: &Reading) -> Result<Vec<Family>, String> {
    let parsed = normalize::parse(&reading.metrics, PREFIX, TABLE);
    if !parsed.has_prefix {
        return Err(normalize::no_series(PREFIX, &parsed.exposition, "SGLang server started with --enable-metrics"));
    }
    let upstream = Upstream::new(&parsed.exposition, PREFIX);
    let base = labels([("server", &server.name), ("backend", "sglang")]);
    let info = reading.model_info.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok());
    let model = info
        .as_ref()
        .and_then(|i| i.get("model_path"))
        .and_then(Value::as_str)
        .or_else(|| upstream.label_values("model_name").into_iter().next())
        .map(normalize::model_label)
        .unwrap_or_default();
    let series = normalize::with_model(&base, &model);
    let shared = if upstream.label_values("dp_rank").len() > 1 { ENGINE } else { &[] };
    let mut out = normalize::apply(TABLE, &upstream, &series, shared, "SGLang");
    let mut info_labels = base.clone();
    info_labels.extend([("model".into(), model), ("version".into(), String::new())]);
    out.push(
        Family::gauge("llm_server_info", "Model served and server version; always 1 (SGLang /get_model_info)")
            .with(info_labels, 1.0),
    );
    Ok(out)
}
