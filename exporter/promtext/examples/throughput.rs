//! Measures `promtext::parse` without criterion and prints a table:
//! `cargo run --release -p promtext --example throughput [SECONDS_PER_INPUT]` (default 0.3).
//!
//! Inputs: every `*.txt`/`*.metrics` fixture in `exporter/tests/fixtures/` and synthetic
//! vLLM-style bodies of ~250 KB and ~2 MB. MB/s counts 10^6 bytes.

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0.3);
    let budget = Duration::from_secs_f64(seconds);
    println!("| {:<52} | {:>9} | {:>7} | {:>8} | {:>9} |", "input", "bytes", "samples", "MB/s", "ns/sample");
    println!("|{:-<54}|{:->11}|{:->9}|{:->10}|{:->11}|", "", ":", ":", ":", ":");
    for (name, body) in common::inputs() {
        let exp = promtext::parse(&body);
        let samples: usize = exp.families.iter().map(|f| f.samples.len()).sum();
        drop(exp);
        // Batches of roughly 1 ms keep the clock out of the measurement.
        let batch = (1_000_000 / body.len().max(1)).clamp(1, 10_000) as u64;
        let mut iterations = 0u64;
        let start = Instant::now();
        while start.elapsed() < budget {
            for _ in 0..batch {
                black_box(promtext::parse(black_box(&body)));
            }
            iterations += batch;
        }
        let secs = start.elapsed().as_secs_f64();
        let mb_s = (body.len() as u64 * iterations) as f64 / secs / 1e6;
        let per_sample = if samples == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", secs * 1e9 / (iterations * samples as u64) as f64)
        };
        println!("| {:<52} | {:>9} | {:>7} | {:>8.0} | {:>9} |", name, body.len(), samples, mb_s, per_sample);
    }
}
