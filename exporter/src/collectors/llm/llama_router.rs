//! llama.cpp's router mode (`llama-server --models-dir DIR` or `--models-preset FILE`): one
//! server, each loaded model in a child llama-server on a port of its own. A bare `/metrics`
//! answers 400 ("model name is missing from the request"); `/models` lists every model with a
//! `status` object.
//!
//! Each scrape lists `/models`, exports `llm_model_state` and `llm_model_loaded` per model,
//! and reads each loaded or sleeping model's `/metrics`, `/props` and `/slots` through the
//! router with `?model=ID&autoload=false`, concurrently. `autoload=false` makes the router
//! answer 400 for a model that is not loaded instead of loading it; `/slots` of a sleeping
//! model is never read (it would wake it). GETs do not refresh a model's idle timer.
use std::time::Duration;

use futures::future::join_all;
use reqwest::Url;
use serde_json::Value;

use super::http::{optional, FetchError, Fetcher};
pub use super::llama_models::{parse_models, Models, RouterModel, MAX_MODELS, RARE_STATES, STATES};
use super::llama_server::{self, SlotsRead};
use crate::config::ServerConfig;
use crate::discovery::llama_kv::KvLayout;
use crate::family::{labels, Family};

/// What one scrape of a router read.
#[derive(Debug, Default)]
pub struct Reading {
    pub models: Models,
    /// The router's own `/props` (`role: router`, `build_info`).
    pub props: Option<String>,
    /// Each loaded or sleeping model's reading, or why it failed, by its label.
    pub per_model: Vec<(String, Result<llama_server::Reading, FetchError>)>,
}

/// `base` with `?model=ID&autoload=false`: every path below it asks the router about that
/// model and forbids it to load one.
pub fn model_base(base: &Url, id: &str) -> Url {
    let mut url = base.clone();
    url.query_pairs_mut().append_pair("model", id).append_pair("autoload", "false");
    url
}

/// GETs `/models` and the router's `/props`, then every loaded or sleeping model's endpoints
/// concurrently, all within `timeout`. `Ok(None)` when `/models` is not a router's list.
pub async fn read(
    fetcher: &Fetcher,
    base: &Url,
    api_key: Option<&str>,
    timeout: Duration,
) -> Result<Option<Reading>, FetchError> {
    let (models, props) = tokio::join!(
        fetcher.get_text(base, "models", api_key, timeout),
        fetcher.get_text(base, "props", api_key, timeout)
    );
    let Some(models) = parse_models(&models?) else { return Ok(None) };
    let props = optional(base, "props", props);
    let per_model = join_all(models.kept.iter().filter(|m| m.running()).map(|m| async move {
        let base = model_base(base, &m.id);
        (m.label.clone(), llama_server::read_with(fetcher, &base, api_key, timeout, None, slots_read(m)).await)
    }))
    .await;
    Ok(Some(Reading { models, props, per_model }))
}

/// When a model's `/slots` may be read: never while it sleeps (that would wake it), only while
/// busy when its child sleeps when idle or its arguments are not known (an idle read would
/// keep it awake), else always.
fn slots_read(model: &RouterModel) -> SlotsRead {
    match model.state {
        "sleeping" => SlotsRead::Never,
        _ => SlotsRead::from_layout(model.layout.as_ref()),
    }
}

/// Shapes a router's reading: the per-model state, then each running model's series labelled
/// with the router's `server` and the model's id. A model whose read failed (it stopped, or
/// was unloaded between `/models` and its `/metrics`) costs only its own series.
pub fn shape(server: &ServerConfig, reading: &Reading) -> Vec<Family> {
    let models = reading.models.kept.iter().map(|m| (m.label.as_str(), m.state, m.running()));
    let (state, mut loaded) = model_states(
        server,
        "llamacpp",
        &STATES,
        [
            "Each model's state, one series per state, 1 for the current one; downloading, downloaded and unknown only while current (llama.cpp router /models status)",
            "1 when the model is loaded (asleep included), else 0 (llama.cpp router /models status)",
        ],
        models,
    );
    loaded.dropped += reading.models.left_out_series;
    let mut out = vec![state, loaded];
    let mut running = Vec::new();
    // Each child is sized from its own arguments, as a plain server from its command line.
    let layout = |label: &str| reading.models.kept.iter().find(|m| m.label == label).and_then(|m| m.layout);
    for (id, families) in running_models(server, &reading.per_model, layout) {
        running.push(id);
        // The router reports the server's info and each model's sleep itself.
        out.extend(families.into_iter().filter(|f| !matches!(&*f.name, "llm_server_info" | "llm_server_sleeping")));
    }
    let props = reading.props.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok());
    let version = props.as_ref().and_then(|p| p.get("build_info")).and_then(Value::as_str).unwrap_or("");
    let info = Family::gauge(
        "llm_server_info",
        "Models served (comma-joined for a router) and server version; always 1 (llama.cpp /props, router /models)",
    );
    let models = running.join(",");
    out.push(info.with(
        labels([("server", &server.name), ("backend", "llamacpp"), ("model", &models), ("version", version)]),
        1.0,
    ));
    out
}

