//! llama-swap: a proxy that starts and stops one upstream server per model (usually
//! llama-server) on demand. `/running` lists the models that are ready, each with its
//! upstream address (`proxy`) and command (`cmd`); `/v1/models` lists every model configured.
//!
//! Each scrape exports `llm_model_state` and `llm_model_loaded` per configured model, and
//! reads each running model's `/metrics`, `/props` and `/slots` straight from its upstream
//! address. Not through llama-swap's `/upstream/MODEL/…`: that route starts a model that is not
//! running, and every request it proxies resets the model's unload timer (`ttl`), so scrapes
//! through it would keep every model loaded for ever. An upstream is read only when its
//! address is on llama-swap's own host; a build whose `/running` gives no `proxy` gets states
//! only.
use std::time::Duration;

use futures::future::join_all;
use reqwest::Url;
use serde_json::Value;

use super::http::{optional, FetchError, Fetcher};
use super::llama_router::{model_states, running_models, MAX_MODELS};
use super::llama_server::{self, SlotsRead};
use crate::config::ServerConfig;
use crate::discovery::llama_kv::KvLayout;
use crate::discovery::model_id;
use crate::family::{labels, Family};

/// The states of a llama-swap model: it runs or it does not.
const STATES: [&str; 2] = ["loaded", "unloaded"];

/// One model `/running` lists as ready.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub id: String,
    /// Its upstream address, when this build reports it and it is on llama-swap's host.
    pub upstream: Option<Url>,
    /// What its command says: its KV cache, and whether it sleeps when idle; `None` when
    /// this build does not give the command.
    pub layout: Option<KvLayout>,
}

/// Parses `/running`. `None` unless it is an object with a `running` array (llama-swap's
/// shape); entries without a `model` are skipped, at most [`MAX_MODELS`] are kept.
pub fn parse_running(body: &str, base: &Url) -> Option<Vec<Running>> {
    let value: Value = serde_json::from_str(body).ok()?;
    let running = value.get("running")?.as_array()?;
    let mut out: Vec<Running> = Vec::new();
    for entry in running {
        let Some(id) = entry.get("model").and_then(Value::as_str) else { continue };
        if entry.get("state").and_then(Value::as_str).is_some_and(|s| s != "ready") {
            continue;
        }
        let id = model_id::label(id);
        if out.len() >= MAX_MODELS || out.iter().any(|r| r.id == id) {
            continue;
        }
        let upstream = entry
            .get("proxy")
            .and_then(Value::as_str)
            .and_then(|p| Url::parse(p).ok())
            .filter(|u| u.scheme() == "http" && u.host_str() == base.host_str());
        let layout = entry.get("cmd").and_then(Value::as_str).map(|cmd| {
            let args: Vec<String> = cmd.split_whitespace().take(1000).map(String::from).collect();
            KvLayout::parse(&args, &[])
        });
        out.push(Running { id, upstream, layout });
    }
    Some(out)
}

/// The ids `/v1/models` lists, at most [`MAX_MODELS`], and how many were left out.
pub fn parse_models(body: &str) -> (Vec<String>, usize) {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let data = value.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut ids: Vec<String> = Vec::new();
    let mut left_out = 0;
    for id in data.iter().filter_map(|m| m.get("id").and_then(Value::as_str)) {
        left_out += usize::from(!push_capped(&mut ids, model_id::label(id)));
    }
    (ids, left_out)
}

/// Adds `id` to `ids` unless it is there already; `false` when [`MAX_MODELS`] leaves it out.
fn push_capped(ids: &mut Vec<String>, id: String) -> bool {
    if ids.contains(&id) {
        return true;
    }
    if ids.len() >= MAX_MODELS {
        return false;
    }
    ids.push(id);
    true
}

/// What one scrape of llama-swap read.
#[derive(Debug, Default)]
pub struct Reading {
    pub running: Vec<Running>,
    /// Every configured model (`/v1/models`), when it answered.
    pub models: Option<(Vec<String>, usize)>,
    /// Each running model's reading from its upstream, or why not.
    pub per_model: Vec<(String, Result<llama_server::Reading, FetchError>)>,
}

/// GETs `/running` (which decides whether the server is up) and `/v1/models`, then each
/// running model's upstream, concurrently, all within `timeout`. `Ok(None)` when `/running`
/// is not llama-swap's.
pub async fn read(
    fetcher: &Fetcher,
    base: &Url,
    api_key: Option<&str>,
    timeout: Duration,
) -> Result<Option<Reading>, FetchError> {
    let (running, models) = tokio::join!(
        fetcher.get_text(base, "running", api_key, timeout),
        fetcher.get_text(base, "v1/models", api_key, timeout)
    );
    let Some(running) = parse_running(&running?, base) else { return Ok(None) };
    let models = optional(base, "v1/models", models).map(|b| parse_models(&b));
    let per_model =
        join_all(
            running.iter().filter_map(|r| {
                let upstream = r.upstream.clone()?;
                let when = SlotsRead::from_layout(r.layout.as_ref());
                // The upstream is a plain llama-server: it gets no key of llama-swap's.
                Some(async move {
                    (r.id.clone(), llama_server::read_with(fetcher, &upstream, None, timeout, None, when).await)
                })
            }),
        )
        .await;
    Ok(Some(Reading { running, models, per_model }))
}

