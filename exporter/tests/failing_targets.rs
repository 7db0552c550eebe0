//! Targets that fail in every way we know: each costs only its own series, the scrape still
//! answers, and the reason reaches the log once.
mod common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn each_failure_costs_only_its_own_server() {
    let good = FakeServer::llama(None).await;
    let no_metrics_flag = FakeServer::start(vec![("/metrics", Answer::Status(501))], None).await;
    let needs_key = FakeServer::llama(Some("right-key")).await;
    let loading = FakeServer::start(vec![("/metrics", Answer::Status(503))], None).await;
    let huge = FakeServer::start(vec![("/metrics", Answer::Huge(50 << 20))], None).await;
    let html =
        FakeServer::start(vec![("/metrics", Answer::Body("<html><body>It works!</body></html>".into()))], None).await;
    let hang = Blackhole::start().await;
    let refused = refused_addr();
    let targets = [
        ("good", good.url()),
        ("no_metrics_flag", no_metrics_flag.url()),
        ("needs_key", needs_key.url()),
        ("loading", loading.url()),
        ("huge", huge.url()),
        ("html", html.url()),
        ("hang", format!("http://{}", hang.addr)),
        ("refused", format!("http://{refused}")),
    ];
    let mut args: Vec<String> = targets.iter().map(|(n, u)| format!("--server={n}={u}")).collect();
    args.push("--scrape.timeout=2s".into());
    let exporter = Exporter::start(&args.iter().map(String::as_str).collect::<Vec<_>>());

    for round in 0..2 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_server_up", &[("server", "good")]), 1.0);
        assert_eq!(value(&body, "llm_generation_tokens_total", &[("server", "good")]), 200.0);
        for (name, _) in &targets[1..] {
            assert_eq!(value(&body, "llm_server_up", &[("server", name)]), 0.0, "{name}");
            let own: Vec<&str> = body
                .lines()
                .filter(|l| l.contains(&format!("server=\"{name}\"")) && !l.starts_with("llm_exporter_"))
                .collect();
            assert_eq!(own.len(), 1, "a down server has only llm_server_up: {own:?}");
        }
        assert_eq!(value(&body, "llm_exporter_collector_success", &[("collector", "llm")]), 1.0, "round {round}");
    }
    let log = exporter.log().join("\n");
    for (name, why) in [
        ("no_metrics_flag", "HTTP status 501 (endpoint disabled: llama-server needs --metrics"),
        ("needs_key", "HTTP status 401 (the server wants an API key: set api_key_file)"),
        ("loading", "HTTP status 503 (server is loading the model"),
        ("huge", "body larger than the 16777216-byte cap"),
        ("html", "no llamacpp:, vllm:, sglang: or tgi_ series"),
        ("hang", "no complete answer within"),
        ("refused", "GET /metrics: "),
    ] {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(&format!("server {name} ("))).collect();
        assert_eq!(lines.len(), 1, "{name} is logged once over two scrapes: {lines:?}");
        assert!(lines[0].contains(why), "{name}: {}", lines[0]);
        // Only a server whose /metrics is missing or foreign is asked whether it is Ollama.
        let probed_as_ollama = name == "html";
        assert_eq!(lines[0].contains("/api/version"), probed_as_ollama, "{name}: {}", lines[0]);
    }
    for server in [&no_metrics_flag, &needs_key, &loading] {
        assert_eq!(server.hits("/api/version"), 0, "a server that has /metrics is not probed as Ollama");
    }
    assert!(!log.contains("right-key"));
}

#[tokio::test]
async fn the_api_key_comes_from_a_file_and_never_shows() {
    let llama = FakeServer::llama(Some("k-123456")).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "k-123456\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path().join("key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[[server]]\nname = \"llama\"\nurl = \"{}\"\napi_key_file = \"key\"\n", llama.url()),
    )
    .unwrap();
    let exporter = Exporter::start(&["--config.file", config.to_str().unwrap(), "--log.level=debug"]);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[("server", "llama")]), 1.0);
    assert_eq!(value(&body, "llm_slots", &[("server", "llama"), ("state", "busy")]), 2.0);
    let landing = client().get(exporter.url("/")).send().await.unwrap().text().await.unwrap();
    let argv =
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{}/cmdline", exporter.pid())).unwrap()).into_owned();
    let log = exporter.log().join("\n");
    assert!(log.contains("key is readable by every user; chmod o-r it"), "{log}");
    for text in [body, landing, log, argv] {
        assert!(!text.contains("k-123456"));
    }
}

#[tokio::test]
async fn a_refused_key_is_not_called_missing() {
    let llama = FakeServer::llama(Some("right-key")).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "wrong-key\n").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[[server]]\nname = \"keyed\"\nurl = \"{}\"\napi_key_file = \"key\"\n", llama.url()),
    )
    .unwrap();
    let exporter = Exporter::start(&["--config.file", config.to_str().unwrap()]);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[("server", "keyed")]), 0.0);
    let log = exporter.log().join("\n");
    assert!(log.contains("HTTP status 401 (the API key from api_key_file was refused)"), "{log}");
    assert!(!log.contains("set api_key_file") && !log.contains("api/version"), "{log}");
}

