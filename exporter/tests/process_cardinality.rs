//! Cardinality: processes that serve no model and use no GPU never get series. Its own test
//! binary, so no other test's servers come and go while it counts.
mod common;

use std::process::{Child, Command, Stdio};

use common::*;

/// Children killed when dropped, also when the test fails.
struct Crowd(Vec<Child>);

impl Drop for Crowd {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every sample line except the exporter's own process series, which change with its work.
fn series(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("process_"))
        .map(|l| l.rsplit_once(' ').map_or(l, |(series, _)| series).to_string())
        .collect()
}

#[tokio::test]
async fn five_hundred_unrelated_processes_add_no_series() {
    let exporter = Exporter::start(&["--discovery"]);
    let first = exporter.scrape().await;
    assert_eq!(value(&first, "llm_exporter_collector_success", &[("collector", "process")]), 1.0);
    let alone = series(&first);
    let mut crowd = Crowd(Vec::new());
    for _ in 0..500 {
        crowd.0.push(Command::new("sleep").arg("300").stdin(Stdio::null()).spawn().expect("spawn sleep"));
    }
    let crowded = series(&exporter.scrape().await);
    assert_eq!(crowded, alone, "series changed with 500 more processes");
    let pids: Vec<String> = crowd.0.iter().map(|c| format!("pid=\"{}\"", c.id())).collect();
    assert!(!crowded.iter().any(|s| pids.iter().any(|p| s.contains(p.as_str()))));
}
