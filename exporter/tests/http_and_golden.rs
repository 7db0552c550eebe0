//! The exporter over HTTP: golden output, headers, gzip, routes, coalescing.
mod common;
#[path = "nvml-standin/standin.rs"]
mod standin;

use std::io::Read;
use std::time::Duration;

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

#[tokio::test]
async fn golden_metrics() {
    let llama = FakeServer::llama(None).await;
    let refused = refused_addr();
    // The fixed world: the fixture proc tree, one stand-in GPU used by two of its processes
    // (PID 100, llama-server:8080, and PID 800, a CUDA job), a fake llama-server, a dead one.
    let procfs = format!("{}/tests/fixtures/proc/basic", env!("CARGO_MANIFEST_DIR"));
    let nvml_dir = tempfile::tempdir().unwrap();
    let nvml = standin::build(nvml_dir.path(), &[]);
    let world = standin::dir().join("golden-world.json");
    let exporter = Exporter::start_with_env(
        &[
            "--nvml.library",
            nvml.to_str().unwrap(),
            "--path.procfs",
            &procfs,
            "--server",
            &format!("llama={}", llama.url()),
            "--server",
            &format!("dead=http://{refused}"),
        ],
        &[("NVML_STANDIN_CONFIG", world.to_str().unwrap())],
    );
    let got = deterministic(&exporter.scrape().await);
    let path = format!("{}/tests/golden/metrics.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(want == got, "golden file differs (UPDATE_GOLDEN=1 rewrites it):\n--- want\n{want}\n--- got\n{got}");
}

#[test]
fn every_golden_file_has_each_series_once() {
    let dir = format!("{}/tests/golden", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read_to_string(&path).unwrap();
        assert!(duplicate_series(&body).is_empty(), "{}: {:?}", path.display(), duplicate_series(&body));
        checked += 1;
    }
    assert!(checked >= 6, "golden files in {dir}");
    assert_eq!(duplicate_series("a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\nb 1\n"), ["a{x=\"1\",y=\"2\"}"]);
}

#[tokio::test]
async fn content_type_gzip_and_routes() {
    let exporter = Exporter::start(&[]);
    let c = client();
    let plain = c.get(exporter.url("/metrics")).send().await.unwrap();
    assert_eq!(plain.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.text().await.unwrap();
    assert_eq!(value(&plain, "llm_exporter_collector_success", &[("collector", "llm")]), 1.0);
    assert_eq!(value(&plain, "llm_exporter_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    assert_eq!(value(&plain, "llm_exporter_scrape_errors_total", &[("collector", "llm")]), 0.0);
    assert!(value(&plain, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(values(&plain, "llm_server_up", &[]).is_empty(), "no servers configured, no server series");

    let gz = c.get(exporter.url("/metrics")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz.bytes().await.unwrap()[..]).read_to_string(&mut text).unwrap();
    assert!(text.contains("# TYPE llm_exporter_collector_success gauge"));

    let landing = c.get(exporter.url("/")).send().await.unwrap();
    assert!(landing.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let landing = landing.text().await.unwrap();
    assert!(landing.contains("href=\"/metrics\"") && landing.contains(env!("CARGO_PKG_VERSION")));
    assert_eq!(c.get(exporter.url("/-/healthy")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(exporter.url("/-/ready")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(exporter.url("/nope")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_exporters_own_cpu_time_has_a_clock_ticks_precision() {
    let exporter = Exporter::start(&[]);
    // Each scrape costs some CPU: the counter shows hundredths of a second long before a whole one.
    let mut seen = Vec::new();
    for _ in 0..200 {
        let cpu = value(&exporter.scrape().await, "process_cpu_seconds_total", &[]);
        seen.push(cpu);
        if cpu.fract() != 0.0 {
            return;
        }
    }
    panic!("process_cpu_seconds_total moved only in whole seconds: {seen:?}");
}

#[tokio::test]
async fn landing_page_lists_servers_and_custom_telemetry_path() {
    let llama = FakeServer::llama(None).await;
    let exporter =
        Exporter::start(&["--web.telemetry-path", "/x/metrics", "--server", &format!("llama={}", llama.url())]);
    let c = client();
    let console = c.get(exporter.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(console.contains("href=\"/x/metrics\"") && console.contains("/-/console/console.js"), "{console}");
    let plain = Exporter::start(&[
        "--web.telemetry-path",
        "/x/metrics",
        "--server",
        &format!("llama={}", llama.url()),
        "--no-web.console",
    ]);
    let landing = c.get(plain.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(landing.contains("href=\"/x/metrics\"") && landing.contains("llama (auto)"), "{landing}");
    assert_eq!(llama.hits("/metrics"), 0, "the landing page runs no collector");
    let body = c.get(exporter.url("/x/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(value(&body, "llm_server_up", &[("server", "llama")]), 1.0);
    assert_eq!(c.get(exporter.url("/metrics")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn concurrent_scrapes_share_one_collection() {
    let slow = fixture("llamacpp_2026_real_metrics_inflight.txt");
    let llama = FakeServer::start(vec![("/metrics", Answer::Slow(Duration::from_secs(2), slow))], None).await;
    let exporter = Exporter::start(&["--server", &format!("llama={}", llama.url())]);
    let scrapes = (0..10).map(|_| exporter.scrape());
    let bodies = futures::future::join_all(scrapes).await;
    assert_eq!(llama.hits("/metrics"), 1, "ten concurrent scrapes cost the server one");
    for body in &bodies {
        assert_eq!(value(body, "llm_generation_tokens_total", &[("server", "llama")]), 200.0);
    }
    // A later scrape collects afresh.
    exporter.scrape().await;
    assert_eq!(llama.hits("/metrics"), 2);
}

#[tokio::test]
async fn several_servers_are_scraped_concurrently() {
    let slow = fixture("llamacpp_2026_real_metrics_inflight.txt");
    let servers = [
        FakeServer::start(vec![("/metrics", Answer::Slow(Duration::from_millis(1500), slow.clone()))], None).await,
        FakeServer::start(vec![("/metrics", Answer::Slow(Duration::from_millis(1500), slow.clone()))], None).await,
        FakeServer::start(vec![("/metrics", Answer::Slow(Duration::from_millis(1500), slow))], None).await,
    ];
    let args: Vec<String> = servers.iter().enumerate().map(|(i, s)| format!("--server=s{i}={}", s.url())).collect();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    // One after another they would need 4.5 s; the budget is 3 s.
    args.push("--scrape.timeout=3s");
    let exporter = Exporter::start(&args);
    let body = exporter.scrape().await;
    for i in 0..3 {
        assert_eq!(value(&body, "llm_server_up", &[("server", &format!("s{i}"))]), 1.0);
    }
}
