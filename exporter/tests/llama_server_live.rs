//! Against a real llama-server: the exporter's numbers equal the server's own.
mod common;

use std::time::Duration;

use common::llama::{Launch, LlamaServer};
use common::*;

async fn complete(url: &str, prompt: &str, n_predict: u32, key: Option<&str>) -> reqwest::Response {
    let mut request = client()
        .post(format!("{url}/completion"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"prompt": prompt, "n_predict": n_predict, "ignore_eos": true}).to_string());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("completion");
    assert_eq!(response.status(), 200);
    response
}

/// The server's own value of `llamacpp:NAME`, read straight from its /metrics.
async fn upstream(url: &str, name: &str, key: Option<&str>) -> f64 {
    let mut request = client().get(format!("{url}/metrics"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let body = request.send().await.unwrap().text().await.unwrap();
    value(&body, &format!("llamacpp:{name}"), &[])
}

#[tokio::test]
async fn counters_equal_the_servers_own_after_completions() {
    let Some(llama) = LlamaServer::start(&[], "") else { return };
    let exporter = Exporter::start(&["--server", &format!("llama={}", llama.url)]);
    for i in 0..3 {
        complete(&llama.url, &format!("Hello number {i}, tell me a story"), 16 + i * 8, None)
            .await
            .text()
            .await
            .unwrap();
    }
    let body = exporter.scrape().await;
    let ours = |name: &str| value(&body, name, &[("server", "llama"), ("backend", "llamacpp")]);
    assert_eq!(ours("llm_server_up"), 1.0);
    assert_eq!(ours("llm_prompt_tokens_total"), upstream(&llama.url, "prompt_tokens_total", None).await);
    assert_eq!(ours("llm_generation_tokens_total"), upstream(&llama.url, "tokens_predicted_total", None).await);
    assert_eq!(ours("llm_generation_tokens_total"), 16.0 + 24.0 + 32.0);
    assert_eq!(ours("llm_decode_calls_total"), upstream(&llama.url, "n_decode_total", None).await);
    assert_eq!(ours("llm_prompt_seconds_total"), upstream(&llama.url, "prompt_seconds_total", None).await);
    let busy = value(&body, "llm_slots", &[("state", "busy")]);
    let idle = value(&body, "llm_slots", &[("state", "idle")]);
    assert_eq!((busy, idle), (0.0, 4.0), "-np 4");
    assert_eq!(ours("llm_context_size_tokens"), 2048.0, "-c 8192 over 4 slots");
    assert_eq!(value(&body, "llm_server_info", &[("server", "llama"), ("model", "tiny-llama.gguf")]), 1.0);
    let held: f64 = values(&body, "llm_slot_context_used_tokens", &[]).iter().sum();
    assert!(held > 0.0, "finished slots keep their sequences cached");
    assert_eq!(ours("llm_kv_cache_usage_ratio"), held / 8192.0);
}

#[tokio::test]
async fn a_long_request_is_a_busy_slot_whose_context_grows() {
    // A model slow enough (about 170 tokens/s on one thread) that a request stays in flight.
    let Some(llama) = LlamaServer::start(&[], "--embd 512 --layers 8 --ff 1536 --heads 8") else { return };
    let exporter = Exporter::start(&["--server", &format!("llama={}", llama.url)]);
    let url = llama.url.clone();
    let request = tokio::spawn(async move { complete(&url, "Once upon a time", 1500, None).await.text().await });

    let mut seen = Vec::new();
    let mut running = Vec::new();
    for _ in 0..300 {
        let body = exporter.scrape().await;
        if value(&body, "llm_slots", &[("state", "busy")]) == 1.0 {
            let used: Vec<f64> =
                values(&body, "llm_slot_context_used_tokens", &[]).into_iter().filter(|v| *v > 0.0).collect();
            // `/metrics` and `/slots` are answered by separate tasks of the server's loop, so at
            // the start and end of a request they may disagree for one read: collect, judge after.
            running.push(value(&body, "llm_requests_running", &[]));
            assert_eq!(value(&body, "llm_slots", &[("state", "idle")]), 3.0);
            assert_eq!(used.len(), 1, "one slot holds tokens: {used:?}");
            seen.push(used[0]);
            if grew(&seen) && running.contains(&1.0) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    request.abort();
    assert!(grew(&seen), "context did not grow while busy: {seen:?}");
    assert!(running.contains(&1.0), "llm_requests_running never showed the request: {running:?}");
    assert!(running.iter().all(|r| *r <= 1.0), "one request in flight: {running:?}");
}

/// At least three readings, never shrinking, and more at the end than at the start (a loaded
/// machine may generate nothing between two reads).
fn grew(seen: &[f64]) -> bool {
    seen.len() >= 3 && seen.windows(2).all(|w| w[1] >= w[0]) && seen[seen.len() - 1] > seen[0]
}

#[tokio::test]
async fn a_server_with_an_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "live-key-42\n").unwrap();
    let Some(llama) = LlamaServer::start(&["--api-key-file", key_file.to_str().unwrap()], "") else { return };
    let config = dir.path().join("config.toml");
    let text = format!(
        "[[server]]\nname = \"keyed\"\nurl = \"{0}\"\napi_key_file = \"key\"\n\n[[server]]\nname = \"keyless\"\nurl = \"{0}\"\n",
        llama.url
    );
    std::fs::write(&config, text).unwrap();
    complete(&llama.url, "Hello", 8, Some("live-key-42")).await.text().await.unwrap();
    let exporter = Exporter::start(&["--config.file", config.to_str().unwrap()]);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[("server", "keyed")]), 1.0);
    assert_eq!(value(&body, "llm_server_up", &[("server", "keyless")]), 0.0);
    assert_eq!(
        value(&body, "llm_generation_tokens_total", &[("server", "keyed")]),
        upstream(&llama.url, "tokens_predicted_total", Some("live-key-42")).await
    );
    let log = exporter.log().join("\n");
    assert!(log.contains("server keyless (") && log.contains("HTTP status 401"), "{log}");
    assert!(!log.contains("live-key-42") && !body.contains("live-key-42"));
}

