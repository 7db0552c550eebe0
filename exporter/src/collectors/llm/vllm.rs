//! vLLM's OpenAI-compatible server: reads `/metrics` (the `vllm:` families), `/v1/models` and
//! `/version`, and shapes them into the normalized `llm_*` series.
//!
//! Reading is thin ([`read`]); shaping ([`shape`]) is pure and tested on fixtures. `/metrics`
//! decides whether the server is up; `/v1/models` (model and `max_model_len`) and `/version`
//! are optional. Both the V1 engine's names and the older ones are read (the newer name wins
//! when a server serves both). With data parallelism each engine's series carry an `engine`
//! label; it is kept only when there is more than one engine. The `model_name` label goes
//! into `llm_server_info` and is dropped elsewhere.
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::http::{optional, FetchError, Fetcher};
use super::normalize::{self, Rule, Upstream};
use crate::config::ServerConfig;
use crate::family::{labels, Family, Kind, Labels};

const PREFIX: &str = "vllm:";

/// How each upstream family maps onto ours. Rules that feed the same family are tried in order.
pub const TABLE: &[Rule] = &[
    Rule {
        from: "vllm:num_requests_running",
        to: "llm_requests_running",
        kind: Kind::Gauge,
        help: "Requests being processed",
        labels: &[],
    },
    Rule {
        from: "vllm:num_requests_waiting",
        to: "llm_requests_waiting",
        kind: Kind::Gauge,
        help: "Requests waiting to be scheduled",
        labels: &[],
    },
    Rule {
        from: "vllm:num_requests_waiting_by_reason",
        to: "llm_requests_waiting_by_reason",
        kind: Kind::Gauge,
        help: "Requests waiting, by why: no room in the KV cache (capacity) or held back by the scheduler (deferred)",
        labels: &[("reason", "reason")],
    },
    Rule {
        from: "vllm:kv_cache_usage_perc",
        to: "llm_kv_cache_usage_ratio",
        kind: Kind::Gauge,
        help: "KV cache use, 0 to 1",
        labels: &[],
    },
    Rule {
        from: "vllm:gpu_cache_usage_perc",
        to: "llm_kv_cache_usage_ratio",
        kind: Kind::Gauge,
        help: "KV cache use, 0 to 1",
        labels: &[],
    },
    Rule {
        from: "vllm:prompt_tokens_total",
        to: "llm_prompt_tokens_total",
        kind: Kind::Counter,
        help: "Prompt tokens processed, prefix-cache hits included",
        labels: &[],
    },
    Rule {
        from: "vllm:prompt_tokens_cached_total",
        to: "llm_prompt_cached_tokens_total",
        kind: Kind::Counter,
        help: "Prompt tokens found in a cache (local prefix cache or a KV connector)",
        labels: &[],
    },
    Rule {
        from: "vllm:prompt_tokens_by_source_total",
        to: "llm_prompt_tokens_by_source_total",
        kind: Kind::Counter,
        help: "Prompt tokens by where their KV came from: computed, a local cache hit, or a KV transfer",
        labels: &[("source", "source")],
    },
    Rule {
        from: "vllm:prefix_cache_hits_total",
        to: "llm_prompt_cached_tokens_total",
        kind: Kind::Counter,
        help: "Prompt tokens found in the prefix cache",
        labels: &[],
    },
    Rule {
        from: "vllm:gpu_prefix_cache_hits_total",
        to: "llm_prompt_cached_tokens_total",
        kind: Kind::Counter,
        help: "Prompt tokens found in the prefix cache",
        labels: &[],
    },
    Rule {
        from: "vllm:generation_tokens_total",
        to: "llm_generation_tokens_total",
        kind: Kind::Counter,
        help: "Generated tokens",
        labels: &[],
    },
    Rule {
        from: "vllm:request_prefill_time_seconds_sum",
        to: "llm_prompt_seconds_total",
        kind: Kind::Counter,
        help: "Seconds finished requests spent in prefill",
        labels: &[],
    },
    Rule {
        from: "vllm:request_decode_time_seconds_sum",
        to: "llm_generation_seconds_total",
        kind: Kind::Counter,
        help: "Seconds finished requests spent in decode",
        labels: &[],
    },
    Rule {
        from: "vllm:request_success_total",
        to: "llm_requests_completed_total",
        kind: Kind::Counter,
        help: "Requests finished, by reason",
        labels: &[("finished_reason", "reason")],
    },
    Rule {
        from: "vllm:num_preemptions_total",
        to: "llm_preemptions_total",
        kind: Kind::Counter,
        help: "Requests preempted by the engine",
        labels: &[],
    },
    Rule {
        from: "vllm:spec_decode_num_draft_tokens_total",
        to: "llm_speculative_draft_tokens_total",
        kind: Kind::Counter,
        help: "Speculative decoding: draft tokens proposed",
        labels: &[],
    },
    Rule {
        from: "vllm:spec_decode_num_accepted_tokens_total",
        to: "llm_speculative_accepted_tokens_total",
        kind: Kind::Counter,
        help: "Speculative decoding: draft tokens accepted",
        labels: &[],
    },
    Rule {
        from: "vllm:spec_decode_num_drafts_total",
        to: "llm_speculative_drafts_total",
        kind: Kind::Counter,
        help: "Speculative decoding: drafts (verification steps)",
        labels: &[],
    },
    Rule {
        from: "vllm:time_to_first_token_seconds",
        to: "llm_time_to_first_token_seconds",
        kind: Kind::Histogram,
        help: "Time to the first generated token, seconds",
        labels: &[],
    },
    Rule {
        from: "vllm:inter_token_latency_seconds",
        to: "llm_inter_token_latency_seconds",
        kind: Kind::Histogram,
        help: "Time between generated tokens, seconds",
        labels: &[],
    },
    Rule {
        from: "vllm:time_per_output_token_seconds",
        to: "llm_inter_token_latency_seconds",
        kind: Kind::Histogram,
        help: "Time between generated tokens, seconds",
        labels: &[],
    },
    Rule {
        from: "vllm:e2e_request_latency_seconds",
        to: "llm_request_duration_seconds",
        kind: Kind::Histogram,
        help: "Request duration from arrival to the last token, seconds",
        labels: &[],
    },
    Rule {
        from: "vllm:request_queue_time_seconds",
        to: "llm_request_queue_seconds",
        kind: Kind::Histogram,
        help: "Time requests waited before being scheduled, seconds",
        labels: &[],
    },
];

