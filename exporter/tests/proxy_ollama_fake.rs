//! The proxy in front of an Ollama stand-in (no Ollama binary can be had here): a loopback
//! fake whose answers follow Ollama's API documentation (`docs/api.md`): NDJSON streams cut at
//! random byte boundaries, the final `done` chunk with its counts and nanosecond durations, an
//! error in the middle of a stream, `/api/embed`. The client must get every byte as sent, and
//! the proxy's series must say what the chunks said. The `model` and `backend` labels come
//! from what the upstream's own scrape found: its models (made-up names are `other`) and its
//! detected backend (a vLLM stand-in serving a real vLLM's `/metrics`).
mod common;

use std::collections::BTreeSet;

use common::proxy::{exporter_with_proxy, Reply, Seen, Upstream};
use common::{client, fixture, value, values};

fn chat_stream(model: &str, broken: bool) -> Vec<u8> {
    let mut lines = Vec::new();
    let chunk = |text: &str| {
        format!(
            r#"{{"model":"{model}","created_at":"2026-12-07T18:00:00Z","message":{{"role":"assistant","content":"{text}"}},"done":false}}"#
        )
    };
    for word in ["The", " sky", " is", " blue", "."] {
        lines.push(chunk(word));
        if broken && word == " sky" {
            lines.push(r#"{"error":"an error was encountered while running the model"}"#.to_string());
            break;
        }
    }
    if !broken {
        lines.push(format!(
            r#"{{"model":"{model}","created_at":"2026-12-07T18:00:01Z","message":{{"role":"assistant","content":""}},"done_reason":"stop","done":true,"total_duration":9000000,"load_duration":1000000,"prompt_eval_count":11,"prompt_eval_duration":2000000,"eval_count":5,"eval_duration":3000000}}"#
        ));
    }
    lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes()
}

/// The stand-in: `/api/chat` (streamed unless `"stream": false`), `/api/embed`, `/api/version`.
fn ollama(seen: &Seen) -> Reply {
    let request: serde_json::Value = serde_json::from_slice(&seen.body_start).unwrap_or_default();
    let model = request["model"].as_str().unwrap_or("").to_string();
    match seen.path.as_str() {
        "/api/version" => Reply::json(r#"{"version":"0.13.0"}"#),
        "/api/tags" | "/api/ps" => Reply::json(r#"{"models":[]}"#),
        "/api/chat" if request["stream"] == false => Reply::json(&format!(
            r#"{{"model":"{model}","message":{{"role":"assistant","content":"Blue."}},"done":true,"prompt_eval_count":7,"eval_count":2,"eval_duration":1000000}}"#
        )),
        "/api/chat" => {
            let seed = request["options"]["seed"].as_u64().unwrap_or(1);
            Reply::split("application/x-ndjson", &chat_stream(&model, model == "broken"), seed)
        }
        "/api/embed" => Reply::json(&format!(
            r#"{{"model":"{model}","embeddings":[[0.1,0.2]],"total_duration":500000,"load_duration":100000,"prompt_eval_count":3}}"#
        )),
        _ => Reply { status: 404, ..Reply::json("404 page not found") },
    }
}

async fn post(url: String, body: serde_json::Value) -> (u16, Vec<u8>) {
    let response = client().post(url).body(body.to_string()).send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn ollama_streams_reach_the_client_whole_and_are_measured() {
    let upstream = Upstream::start(ollama).await;
    let (exporter, proxy) = exporter_with_proxy(&upstream.url(), &[]);
    let server = format!("127.0.0.1:{}", upstream.addr.port());
    for seed in 1..=5u64 {
        let body = serde_json::json!({"model": "qwen3:0.6b", "messages": [], "options": {"seed": seed}});
        let (status, bytes) = post(format!("http://{proxy}/api/chat"), body).await;
        assert_eq!(status, 200);
        assert_eq!(bytes, chat_stream("qwen3:0.6b", false), "seed {seed}");
    }
    let (_, bytes) = post(format!("http://{proxy}/api/chat"), serde_json::json!({"model": "broken"})).await;
    assert_eq!(bytes, chat_stream("broken", true));
    let (_, _) = post(format!("http://{proxy}/api/chat"), serde_json::json!({"model": "m2", "stream": false})).await;
    let (_, _) = post(format!("http://{proxy}/api/embed"), serde_json::json!({"model": "emb", "input": "x"})).await;

    let body = exporter.scrape().await;
    let chat = [("server", server.as_str()), ("backend", "ollama"), ("endpoint", "/api/chat"), ("model", "qwen3:0.6b")];
    let with = |extra: (&'static str, &'static str)| {
        let mut labels = chat.to_vec();
        labels.push(extra);
        labels
    };
    assert_eq!(value(&body, "llm_proxy_requests_total", &with(("outcome", "2xx"))), 5.0);
    assert_eq!(value(&body, "llm_proxy_prompt_tokens_total", &chat), 55.0);
    assert_eq!(value(&body, "llm_proxy_generation_tokens_total", &chat), 25.0);
    assert!((value(&body, "llm_proxy_load_seconds_total", &chat) - 0.005).abs() < 1e-9);
    assert!((value(&body, "llm_proxy_generation_seconds_total", &chat) - 0.015).abs() < 1e-9);
    assert_eq!(value(&body, "llm_proxy_time_to_first_token_seconds_count", &chat), 5.0);
    // Five content chunks per stream: four gaps each.
    assert_eq!(value(&body, "llm_proxy_inter_token_latency_seconds_count", &chat), 20.0);
    let broken = [("endpoint", "/api/chat"), ("model", "broken"), ("outcome", "stream_error")];
    assert_eq!(value(&body, "llm_proxy_requests_total", &broken), 1.0);
    // Not streamed: time to first token is the whole duration.
    let whole = [("endpoint", "/api/chat"), ("model", "m2")];
    let ttft = value(&body, "llm_proxy_time_to_first_token_seconds_sum", &whole);
    assert_eq!(ttft, value(&body, "llm_proxy_request_duration_seconds_sum", &whole));
    assert_eq!(value(&body, "llm_proxy_generation_tokens_total", &whole), 2.0);
    let embed = [("endpoint", "/api/embed"), ("model", "emb")];
    assert_eq!(value(&body, "llm_proxy_prompt_tokens_total", &embed), 3.0);
    assert!(values(&body, "llm_proxy_time_to_first_token_seconds_count", &embed).is_empty());
    assert_eq!(value(&body, "llm_proxy_requests_in_flight", &[("server", server.as_str())]), 0.0);
    // The upstream is scraped under the same server name.
    assert_eq!(values(&body, "llm_server_up", &[("server", server.as_str())]).len(), 1, "{body}");
}

#[tokio::test]
async fn headers_pass_except_hop_by_hop_and_host_is_the_upstreams() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let keep = std::sync::Arc::clone(&seen);
    let upstream = Upstream::start(move |s: &Seen| {
        *keep.lock().unwrap() = Some(s.clone());
        Reply { headers: vec![("x-upstream", "yes".into()), ("keep-alive", "timeout=5".into())], ..Reply::json("{}") }
    })
    .await;
    let (_exporter, proxy) = exporter_with_proxy(&upstream.url(), &[]);
    let response = client()
        .get(format!("http://{proxy}/v1/models?x=1"))
        .header("authorization", "Bearer secret")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("x-end-to-end", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-upstream"], "yes");
    assert!(response.headers().get("keep-alive").is_none());
    let seen = seen.lock().unwrap().clone().unwrap();
    assert_eq!(seen.path_and_query, "/v1/models?x=1");
    assert_eq!(seen.headers["authorization"], "Bearer secret");
    assert_eq!(seen.headers["x-end-to-end"], "2");
    assert!(seen.headers.get("x-hop").is_none());
    assert_eq!(seen.headers["host"], upstream.addr.to_string().as_str());
}

#[tokio::test]
async fn an_upstream_that_is_down_gets_the_client_a_502_with_one_line() {
    let upstream = common::refused_addr();
    let (exporter, proxy) = exporter_with_proxy(&format!("http://{upstream}"), &[]);
    let (status, body) = post(format!("http://{proxy}/api/generate"), serde_json::json!({"model": "m"})).await;
    assert_eq!(status, 502);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("llm-exporter proxy: upstream did not answer: "), "{text}");
    // The upstream's address is for the exporter's log, not for every client.
    assert!(!text.contains(&upstream.port().to_string()), "{text}");
    let scraped = exporter.scrape().await;
    let want = [("endpoint", "/api/generate"), ("outcome", "upstream_error")];
    assert_eq!(value(&scraped, "llm_proxy_requests_total", &want), 1.0);
}

/// The `model` values of `name` in a scrape.
fn models(body: &str, name: &str) -> BTreeSet<String> {
    let parsed = promtext::parse(body);
    let samples = parsed.families.into_iter().flat_map(|f| f.samples);
    samples.filter(|s| s.name == name).filter_map(|s| s.label("model").map(str::to_string)).collect()
}

#[tokio::test]
async fn made_up_model_names_are_other_when_the_server_reports_its_models() {
    let upstream = Upstream::start(|seen: &Seen| match seen.path.as_str() {
        "/api/tags" => Reply::json(r#"{"models":[{"name":"qwen3:0.6b","model":"qwen3:0.6b","size":1}]}"#),
        _ => ollama(seen),
    })
    .await;
    let (exporter, proxy) = exporter_with_proxy(&upstream.url(), &[]);
    // The upstream's own scrape learns the models it reports.
    let first = exporter.scrape().await;
    assert!(first.contains(r#"model="qwen3:0.6b""#), "{first}");
    for i in 0..100 {
        let body = serde_json::json!({"model": format!("made-up-{i}"), "stream": false});
        assert_eq!(post(format!("http://{proxy}/api/chat"), body).await.0, 200);
    }
    let body = serde_json::json!({"model": "qwen3:0.6b", "stream": false});
    assert_eq!(post(format!("http://{proxy}/api/chat"), body).await.0, 200);
    let body = exporter.scrape().await;
    let seen = models(&body, "llm_proxy_requests_total");
    assert_eq!(seen, BTreeSet::from(["other".to_string(), "qwen3:0.6b".to_string()]), "{body}");
    assert_eq!(value(&body, "llm_proxy_requests_total", &[("model", "other"), ("outcome", "2xx")]), 100.0);
    assert_eq!(value(&body, "llm_proxy_requests_total", &[("model", "qwen3:0.6b"), ("outcome", "2xx")]), 1.0);
}

/// A vLLM stand-in: a real vLLM's `/metrics` (model `tiny-llama`), `/v1/models`, and a
/// non-streamed chat completion with usage.
fn vllm(seen: &Seen) -> Reply {
    let request: serde_json::Value = serde_json::from_slice(&seen.body_start).unwrap_or_default();
    let model = request["model"].as_str().unwrap_or("");
    match seen.path.as_str() {
        "/metrics" => Reply {
            headers: vec![("content-type", "text/plain; version=0.0.4".into())],
            ..Reply::json(&fixture("vllm_0.32_real_metrics_after.txt"))
        },
        "/v1/models" => Reply::json(r#"{"object":"list","data":[{"id":"tiny-llama","object":"model"}]}"#),
        "/v1/chat/completions" => Reply::json(&format!(
            r#"{{"id":"c","object":"chat.completion","model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":"Blue."}}}}],"usage":{{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}}}"#
        )),
        _ => Reply { status: 404, ..Reply::json(r#"{"detail":"Not Found"}"#) },
    }
}

#[tokio::test]
async fn an_unconfigured_upstream_gets_the_backend_its_scrape_detected() {
    let upstream = Upstream::start(vllm).await;
    let (exporter, proxy) = exporter_with_proxy(&upstream.url(), &[]);
    let server = format!("127.0.0.1:{}", upstream.addr.port());
    let first = exporter.scrape().await;
    assert_eq!(value(&first, "llm_server_up", &[("server", &server), ("backend", "vllm")]), 1.0, "{first}");
    for model in ["tiny-llama", "made-up"] {
        let body = serde_json::json!({"model": model, "messages": [{"role": "user", "content": "sky?"}]});
        assert_eq!(post(format!("http://{proxy}/v1/chat/completions"), body).await.0, 200);
    }
    let body = exporter.scrape().await;
    let ours = [("server", server.as_str()), ("backend", "vllm"), ("outcome", "2xx")];
    assert_eq!(value(&body, "llm_proxy_requests_total", &[ours.as_slice(), &[("model", "tiny-llama")]].concat()), 1.0);
    assert_eq!(value(&body, "llm_proxy_requests_total", &[ours.as_slice(), &[("model", "other")]].concat()), 1.0);
    assert_eq!(value(&body, "llm_proxy_generation_tokens_total", &[("backend", "vllm"), ("model", "tiny-llama")]), 2.0);
}
