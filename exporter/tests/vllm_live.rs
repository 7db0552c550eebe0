//! Against a real vLLM (PyPI's CPU build, `scripts/vllm-install.sh`): found with no flags, and
//! after real completions and chats every normalized value equals vLLM's own `/metrics` read at
//! the same moment. One server serves every check of the first test (a start costs 40 s or
//! more and 4.4 GB); the two tests take turns, so at most one vLLM runs at a time.
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::pyservers::{Kind, PyServer};
use common::*;

/// Held by the test whose vLLM is running.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Requests may wait behind other tests' work on a small machine: a long bound, never a speed.
fn slow_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(300)).no_proxy().build().unwrap()
}

async fn post(url: &str, path: &str, body: serde_json::Value) -> reqwest::Response {
    let request = slow_client().post(format!("{url}{path}")).header("content-type", "application/json");
    let response = request.body(body.to_string()).send().await.expect(path);
    assert_eq!(response.status(), 200, "{path}");
    response
}

async fn complete(url: &str, prompt: &str, max_tokens: u32, extra: serde_json::Value) -> serde_json::Value {
    let mut body = serde_json::json!({"model": "tiny-llama", "prompt": prompt, "max_tokens": max_tokens});
    body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    serde_json::from_str(&post(url, "/v1/completions", body).await.text().await.unwrap()).unwrap()
}

async fn chat(url: &str, text: &str, max_tokens: u32) -> serde_json::Value {
    let body = serde_json::json!({"model": "tiny-llama", "max_tokens": max_tokens,
        "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": text}]});
    serde_json::from_str(&post(url, "/v1/chat/completions", body).await.text().await.unwrap()).unwrap()
}

/// A streamed completion of `max_tokens` tokens that ignores the end of sequence.
async fn stream(url: &str, max_tokens: u32) -> reqwest::Response {
    let body = serde_json::json!({"model": "tiny-llama", "prompt": "Tell me a long story", "max_tokens": max_tokens,
        "ignore_eos": true, "stream": true});
    post(url, "/v1/completions", body).await
}

async fn upstream_body(url: &str) -> String {
    client().get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap()
}

/// Every sample named `name`, by its labels (`engine` and `model_name` left out).
fn samples(body: &str, name: &str) -> BTreeMap<Vec<(String, String)>, f64> {
    let parsed = promtext::parse(body);
    let skip = ["engine", "model_name", "server", "backend", "model"];
    parsed
        .families
        .iter()
        .flat_map(|f| f.samples.iter())
        .filter(|s| s.name == name)
        .map(|s| {
            let labels = s
                .labels
                .iter()
                .filter(|(k, _)| !skip.contains(k))
                .map(|(k, v)| {
                    // Bucket bounds compare as numbers: `1.0` upstream is `1` here.
                    let v = if *k == "le" {
                        v.parse::<f64>().map_or(v.to_string(), |f| f.to_string())
                    } else {
                        v.to_string()
                    };
                    (k.to_string(), v)
                })
                .collect();
            (labels, s.value)
        })
        .collect()
}

/// Labels renamed from vLLM's to ours.
type Renames = &'static [(&'static str, &'static str)];

/// Our series and vLLM's, with labels renamed from theirs to ours.
const PLAIN: &[(&str, &str, Renames)] = &[
    ("llm_requests_running", "vllm:num_requests_running", &[]),
    ("llm_requests_waiting", "vllm:num_requests_waiting", &[]),
    ("llm_requests_waiting_by_reason", "vllm:num_requests_waiting_by_reason", &[]),
    ("llm_kv_cache_usage_ratio", "vllm:kv_cache_usage_perc", &[]),
    ("llm_prompt_tokens_total", "vllm:prompt_tokens_total", &[]),
    ("llm_prompt_tokens_by_source_total", "vllm:prompt_tokens_by_source_total", &[]),
    ("llm_prompt_cached_tokens_total", "vllm:prompt_tokens_cached_total", &[]),
    ("llm_prompt_cached_tokens_total", "vllm:prefix_cache_hits_total", &[]),
    ("llm_generation_tokens_total", "vllm:generation_tokens_total", &[]),
    ("llm_prompt_seconds_total", "vllm:request_prefill_time_seconds_sum", &[]),
    ("llm_generation_seconds_total", "vllm:request_decode_time_seconds_sum", &[]),
    ("llm_preemptions_total", "vllm:num_preemptions_total", &[]),
    ("llm_requests_completed_total", "vllm:request_success_total", &[("finished_reason", "reason")]),
];

