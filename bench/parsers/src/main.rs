//! promtext against the other Rust parsers of the Prometheus text format, on the same inputs.
//!
//! * `parser-bench dump DIR` writes the inputs once, for this program and the Go and Python
//!   ones: `DIR/manifest` (input names, in order), `DIR/prom/NAME` (the body) and
//!   `DIR/nocolon/NAME` (the same body with ':' in metric names replaced by '_').
//! * `parser-bench bench DIR ROUND MS` runs one round: every parser on every input for about
//!   MS milliseconds each, printing one JSON line per measurement.
//!
//! `../run` drives the rounds and prints the table.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};
use std::{env, fs, process};

// One generator for the synthetic bodies: promtext's own bench's. Its `inputs()` is not
// used because it finds the fixtures relative to the manifest of the crate including it.
#[allow(dead_code)]
#[path = "../../../exporter/promtext/benches/common/mod.rs"]
mod common;

/// A parser run: the number of samples it kept, so that nothing is optimised away and the
/// counts can be compared. A sample is one sample line: histogram buckets and summary
/// quantiles that a parser folds into one value are counted one by one.
type Parse = fn(&str) -> Result<usize, String>;

const PARSERS: [(&str, Parse); 3] =
    [("promtext", promtext), ("openmetrics-parser", openmetrics), ("prometheus-parse", prometheus_parse)];

fn promtext(body: &str) -> Result<usize, String> {
    Ok(promtext::parse(body).families.iter().map(|f| f.samples.len()).sum())
}

fn openmetrics(body: &str) -> Result<usize, String> {
    use openmetrics_parser::PrometheusValue as V;
    let exp = openmetrics_parser::prometheus::parse_prometheus(body).map_err(|e| e.to_string())?;
    let flags = |sum: bool, count: bool, created: bool| usize::from(sum) + usize::from(count) + usize::from(created);
    Ok(exp
        .families
        .values()
        .flat_map(|f| f.iter_samples())
        .map(|s| match &s.value {
            V::Histogram(h) => h.buckets.len() + flags(h.sum.is_some(), h.count.is_some(), h.created.is_some()),
            V::Summary(q) => q.quantiles.len() + flags(q.sum.is_some(), q.count.is_some(), q.created.is_some()),
            V::Unknown(_) | V::Gauge(_) | V::Counter(_) => 1,
        })
        .sum())
}

/// Reads lines as its API asks for them: owned `String`s (as from `BufRead::lines`).
fn prometheus_parse(body: &str) -> Result<usize, String> {
    use prometheus_parse::{Scrape, Value};
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).map_err(|e| e.to_string())?;
    Ok(scrape
        .samples
        .iter()
        .map(|s| match &s.value {
            Value::Histogram(buckets) => buckets.len(),
            Value::Summary(quantiles) => quantiles.len(),
            Value::Counter(_) | Value::Gauge(_) | Value::Untyped(_) => 1,
        })
        .sum())
}

/// prometheus-parse matches names with `\w+` and so ignores every line whose metric name has
/// a ':'. Its input gets them replaced by '_' in HELP, TYPE and sample names (label values are
/// left alone); the length does not change.
fn colon_free(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for line in body.split_inclusive('\n') {
        let rest = line.trim_start_matches([' ', '\t']);
        let start = line.len() - rest.len();
        let start = match rest.strip_prefix("# HELP ").or_else(|| rest.strip_prefix("# TYPE ")) {
            Some(after) => line.len() - after.len(),
            None if rest.starts_with('#') => line.len(),
            None => start,
        };
        let end = line[start..].find(['{', ' ', '\t', '\r', '\n']).map_or(line.len(), |e| start + e);
        out.push_str(&line[..start]);
        out.push_str(&line[start..end].replace(':', "_"));
        out.push_str(&line[end..]);
    }
    out
}

