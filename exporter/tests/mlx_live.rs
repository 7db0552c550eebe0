//! Against a real `mlx_lm.server` (MLX's Linux CPU backend from PyPI, `scripts/mlx-install.sh`):
//! found with no flags, up, its model named; and the server whose Hugging Face cache directory
//! is missing, whose `/v1/models` is an empty 200, reported with the reason.
mod common;

use std::time::Duration;

use common::pyservers::{Kind, PyServer};
use common::*;

#[tokio::test]
async fn a_real_mlx_server_is_found_with_no_flags_and_names_its_model() {
    let Some(mlx) = PyServer::start(Kind::Mlx, &[], &[]) else { return };
    // With an empty Hugging Face cache the list holds only the --model directory.
    let listing = client().get(format!("{}/v1/models", mlx.url)).send().await.unwrap().text().await.unwrap();
    let models: serde_json::Value = serde_json::from_str(&listing).unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert!(matches!(ids.as_slice(), [only] if only.ends_with("/tiny-llama-hf")), "{models}");

    let exporter = Exporter::start(&["--discovery"]);
    let name = format!("mlx:{}", mlx.port());
    let body = exporter.scrape().await;
    let server = [("server", name.as_str()), ("backend", "mlx")];
    assert_eq!(value(&body, "llm_server_up", &server), 1.0, "{}", exporter.log().join("\n"));
    assert_eq!(value(&body, "llm_server_info", &[server[0], ("model", "tiny-llama-hf"), ("version", "")]), 1.0);
    // No metrics of its own: nothing else about it but its process.
    let pid = mlx.pid.to_string();
    assert_eq!(
        value(&body, "llm_process_info", &[server[0], ("pid", pid.as_str()), ("process", "mlx_lm.server")]),
        1.0
    );
    assert!(values(&body, "llm_generation_tokens_total", &[server[0]]).is_empty());
}

#[tokio::test]
async fn an_mlx_server_without_a_hugging_face_cache_is_reported_with_the_reason() {
    let Some(mlx) = PyServer::start(Kind::Mlx, &[("HF_HUB_CACHE", "/nonexistent/hub")], &[]) else { return };
    let listing = client().get(format!("{}/v1/models", mlx.url)).send().await.unwrap();
    assert_eq!(listing.status(), 200);
    assert_eq!(listing.text().await.unwrap(), "", "the trap: a 200 with no body");

    let exporter = Exporter::start(&["--discovery"]);
    let name = format!("mlx:{}", mlx.port());
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[("server", &name), ("backend", "mlx")]), 0.0);
    let log = exporter.log_with("200 with an empty body");
    let line = log.lines().find(|l| l.contains(&name)).unwrap_or_default();
    assert!(line.contains("HF_HUB_CACHE"), "the reason names the fix: {log}");
    let again = exporter.scrape().await;
    assert_eq!(value(&again, "llm_server_up", &[("server", &name)]), 0.0);
    // A second line would be written before the scrape is answered; give the pipe time to bring it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(exporter.log().iter().filter(|l| l.contains("empty body")).count(), 1, "logged once");
}
