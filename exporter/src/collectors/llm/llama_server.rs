//! llama.cpp's `llama-server`: reads `/metrics`, `/slots` and `/props`, and shapes them into
//! the normalized `llm_*` series.
//!
//! Reading is thin ([`read`]); shaping ([`shape`]) is pure and tested on captured bodies.
//! `/metrics` decides whether the server is up. `/slots` (off with `--no-slots`) and `/props`
//! are optional: without them the series they feed are derived from what is left, or omitted.
//! `/slots` is not read while `/props` says the server sleeps: that GET would wake it.
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::http::{into_text, optional, FetchError, Fetcher};
pub use super::llama_slots::{parse_slots, Slot, Slots, MAX_SLOTS};
use crate::config::ServerConfig;
pub use crate::discovery::llama_kv::KvLayout;
use crate::family::{labels, Family, Kind, Labels};

/// How each upstream family maps onto ours. Upstream counters that are really averages are
/// exported as gauges whatever their TYPE line says; the `*_tokens_seconds` throughput gauges
/// are left out on purpose (they reset when read, so two scrapers would steal from each other).
const TABLE: &[(&str, &str, Kind, &str)] = &[
    (
        "prompt_tokens_total",
        "llm_prompt_tokens_total",
        Kind::Counter,
        "Prompt tokens processed, cached tokens excluded",
    ),
    (
        "prompt_tokens_cached_total",
        "llm_prompt_cached_tokens_total",
        Kind::Counter,
        "Prompt tokens reused from the cache",
    ),
    (
        "tokens_predicted_total",
        "llm_generation_tokens_total",
        Kind::Counter,
        "Generated tokens; moves when a request completes",
    ),
    ("prompt_seconds_total", "llm_prompt_seconds_total", Kind::Counter, "Seconds spent processing prompts"),
    (
        "tokens_predicted_seconds_total",
        "llm_generation_seconds_total",
        Kind::Counter,
        "Seconds spent generating tokens",
    ),
    ("n_decode_total", "llm_decode_calls_total", Kind::Counter, "Calls to llama_decode()"),
    (
        "n_busy_slots_per_decode",
        "llm_decode_busy_slots_average",
        Kind::Gauge,
        "Average number of busy slots per llama_decode() call",
    ),
    (
        "n_tokens_max",
        "llm_context_peak_tokens",
        Kind::Gauge,
        "Largest sequence length seen, prompt plus generation, in tokens",
    ),
    (
        "n_past_max",
        "llm_context_peak_tokens",
        Kind::Gauge,
        "Largest sequence length seen, prompt plus generation, in tokens",
    ),
    ("requests_processing", "llm_requests_running", Kind::Gauge, "Requests being processed"),
    ("requests_deferred", "llm_requests_waiting", Kind::Gauge, "Requests waiting for a free slot"),
    ("kv_cache_usage_ratio", "llm_kv_cache_usage_ratio", Kind::Gauge, "KV cache use, 0 to 1"),
    (
        "spec_decode_num_draft_tokens_total",
        "llm_speculative_draft_tokens_total",
        Kind::Counter,
        "Speculative decoding: draft tokens generated",
    ),
    (
        "spec_decode_num_accepted_tokens_total",
        "llm_speculative_accepted_tokens_total",
        Kind::Counter,
        "Speculative decoding: draft tokens accepted",
    ),
    (
        "spec_decode_num_drafts_total",
        "llm_speculative_drafts_total",
        Kind::Counter,
        "Speculative decoding: verification steps",
    ),
];

/// What one scrape of a llama-server read. Only `/metrics` is required.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub metrics: Vec<u8>,
    pub slots: Option<String>,
    pub props: Option<String>,
}

/// When `/slots` may be read.
///
/// A server started with `--sleep-idle-seconds` sleeps when idle, and a `/slots` read counts
/// as activity: reading it while idle would keep the model loaded for ever. No endpoint says
/// whether a server sleeps, so unless its settings are known (its command line is visible, or
/// a router lists its child's arguments), `/slots` is read only while `/metrics` shows work
/// (requests running or deferred; `/metrics` does not reset the idle timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotsRead {
    /// The server is known not to sleep: always, unless `/props` says it sleeps.
    Awake,
    /// Only while `/metrics` shows a request running or waiting: the server sleeps when idle,
    /// or whether it does is not known.
    WhileBusy,
    /// Never (a router says the model sleeps).
    Never,
}

