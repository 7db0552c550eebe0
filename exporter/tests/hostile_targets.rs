//! Targets that send the most the body cap allows of what nobody keeps: memory must follow the
//! series the exporter keeps, not the bytes a target sent.
//!
//! Prints one row of numbers (peak and settled RSS); the README's hostile-target row comes from
//! `EXPORTER_UNDER_TEST=target/release/llm-exporter cargo test --test hostile_targets -- --nocapture`.
mod common;

use common::*;

/// The default body cap, less a little: every body below is accepted.
const BODY_BYTES: usize = (16 << 20) - 4096;

/// `x` lines: every one a parse error.
fn junk_lines() -> String {
    "x\n".repeat(BODY_BYTES / 2)
}

/// Valid vLLM series of families no table maps, after one that is mapped.
fn unmapped_series() -> String {
    let mut body = String::with_capacity(BODY_BYTES);
    body.push_str("vllm:num_requests_running{model_name=\"m\"} 3\n");
    for n in 0.. {
        let line = format!("vllm:unmapped_family_{n}{{model_name=\"m\",engine=\"0\"}} {n}\n");
        if body.len() + line.len() > BODY_BYTES {
            break;
        }
        body.push_str(&line);
    }
    body
}

#[tokio::test]
async fn junk_and_unmapped_bodies_cost_what_is_kept() {
    let junk = FakeServer::start(vec![("/metrics", Answer::Body(junk_lines()))], None).await;
    let unmapped = FakeServer::start(vec![("/metrics", Answer::Body(unmapped_series()))], None).await;
    let exporter = Exporter::start(&[
        "--server",
        &format!("junk={}", junk.url()),
        "--server",
        &format!("unmapped={}", unmapped.url()),
        "--no-collector.process",
        "--scrape.timeout=30s",
    ]);
    let baseline = exporter.status_bytes("VmRSS:");
    for _ in 0..3 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_server_up", &[("server", "junk")]), 0.0);
        assert_eq!(value(&body, "llm_server_up", &[("server", "unmapped")]), 1.0);
        assert_eq!(value(&body, "llm_requests_running", &[("server", "unmapped")]), 3.0);
        assert!(body.len() < 64 << 10, "the output follows what is kept: {} bytes", body.len());
    }
    let (peak, after) = (exporter.status_bytes("VmHWM:"), exporter.status_bytes("VmRSS:"));
    let mib = |b: f64| b / f64::from(1 << 20);
    println!(
        "hostile targets (16 MiB of junk lines + 16 MiB of unmapped series, 3 scrapes): \
         RSS before {:.1} MiB, peak {:.1} MiB, after {:.1} MiB",
        mib(baseline),
        mib(peak),
        mib(after)
    );
    // Generous bounds (the two bodies alone are 32 MiB); before, one scrape peaked at 1.3 GB.
    assert!(mib(peak) < 128.0, "peak RSS {:.1} MiB", mib(peak));
    assert!(mib(after) < 64.0, "RSS after {:.1} MiB", mib(after));
    let log = exporter.log().join("\n");
    assert!(log.contains("server junk ("), "{log}");
}
