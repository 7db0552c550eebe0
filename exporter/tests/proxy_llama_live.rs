//! The proxy in front of a real llama-server: its token counts equal the server's own, its
//! time to first token lies between the server's prompt time and the request's duration, a
//! client that hangs up frees the slot at once, and the bytes are those of a direct request.
mod common;

use std::time::Duration;

use common::llama::{LlamaRouter, LlamaServer};
use common::proxy::exporter_with_proxy;
use common::{client, value, values};

/// The server's own `llamacpp:NAME`.
async fn own(url: &str, name: &str) -> f64 {
    let body = client().get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    value(&body, &format!("llamacpp:{name}"), &[])
}

async fn post(base: &str, path: &str, body: serde_json::Value) -> Vec<u8> {
    let response = client().post(format!("{base}{path}")).body(body.to_string()).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().await.unwrap().to_vec()
}

fn sum(body: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    values(body, name, want).iter().sum()
}

#[tokio::test]
async fn token_counts_equal_the_servers_own_and_ttft_lies_within_the_request() {
    let Some(llama) = LlamaServer::start(&[], "") else { return };
    let (exporter, proxy) = exporter_with_proxy(&llama.url, &[]);
    let proxied = format!("http://{proxy}");
    let (prompt0, generated0) =
        (own(&llama.url, "prompt_tokens_total").await, own(&llama.url, "tokens_predicted_total").await);
    let chat = |stream: bool, usage: bool| {
        let mut body = serde_json::json!({"messages": [{"role": "user", "content": "Tell me a story"}], "max_tokens": 12, "ignore_eos": true, "stream": stream});
        if usage {
            body["stream_options"] = serde_json::json!({"include_usage": true});
        }
        body
    };
    post(
        &proxied,
        "/completion",
        serde_json::json!({"prompt": "Once upon a time", "n_predict": 16, "ignore_eos": true, "stream": true}),
    )
    .await;
    post(&proxied, "/completion", serde_json::json!({"prompt": "Hello there", "n_predict": 8, "ignore_eos": true}))
        .await;
    post(&proxied, "/v1/chat/completions", chat(false, false)).await;
    post(&proxied, "/v1/chat/completions", chat(true, true)).await;
    post(&proxied, "/v1/chat/completions", chat(true, false)).await;
    let prompt = own(&llama.url, "prompt_tokens_total").await - prompt0;
    let generated = own(&llama.url, "tokens_predicted_total").await - generated0;

    let body = exporter.scrape().await;
    let server = format!("127.0.0.1:{}", llama.port());
    let mine = [("server", server.as_str()), ("backend", "llamacpp")];
    assert_eq!(sum(&body, "llm_proxy_generation_tokens_total", &mine), generated, "{body}");
    assert_eq!(sum(&body, "llm_proxy_prompt_tokens_total", &mine), prompt);
    assert_eq!(generated, 16.0 + 8.0 + 3.0 * 12.0);
    assert_eq!(sum(&body, "llm_proxy_requests_total", &[("outcome", "2xx")]), 5.0);
    for endpoint in ["/completion", "/v1/chat/completions"] {
        let series = [("endpoint", endpoint)];
        let ttft = sum(&body, "llm_proxy_time_to_first_token_seconds_sum", &series);
        let prompt_seconds = sum(&body, "llm_proxy_prompt_seconds_total", &series);
        let duration = sum(&body, "llm_proxy_request_duration_seconds_sum", &series);
        assert!(
            prompt_seconds > 0.0 && ttft >= prompt_seconds && ttft <= duration,
            "{endpoint}: {prompt_seconds} {ttft} {duration}"
        );
    }
    assert!(sum(&body, "llm_proxy_inter_token_latency_seconds_count", &[]) >= 15.0);
    // The upstream is scraped under the same name, so the proxy's series join the server's.
    assert_eq!(value(&body, "llm_server_up", &mine), 1.0);
}

/// A streamed `/completion`'s bytes with the timings (which differ between any two runs) cut out.
fn without_timings(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for piece in text.split("\"timings\":{") {
        match piece.split_once('}') {
            Some((_, rest)) if !out.is_empty() => out.push_str(rest),
            _ => out.push_str(piece),
        }
    }
    out
}

#[tokio::test]
async fn bytes_through_the_proxy_are_those_of_a_direct_request() {
    let Some(llama) = LlamaServer::start(&[], "") else { return };
    let (_exporter, proxy) = exporter_with_proxy(&llama.url, &[]);
    let request = serde_json::json!({"prompt": "The quick brown fox", "n_predict": 24, "stream": true, "seed": 42, "id_slot": 0, "cache_prompt": false});
    let direct = post(&llama.url, "/completion", request.clone()).await;
    let proxied = post(&format!("http://{proxy}"), "/completion", request).await;
    assert!(direct.len() > 200, "{}", String::from_utf8_lossy(&direct));
    assert_eq!(without_timings(&proxied), without_timings(&direct));
}

#[tokio::test]
async fn a_client_that_hangs_up_frees_the_slot_at_once() {
    // About 170 tokens/s: 4000 tokens would keep the slot busy for many seconds.
    let Some(llama) = LlamaServer::start(&[], "--embd 512 --layers 8 --ff 1536 --heads 8") else { return };
    let (exporter, proxy) = exporter_with_proxy(&llama.url, &[]);
    let request =
        serde_json::json!({"prompt": "Once upon a time", "n_predict": 4000, "ignore_eos": true, "stream": true});
    let mut response =
        client().post(format!("http://{proxy}/completion")).body(request.to_string()).send().await.unwrap();
    for _ in 0..5 {
        response.chunk().await.unwrap().unwrap();
    }
    let busy = || async {
        let slots: serde_json::Value = serde_json::from_slice(
            &client().get(format!("{}/slots", llama.url)).send().await.unwrap().bytes().await.unwrap(),
        )
        .unwrap();
        slots.as_array().unwrap().iter().any(|s| s["is_processing"] == true)
    };
    assert!(busy().await, "the slot is busy while the stream runs");
    drop(response);
    let mut freed = false;
    for _ in 0..50 {
        if !busy().await {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "the slot was still busy 5 s after the client hung up");
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_proxy_requests_total", &[("outcome", "canceled")]), 1.0);
    assert_eq!(value(&body, "llm_proxy_requests_in_flight", &[]), 0.0);
}

#[tokio::test]
async fn a_routers_requests_carry_their_model_and_autoload_works_as_without_the_proxy() {
    let Some(router) = LlamaRouter::start(&["alpha", "beta"], &[], &[]) else { return };
    let (exporter, proxy) = exporter_with_proxy(&router.url, &[]);
    let proxied = format!("http://{proxy}");
    for model in ["alpha", "beta", "alpha"] {
        // Neither model is loaded at first: the router loads each on its first request.
        let body = serde_json::json!({"model": model, "prompt": "hi", "n_predict": 4, "ignore_eos": true});
        post(&proxied, "/completion", body).await;
    }
    let body = exporter.scrape().await;
    let requests = |model| value(&body, "llm_proxy_requests_total", &[("model", model), ("outcome", "2xx")]);
    assert_eq!((requests("alpha"), requests("beta")), (2.0, 1.0), "{body}");
    assert_eq!(value(&body, "llm_proxy_generation_tokens_total", &[("model", "alpha")]), 8.0);
}
