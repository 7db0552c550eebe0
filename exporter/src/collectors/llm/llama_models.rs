//! A llama.cpp router's `/models`: every model it knows, its state, and the arguments its
//! child runs with (`status.args`), which size the child's KV cache and say whether it sleeps
//! when idle. Pure.
//!
//! At most [`MAX_MODELS`] models are kept. The ones that run or tried to (loaded, loading,
//! sleeping, failed) go first, then those in a state this version does not know, then the
//! unloaded ones, so the cap never hides a model that holds memory.
use serde_json::Value;

use crate::discovery::llama_kv::KvLayout;
use crate::discovery::model_id;

/// At most this many models of one router are exported; the rest are counted as dropped
/// series, so a directory of thousands of files cannot blow up cardinality.
pub const MAX_MODELS: usize = 64;

/// The states of `llm_model_state` that every model has a series for, 1 for the current one.
/// `failed` is a model whose last load failed (the router reports it `unloaded` with
/// `failed: true`).
pub const STATES: [&str; 5] = ["loaded", "loading", "sleeping", "unloaded", "failed"];

/// States that get a series only while a model is in them: `downloading` and `downloaded` (a
/// router fetching a model it was given by name), and `unknown` for any other status (a newer
/// router) or none. The last one is `unknown`.
pub const RARE_STATES: [&str; 3] = ["downloading", "downloaded", "unknown"];

/// Series each model costs: one per state of [`STATES`], and `llm_model_loaded`.
pub const SERIES_PER_MODEL: usize = STATES.len() + 1;

/// Arguments of one child read from `status.args`, at most.
const MAX_ARGS: usize = 1000;

/// One entry of `/models`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterModel {
    /// The id as the router spells it, used in requests (`?model=ID`).
    pub id: String,
    /// The id as a `model` label value ([`model_id::label`]).
    pub label: String,
    /// One of [`STATES`] or [`RARE_STATES`].
    pub state: &'static str,
    /// What the child's arguments (`status.args`) say; `None` when the router does not list them.
    pub layout: Option<KvLayout>,
}

impl RouterModel {
    /// Whether the model runs in a child that can be read (asleep included).
    pub fn running(&self) -> bool {
        matches!(self.state, "loaded" | "sleeping")
    }

    /// Which models the cap keeps first: lower is kept first.
    fn rank(&self) -> u8 {
        match self.state {
            "unloaded" => 2,
            "downloading" | "downloaded" | "unknown" => 1,
            _ => 0,
        }
    }
}

/// The models kept, and how many series were left out past [`MAX_MODELS`], for an id repeated
/// or one that is not a string or number.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Models {
    pub kept: Vec<RouterModel>,
    pub left_out_series: usize,
}