/// `/props` `is_sleeping`, read the way the exporter reads it (it does not wake the server).
async fn sleeping(url: &str) -> bool {
    let props = client().get(format!("{url}/props")).send().await.unwrap().text().await.unwrap();
    serde_json::from_str::<serde_json::Value>(&props).unwrap()["is_sleeping"] == true
}

#[tokio::test]
async fn a_sleeping_server_is_never_woken_and_stays_up() {
    let Some(llama) = LlamaServer::start(&["--sleep-idle-seconds", "2"], "") else { return };
    complete(&llama.url, "Hello", 8, None).await.text().await.unwrap();
    // Idle for 2 s, the server unloads its model; wait for it (bounded), then judge.
    for _ in 0..300 {
        if sleeping(&llama.url).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sleeping(&llama.url).await, "llama-server did not fall asleep: {}", llama.log_text());
    let exporter = Exporter::start(&["--server", &format!("llama={}", llama.url)]);
    for _ in 0..5 {
        let body = exporter.scrape().await;
        let ours = |name: &str| value(&body, name, &[("server", "llama"), ("backend", "llamacpp")]);
        assert_eq!(ours("llm_server_up"), 1.0);
        assert_eq!(ours("llm_server_sleeping"), 1.0);
        assert_eq!(value(&body, "llm_slots", &[("state", "idle")]), 4.0, "-np 4, all idle");
        assert_eq!(value(&body, "llm_slots", &[("state", "busy")]), 0.0);
        assert_eq!(ours("llm_generation_tokens_total"), 8.0);
    }
    assert!(sleeping(&llama.url).await, "the scrapes woke the server");
    let log = llama.log_text();
    assert!(log.contains("entering sleeping state"), "{log}");
    assert!(!log.contains("exiting sleeping state"), "a scrape woke the server:\n{log}");
    // Awake again (a request), it says so.
    complete(&llama.url, "Hello", 4, None).await.text().await.unwrap();
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_sleeping", &[("server", "llama")]), 0.0);
}