#[tokio::test]
async fn redirects_are_never_followed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let good = FakeServer::llama(None).await;
    // Answers every request with a redirect to the same path on the good server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let location = good.url();
    let redirector = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let location = location.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let n = socket.read(&mut request).await.unwrap_or(0);
                let text = String::from_utf8_lossy(&request[..n]);
                let path = text.split(' ').nth(1).unwrap_or("/").to_string();
                let reply = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    location.trim_end_matches('/')
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    let exporter = Exporter::start(&["--server", &format!("moved=http://{addr}/")]);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[("server", "moved")]), 0.0);
    assert_eq!(good.hits("/metrics") + good.hits("/api/version"), 0, "the redirect was not followed");
    let log = exporter.log().join("\n");
    let target = format!("{}/metrics", good.url().trim_end_matches('/'));
    let said = log.lines().find(|l| l.contains("HTTP status 302, a redirect to")).unwrap_or_default();
    assert!(said.contains(&target) && said.contains("redirects are not followed"), "{log}");
    redirector.abort();
}

#[tokio::test]
async fn a_slow_server_gets_its_own_deadline() {
    let slow = FakeServer::start(vec![("/metrics", Answer::Slow(Duration::from_secs(5), String::new()))], None).await;
    let good = FakeServer::llama(None).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let text = format!(
        "[scrape]\ntimeout = \"4s\"\n[[server]]\nname = \"slow\"\nurl = \"{}\"\ntimeout = \"300ms\"\n[[server]]\nname = \"good\"\nurl = \"{}\"\n",
        slow.url(),
        good.url()
    );
    std::fs::write(&config, text).unwrap();
    let exporter = Exporter::start(&["--config.file", config.to_str().unwrap()]);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[("server", "slow")]), 0.0);
    assert_eq!(value(&body, "llm_server_up", &[("server", "good")]), 1.0);
    let log = exporter.log_with("no complete answer within 0.300s");
    assert!(log.contains("no complete answer within 0.300s"), "{log}");
}

#[tokio::test]
async fn slots_disabled_falls_back_to_props() {
    let llama = FakeServer::start(
        vec![
            ("/metrics", Answer::Body(fixture("llamacpp_2026_real_metrics_inflight.txt"))),
            ("/slots", Answer::Status(501)),
            ("/props", Answer::Body(fixture("llamacpp_2026_real_props.json"))),
        ],
        None,
    )
    .await;
    let exporter = Exporter::start(&["--server", &format!("llama={}", llama.url())]);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_server_up", &[]), 1.0);
    assert_eq!(value(&body, "llm_slots", &[("state", "busy")]), 2.0);
    assert_eq!(value(&body, "llm_slots", &[("state", "idle")]), 2.0);
    assert!(values(&body, "llm_slot_context_used_tokens", &[]).is_empty());
}

#[tokio::test]
async fn broken_transports_cost_only_their_server_and_no_memory() {
    let good = FakeServer::llama(None).await;
    let mut bad = Vec::new();
    for how in [
        Misbehaviour::HeadersThenHang,
        Misbehaviour::EndlessBody,
        Misbehaviour::Drip,
        Misbehaviour::GzipBomb,
        Misbehaviour::Reset,
    ] {
        bad.push((format!("{how:?}"), RawServer::start(how).await));
    }
    let mut args: Vec<String> = bad.iter().map(|(n, s)| format!("--server={n}={}", s.url())).collect();
    args.push(format!("--server=good={}", good.url()));
    args.push("--scrape.timeout=2s".into());
    let exporter = Exporter::start(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let mut rss_after_first = 0.0;
    for round in 0..5 {
        let body = exporter.scrape().await;
        // Each target's own deadline cut it off inside the scrape's, so the collector finished.
        assert_eq!(value(&body, "llm_exporter_collector_success", &[("collector", "llm")]), 1.0, "round {round}");
        assert_eq!(value(&body, "llm_server_up", &[("server", "good")]), 1.0);
        for (name, _) in &bad {
            assert_eq!(value(&body, "llm_server_up", &[("server", name)]), 0.0, "{name}");
        }
        if round == 0 {
            rss_after_first = exporter.status_bytes("VmRSS:");
        }
    }
    // Endless and bombed bodies are capped and dropped: memory does not grow scrape after scrape.
    let rss = exporter.status_bytes("VmRSS:");
    assert!(rss < rss_after_first + 16.0 * 1048576.0, "RSS grew from {rss_after_first} to {rss}");
    let log = exporter.log().join("\n");
    for (name, _) in &bad {
        let lines = log.lines().filter(|l| l.contains(&format!("server {name} ("))).count();
        assert_eq!(lines, 1, "{name} is logged once over five scrapes:\n{log}");
    }
}

#[tokio::test]
async fn a_path_in_the_url_is_a_base_path() {
    let prefixed = FakeServer::start(
        vec![
            ("/llama/metrics", Answer::Body(fixture("llamacpp_2026_real_metrics_inflight.txt"))),
            ("/llama/slots", Answer::Body(fixture("llamacpp_2026_real_slots_inflight.json"))),
            ("/llama/props", Answer::Body(fixture("llamacpp_2026_real_props.json"))),
        ],
        None,
    )
    .await;
    let base = prefixed.url().trim_end_matches('/').to_string();
    let exporter =
        Exporter::start(&["--server", &format!("bare={base}/llama"), "--server", &format!("slash={base}/llama/")]);
    let body = exporter.scrape().await;
    for name in ["bare", "slash"] {
        assert_eq!(value(&body, "llm_server_up", &[("server", name)]), 1.0, "{name}");
        assert_eq!(value(&body, "llm_slots", &[("server", name), ("state", "busy")]), 2.0, "{name}");
    }
    assert_eq!(prefixed.hits("/metrics"), 0);
}