/// Every `*.txt`/`*.metrics` fixture, sorted, then the synthetic bodies: the same inputs as
/// promtext's criterion bench (`common::inputs()`).
fn inputs() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../exporter/tests/fixtures");
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("{dir}: {e}"))).flatten() {
        let path = entry.path();
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("txt" | "metrics")) {
            continue;
        }
        if let (Some(name), Ok(body)) = (path.file_name().and_then(|n| n.to_str()), fs::read_to_string(&path)) {
            out.push((name.to_string(), body));
        }
    }
    out.sort();
    out.push(("synthetic_vllm_250k".to_string(), common::vllm_body_of(250_000)));
    out.push(("synthetic_vllm_2m".to_string(), common::vllm_body_of(2_000_000)));
    out
}

fn dump(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir.join("prom"))?;
    fs::create_dir_all(dir.join("nocolon"))?;
    let mut manifest = String::new();
    for (name, body) in inputs() {
        fs::write(dir.join("prom").join(&name), &body)?;
        fs::write(dir.join("nocolon").join(&name), colon_free(&body))?;
        manifest.push_str(&name);
        manifest.push('\n');
    }
    fs::write(dir.join("manifest"), manifest)
}

/// Runs `f` for about `budget` after a warm-up of a quarter of it; returns iterations and
/// seconds. Iterations are timed in batches of about 1 ms so the clock stays out of it.
fn measure(budget: Duration, mut f: impl FnMut() -> usize) -> (u64, f64) {
    let start = Instant::now();
    let mut n = 0u64;
    while n == 0 || start.elapsed() < budget / 4 {
        black_box(f());
        n += 1;
    }
    let batch = (1e-3 / (start.elapsed().as_secs_f64() / n as f64)).clamp(1.0, 10_000.0) as u64;
    let start = Instant::now();
    let mut iters = 0;
    loop {
        for _ in 0..batch {
            black_box(f());
        }
        iters += batch;
        let secs = start.elapsed().as_secs_f64();
        if secs >= budget.as_secs_f64() {
            return (iters, secs);
        }
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn bench(dir: &Path, round: usize, budget: Duration) -> std::io::Result<()> {
    let manifest = fs::read_to_string(dir.join("manifest"))?;
    for name in manifest.lines() {
        let body = fs::read_to_string(dir.join("prom").join(name))?;
        let nocolon = fs::read_to_string(dir.join("nocolon").join(name))?;
        // Rotating the start evens out whatever running first or last in a round does.
        for k in 0..PARSERS.len() {
            let (parser, parse) = PARSERS[(round + k) % PARSERS.len()];
            let input = if parser == "prometheus-parse" { &nocolon } else { &body };
            let head = format!(
                "{{\"lang\":\"rust\",\"parser\":{},\"input\":{},\"bytes\":{},\"round\":{round}",
                json_str(parser),
                json_str(name),
                body.len()
            );
            let samples = match parse(input) {
                Ok(n) => n,
                Err(e) => {
                    let e: String = e.chars().take(200).collect();
                    println!("{head},\"error\":{}}}", json_str(&e));
                    continue;
                }
            };
            let mut extra = String::new();
            if parser == "promtext" {
                let _ = write!(extra, ",\"skipped_lines\":{}", promtext::parse(&body).errors.len());
            }
            let (iters, secs) = measure(budget, || parse(black_box(input)).unwrap_or(0));
            let mb_s = (body.len() as f64 * iters as f64) / secs / 1e6;
            let ns = if samples == 0 {
                "null".to_string()
            } else {
                format!("{:.2}", secs * 1e9 / (iters as f64 * samples as f64))
            };
            println!(
                "{head},\"samples\":{samples}{extra},\"iters\":{iters},\"secs\":{secs:.6},\"mb_s\":{mb_s:.3},\"ns_per_sample\":{ns}}}"
            );
        }
    }
    Ok(())
}

fn fail(message: &str) -> ! {
    eprintln!("parser-bench: {message}");
    eprintln!("usage: parser-bench dump DIR | parser-bench bench DIR ROUND MS");
    process::exit(2)
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["dump", dir] => dump(Path::new(dir)),
        ["bench", dir, round, ms] => {
            let round = round.parse().unwrap_or_else(|_| fail("ROUND must be an integer"));
            let ms = ms.parse().unwrap_or_else(|_| fail("MS must be an integer"));
            bench(Path::new(dir), round, Duration::from_millis(ms))
        }
        _ => fail("bad arguments"),
    };
    if let Err(e) = result {
        fail(&e.to_string());
    }
}
