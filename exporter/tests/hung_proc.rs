//! A process whose `/proc` files hang when read (uninterruptible sleep: a hung driver, a dead
//! NFS mount), played by a FIFO as its `cmdline` in a copy of the fixture proc tree: the scrape
//! whose scan hangs reports the failure, and later scrapes skip that PID and serve every other
//! process, with the skip counted in a series.
mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// A copy of the fixture proc tree plus `pid`, named `comm`, whose `cmdline` is a FIFO that
/// no one writes: every read of it blocks, as for a process in uninterruptible sleep.
fn tree_with_hung(pid: u32, comm: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proc");
    let fixture = format!("{}/tests/fixtures/proc/basic", env!("CARGO_MANIFEST_DIR"));
    assert!(Command::new("cp").arg("-a").arg(&fixture).arg(&root).status().unwrap().success());
    let hung = root.join(pid.to_string());
    std::fs::create_dir(&hung).unwrap();
    std::fs::write(hung.join("comm"), format!("{comm}\n")).unwrap();
    for file in ["stat", "status"] {
        std::fs::copy(root.join("400").join(file), hung.join(file)).unwrap();
    }
    assert!(Command::new("mkfifo").arg(hung.join("cmdline")).status().unwrap().success());
    (dir, root)
}

#[tokio::test]
async fn a_hung_pid_fails_one_scrape_then_is_skipped_and_counted() {
    // PID 150 runs an interpreter, so discovery reads its command line, which never answers.
    let (_dir, root) = tree_with_hung(150, "python3");

    let exporter = Exporter::start(&[
        "--path.procfs",
        root.to_str().unwrap(),
        "--no-collector.nvml",
        "--discovery",
        "--no-discovery.namespaces",
        "--scrape.timeout=2s",
    ]);
    let success =
        |body: &str, collector: &str| value(body, "llm_exporter_collector_success", &[("collector", collector)]);
    let llama = [("server", "llama-server:8080"), ("pid", "100")];

    let body = exporter.scrape().await;
    assert_eq!(success(&body, "process"), 0.0, "the scan hung:\n{body}");
    assert_eq!(success(&body, "llm"), 0.0, "discovery did not finish: {:?}", exporter.log());
    assert_eq!(value(&body, "llm_exporter_scrape_errors_total", &[("collector", "process")]), 1.0);
    assert!(values(&body, "llm_process_info", &llama).is_empty());

    for _ in 0..3 {
        // A read still blocked a second after is reported as hanging, once.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let body = exporter.scrape().await;
        assert_eq!(success(&body, "process"), 1.0, "{body}\n{:?}", exporter.log());
        assert_eq!(success(&body, "llm"), 1.0);
        assert_eq!(values(&body, "llm_process_info", &llama), [1.0], "every other process is served");
        assert_eq!(value(&body, "llm_exporter_process_unreadable_pids", &[]), 1.0);
        assert_eq!(value(&body, "llm_exporter_scrape_errors_total", &[("collector", "process")]), 1.0);
    }
    let log = exporter.log_with("/150 hangs");
    let said: Vec<&str> = log.lines().filter(|l| l.contains("/150 hangs")).collect();
    assert_eq!(said.len(), 1, "said once: {log}");
    assert!(said[0].contains("llm_exporter_process_unreadable_pids"), "{said:?}");
}

#[tokio::test]
async fn a_pid_that_hangs_only_the_process_read_is_skipped_there_too() {
    // PID 160 is selected by a rule on its name, which the scan checks without its command line;
    // the process collector then reads the command line to classify it, and that read hangs.
    let (dir, root) = tree_with_hung(160, "trainer");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[[process.match]]\nname = \"trainer\"\ncomm = \"trainer\"\n").unwrap();

    let exporter = Exporter::start(&[
        "--path.procfs",
        root.to_str().unwrap(),
        "--config.file",
        config.to_str().unwrap(),
        "--no-collector.nvml",
        "--no-collector.llm",
        "--scrape.timeout=2s",
    ]);
    let success = |body: &str| value(body, "llm_exporter_collector_success", &[("collector", "process")]);
    let body = exporter.scrape().await;
    assert_eq!(success(&body), 0.0, "the read hung:\n{body}");
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let body = exporter.scrape().await;
        assert_eq!(success(&body), 1.0, "{body}\n{:?}", exporter.log());
        assert_eq!(values(&body, "llm_process_info", &[("pid", "100")]), [1.0]);
        assert_eq!(value(&body, "llm_exporter_process_unreadable_pids", &[]), 1.0);
    }
    let log = exporter.log_with("/160 hangs");
    assert_eq!(log.lines().filter(|l| l.contains("/160 hangs")).count(), 1, "{log}");
}