/// `llm_model_state` (one series per state of `states`, 1 for the current one; a current state
/// not among them gets a series of its own) and
/// `llm_model_loaded` for each `(model, current state, loaded)`, under the server's `server`
/// and `backend`; `help` holds the two families' HELP texts. Shared by the router and llama-swap.
pub(crate) fn model_states<'m>(
    server: &ServerConfig,
    backend: &str,
    states: &[&str],
    help: [&'static str; 2],
    models: impl IntoIterator<Item = (&'m str, &'m str, bool)>,
) -> (Family, Family) {
    let mut state = Family::gauge("llm_model_state", help[0]);
    let mut loaded = Family::gauge("llm_model_loaded", help[1]);
    let base = |model: &str| labels([("server", &server.name), ("backend", backend), ("model", model)]);
    for (model, current, is_loaded) in models {
        let rare = (!states.contains(&current)).then_some(current);
        for s in states.iter().copied().chain(rare) {
            let mut l = base(model);
            l.push(("state".into(), s.to_string()));
            state.push(l, if s == current { 1.0 } else { 0.0 });
        }
        loaded.push(base(model), if is_loaded { 1.0 } else { 0.0 });
    }
    (state, loaded)
}

/// The llama-server series of each model read on its own, with the model's label and the KV
/// layout `layout` gives for it (its child's arguments); a model whose
/// read or shaping failed (it stopped, or was unloaded between the listing and its `/metrics`)
/// costs only its own series and a debug line. Shared by the router and llama-swap.
pub(crate) fn running_models<'r>(
    server: &ServerConfig,
    per_model: &'r [(String, Result<llama_server::Reading, FetchError>)],
    layout: impl Fn(&str) -> Option<KvLayout>,
) -> Vec<(&'r str, Vec<Family>)> {
    per_model
        .iter()
        .filter_map(|(id, result)| {
            let families = match result {
                Ok(r) => llama_server::shape_model(server, r, layout(id.as_str()).as_ref(), Some(id)),
                Err(e) => Err(e.to_string()),
            };
            match families {
                Ok(families) => Some((id.as_str(), families)),
                Err(why) => {
                    log::debug!("server {} model {id}: no series this scrape: {why}", server.name);
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODELS: &str = r#"{"data":[
        {"id":"alpha","aliases":[],"status":{"value":"loaded","args":["llama-server","--alias","alpha","--sleep-idle-seconds","60"]}},
        {"id":"beta","status":{"value":"unloaded"}},
        {"id":"broken","status":{"value":"unloaded","exit_code":1,"failed":true}},
        {"id":"gamma","status":{"value":"sleeping"}},
        {"id":"delta","status":{"value":"loading"}},
        {"id":"future","status":{"value":"downloading"}},
        {"id":"newer","status":{"value":"paused"}}
    ]}"#;

    #[test]
    fn model_urls_never_autoload() {
        let base = Url::parse("http://127.0.0.1:1/").unwrap();
        let url = super::super::http::endpoint(&model_base(&base, "a b&c"), "metrics").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:1/metrics?model=a+b%26c&autoload=false");
    }

    #[test]
    fn every_model_gets_one_series_per_state_and_a_failed_model_its_own_series() {
        let server = ServerConfig {
            name: "r".into(),
            url: Url::parse("http://127.0.0.1:1/").unwrap(),
            backend: crate::config::Backend::Llamacpp,
            api_key: None,
            timeout: None,
            kv_cache_tokens: None,
        };
        let metrics = b"llamacpp:tokens_predicted_total 8\nllamacpp:requests_processing 0\n".to_vec();
        let alpha = llama_server::Reading { metrics, slots: None, props: None };
        let reading = Reading {
            models: parse_models(MODELS).unwrap(),
            props: Some(r#"{"role":"router","build_info":"b1"}"#.into()),
            per_model: vec![("alpha".into(), Ok(alpha)), ("gamma".into(), Err(FetchError::Status(400)))],
        };
        let text = crate::family::encode_text(&crate::family::merge(shape(&server, &reading)));
        for line in [
            r#"llm_model_state{server="r",backend="llamacpp",model="broken",state="failed"} 1"#,
            r#"llm_model_state{server="r",backend="llamacpp",model="broken",state="unloaded"} 0"#,
            r#"llm_model_state{server="r",backend="llamacpp",model="gamma",state="sleeping"} 1"#,
            r#"llm_model_loaded{server="r",backend="llamacpp",model="gamma"} 1"#,
            r#"llm_model_loaded{server="r",backend="llamacpp",model="beta"} 0"#,
            r#"llm_generation_tokens_total{server="r",backend="llamacpp",model="alpha"} 8"#,
            r#"llm_server_info{server="r",backend="llamacpp",model="alpha",version="b1"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        for line in [
            r#"llm_model_state{server="r",backend="llamacpp",model="future",state="downloading"} 1"#,
            r#"llm_model_state{server="r",backend="llamacpp",model="future",state="loaded"} 0"#,
            r#"llm_model_state{server="r",backend="llamacpp",model="newer",state="unknown"} 1"#,
            r#"llm_model_loaded{server="r",backend="llamacpp",model="newer"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        assert_eq!(text.matches("llm_model_state{").count(), 7 * 5 + 2, "rare states only while current");
    }
}