impl SlotsRead {
    /// From what the server's settings say, when they are known.
    pub fn from_layout(layout: Option<&KvLayout>) -> SlotsRead {
        match layout {
            Some(layout) if !layout.sleeps => SlotsRead::Awake,
            _ => SlotsRead::WhileBusy,
        }
    }
}

/// GETs `/metrics` (unless detection already did) and `/props` concurrently, then `/slots`
/// unless `/props` says the server sleeps, each within `timeout`.
///
/// A server started with `--sleep-idle-seconds` unloads its model when idle; `/metrics`,
/// `/props` and `/health` leave it asleep, but `/slots` wakes it and reloads the model. No
/// scrape may do that, so `/slots` waits for `/props`.
pub async fn read(
    fetcher: &Fetcher,
    base: &Url,
    api_key: Option<&str>,
    timeout: Duration,
    metrics: Option<Vec<u8>>,
) -> Result<Reading, FetchError> {
    read_with(fetcher, base, api_key, timeout, metrics, SlotsRead::Awake).await
}

/// [`read`], with `/slots` read as `when` says.
pub async fn read_with(
    fetcher: &Fetcher,
    base: &Url,
    api_key: Option<&str>,
    timeout: Duration,
    metrics: Option<Vec<u8>>,
    when: SlotsRead,
) -> Result<Reading, FetchError> {
    let get = |path: &'static str| fetcher.get_text(base, path, api_key, timeout);
    let metrics = fetcher.metrics(base, api_key, timeout, metrics);
    let (metrics, props) = tokio::join!(metrics, get("props"));
    let (metrics, props) = (metrics?, optional(base, "props", props));
    let read_slots = match when {
        SlotsRead::Never => false,
        // A build whose /props has no `is_sleeping` cannot sleep.
        SlotsRead::WhileBusy => busy(&metrics) || props.as_deref().is_some_and(cannot_sleep),
        SlotsRead::Awake => true,
    };
    let slots = match props.as_deref().and_then(is_sleeping) {
        _ if !read_slots => None,
        Some(true) => None,
        // Many slots make a large body; it is read entry by entry (`parse_slots`), so it may
        // use the whole body cap rather than the smaller one of other JSON endpoints.
        _ => optional(base, "slots", fetcher.get_path(base, "slots", api_key, timeout).await.map(into_text)),
    };
    Ok(Reading { metrics, slots, props })
}

/// True when a `/metrics` body shows a request running or waiting.
fn busy(metrics: &[u8]) -> bool {
    let unwrapped = promtext::unwrap_json_string(metrics);
    let body = unwrapped.as_ref().map_or(metrics, |text| text.as_bytes());
    let wanted = ["llamacpp:requests_processing", "llamacpp:requests_deferred"];
    let exposition = promtext::parse_selected(body, &mut |what| match what {
        promtext::Wanted::Sample(name) => wanted.contains(&name),
        promtext::Wanted::Family(_) => false,
    });
    wanted.iter().any(|name| exposition.family(name).is_some_and(|f| f.samples.iter().any(|s| s.value > 0.0)))
}

/// True when `/props` is an object without `is_sleeping`: a build from before sleeping existed.
fn cannot_sleep(props: &str) -> bool {
    serde_json::from_str::<Value>(props).is_ok_and(|p| p.as_object().is_some_and(|p| !p.contains_key("is_sleeping")))
}

/// `/props` `is_sleeping`; `None` for builds without the field or a body that is not JSON.
fn is_sleeping(props: &str) -> Option<bool> {
    serde_json::from_str::<Value>(props).ok()?.get("is_sleeping")?.as_bool()
}

/// Shapes a reading into families. `Err` means the server is not usable this scrape (the
/// caller exports `llm_server_up 0` with no other series).
pub fn shape(server: &ServerConfig, reading: &Reading) -> Result<Vec<Family>, String> {
    shape_with_layout(server, reading, None)
}

