//! Inputs shared by the criterion bench and the `throughput` example: every exposition-like
//! fixture in `exporter/tests/fixtures/` plus synthetic vLLM-style bodies.

use std::fmt::Write;

/// Histogram families of a vLLM server and their bucket bounds.
const HISTOGRAMS: [(&str, &[&str]); 8] = [
    ("vllm:time_to_first_token_seconds", LATENCY),
    ("vllm:inter_token_latency_seconds", LATENCY),
    ("vllm:e2e_request_latency_seconds", LATENCY),
    ("vllm:request_queue_time_seconds", LATENCY),
    ("vllm:request_prefill_time_seconds", LATENCY),
    ("vllm:request_decode_time_seconds", LATENCY),
    ("vllm:request_prompt_tokens", TOKENS),
    ("vllm:request_generation_tokens", TOKENS),
];

const LATENCY: &[&str] = &[
    "0.001", "0.005", "0.01", "0.02", "0.04", "0.06", "0.08", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "5.0", "7.5",
    "10.0", "20.0", "40.0", "80.0", "160.0", "640.0", "2560.0", "+Inf",
];

const TOKENS: &[&str] = &[
    "1.0", "2.0", "5.0", "10.0", "20.0", "50.0", "100.0", "200.0", "500.0", "1000.0", "2000.0", "5000.0", "10000.0",
    "+Inf",
];

/// Deterministic pseudo-random values.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// A vLLM-style body (as served by prometheus_client) for `models` models.
pub fn vllm_body(models: usize) -> String {
    let mut rng = Lcg(42);
    let mut out = String::new();
    let model = |m: usize| format!("engine=\"0\",model_name=\"meta-llama/Llama-3.1-{m}B-Instruct\"");
    for (name, help) in [
        ("vllm:num_requests_running", "Number of requests in model execution batches."),
        ("vllm:num_requests_waiting", "Number of requests waiting to be processed."),
        ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage."),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for m in 0..models {
            let _ = writeln!(out, "{name}{{{}}} {}.0", model(m), rng.next() % 64);
        }
    }
    for (name, help) in [
        ("vllm:prompt_tokens", "Number of prefill tokens processed."),
        ("vllm:generation_tokens", "Number of generation tokens processed."),
        ("vllm:num_preemptions", "Cumulative number of preemption from the engine."),
    ] {
        let _ = writeln!(out, "# HELP {name}_total {help}\n# TYPE {name}_total counter");
        for m in 0..models {
            let _ = writeln!(out, "{name}_total{{{}}} {}.0", model(m), rng.next());
        }
        let _ = writeln!(out, "# HELP {name}_created {help}\n# TYPE {name}_created gauge");
        for m in 0..models {
            let _ = writeln!(out, "{name}_created{{{}}} 1.7561e+09", model(m));
        }
    }
    let _ = writeln!(
        out,
        "# HELP vllm:request_success_total Count of successfully processed requests.\n\
         # TYPE vllm:request_success_total counter"
    );
    for m in 0..models {
        for reason in ["stop", "length", "abort"] {
            let _ = writeln!(
                out,
                "vllm:request_success_total{{{},finished_reason=\"{reason}\"}} {}.0",
                model(m),
                rng.next() % 10_000
            );
        }
    }
    for (name, buckets) in HISTOGRAMS {
        let _ = writeln!(out, "# HELP {name} Histogram of {name} per request.\n# TYPE {name} histogram");
        for m in 0..models {
            let mut count = 0;
            for le in buckets {
                count += rng.next() % 50;
                let _ = writeln!(out, "{name}_bucket{{{},le=\"{le}\"}} {count}.0", model(m));
            }
            let _ = writeln!(out, "{name}_count{{{}}} {count}.0", model(m));
            let sum = rng.next() as f64 / 1e3;
            let _ = writeln!(out, "{name}_sum{{{}}} {sum}", model(m));
        }
    }
    out
}

/// A vLLM-style body of at least `bytes` bytes.
pub fn vllm_body_of(bytes: usize) -> String {
    let per_model = vllm_body(2).len() - vllm_body(1).len();
    vllm_body(bytes.div_ceil(per_model).max(1))
}

/// `(name, body)` for every `*.txt` and `*.metrics` fixture, sorted, then the synthetic ones.
pub fn inputs() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "txt" | "metrics") {
                continue;
            }
            if let (Some(name), Ok(body)) = (path.file_name().and_then(|n| n.to_str()), std::fs::read_to_string(&path))
            {
                out.push((name.to_string(), body));
            }
        }
    }
    out.sort();
    out.push(("synthetic_vllm_250k".to_string(), vllm_body_of(250_000)));
    out.push(("synthetic_vllm_2m".to_string(), vllm_body_of(2_000_000)));
    out
}