/// vLLM's sleep mode (`--enable-sleep-mode`, `POST /sleep`): one series per state, 1 for the
/// current one. Read for [`sleeping`], not exported as it is.
const SLEEP_STATE: &str = "vllm:engine_sleep_state";

/// The table and the sleep state: what [`normalize::parse`] keeps of a body.
const READ: &[Rule] = &{
    let mut all = [TABLE[0]; TABLE.len() + 1];
    let mut i = 0;
    while i < TABLE.len() {
        all[i] = TABLE[i];
        i += 1;
    }
    all[TABLE.len()] =
        Rule { from: SLEEP_STATE, to: "", kind: Kind::Gauge, help: "", labels: &[("sleep_state", "state")] };
    all
};

/// The data-parallel engine label, kept when there is more than one engine.
const ENGINE: &[(&str, &str)] = &[("engine", "engine")];

/// What one scrape of a vLLM server read. Only `/metrics` is required.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub metrics: Vec<u8>,
    pub models: Option<String>,
    pub version: Option<String>,
}

/// GETs `/metrics` (unless detection already did), `/v1/models` and `/version` concurrently.
pub async fn read(
    fetcher: &Fetcher,
    base: &Url,
    api_key: Option<&str>,
    timeout: Duration,
    metrics: Option<Vec<u8>>,
) -> Result<Reading, FetchError> {
    let metrics = fetcher.metrics(base, api_key, timeout, metrics);
    let (metrics, models, version) = tokio::join!(
        metrics,
        fetcher.get_text(base, "v1/models", api_key, timeout),
        fetcher.get_text(base, "version", api_key, timeout),
    );
    Ok(Reading {
        metrics: metrics?,
        models: optional(base, "v1/models", models),
        version: optional(base, "version", version),
    })
}

/// Shapes a reading into families. `Err` means the body is not a vLLM server's.
pub fn shape(server: &ServerConfig, reading: &Reading) -> Result<Vec<Family>, String> {
    let parsed = normalize::parse(&reading.metrics, PREFIX, READ);
    if !parsed.has_prefix {
        return Err(normalize::no_series(PREFIX, &parsed.exposition, "vLLM server"));
    }
    let upstream = Upstream::new(&parsed.exposition, PREFIX);
    let base = labels([("server", &server.name), ("backend", "vllm")]);
    let models = reading.models.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok());
    let first = models.as_ref().and_then(|m| m.get("data")).and_then(Value::as_array).and_then(|d| d.first());
    let model = first
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .or_else(|| upstream.label_values("model_name").into_iter().next())
        .map(normalize::model_label)
        .unwrap_or_default();
    let series = normalize::with_model(&base, &model);
    let shared = if upstream.label_values("engine").len() > 1 { ENGINE } else { &[] };
    let mut out = normalize::apply(TABLE, &upstream, &series, shared, "vLLM");

    if let Some(len) = first.and_then(|m| m.get("max_model_len")).and_then(Value::as_u64) {
        let help = "Context window of one sequence, in tokens (vLLM /v1/models max_model_len)";
        out.push(Family::new("llm_context_size_tokens", help, Kind::Gauge).with(series.clone(), len as f64));
    }
    if let Some(asleep) = sleeping(&upstream) {
        out.push(sleeping_family(base.clone(), asleep));
    }
    let version = reading
        .version
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|v| v.get("version").and_then(Value::as_str).map(|s| s.chars().take(64).collect::<String>()))
        .unwrap_or_default();
    out.push(info(&base, &model, &version));
    Ok(out)
}

fn info(base: &Labels, model: &str, version: &str) -> Family {
    let mut labels = base.clone();
    labels.extend([("model".into(), model.to_string()), ("version".into(), version.to_string())]);
    Family::gauge("llm_server_info", "Model served and server version; always 1 (vLLM /v1/models, /version)")
        .with(labels, 1.0)
}

/// Whether the server sleeps: an engine in a state other than `awake` (`weights_offloaded`,
/// `discard_all`) says so. `None` when the server has no sleep state (before vLLM 0.11).
fn sleeping(upstream: &Upstream<'_, '_>) -> Option<bool> {
    let states = upstream.get(SLEEP_STATE);
    if states.is_empty() {
        return None;
    }
    Some(states.iter().any(|s| s.value > 0.0 && s.label("sleep_state").is_some_and(|state| state != "awake")))
}

fn sleeping_family(labels: Labels, asleep: bool) -> Family {
    Family::gauge(
        "llm_server_sleeping",
        "1 while the server sleeps, its weights offloaded or discarded (vLLM --enable-sleep-mode, POST /sleep), \
         else 0 (vLLM engine_sleep_state)",
    )
    .with(labels, if asleep { 1.0 } else { 0.0 })
}