/// Parses `/models`. `None` unless it is a router's list: `data` entries with a `status`
/// object (a single-model server lists its one model without one). In a router's list, an
/// entry without a status is a model in an unknown state.
pub fn parse_models(body: &str) -> Option<Models> {
    let value: Value = serde_json::from_str(body).ok()?;
    let data = value.get("data")?.as_array()?;
    if !data.iter().any(|entry| entry.get("status").is_some_and(Value::is_object)) {
        return None;
    }
    let mut all: Vec<RouterModel> = Vec::new();
    let mut unusable = 0;
    let mut seen = std::collections::HashSet::new();
    for entry in data {
        let id = match entry.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                unusable += 1;
                continue;
            }
        };
        // A set, not a search of `all`: a 1 MiB list holds tens of thousands of ids.
        if !seen.insert(id.clone()) {
            unusable += 1;
            continue;
        }
        let status = entry.get("status").and_then(Value::as_object);
        let value = status.and_then(|s| s.get("value")).and_then(Value::as_str);
        let failed = status.and_then(|s| s.get("failed")).and_then(Value::as_bool) == Some(true);
        let state = match value {
            Some("unloaded") if failed => "failed",
            Some(value) => {
                let known = STATES.iter().chain(&RARE_STATES[..RARE_STATES.len() - 1]).find(|s| **s == value);
                known.copied().unwrap_or("unknown")
            }
            None => "unknown",
        };
        let args = status
            .and_then(|s| s.get("args"))
            .and_then(Value::as_array)
            .map(|args| args.iter().take(MAX_ARGS).filter_map(|a| a.as_str().map(String::from)).collect::<Vec<_>>());
        let layout = args.map(|args| KvLayout::parse(&args, &[]));
        all.push(RouterModel { label: model_id::label(&id), id, state, layout });
    }
    // Stable: within a rank, the router's order.
    all.sort_by_key(RouterModel::rank);
    let past_cap = all.len().saturating_sub(MAX_MODELS);
    all.truncate(MAX_MODELS);
    Some(Models { kept: all, left_out_series: (past_cap + unusable) * SERIES_PER_MODEL })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODELS: &str = r#"{"data":[
        {"id":"alpha","aliases":[],"status":{"value":"loaded","args":["llama-server","--alias","alpha","--sleep-idle-seconds","60","-c","256"]}},
        {"id":"beta","status":{"value":"unloaded"}},
        {"id":"broken","status":{"value":"unloaded","exit_code":1,"failed":true}},
        {"id":"gamma","status":{"value":"sleeping"}},
        {"id":"delta","status":{"value":"loading"}},
        {"id":"future","status":{"value":"downloading"}},
        {"id":"newer","status":{"value":"paused"}},
        {"id":"bare"},
        {"id":7,"status":{"value":"unloaded"}},
        {"id":"alpha","status":{"value":"loaded"}},
        {"object":"model"}
    ]}"#;

    #[test]
    fn models_and_their_states() {
        let models = parse_models(MODELS).unwrap();
        let got: Vec<(&str, &str)> = models.kept.iter().map(|m| (m.id.as_str(), m.state)).collect();
        assert_eq!(
            got,
            [
                ("alpha", "loaded"),
                ("broken", "failed"),
                ("gamma", "sleeping"),
                ("delta", "loading"),
                ("future", "downloading"),
                ("newer", "unknown"),
                ("bare", "unknown"),
                ("beta", "unloaded"),
                ("7", "unloaded"),
            ],
            "running and failed models first, unloaded ones last; every model kept"
        );
        assert_eq!(models.left_out_series, 2 * SERIES_PER_MODEL, "the repeated id and the entry without one");
        let alpha = models.kept[0].layout.unwrap();
        assert!(alpha.sleeps, "from status.args");
        assert_eq!(alpha.capacity(&[256; 4]), Some(256), "-c 256, no -np: 4 slots share 256 cells");
        assert_eq!(models.kept[1].layout, None, "no status.args");
    }

    #[test]
    fn a_single_model_list_is_no_router() {
        let plain = r#"{"object":"list","data":[{"id":"tiny.gguf","object":"model","meta":{"n_ctx_train":4096}}]}"#;
        assert_eq!(parse_models(plain), None);
        for body in ["", "[]", "{}", "{\"data\":{}}", "not json"] {
            assert_eq!(parse_models(body), None, "{body:?}");
        }
    }

    #[test]
    fn the_cap_keeps_loaded_models_and_counts_series() {
        let mut entries: Vec<String> =
            (0..MAX_MODELS + 5).map(|i| format!(r#"{{"id":"m{i:02}","status":{{"value":"unloaded"}}}}"#)).collect();
        entries.push(r#"{"id":"zz-last","status":{"value":"loaded"}}"#.into());
        let models = parse_models(&format!("{{\"data\":[{}]}}", entries.join(","))).unwrap();
        assert_eq!(models.kept.len(), MAX_MODELS);
        assert_eq!(models.kept[0].id, "zz-last");
        assert_eq!(models.left_out_series, 6 * SERIES_PER_MODEL);
    }

    #[test]
    fn long_ids_keep_their_full_id_for_requests_and_distinct_labels() {
        let long = |end: &str| format!("{}{end}", "x".repeat(130));
        let body = format!(
            r#"{{"data":[{{"id":"{}","status":{{"value":"unloaded"}}}},{{"id":"{}","status":{{"value":"loaded"}}}}]}}"#,
            long("a"),
            long("b")
        );
        let models = parse_models(&body).unwrap();
        assert_eq!(models.kept.len(), 2);
        assert_eq!(models.kept[0].id, long("b"), "the loaded one, asked for by its full id");
        assert_ne!(models.kept[0].label, models.kept[1].label);
        assert_eq!(models.left_out_series, 0);
    }
}
