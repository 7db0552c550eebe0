//! Against a real llama-server in router mode (`--models-dir`, two tiny models and a file
//! that is not GGUF; `--models-preset` with a model loaded at startup): per-model series
//! through the router, and no scrape ever loads, wakes or keeps alive a model.
mod common;

use std::time::Duration;

use common::llama::{children_of, LlamaRouter};
use common::*;

async fn complete(url: &str, model: &str) -> u16 {
    let body = serde_json::json!({"model": model, "prompt": "Hello there", "n_predict": 8, "ignore_eos": true});
    let response = client()
        .post(format!("{url}/completion"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("completion");
    let status = response.status().as_u16();
    response.text().await.unwrap();
    status
}

/// Each model's status value as `/models` gives it (listing does not load anything).
async fn statuses(url: &str) -> Vec<(String, String, bool)> {
    let body = client().get(format!("{url}/models")).send().await.unwrap().text().await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let data = value["data"].as_array().cloned().unwrap_or_default();
    data.iter()
        .map(|m| {
            let id = m["id"].as_str().unwrap_or("").to_string();
            (id, m["status"]["value"].as_str().unwrap_or("").to_string(), m["status"]["failed"] == true)
        })
        .collect()
}

async fn status(url: &str, id: &str) -> String {
    statuses(url).await.into_iter().find(|(m, ..)| m == id).map(|(_, s, _)| s).unwrap_or_default()
}

/// The child's own value of `llamacpp:NAME`, through the router without autoload.
async fn upstream(url: &str, model: &str, name: &str) -> f64 {
    let url = format!("{url}/metrics?model={model}&autoload=false");
    let body = client().get(url).send().await.unwrap().text().await.unwrap();
    value(&body, &format!("llamacpp:{name}"), &[])
}

#[tokio::test]
async fn each_loaded_model_is_scraped_through_the_router_and_none_is_loaded() {
    let Some(router) = LlamaRouter::start(&["alpha", "beta"], &["broken"], &[]) else { return };
    assert_eq!(complete(&router.url, "alpha").await, 200);
    assert_eq!(status(&router.url, "alpha").await, "loaded");
    let exporter = Exporter::start(&["--server", &format!("router={}", router.url)]);
    let at = |model: &'static str| [("server", "router"), ("model", model)];
    for _ in 0..20 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_server_up", &[("server", "router"), ("backend", "llamacpp")]), 1.0, "{body}");
        assert_eq!(value(&body, "llm_model_loaded", &at("alpha")), 1.0);
        assert_eq!(value(&body, "llm_model_loaded", &at("beta")), 0.0);
        assert_eq!(value(&body, "llm_model_state", &[at("beta")[1], ("state", "unloaded")]), 1.0);
        assert!(values(&body, "llm_generation_tokens_total", &at("beta")).is_empty());
    }
    assert_eq!(status(&router.url, "beta").await, "unloaded", "a scrape loaded beta: {}", router.log_text());
    assert_eq!(status(&router.url, "broken").await, "unloaded");
    assert!(!router.log_text().contains("name=beta"), "beta was loaded:\n{}", router.log_text());

    // Per-model counters equal the child's own.
    assert_eq!(complete(&router.url, "alpha").await, 200);
    let body = exporter.scrape().await;
    for (ours, theirs) in [
        ("llm_generation_tokens_total", "tokens_predicted_total"),
        ("llm_prompt_tokens_total", "prompt_tokens_total"),
        ("llm_decode_calls_total", "n_decode_total"),
    ] {
        assert_eq!(value(&body, ours, &at("alpha")), upstream(&router.url, "alpha", theirs).await, "{ours}");
    }
    assert_eq!(value(&body, "llm_generation_tokens_total", &at("alpha")), 16.0);
    assert_eq!(value(&body, "llm_slots", &[at("alpha")[1], ("state", "idle")]), 2.0, "-np 2");
    assert_eq!(value(&body, "llm_context_size_tokens", &at("alpha")), 1024.0, "-c 2048 over 2 slots");
    assert_eq!(value(&body, "llm_server_info", &[("server", "router"), ("model", "alpha")]), 1.0);

    // A model that fails to load is `failed`.
    assert_ne!(complete(&router.url, "broken").await, 200);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_model_state", &[at("broken")[1], ("state", "failed")]), 1.0, "{body}");
    assert_eq!(value(&body, "llm_model_loaded", &at("broken")), 0.0);

    // A child killed between scrapes costs only its own model's series.
    for child in children_of(router.pid) {
        let _ = std::process::Command::new("kill").args(["-KILL", &child.to_string()]).status();
    }
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[("server", "router")]), 1.0);
    assert_eq!(value(&body, "llm_model_loaded", &at("beta")), 0.0);
    assert!(values(&body, "llm_generation_tokens_total", &at("alpha")).is_empty(), "{body}");
}

