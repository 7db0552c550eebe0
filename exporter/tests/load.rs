//! Load: 200 concurrent scrapers, a bounded number of requests each, against the exporter with
//! 8 slow targets. Every request succeeds with every target up, the targets see one read of each
//! endpoint per collection (concurrent scrapes coalesce), and memory stays bounded. Latency and
//! peak memory are printed (`cargo test --test load -- --nocapture`), never asserted.
mod common;

use std::time::{Duration, Instant};

use common::*;

const SCRAPERS: usize = 200;
const REQUESTS_EACH: usize = 10;
const TARGETS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_scrapers() {
    let slow = |name| Answer::Slow(Duration::from_millis(100), fixture(name));
    let mut targets = Vec::new();
    for _ in 0..TARGETS {
        let routes = vec![
            ("/metrics", slow("llamacpp_2026_real_metrics_inflight.txt")),
            ("/slots", slow("llamacpp_2026_real_slots_inflight.json")),
            ("/props", slow("llamacpp_2026_real_props.json")),
        ];
        targets.push(FakeServer::start(routes, None).await);
    }
    let mut args = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        args.push("--server".to_string());
        args.push(format!("t{i}={}", t.url()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let exporter = Exporter::start(&args);
    let baseline_rss = exporter.status_bytes("VmRSS:");

    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).no_proxy().build().unwrap();
    let url = exporter.url("/metrics");
    let start = Instant::now();
    let scrapers = (0..SCRAPERS).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(REQUESTS_EACH);
            for _ in 0..REQUESTS_EACH {
                let began = Instant::now();
                let response = client.get(&url).send().await.expect("scrape");
                assert_eq!(response.status(), 200);
                let body = response.text().await.expect("body");
                latencies.push(began.elapsed());
                let up = values(&body, "llm_server_up", &[]);
                assert_eq!(up, vec![1.0; TARGETS], "every target up in every response");
            }
            latencies
        })
    });
    let mut latencies: Vec<Duration> = Vec::new();
    for scraper in futures::future::join_all(scrapers).await {
        latencies.extend(scraper.expect("scraper task"));
    }
    let wall = start.elapsed();
    let requests = SCRAPERS * REQUESTS_EACH;
    assert_eq!(latencies.len(), requests);

    for t in &targets {
        let reads = t.hits("/metrics");
        assert!(
            reads >= 1 && reads < requests / 10,
            "{reads} reads for {requests} requests: scrapes were not coalesced"
        );
        assert_eq!(t.hits("/slots"), reads, "one /slots read per collection");
        assert_eq!(t.hits("/props"), reads, "one /props read per collection");
    }
    let peak = exporter.status_bytes("VmHWM:");
    assert!(peak < 64.0 * 1024.0 * 1024.0, "peak RSS {peak} bytes is not bounded");

    latencies.sort_unstable();
    let ms = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!("| scrapers | requests | targets | collections | p50 ms | p99 ms | max ms | req/s | RSS before MiB | peak RSS MiB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {SCRAPERS} | {requests} | {TARGETS} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.1} | {:.1} |",
        targets[0].hits("/metrics"),
        ms(0.5),
        ms(0.99),
        ms(1.0),
        requests as f64 / wall.as_secs_f64(),
        baseline_rss / 1048576.0,
        peak / 1048576.0
    );
}