/// Shapes llama-swap's reading: each configured model `loaded` or `unloaded`, and each running
/// model's llama-server series labelled with llama-swap's `server` and the model's id.
pub fn shape(server: &ServerConfig, reading: &Reading) -> Vec<Family> {
    let (listed, mut left_out) = reading.models.clone().unwrap_or_default();
    // Running models first, so the cap never hides one that holds memory.
    let mut ids: Vec<String> = reading.running.iter().map(|r| r.id.clone()).collect();
    for id in listed {
        left_out += usize::from(!push_capped(&mut ids, id));
    }
    let models = ids.iter().map(|id| {
        let running = reading.running.iter().any(|r| &r.id == id);
        (id.as_str(), if running { "loaded" } else { "unloaded" }, running)
    });
    let (state, mut loaded) = model_states(
        server,
        "llamaswap",
        &STATES,
        [
            "Each model's state, one series per state, 1 for the current one (llama-swap /running, /v1/models)",
            "1 when the model is running, else 0 (llama-swap /running)",
        ],
        models,
    );
    // Each model left out costs a series per state and its `llm_model_loaded`.
    loaded.dropped += left_out * (STATES.len() + 1);
    let mut out = vec![state, loaded];
    let layout = |id: &str| reading.running.iter().find(|r| r.id == id).and_then(|r| r.layout);
    for (_, families) in running_models(server, &reading.per_model, layout) {
        out.extend(families.into_iter().filter(|f| f.name != "llm_server_info").map(|mut f| {
            for s in &mut f.samples {
                for (k, v) in &mut s.labels {
                    if k == "backend" {
                        *v = "llamaswap".into();
                    }
                }
            }
            f
        }));
    }
    let names: Vec<&str> = reading.running.iter().map(|r| r.id.as_str()).collect();
    let info = Family::gauge("llm_server_info", "Models running (comma-joined); always 1 (llama-swap /running)");
    out.push(info.with(
        labels([("server", &server.name), ("backend", "llamaswap"), ("model", &names.join(",")), ("version", "")]),
        1.0,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:8080/").unwrap()
    }

    #[test]
    fn running_models_and_their_upstreams() {
        let body = r#"{"running":[
            {"model":"qwen","state":"ready","cmd":"llama-server --port 9001 -m q.gguf --sleep-idle-seconds 60","proxy":"http://127.0.0.1:9001","ttl":300},
            {"model":"far","state":"ready","proxy":"http://10.0.0.9:9002"},
            {"model":"old","state":"ready"},
            {"model":"stopping","state":"stopping","proxy":"http://127.0.0.1:9003"},
            {"state":"ready"}
        ]}"#;
        let running = parse_running(body, &base()).unwrap();
        let got: Vec<(&str, Option<&str>, Option<bool>)> = running
            .iter()
            .map(|r| (r.id.as_str(), r.upstream.as_ref().map(Url::as_str), r.layout.map(|l| l.sleeps)))
            .collect();
        assert_eq!(
            got,
            [("qwen", Some("http://127.0.0.1:9001/"), Some(true)), ("far", None, None), ("old", None, None)],
            "another host is never probed"
        );
        assert_eq!(parse_running(r#"{"running":[]}"#, &base()), Some(vec![]));
        for body in ["", "{}", r#"{"version":"1"}"#, r#"{"running":{}}"#] {
            assert_eq!(parse_running(body, &base()), None, "{body:?}");
        }
    }

    #[test]
    fn every_configured_model_has_a_state() {
        let server = ServerConfig {
            name: "swap".into(),
            url: base(),
            backend: crate::config::Backend::Llamaswap,
            api_key: None,
            timeout: None,
            kv_cache_tokens: None,
        };
        let metrics = b"llamacpp:tokens_predicted_total 5\n".to_vec();
        let reading = Reading {
            running: parse_running(r#"{"running":[{"model":"qwen","state":"ready"}]}"#, &base()).unwrap(),
            models: Some(parse_models(r#"{"data":[{"id":"qwen"},{"id":"gemma"}]}"#)),
            per_model: vec![("qwen".into(), Ok(llama_server::Reading { metrics, slots: None, props: None }))],
        };
        let text = crate::family::encode_text(&crate::family::merge(shape(&server, &reading)));
        for line in [
            r#"llm_model_loaded{server="swap",backend="llamaswap",model="gemma"} 0"#,
            r#"llm_model_loaded{server="swap",backend="llamaswap",model="qwen"} 1"#,
            r#"llm_model_state{server="swap",backend="llamaswap",model="gemma",state="unloaded"} 1"#,
            r#"llm_generation_tokens_total{server="swap",backend="llamaswap",model="qwen"} 5"#,
            r#"llm_server_info{server="swap",backend="llamaswap",model="qwen",version=""} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
    }
}