const HISTOGRAMS: &[(&str, &str)] = &[
    ("llm_time_to_first_token_seconds", "vllm:time_to_first_token_seconds"),
    ("llm_inter_token_latency_seconds", "vllm:inter_token_latency_seconds"),
    ("llm_request_duration_seconds", "vllm:e2e_request_latency_seconds"),
    ("llm_request_queue_seconds", "vllm:request_queue_time_seconds"),
];

/// Where ours and vLLM's differ: every pair of [`PLAIN`] and every bucket, sum and count of
/// [`HISTOGRAMS`]. Empty when they agree.
fn differences(ours: &str, theirs: &str) -> Vec<String> {
    let mut pairs: Vec<(String, String, Renames)> =
        PLAIN.iter().map(|(o, t, l)| (o.to_string(), t.to_string(), *l)).collect();
    for (o, t) in HISTOGRAMS {
        for suffix in ["_bucket", "_sum", "_count"] {
            pairs.push((format!("{o}{suffix}"), format!("{t}{suffix}"), &[]));
        }
    }
    let mut differ = Vec::new();
    for (o, t, renames) in pairs {
        let want: BTreeMap<_, _> = samples(theirs, &t)
            .into_iter()
            .map(|(labels, v)| {
                let labels = labels
                    .into_iter()
                    .map(|(k, v)| (renames.iter().find(|(from, _)| *from == k).map_or(k, |(_, to)| to.to_string()), v))
                    .collect::<Vec<_>>();
                (labels, v)
            })
            .collect();
        let got = samples(ours, &o);
        if want.is_empty() || got != want {
            differ.push(format!("{o} {got:?} != {t} {want:?}"));
        }
    }
    differ
}

/// vLLM's values of every pair that [`differences`] compares.
fn upstream_values(body: &str) -> Vec<BTreeMap<Vec<(String, String)>, f64>> {
    let plain = PLAIN.iter().map(|(_, t, _)| t.to_string());
    let buckets = HISTOGRAMS.iter().flat_map(|(_, t)| ["_bucket", "_sum", "_count"].map(|s| format!("{t}{s}")));
    plain.chain(buckets).map(|name| samples(body, &name)).collect()
}

