//! llama-swap against a loopback fake: llama-swap is not installable here, so its `/running`
//! and `/v1/models` answers are built from the shapes of its source (proxymanager.go), and the
//! running model's upstream is a fake llama-server answering captured bodies.
mod common;

use common::*;

#[tokio::test]
async fn running_models_are_read_from_their_upstream_and_no_model_is_started() {
    let upstream = FakeServer::llama(None).await;
    let running = serde_json::json!({"running": [{
        "model": "qwen", "state": "ready", "ttl": 300, "name": "", "description": "",
        "cmd": "llama-server --port 9999 -m /models/qwen.gguf", "proxy": upstream.url(),
    }]});
    let models = serde_json::json!({"object": "list", "data": [
        {"id": "qwen", "object": "model", "created": 1, "owned_by": "llama-swap"},
        {"id": "gemma", "object": "model", "created": 1, "owned_by": "llama-swap"},
    ]});
    let swap = FakeServer::start(
        vec![
            ("/running", Answer::Body(running.to_string())),
            ("/v1/models", Answer::Body(models.to_string())),
            ("/api/version", Answer::Body(r#"{"version":"v170","commit":"abc","build_date":"2026"}"#.into())),
            ("/upstream/qwen/metrics", Answer::Body(fixture("llamacpp_2026_real_metrics_inflight.txt"))),
            ("/upstream/gemma/metrics", Answer::Body(fixture("llamacpp_2026_real_metrics_inflight.txt"))),
        ],
        None,
    )
    .await;
    let exporter = Exporter::start(&["--no-collector.process", "--server", &format!("swap={}", swap.url())]);
    for _ in 0..3 {
        let body = exporter.scrape().await;
        let at = |model| [("server", "swap"), ("backend", "llamaswap"), ("model", model)];
        assert_eq!(value(&body, "llm_server_up", &[("server", "swap"), ("backend", "llamaswap")]), 1.0, "{body}");
        assert_eq!(value(&body, "llm_model_loaded", &at("qwen")), 1.0);
        assert_eq!(value(&body, "llm_model_loaded", &at("gemma")), 0.0);
        assert_eq!(value(&body, "llm_model_state", &[at("gemma")[2], ("state", "unloaded")]), 1.0);
        assert_eq!(value(&body, "llm_generation_tokens_total", &at("qwen")), 200.0);
        assert_eq!(value(&body, "llm_slots", &[at("qwen")[2], ("state", "busy")]), 2.0);
        assert!(values(&body, "llm_generation_tokens_total", &at("gemma")).is_empty());
    }
    assert_eq!(upstream.hits("/metrics"), 3, "read straight from the upstream");
    // /upstream/… starts a model that is not running and resets a running one's unload timer.
    assert_eq!(swap.hits("/upstream/qwen/metrics") + swap.hits("/upstream/gemma/metrics"), 0);
}
