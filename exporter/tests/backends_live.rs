//! Every backend through the real binary: fake servers on loopback answer from fixtures, the
//! exporter is given only `--server NAME=URL` (no backend), detects the backend on first
//! contact and serves the normalized series. Golden output per backend in `tests/golden/`
//! (`UPDATE_GOLDEN=1` rewrites them). Then bad input: a server replaced by another on the same
//! port, mixed prefixes, HTML, a pinned backend that does not match, Ollama bodies with unknown
//! or missing fields.
mod common;

use common::*;

/// Lines that differ from run to run: timings, build facts, the exporter's own process.
fn deterministic(body: &str) -> String {
    body.lines()
        .filter(|l| {
            let name = l.trim_start_matches("# HELP ").trim_start_matches("# TYPE ");
            !(name.starts_with("llm_exporter_collector_duration_seconds")
                || name.starts_with("llm_exporter_build_info")
                || name.starts_with("process_"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn check_golden(backend: &str, got: &str) {
    let path = format!("{}/tests/golden/{backend}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(want == got, "{path} differs (UPDATE_GOLDEN=1 rewrites it):\n--- want\n{want}\n--- got\n{got}");
}

async fn serve(routes: &[(&'static str, &str)]) -> FakeServer {
    FakeServer::start(routes.iter().map(|(path, file)| (*path, Answer::Body(fixture(file)))).collect(), None).await
}

fn lines_with<'a>(log: &'a [String], needle: &str) -> Vec<&'a String> {
    log.iter().filter(|l| l.contains(needle)).collect()
}

/// Serves `routes`, scrapes twice with the backend left to detection, checks the golden file,
/// that the main endpoint was read once per scrape and detection logged once. Returns the body.
async fn detected_and_golden(backend: &str, main: &str, routes: &[(&'static str, &str)]) -> String {
    detected_and_named_golden(backend, backend, main, routes).await
}

/// [`detected_and_golden`] with the golden file named `golden`.
async fn detected_and_named_golden(backend: &str, golden: &str, main: &str, routes: &[(&'static str, &str)]) -> String {
    let server = serve(routes).await;
    let exporter = Exporter::start(&["--no-collector.process", "--server", &format!("{backend}={}", server.url())]);
    let first = exporter.scrape().await;
    assert_eq!(server.hits(main), 1, "detection hands the body it read to the backend");
    let second = exporter.scrape().await;
    assert_eq!(server.hits(main), 2);
    assert_eq!(deterministic(&first), deterministic(&second), "nothing is kept between scrapes");
    assert_eq!(value(&first, "llm_server_up", &[("server", backend), ("backend", backend)]), 1.0);
    check_golden(golden, &deterministic(&first));
    let log = exporter.log();
    assert_eq!(lines_with(&log, &format!("backend {backend} detected")).len(), 1, "{log:?}");
    assert!(lines_with(&log, "is down").is_empty(), "{log:?}");
    first
}

#[tokio::test]
async fn llamacpp_is_detected() {
    let body = detected_and_golden(
        "llamacpp",
        "/metrics",
        &[
            ("/metrics", "llamacpp_2026_real_metrics_inflight.txt"),
            ("/slots", "llamacpp_2026_real_slots_inflight.json"),
            ("/props", "llamacpp_2026_real_props.json"),
        ],
    )
    .await;
    assert_eq!(value(&body, "llm_generation_tokens_total", &[("server", "llamacpp")]), 200.0);
}

#[tokio::test]
async fn vllm_is_detected() {
    let body = detected_and_golden(
        "vllm",
        "/metrics",
        &[
            ("/metrics", "vllm_metrics_full.txt"),
            ("/v1/models", "vllm_v1_models.json"),
            ("/version", "vllm_version.json"),
        ],
    )
    .await;
    let s = [("server", "vllm"), ("backend", "vllm")];
    assert_eq!(value(&body, "llm_requests_running", &s), 3.0);
    assert_eq!(value(&body, "llm_generation_tokens_total", &s), 3824.0);
    assert_eq!(value(&body, "llm_requests_completed_total", &[("reason", "stop")]), 14.0);
    assert_eq!(value(&body, "llm_time_to_first_token_seconds_count", &s), 16.0);
    assert_eq!(value(&body, "llm_time_to_first_token_seconds_bucket", &[("le", "0.5")]), 4.0);
    assert_eq!(value(&body, "llm_server_info", &[("model", "meta-llama/Llama-3.1-8B-Instruct")]), 1.0);
    let samples: Vec<&str> = body.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(samples.iter().all(|l| !l.contains("vllm:") && !l.contains("model_name")), "upstream names stay out");
}

#[tokio::test]
async fn vllm_0_32_captured_from_a_real_server_is_detected() {
    let body = detected_and_named_golden(
        "vllm",
        "vllm_0.32_real",
        "/metrics",
        &[
            ("/metrics", "vllm_0.32_real_metrics_after.txt"),
            ("/v1/models", "vllm_0.32_real_v1_models.json"),
            ("/version", "vllm_0.32_real_version.json"),
        ],
    )
    .await;
    assert_eq!(value(&body, "llm_server_sleeping", &[("server", "vllm")]), 0.0);
    assert!(body.lines().all(|l| !l.contains("_created")), "upstream _created samples stay out");
}

#[tokio::test]
async fn sglang_is_detected() {
    let body = detected_and_golden(
        "sglang",
        "/metrics",
        &[("/metrics", "sglang_metrics_full.txt"), ("/get_model_info", "sglang_get_model_info.json")],
    )
    .await;
    let s = [("server", "sglang"), ("backend", "sglang")];
    assert_eq!(value(&body, "llm_kv_cache_usage_ratio", &s), 0.1875);
    assert_eq!(value(&body, "llm_prompt_cached_tokens_total", &s), 4000.0);
    assert_eq!(value(&body, "llm_inter_token_latency_seconds_sum", &s), 58.062);
    assert!(!body.contains("generate_request") && !body.contains("tp_rank"));
}

#[tokio::test]
async fn tgi_is_detected() {
    let body =
        detected_and_golden("tgi", "/metrics", &[("/metrics", "tgi_metrics_full.txt"), ("/info", "tgi_info.json")])
            .await;
    let s = [("server", "tgi"), ("backend", "tgi")];
    assert_eq!(value(&body, "llm_prompt_tokens_total", &s), 28561.0);
    assert_eq!(value(&body, "llm_decode_calls_total", &s), 5271.0);
    assert_eq!(value(&body, "llm_context_size_tokens", &s), 4096.0);
    assert_eq!(value(&body, "llm_request_queue_seconds_count", &s), 40.0);
}

#[tokio::test]
async fn ollama_is_detected() {
    let body = detected_and_golden(
        "ollama",
        "/api/version",
        &[
            ("/api/version", "ollama_api_version.json"),
            ("/api/ps", "ollama_api_ps_2026.json"),
            ("/api/tags", "ollama_api_tags.json"),
        ],
    )
    .await;
    assert_eq!(value(&body, "llm_model_vram_bytes", &[("model", "llama3.2:1b")]), 1073741824.0);
    assert_eq!(value(&body, "llm_context_size_tokens", &[("model", "qwen3:8b")]), 8192.0);
    assert_eq!(value(&body, "llm_model_expiry_timestamp_seconds", &[("model", "llama3.2:1b")]), 1_795_568_983.5);
    assert_eq!(value(&body, "llm_server_info", &[("version", "0.12.3")]), 1.0);
}

/// One port, one server after another: vLLM, upgraded to SGLang, then a web page, then Ollama.
#[tokio::test]
async fn a_server_replaced_on_the_same_port_is_detected_again() {
    let (metrics, metrics_body) = Answer::live(Some(fixture("vllm_metrics_full.txt")));
    let (version, version_body) = Answer::live(None);
    let (ps, ps_body) = Answer::live(None);
    let server = FakeServer::start(vec![("/metrics", metrics), ("/api/version", version), ("/api/ps", ps)], None).await;
    let exporter = Exporter::start(&["--no-collector.process", "--server", &format!("port={}", server.url())]);
    let up = |body: &str, backend: &str| value(body, "llm_server_up", &[("server", "port"), ("backend", backend)]);

    let body = exporter.scrape().await;
    assert_eq!(up(&body, "vllm"), 1.0);
    assert_eq!(value(&body, "llm_requests_running", &[]), 3.0);

    *metrics_body.lock().unwrap() = Some(fixture("sglang_metrics_full.txt"));
    for _ in 0..2 {
        let body = exporter.scrape().await;
        assert_eq!(up(&body, "sglang"), 1.0);
        assert_eq!(value(&body, "llm_requests_running", &[("backend", "sglang")]), 4.0);
        assert!(values(&body, "llm_requests_running", &[("backend", "vllm")]).is_empty());
    }

    *metrics_body.lock().unwrap() = Some("<html><body>It works!</body></html>".into());
    for _ in 0..2 {
        let body = exporter.scrape().await;
        assert_eq!(up(&body, "sglang"), 0.0, "down, under the last backend it had");
        let series = body.lines().filter(|l| l.contains("server=\"port\"") && !l.starts_with("llm_exporter_"));
        assert_eq!(series.count(), 1, "only llm_server_up");
    }

    *metrics_body.lock().unwrap() = None;
    *version_body.lock().unwrap() = Some(fixture("ollama_api_version.json"));
    *ps_body.lock().unwrap() = Some(fixture("ollama_api_ps_docs.json"));
    for _ in 0..2 {
        let body = exporter.scrape().await;
        assert_eq!(up(&body, "ollama"), 1.0);
        assert_eq!(value(&body, "llm_model_loaded", &[("model", "mistral:latest")]), 1.0);
    }

    let log = exporter.log();
    assert_eq!(lines_with(&log, "backend vllm detected").len(), 1, "{log:?}");
    assert_eq!(lines_with(&log, "backend changed from vllm to sglang").len(), 1, "{log:?}");
    let down = lines_with(&log, "is down");
    assert_eq!(down.len(), 1, "{log:?}");
    assert!(down[0].contains("/metrics has no sglang: series"), "{}", down[0]);
    assert_eq!(lines_with(&log, "backend changed from sglang to ollama").len(), 1, "{log:?}");
    assert_eq!(lines_with(&log, "is up again").len(), 1, "{log:?}");
}

#[tokio::test]
async fn mixed_prefixes_name_one_backend_and_say_so_once() {
    let mut mixed = fixture("vllm_metrics_full.txt");
    mixed.push_str("sglang:num_running_reqs 99\nllamacpp:requests_processing 42\n");
    let server = FakeServer::start(vec![("/metrics", Answer::Body(mixed))], None).await;
    let exporter = Exporter::start(&["--no-collector.process", "--server", &format!("mixed={}", server.url())]);
    for _ in 0..2 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_server_up", &[("backend", "vllm")]), 1.0);
        assert_eq!(value(&body, "llm_requests_running", &[]), 3.0, "the other prefixes' series are ignored");
    }
    let log = exporter.log();
    let detected = lines_with(&log, "backend vllm detected");
    assert_eq!(detected.len(), 1, "{log:?}");
    assert!(detected[0].contains("also has llamacpp, sglang series"), "{}", detected[0]);
}

#[tokio::test]
async fn a_pinned_backend_is_never_guessed() {
    let vllm = serve(&[("/metrics", "vllm_metrics_full.txt")]).await;
    let html = FakeServer::start(vec![("/metrics", Answer::Body("<!DOCTYPE html><p>hi</p>".into()))], None).await;
    let ollama = serve(&[("/api/version", "ollama_api_version.json")]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let text = format!(
        "[[server]]\nname = \"wrong\"\nurl = \"{}\"\nbackend = \"tgi\"\n\
         [[server]]\nname = \"html\"\nurl = \"{}\"\nbackend = \"vllm\"\n\
         [[server]]\nname = \"ollama\"\nurl = \"{}\"\nbackend = \"ollama\"\n\
         [[server]]\nname = \"auto\"\nurl = \"{}\"\nbackend = \"auto\"\n",
        vllm.url(),
        html.url(),
        ollama.url(),
        vllm.url()
    );
    std::fs::write(&config, text).unwrap();
    let exporter = Exporter::start(&["--no-collector.process", "--config.file", config.to_str().unwrap()]);
    for _ in 0..2 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_server_up", &[("server", "wrong"), ("backend", "tgi")]), 0.0);
        assert_eq!(value(&body, "llm_server_up", &[("server", "html"), ("backend", "vllm")]), 0.0);
        assert_eq!(value(&body, "llm_server_up", &[("server", "ollama"), ("backend", "ollama")]), 1.0);
        assert_eq!(value(&body, "llm_server_up", &[("server", "auto"), ("backend", "vllm")]), 1.0);
    }
    assert_eq!(ollama.hits("/metrics"), 0, "a pinned Ollama is not asked for /metrics");
    let log = exporter.log();
    for (name, why) in [("wrong", "/metrics has no tgi_ series"), ("html", "/metrics has no vllm: series")] {
        let lines = lines_with(&log, &format!("server {name} ("));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(why), "{}", lines[0]);
    }
    assert!(lines_with(&log, "detected").iter().all(|l| l.contains("server auto (")), "{log:?}");
}

#[tokio::test]
async fn ollama_with_odd_or_failing_ps() {
    let odd = r#"{"models":[{"name":"a:1b","size":1000,"size_vram":"lots","expires_at":"2026-13-01T00:00:00Z",
                 "brand_new_field":[1,{"x":null}]},{"digest":"no name"},{"name":"b:7b"}],"next_page":null}"#;
    let with_odd = FakeServer::start(
        vec![("/api/version", Answer::Body(fixture("ollama_api_version.json"))), ("/api/ps", Answer::Body(odd.into()))],
        None,
    )
    .await;
    let failing = FakeServer::start(
        vec![("/api/version", Answer::Body(fixture("ollama_api_version.json"))), ("/api/ps", Answer::Status(500))],
        None,
    )
    .await;
    let exporter = Exporter::start(&[
        "--no-collector.process",
        "--server",
        &format!("odd={}", with_odd.url()),
        "--server",
        &format!("failing={}", failing.url()),
    ]);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[("server", "odd"), ("backend", "ollama")]), 1.0);
    assert_eq!(value(&body, "llm_model_loaded", &[("server", "odd"), ("model", "a:1b")]), 1.0);
    assert_eq!(value(&body, "llm_model_loaded", &[("server", "odd"), ("model", "b:7b")]), 1.0);
    assert_eq!(value(&body, "llm_model_size_bytes", &[("server", "odd"), ("model", "a:1b")]), 1000.0);
    assert!(values(&body, "llm_model_vram_bytes", &[("server", "odd")]).is_empty());
    assert!(values(&body, "llm_model_expiry_timestamp_seconds", &[("server", "odd")]).is_empty());
    assert_eq!(value(&body, "llm_server_info", &[("server", "odd"), ("model", "a:1b,b:7b")]), 1.0);
    assert_eq!(value(&body, "llm_server_up", &[("server", "failing"), ("backend", "ollama")]), 1.0);
    assert_eq!(value(&body, "llm_server_info", &[("server", "failing"), ("model", "")]), 1.0);
    assert!(values(&body, "llm_model_loaded", &[("server", "failing")]).is_empty());
}

#[tokio::test]
async fn series_over_the_caps_are_dropped_and_counted_per_server() {
    // 200 distinct reasons: the family cap keeps 64. 20 engines, each with a histogram of 13
    // buckets (15 samples with _sum and _count): the per-server cap of 100 cuts after whole
    // series, and the llm_server_info series after them still fits.
    let mut body = String::from("# TYPE vllm:request_success_total counter\n");
    for i in 0..200 {
        body.push_str(&format!("vllm:request_success_total{{finished_reason=\"r{i}\"}} 1\n"));
    }
    body.push_str("# TYPE vllm:e2e_request_latency_seconds histogram\n");
    for engine in 0..20 {
        let series = |suffix: &str, extra: &str| {
            format!("vllm:e2e_request_latency_seconds{suffix}{{engine=\"{engine}\"{extra}}} 1\n")
        };
        for le in (1..=12).map(|b| b.to_string()).chain(["+Inf".to_string()]) {
            body.push_str(&series("_bucket", &format!(",le=\"{le}\"")));
        }
        body.push_str(&series("_sum", ""));
        body.push_str(&series("_count", ""));
    }
    let upstream_series = 200 + 20 * 15 + 1;
    let noisy = FakeServer::start(vec![("/metrics", Answer::Body(body))], None).await;
    let quiet = FakeServer::llama(None).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let text = format!(
        "[scrape]\nmax_series_per_target = 100\n\
         [[server]]\nname = \"noisy\"\nurl = \"{}\"\nbackend = \"vllm\"\n\
         [[server]]\nname = \"quiet\"\nurl = \"{}\"\n",
        noisy.url(),
        quiet.url()
    );
    std::fs::write(&config, text).unwrap();
    let exporter = Exporter::start(&["--no-collector.process", "--config.file", config.to_str().unwrap()]);
    for scrape in 1..=2 {
        let body = exporter.scrape().await;
        let shaped = |l: &&str| {
            l.contains("server=\"noisy\"") && !l.starts_with("llm_server_up") && !l.starts_with("llm_exporter_")
        };
        let kept = body.lines().filter(shaped).count();
        assert_eq!(values(&body, "llm_requests_completed_total", &[("server", "noisy")]).len(), 64);
        assert_eq!(kept, 64 + 2 * 15 + 1, "the family cap, two whole histogram series, llm_server_info:\n{body}");
        let buckets = values(&body, "llm_request_duration_seconds_bucket", &[("server", "noisy")]).len();
        let counts = values(&body, "llm_request_duration_seconds_count", &[("server", "noisy")]).len();
        assert_eq!(buckets, counts * 13, "no histogram series is cut in half");
        let dropped = value(&body, "llm_exporter_target_series_dropped_total", &[("server", "noisy")]);
        assert_eq!(
            dropped,
            ((upstream_series - kept) * scrape) as f64,
            "every series not written, counted each scrape"
        );
        assert_eq!(value(&body, "llm_exporter_target_series_dropped_total", &[("server", "quiet")]), 0.0);
        assert_eq!(value(&body, "llm_server_up", &[("server", "noisy")]), 1.0);
    }
    let warnings = lines_with(&exporter.log(), "series over a cap dropped").len();
    assert_eq!(warnings, 1, "{:?}", exporter.log());
}

#[tokio::test]
async fn an_mlx_server_is_up_from_its_model_list() {
    let models = r#"{"object":"list","data":[{"id":"mlx-community/Qwen3-4B-4bit","object":"model","created":1}]}"#;
    let mlx = FakeServer::start(vec![("/v1/models", Answer::Body(models.into()))], None).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("[[server]]\nname = \"mlx\"\nurl = \"{}\"\nbackend = \"mlx\"\n", mlx.url()))
        .unwrap();
    let exporter = Exporter::start(&["--config.file", config.to_str().unwrap()]);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[("server", "mlx"), ("backend", "mlx")]), 1.0);
    assert_eq!(value(&body, "llm_server_info", &[("server", "mlx"), ("model", "mlx-community/Qwen3-4B-4bit")]), 1.0);
    assert_eq!(mlx.hits("/metrics"), 0, "nothing but the model list is asked");
    let html = FakeServer::start(vec![("/v1/models", Answer::Body("<html></html>".into()))], None).await;
    std::fs::write(&config, format!("[[server]]\nname = \"other\"\nurl = \"{}\"\nbackend = \"mlx\"\n", html.url()))
        .unwrap();
    let exporter = Exporter::start(&["--config.file", config.to_str().unwrap()]);
    assert_eq!(value(&exporter.scrape().await, "llm_server_up", &[("server", "other"), ("backend", "mlx")]), 0.0);
}