/// [`shape`], with what the server's command line says about its KV cache (discovery reads
/// it); the config's `kv_cache_tokens` overrides it.
pub fn shape_with_layout(
    server: &ServerConfig,
    reading: &Reading,
    layout: Option<&KvLayout>,
) -> Result<Vec<Family>, String> {
    shape_model(server, reading, layout, None)
}

/// [`shape_with_layout`] for one model of a router: `model` names it (the router's id), else
/// the model is the one `/props` names. Every request, token, slot, context and KV series
/// carries `model`, so `sum by (model)` works for single servers and routers alike.
pub fn shape_model(
    server: &ServerConfig,
    reading: &Reading,
    layout: Option<&KvLayout>,
    model: Option<&str>,
) -> Result<Vec<Family>, String> {
    let unwrapped = promtext::unwrap_json_string(&reading.metrics);
    let body = unwrapped.as_ref().map_or(reading.metrics.as_slice(), |text| text.as_bytes());
    let mut has_prefix = false;
    // Only the samples of the table are kept: memory follows what is exported.
    let exposition = promtext::parse_selected(body, &mut |what| match what {
        promtext::Wanted::Sample(name) => name.strip_prefix("llamacpp:").is_some_and(|short| {
            has_prefix = true;
            TABLE.iter().any(|(from, ..)| *from == short)
        }),
        promtext::Wanted::Family(_) => false,
    });
    let upstream = |name: &str| -> Option<f64> {
        let family = exposition.family(&format!("llamacpp:{name}"))?;
        family.samples.first().map(|s| s.value)
    };
    if !has_prefix {
        return Err(format!(
            "/metrics has no llamacpp: series ({} lines did not parse); is this a llama-server?",
            exposition.error_count
        ));
    }
    let props = reading.props.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok());
    let named = props.as_ref().map(model_name);
    let server_labels = labels([("server", &server.name), ("backend", "llamacpp")]);
    // No /props and no router id: the model is not known, and the label is left out.
    let base = match model.or(named.as_deref()) {
        Some(model) => with_labels(&server_labels, &[("model", model)]),
        None => server_labels.clone(),
    };
    let with = |extra: &[(&'static str, &str)]| with_labels(&base, extra);
    let mut out = Vec::new();
    for (from, to, kind, help) in TABLE {
        if let Some(value) = upstream(from) {
            let help = format!("{help} (llama.cpp llamacpp:{from})");
            out.push(Family::new(*to, help, *kind).with(base.clone(), value));
        }
    }

    let total_slots = props.as_ref().and_then(|p| p.get("total_slots")).and_then(Value::as_u64);
    let sleeping = props.as_ref().and_then(|p| p.get("is_sleeping")).and_then(Value::as_bool);
    if let Some(sleeping) = sleeping {
        out.push(sleeping_family(server_labels.clone(), sleeping));
    }
    // A sleeping server has unloaded its model: its slots hold nothing and run nothing.
    let slots = reading.slots.as_deref().filter(|_| sleeping != Some(true)).and_then(parse_slots);

    match &slots {
        Some(Slots { kept: slots, left_out }) => {
            let busy = slots.iter().filter(|s| s.busy).count() as f64;
            out.push(slot_states(&base, busy, slots.len() as f64 - busy));
            let mut used = Family::gauge(
                "llm_slot_context_used_tokens",
                "Tokens held by the slot's sequence, prompt plus generated (llama.cpp /slots)",
            );
            for slot in slots {
                if let Some(tokens) = slot.tokens {
                    used.push(with(&[("slot", &slot.id.to_string())]), tokens as f64);
                }
            }
            used.dropped += left_out;
            out.push(used);
            if let Some(n_ctx) = slots.iter().filter_map(|s| s.n_ctx).max() {
                out.push(context_size(with(&[]), n_ctx, "/slots n_ctx"));
            }
            if upstream("kv_cache_usage_ratio").is_none() {
                let capacity = server.kv_cache_tokens.or_else(|| kv_capacity(slots, layout));
                if let Some(ratio) = kv_usage_ratio(slots, capacity) {
                    let help = "KV cache use, 0 to 1: tokens held by all slots over the KV capacity (derived from llama.cpp /slots)";
                    out.push(Family::new("llm_kv_cache_usage_ratio", help, Kind::Gauge).with(base.clone(), ratio));
                }
            }
        }
        None => {
            let busy = if sleeping == Some(true) { Some(0.0) } else { upstream("requests_processing") };
            if let (Some(total), Some(busy)) = (total_slots, busy) {
                out.push(slot_states(&base, busy, (total as f64 - busy).max(0.0)));
            }
            let n_ctx =
                props.as_ref().and_then(|p| p.pointer("/default_generation_settings/n_ctx")).and_then(Value::as_u64);
            if let Some(n_ctx) = n_ctx {
                out.push(context_size(with(&[]), n_ctx, "/props n_ctx"));
            }
        }
    }
    if let (Some(props), Some(model)) = (&props, &named) {
        let version = props.get("build_info").and_then(Value::as_str).unwrap_or("");
        let info = Family::gauge("llm_server_info", "Model served and server version; always 1 (llama.cpp /props)");
        out.push(info.with(with_labels(&server_labels, &[("model", model), ("version", version)]), 1.0));
    }
    Ok(out)
}

/// `base` plus the extra labels.
fn with_labels(base: &Labels, extra: &[(&'static str, &str)]) -> Labels {
    let mut labels = base.clone();
    labels.extend(extra.iter().map(|(k, v)| ((*k).into(), v.to_string())));
    labels
}

fn slot_states(base: &Labels, busy: f64, idle: f64) -> Family {
    let mut family = Family::gauge(
        "llm_slots",
        "Server slots by state (llama.cpp /slots, or requests_processing and /props total_slots)",
    );
    family.push(with_labels(base, &[("state", "busy")]), busy);
    family.push(with_labels(base, &[("state", "idle")]), idle);
    family
}

fn sleeping_family(labels: Labels, sleeping: bool) -> Family {
    Family::gauge(
        "llm_server_sleeping",
        "1 while the server sleeps with its model unloaded (llama-server --sleep-idle-seconds), else 0 (llama.cpp /props is_sleeping)",
    )
    .with(labels, if sleeping { 1.0 } else { 0.0 })
}

fn context_size(labels: Labels, n_ctx: u64, source: &str) -> Family {
    let help = format!("Context window of one slot, in tokens (llama.cpp {source})");
    Family::new("llm_context_size_tokens", help, Kind::Gauge).with(labels, n_ctx as f64)
}

/// The KV capacity from the server's settings, when they are known ([`KvLayout`]).
fn kv_capacity(slots: &[Slot], layout: Option<&KvLayout>) -> Option<u64> {
    let n_ctx: Vec<u64> = slots.iter().filter_map(|s| s.n_ctx).collect();
    layout?.capacity(&n_ctx)
}

/// Tokens held by all slots over the KV capacity. By default each slot owns `n_ctx` cells of
/// the cache, so the capacity is the sum of the slots' `n_ctx`. With `--kv-unified` the slots
/// share one cache whose size no endpoint reports, so it comes from the server's command line
/// or the config (`kv_cache_tokens`); a unified cache is then counted once, not once per slot.
pub fn kv_usage_ratio(slots: &[Slot], kv_cache_tokens: Option<u64>) -> Option<f64> {
    let capacity: u64 = kv_cache_tokens.unwrap_or_else(|| slots.iter().filter_map(|s| s.n_ctx).sum());
    let held: u64 = slots.iter().filter_map(|s| s.tokens).sum();
    (capacity > 0).then(|| (held as f64 / capacity as f64).min(1.0))
}

/// `model_alias` when it was set, else the base name of `model_path` (the alias defaults to
/// the path, which would leak a directory into a label).
fn model_name(props: &Value) -> String {
    let alias = props.get("model_alias").and_then(Value::as_str).unwrap_or("");
    let path = props.get("model_path").and_then(Value::as_str).unwrap_or("");
    let name = if alias.is_empty() || alias == path { path.rsplit(['/', '\\']).next().unwrap_or(path) } else { alias };
    crate::discovery::model_id::label(name)
}