/// The size of the unified KV cache llama-server logged: with unified slots each sequence may
/// use the whole cache, and the server warns `llama_context: n_ctx_seq (8192) > n_ctx_train
/// (4096)` when that is more than the model was trained for, as with the tiny model.
fn kv_cells_in_log(log: &str) -> f64 {
    let line = log.lines().find(|l| l.contains("n_ctx_seq (")).unwrap_or_else(|| panic!("no n_ctx_seq in\n{log}"));
    let number = line.split("n_ctx_seq (").nth(1).and_then(|rest| rest.split(')').next());
    number.and_then(|n| n.parse().ok()).expect("a number")
}

#[tokio::test]
async fn a_discovered_server_with_the_default_slots_counts_its_shared_cache_once() {
    // No -np: four slots share one cache of -c 8192 cells, and each reports n_ctx 4096 (the
    // tiny model's training context) in /slots.
    let Some(llama) = LlamaServer::launch(&[], Launch { env: &[("NP", "")], ..Launch::default() }) else { return };
    complete(&llama.url, "Once upon a time there was a small model that", 64, None).await.text().await.unwrap();
    let exporter = Exporter::start(&["--discovery"]);
    let body = exporter.scrape().await;
    let name = format!("llama-server:{}", llama.port());
    let server = [("server", name.as_str())];
    let held: f64 = values(&body, "llm_slot_context_used_tokens", &server).iter().sum();
    let cells = kv_cells_in_log(&llama.log_text());
    assert_eq!(cells, 8192.0);
    assert!(held > 64.0, "the finished request's sequence stays cached: {held}");
    assert_eq!(value(&body, "llm_slots", &[server[0], ("state", "idle")]), 4.0);
    assert_eq!(value(&body, "llm_kv_cache_usage_ratio", &server), held / cells);
    eprintln!("measured: {held} tokens held, {cells} KV cells: llm_kv_cache_usage_ratio {}", held / cells);
}

#[tokio::test]
async fn scrapes_do_not_keep_an_idle_server_awake() {
    // A /slots read counts as activity: read every scrape, it would keep the model loaded.
    let Some(llama) = LlamaServer::start(&["--sleep-idle-seconds", "2"], "") else { return };
    complete(&llama.url, "Hello", 8, None).await.text().await.unwrap();
    let exporter = Exporter::start(&["--discovery"]);
    let name = format!("llama-server:{}", llama.port());
    let mut asleep = false;
    for _ in 0..300 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_server_up", &[("server", &name)]), 1.0);
        if sleeping(&llama.url).await {
            asleep = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(asleep, "scraped every 100 ms, the server never fell asleep:\n{}", llama.log_text());
}

#[tokio::test]
async fn a_server_whose_command_line_is_not_visible_still_falls_asleep() {
    // Configured, with the process collector and discovery off: the exporter cannot see
    // `--sleep-idle-seconds`, as for a server on another host or in another namespace.
    let Some(llama) = LlamaServer::start(&["--sleep-idle-seconds", "2"], "") else { return };
    complete(&llama.url, "Hello", 8, None).await.text().await.unwrap();
    let exporter = Exporter::start(&[
        "--server",
        &format!("llama={}", llama.url),
        "--no-collector.process",
        "--no-discovery",
        "--no-collector.nvml",
    ]);
    let mut asleep = false;
    for _ in 0..40 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_server_up", &[("server", "llama")]), 1.0);
        if value(&body, "llm_server_sleeping", &[("server", "llama")]) == 1.0 {
            asleep = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(asleep, "scraped every 0.5 s, the server never fell asleep:\n{}", llama.log_text());
    assert!(llama.log_text().contains("entering sleeping state"));
}