/// Ours and vLLM's, read until vLLM's body is the same before and after our scrape (nothing
/// moved meanwhile); then they must agree.
async fn assert_equal_to_upstream(exporter: &Exporter, url: &str) -> String {
    let mut last = Vec::new();
    for _ in 0..20 {
        let before = upstream_body(url).await;
        let ours = exporter.scrape().await;
        let after = upstream_body(url).await;
        if upstream_values(&before) == upstream_values(&after) {
            last = differences(&ours, &after);
            if last.is_empty() {
                return ours;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the exporter's values differ from vLLM's:\n{}", last.join("\n"));
}

/// Streams started at once to be seen in flight.
const STREAMS: usize = 16;

#[tokio::test]
async fn a_real_vllm_server_found_with_no_flags_reports_what_it_serves() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(vllm) = PyServer::start(Kind::Vllm, &[("LAUNCH", "serve")], &[]) else { return };
    let url = vllm.url.clone();
    let name = format!("vllm:{}", vllm.port());
    let exporter = Exporter::start(&["--discovery"]);
    let server = [("server", name.as_str()), ("backend", "vllm")];

    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &server), 1.0, "{}", exporter.log().join("\n"));
    assert_eq!(value(&body, "llm_server_info", &[server[0], ("model", "tiny-llama"), ("version", "0.32.0")]), 1.0);
    assert_eq!(value(&body, "llm_context_size_tokens", &server), 1024.0, "--max-model-len");
    assert_eq!(value(&body, "llm_server_sleeping", &server), 0.0);

    // Completions and chats that end by length and by a stop string; a long prompt sent twice,
    // so the second finds its first 256 tokens (two blocks of 128) in the prefix cache.
    let long = "The quick brown fox jumps over the lazy dog. Hello world! A tiny model serves the tests. ".repeat(12);
    for extra in [serde_json::json!({"ignore_eos": true}), serde_json::json!({"stop": ["a", "e"]})] {
        complete(&url, "Hello world, tell me a story", 24, extra).await;
    }
    chat(&url, "What is the capital of France?", 16).await;
    chat(&url, "Hello there", 8).await;
    for _ in 0..2 {
        complete(&url, &long, 5, serde_json::json!({})).await;
    }
    let ours = assert_equal_to_upstream(&exporter, &url).await;
    assert!(value(&ours, "llm_prompt_cached_tokens_total", &server) >= 256.0, "prefix cache hits");
    let finished: f64 = values(&ours, "llm_requests_completed_total", &server).iter().sum();
    assert_eq!(finished, 6.0, "every request finished once");
    assert_eq!(value(&ours, "llm_request_duration_seconds_count", &server), 6.0);
    assert!(ours.lines().all(|l| !l.split(['{', ' ']).next().unwrap_or("").ends_with("_created")), "{ours}");

    // Streams in flight show as running. Sixteen, so that they outlast a few scrapes on a busy
    // 2-core machine (four were over between two scrapes).
    let streams: Vec<_> = (0..STREAMS)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { stream(&url, 900).await.bytes().await.map(|b| b.len()) })
        })
        .collect();
    let mut running = Vec::new();
    // vLLM's streams keep both cores of a small machine busy, so a scrape may run out of time and
    // leave the server out (a failed collection, counted): such scrapes are skipped here.
    while running.last().is_none_or(|r| *r < 1.0) && !streams.iter().all(|s| s.is_finished()) {
        running.extend(values(&exporter.scrape().await, "llm_requests_running", &server));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for s in streams {
        s.await.unwrap().unwrap();
    }
    assert!(running.iter().any(|r| *r >= 1.0), "no scrape saw a request running: {running:?}");

    // A client that goes away mid-stream: vLLM stops the request. vLLM 0.32 counts it under no
    // finish reason (not even "abort"); ours say exactly what vLLM says. On a busy machine the
    // tiny model may finish its 900 tokens before vLLM sees the client gone: then it counts once,
    // under the reason it finished with.
    let mut response = stream(&url, 900).await;
    assert!(response.chunk().await.unwrap().is_some(), "a first chunk");
    drop(response);
    let ours = assert_equal_to_upstream(&exporter, &url).await;
    assert_eq!(value(&ours, "llm_requests_running", &server), 0.0, "the aborted request is gone");
    let aborted = value(&ours, "llm_requests_completed_total", &[server[0], ("reason", "abort")]);
    let finished: f64 = values(&ours, "llm_requests_completed_total", &server).iter().sum();
    let before = 6.0 + STREAMS as f64;
    assert!(
        finished - aborted == before || finished == before + 1.0,
        "the six and the streams, and the aborted one at most once: {finished} finished, {aborted} aborted"
    );
}

#[tokio::test]
async fn a_vllm_module_started_by_a_wrapper_is_found_too() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // `bash -c` stays the parent of `python -m vllm.entrypoints.openai.api_server`.
    let Some(vllm) = PyServer::start(Kind::Vllm, &[("LAUNCH", "wrapped")], &[]) else { return };
    let name = format!("vllm:{}", vllm.port());
    let exporter = Exporter::start(&["--discovery"]);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[("server", &name), ("backend", "vllm")]), 1.0);
    assert_eq!(value(&body, "llm_server_info", &[("server", &name), ("model", "tiny-llama")]), 1.0);
}