#[tokio::test]
async fn scrapes_neither_keep_a_model_awake_nor_wake_it() {
    let Some(router) = LlamaRouter::start(&["alpha", "beta"], &[], &["--sleep-idle-seconds", "2"]) else { return };
    assert_eq!(complete(&router.url, "alpha").await, 200);
    let exporter = Exporter::start(&["--server", &format!("router={}", router.url)]);
    // Scraped all the time, the model still falls asleep after 2 s idle (bounded wait).
    let mut asleep = false;
    for _ in 0..300 {
        exporter.scrape().await;
        if status(&router.url, "alpha").await == "sleeping" {
            asleep = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(asleep, "alpha never fell asleep while scraped:\n{}", router.log_text());
    for _ in 0..5 {
        let body = exporter.scrape().await;
        let alpha = [("server", "router"), ("model", "alpha")];
        assert_eq!(value(&body, "llm_model_state", &[alpha[1], ("state", "sleeping")]), 1.0, "{body}");
        assert_eq!(value(&body, "llm_model_loaded", &alpha), 1.0);
        assert_eq!(value(&body, "llm_generation_tokens_total", &alpha), 8.0, "a sleeping child keeps its counters");
    }
    assert_eq!(status(&router.url, "alpha").await, "sleeping", "a scrape woke alpha");
    assert_eq!(status(&router.url, "beta").await, "unloaded");
    let log = router.log_text();
    assert!(log.contains("entering sleeping state"), "{log}");
    assert!(!log.contains("exiting sleeping state"), "a scrape woke alpha:\n{log}");
}

#[tokio::test]
async fn a_child_belongs_to_its_router_and_is_no_server_of_its_own() {
    let Some(router) = LlamaRouter::start(&["alpha", "beta"], &[], &[]) else { return };
    assert_eq!(complete(&router.url, "alpha").await, 200);
    let children = children_of(router.pid);
    assert_eq!(children.len(), 1, "alpha's child");
    let exporter = Exporter::start(&["--discovery", "--no-collector.nvml"]);
    let body = exporter.scrape().await;
    let name = format!("llama-server:{}", router.port());
    let child = children[0].to_string();
    let at = [("server", name.as_str()), ("model", "alpha"), ("pid", child.as_str())];
    assert_eq!(value(&body, "llm_process_info", &at), 1.0, "{body}");
    assert!(value(&body, "llm_process_resident_memory_bytes", &at) > 0.0);
    let router_pid = router.pid.to_string();
    let info = values(&body, "llm_process_info", &[("server", &name), ("pid", &router_pid)]);
    assert_eq!(info, [1.0], "the router's own series");
    // One server for the router; the child's ephemeral port is no server of its own.
    let up: Vec<&str> = body.lines().filter(|l| l.starts_with("llm_server_up{")).collect();
    let ours: Vec<&&str> = up.iter().filter(|l| l.contains(&format!("\"{name}\""))).collect();
    assert_eq!(ours.len(), 1, "{up:?}");
    let cmdline = std::fs::read_to_string(format!("/proc/{child}/cmdline")).unwrap_or_default();
    let args: Vec<&str> = cmdline.split('\0').collect();
    let port = args.iter().position(|a| *a == "--port").and_then(|i| args.get(i + 1)).expect("the child's --port");
    assert!(!body.contains(&format!("server=\"llama-server:{port}\"")), "the child became a server: {up:?}");
    assert_eq!(value(&body, "llm_model_loaded", &[("server", &name), ("model", "alpha")]), 1.0);
}

#[tokio::test]
async fn a_preset_router_is_read_the_same_and_its_startup_load_is_seen() {
    let preset = |tiny: &str| {
        format!("version = 1\n\n[*]\nn-predict = 8\n\n[gamma]\nmodel = {tiny}\nload-on-startup = true\n\n[delta]\nmodel = {tiny}\n")
    };
    let Some(router) = LlamaRouter::start_preset(preset, &[]) else { return };
    for _ in 0..300 {
        if status(&router.url, "gamma").await == "loaded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status(&router.url, "gamma").await, "loaded", "{}", router.log_text());
    let exporter = Exporter::start(&["--discovery", "--no-collector.nvml"]);
    let name = format!("llama-server:{}", router.port());
    let (gamma, delta) =
        ([("server", name.as_str()), ("model", "gamma")], [("server", name.as_str()), ("model", "delta")]);
    for _ in 0..5 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_model_loaded", &gamma), 1.0, "{body}");
        assert_eq!(value(&body, "llm_model_loaded", &delta), 0.0);
        assert_eq!(value(&body, "llm_slots", &[gamma[0], gamma[1], ("state", "idle")]), 2.0, "-np 2");
        let child = children_of(router.pid);
        assert_eq!(child.len(), 1, "gamma's child only");
        let pid = child[0].to_string();
        assert_eq!(value(&body, "llm_process_info", &[gamma[0], gamma[1], ("pid", &pid)]), 1.0);
    }
    assert_eq!(status(&router.url, "delta").await, "unloaded", "a scrape loaded delta");
}

#[tokio::test]
async fn a_childs_kv_cache_is_sized_from_its_own_arguments() {
    // `-c 256` and no `-np`: the child runs 4 slots sharing one cache of 256 cells, and each
    // slot reports n_ctx 256. Summing the slots would make the cache 1024.
    let Some(router) = LlamaRouter::start_linked(&["plain".into()], &["-c", "256"]) else { return };
    assert_eq!(complete(&router.url, "plain").await, 200);
    let exporter = Exporter::start(&["--server", &format!("router={}", router.url)]);
    let body = exporter.scrape().await;
    let plain = [("server", "router"), ("model", "plain")];
    let held: f64 = values(&body, "llm_slot_context_used_tokens", &plain).iter().sum();
    assert!(held > 8.0, "the finished request's sequence stays cached: {held}\n{body}");
    assert_eq!(value(&body, "llm_slots", &[plain[0], plain[1], ("state", "idle")]), 4.0, "no -np: 4 slots");
    assert_eq!(value(&body, "llm_context_size_tokens", &plain), 256.0);
    assert_eq!(value(&body, "llm_kv_cache_usage_ratio", &plain), held / 256.0, "{held} tokens of 256 cells");
}

#[tokio::test]
async fn a_loaded_model_past_the_cap_is_exported_and_unloaded_ones_are_dropped() {
    let mut names: Vec<String> = (0..69).map(|i| format!("m{i:02}")).collect();
    names.push("zz-last".into());
    let Some(router) = LlamaRouter::start_linked(&names, &["-c", "512", "-np", "1"]) else { return };
    assert_eq!(statuses(&router.url).await.len(), 70, "{}", router.log_text());
    assert_eq!(complete(&router.url, "zz-last").await, 200);
    let exporter = Exporter::start(&["--server", &format!("router={}", router.url)]);
    let last = [("server", "router"), ("model", "zz-last")];
    for scrape in 1..=3 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_model_loaded", &last), 1.0, "{body}");
        assert_eq!(value(&body, "llm_model_state", &[last[0], last[1], ("state", "loaded")]), 1.0);
        assert_eq!(value(&body, "llm_generation_tokens_total", &last), 8.0);
        assert_eq!(values(&body, "llm_model_loaded", &[("server", "router")]).len(), 64, "the cap");
        // Six unloaded models left out, each a series per state and its llm_model_loaded.
        let dropped = value(&body, "llm_exporter_target_series_dropped_total", &[("server", "router")]);
        assert_eq!(dropped, f64::from(scrape) * 6.0 * 6.0);
    }
    let log = exporter.log_with("series over a cap dropped");
    let warned = log.lines().filter(|l| l.contains("series over a cap dropped")).collect::<Vec<_>>();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(warned[0].contains("64 models per router"), "the warning names the model cap: {warned:?}");
}

#[tokio::test]
async fn a_model_the_router_is_downloading_keeps_its_series() {
    // A stand-in for the Hugging Face API on loopback (the router's MODEL_ENDPOINT) that lists one
    // GGUF file and never sends it: the router's `downloading` state lasts as long as needed.
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let refs = serde_json::json!({"branches": [{"name": "main", "targetCommit": commit}]});
    let tree = serde_json::json!([{"type": "file", "path": "tiny-Q8_0.gguf", "oid": "89abcdef0123456789abcdef0123456789abcdef", "size": 1000}]);
    let hub = FakeServer::start(
        vec![
            ("/api/models/org/tiny/refs", Answer::Body(refs.to_string())),
            (&format!("/api/models/org/tiny/tree/{commit}"), Answer::Body(tree.to_string())),
            (
                &format!("/org/tiny/resolve/{commit}/tiny-Q8_0.gguf"),
                Answer::Slow(Duration::from_secs(600), String::new()),
            ),
        ],
        None,
    )
    .await;
    let cache = tempfile::tempdir().unwrap();
    let env = [("MODEL_ENDPOINT", hub.url()), ("LLAMA_CACHE", cache.path().to_str().unwrap().to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Some(router) = LlamaRouter::start_linked_with_env(&["alpha".into()], &[], &env) else { return };
    let added = client()
        .post(format!("{}/models", router.url))
        .header("content-type", "application/json")
        .body(r#"{"model":"org/tiny"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200, "{}", router.log_text());
    for _ in 0..100 {
        if status(&router.url, "org/tiny").await == "downloading" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status(&router.url, "org/tiny").await, "downloading", "{:?}", statuses(&router.url).await);
    let exporter = Exporter::start(&["--server", &format!("router={}", router.url)]);
    let body = exporter.scrape().await;
    let tiny = [("server", "router"), ("model", "org/tiny")];
    assert_eq!(value(&body, "llm_model_state", &[tiny[0], tiny[1], ("state", "downloading")]), 1.0, "{body}");
    assert_eq!(value(&body, "llm_model_state", &[tiny[0], tiny[1], ("state", "loaded")]), 0.0);
    assert_eq!(value(&body, "llm_model_loaded", &tiny), 0.0);
    assert_eq!(value(&body, "llm_model_loaded", &[("server", "router"), ("model", "alpha")]), 0.0);
}
