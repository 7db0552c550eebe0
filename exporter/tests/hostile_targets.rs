//! Targets that send the most the body caps allow of what nobody keeps: memory must follow the
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

/// A llama-server whose `/slots` lists far more slots than are kept, and whose `/props` is a
/// deep array: JSON trees of these used to cost 25 times the body. A request runs, so `/slots`
/// is read though the exporter cannot see whether the server sleeps when idle.
async fn llama_with_huge_json() -> FakeServer {
    let metrics = "# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 1\n".to_string();
    let mut slots = String::from("[");
    for id in 0.. {
        let entry = format!("{{\"id\":{id},\"is_processing\":false,\"n_ctx\":4096,\"n_past\":7}},");
        if slots.len() + entry.len() > BODY_BYTES - 64 {
            break;
        }
        slots.push_str(&entry);
    }
    slots.push_str("{\"id\":0,\"is_processing\":true}]");
    let props = format!("{{\"total_slots\":4,\"x\":[{}0]}}", "0,".repeat((BODY_BYTES - 64) / 2));
    FakeServer::start(
        vec![("/metrics", Answer::Body(metrics)), ("/slots", Answer::Body(slots)), ("/props", Answer::Body(props))],
        None,
    )
    .await
}

#[tokio::test]
async fn junk_and_unmapped_bodies_cost_what_is_kept() {
    let junk = FakeServer::start(vec![("/metrics", Answer::Body(junk_lines()))], None).await;
    let unmapped = FakeServer::start(vec![("/metrics", Answer::Body(unmapped_series()))], None).await;
    let slots = llama_with_huge_json().await;
    let exporter = Exporter::start(&[
        "--server",
        &format!("junk={}", junk.url()),
        "--server",
        &format!("unmapped={}", unmapped.url()),
        "--server",
        &format!("slots={}", slots.url()),
        "--no-collector.process",
        "--scrape.timeout=60s",
    ]);
    let baseline = exporter.status_bytes("VmRSS:");
    for _ in 0..3 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_server_up", &[("server", "junk")]), 0.0);
        assert_eq!(value(&body, "llm_server_up", &[("server", "unmapped")]), 1.0);
        assert_eq!(value(&body, "llm_requests_running", &[("server", "unmapped")]), 3.0);
        // 512 slots are kept; the rest are counted as dropped series.
        assert_eq!(values(&body, "llm_slot_context_used_tokens", &[("server", "slots")]).len(), 512);
        assert!(value(&body, "llm_exporter_target_series_dropped_total", &[("server", "slots")]) > 250_000.0);
        assert!(body.len() < 64 << 10, "the output follows what is kept: {} bytes", body.len());
    }
    let (peak, after) = (exporter.status_bytes("VmHWM:"), exporter.status_bytes("VmRSS:"));
    let mib = |b: f64| b / f64::from(1 << 20);
    println!(
        "hostile targets (16 MiB each: junk lines, unmapped series, /slots and /props JSON; 3 scrapes): \
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
