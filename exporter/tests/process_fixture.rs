//! The process collector and discovery on a fixture proc tree (`tests/fixtures/proc/basic`,
//! written by `make-basic.py` beside it): exact series for servers, workers, a zombie, a PID
//! that vanished, unreadable files, a kernel thread, a config rule, and Ollama's runners named
//! after the models its manifests give their blobs.
mod common;

use common::*;

fn proc_root() -> String {
    format!("{}/tests/fixtures/proc/basic", env!("CARGO_MANIFEST_DIR"))
}

/// The `llm_process_*` lines of a scrape.
fn process_lines(body: &str) -> String {
    body.lines().filter(|l| l.contains("llm_process_")).map(|l| format!("{l}\n")).collect()
}

#[tokio::test]
async fn fixture_tree_gives_exactly_the_expected_series() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[process.match]]\nname = \"embed\"\nexe_regex = \"^/opt/embed/\"\nworkload = \"gpu_compute\"\n",
    )
    .unwrap();
    let exporter = Exporter::start(&[
        "--path.procfs",
        &proc_root(),
        "--config.file",
        config.to_str().unwrap(),
        "--no-collector.nvml",
        "--no-collector.llm",
    ]);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_exporter_collector_success", &[("collector", "process")]), 1.0);
    let got = process_lines(&body);
    let path = format!("{}/tests/fixtures/proc/basic.expected", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(want == got, "process series differ (UPDATE_GOLDEN=1 rewrites them):\n--- want\n{want}\n--- got\n{got}");
}

#[tokio::test]
async fn ollama_runners_carry_their_server_and_the_model_of_their_blob() {
    let exporter = Exporter::start(&["--path.procfs", &proc_root(), "--no-collector.nvml", "--no-collector.llm"]);
    let body = exporter.scrape().await;
    let info: Vec<&str> = body.lines().filter(|l| l.starts_with("llm_process_info{server=\"ollama:11434\"")).collect();
    let tail = r#"workload="llm_inference",container="",namespace="",pod=""} 1"#;
    assert_eq!(
        info,
        [
            format!(r#"llm_process_info{{server="ollama:11434",process="ollama",pid="200",{tail}"#),
            // `ollama runner`: two tags share its blob, and `latest` is the one kept.
            format!(
                r#"llm_process_info{{server="ollama:11434",model="llama3.2:latest",process="ollama",pid="201",{tail}"#
            ),
            // llama.cpp's llama-server started by a newer Ollama: a model of another namespace.
            format!(
                r#"llm_process_info{{server="ollama:11434",model="team/llama3.2-tuned:v1",process="llama-server",pid="202",{tail}"#
            ),
        ]
    );
    // Per-model memory of one server in one query.
    let by_model =
        |model| value(&body, "llm_process_resident_memory_bytes", &[("server", "ollama:11434"), ("model", model)]);
    assert_eq!((by_model("llama3.2:latest"), by_model("team/llama3.2-tuned:v1")), (9216000000.0, 2048000000.0));
}

#[tokio::test]
async fn process_collector_off_means_no_process_series() {
    let exporter = Exporter::start(&["--path.procfs", &proc_root(), "--no-collector.process", "--no-collector.nvml"]);
    let body = exporter.scrape().await;
    assert_eq!(process_lines(&body), "");
    assert!(values(&body, "llm_exporter_collector_success", &[("collector", "process")]).is_empty());
}

#[tokio::test]
async fn missing_proc_root_costs_only_process_series() {
    let exporter = Exporter::start(&["--path.procfs", "/nonexistent/proc", "--no-collector.nvml"]);
    for _ in 0..2 {
        let body = exporter.scrape().await;
        assert_eq!(process_lines(&body), "");
        assert_eq!(value(&body, "llm_exporter_collector_success", &[("collector", "llm")]), 1.0);
        // The collector fails (it used to report success with nothing) and says why, once.
        assert_eq!(value(&body, "llm_exporter_collector_success", &[("collector", "process")]), 0.0);
    }
    let log = exporter.log();
    let failed: Vec<&String> = log.iter().filter(|l| l.contains("collector process failed")).collect();
    assert_eq!(failed.len(), 1, "{log:?}");
    assert!(failed[0].contains("cannot list processes in /nonexistent/proc"), "{failed:?}");
}
