//! Tests of `collectors/llm/mod.rs`.
use super::*;
use crate::config::{load, Command};

fn collector(args: &[&str]) -> LlmCollector {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    match load(&args, &|_| None) {
        Ok(Command::Run(config)) => LlmCollector::new(&config).unwrap(),
        _ => panic!("bad test config"),
    }
}

fn local(name: &str, backend: &'static str, port: Option<u16>) -> LocalServer {
    LocalServer {
        pid: 1,
        process: name.into(),
        backend,
        port,
        target: port.map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p))),
        name: format!("{name}:{}", port.unwrap_or(0)),
        configured: false,
        kv: None,
    }
}

#[test]
fn discovered_servers_of_every_backend_become_targets() {
    for backend in ["llamacpp", "vllm", "sglang", "tgi", "ollama", "auto"] {
        let (target, hint) = discovered_target(&local("x", backend, Some(8000))).unwrap();
        assert_eq!(target.backend, Backend::Auto, "detection can correct the guess");
        assert_eq!(hint.as_str(), backend);
        assert_eq!(target.url.as_str(), "http://127.0.0.1:8000/");
    }
    // Servers that serve no metrics we read, and servers without a port, are not targets.
    for backend in ["koboldcpp", "lmstudio"] {
        assert!(discovered_target(&local("x", backend, Some(5001))).is_none(), "{backend}");
    }
    assert!(discovered_target(&local("x", "vllm", None)).is_none());
}

#[test]
fn discovery_hints_seed_detection_and_vanished_targets_are_forgotten() {
    let c = collector(&["--server", "conf=http://127.0.0.1:1/"]);
    let found = [local("vllm", "vllm", Some(8000)), local("lms", "lmstudio", Some(1234))];
    let names: Vec<String> = c.targets(&found).into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["conf", "vllm:8000"]);
    let detected = |c: &LlmCollector| c.detected.lock().unwrap().clone();
    assert_eq!(detected(&c), HashMap::from([("vllm:8000".to_string(), Backend::Vllm)]));
    // A detection result is not overwritten by the hint, and is dropped with its target.
    c.detected.lock().unwrap().insert("vllm:8000".into(), Backend::Sglang);
    c.targets(&found);
    assert_eq!(detected(&c)["vllm:8000"], Backend::Sglang);
    c.targets(&[]);
    assert!(detected(&c).is_empty());
}

/// A loopback port that answers every request with `status` and closes.
async fn answering(status: u16) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 2048];
            let _ = socket.read(&mut request).await;
            let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    port
}

fn up_samples(families: &[Family]) -> Vec<(crate::family::Labels, f64)> {
    let up = families.iter().filter(|f| f.name == "llm_server_up").flat_map(|f| f.samples.iter());
    up.map(|s| (s.labels.clone(), s.value)).collect()
}

#[tokio::test]
async fn a_discovered_server_that_does_not_answer_keeps_the_backend_of_its_program() {
    let c = collector(&["--discovery"]);
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let targets = c.targets(&[local("llama-server", "llamacpp", Some(refused))]);
    let families = c.scrape_one(&targets[0], Duration::from_secs(2)).await;
    let name = format!("llama-server:{refused}");
    assert_eq!(up_samples(&families), [(labels([("server", &name), ("backend", "llamacpp")]), 0.0)]);
}

#[tokio::test]
async fn a_discovered_server_that_refuses_metrics_is_not_scraped_but_a_configured_one_is_down() {
    for status in [501, 401] {
        let port = answering(status).await;
        let c = collector(&["--discovery", "--server", &format!("conf=http://127.0.0.1:{port}/")]);
        let found = c.targets(&[local("llama-server", "llamacpp", Some(port))]);
        assert_eq!(found.len(), 2);
        let configured = c.scrape_one(&found[0], Duration::from_secs(2)).await;
        assert_eq!(up_samples(&configured), [(labels([("server", "conf"), ("backend", "unknown")]), 0.0)]);
        let discovered = c.scrape_one(&found[1], Duration::from_secs(2)).await;
        assert!(discovered.is_empty(), "{status}: {discovered:?}");
    }
}

#[test]
fn targets_have_unique_names() {
    let c = collector(&["--discovery", "--server", "llama-server:8080=http://127.0.0.1:9/"]);
    let twice = [local("llama-server", "llamacpp", Some(8080)), local("llama-server", "llamacpp", Some(8080))];
    let names: Vec<String> = c.targets(&twice).into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["llama-server:8080"]);
    assert_eq!(c.targets(&twice)[0].url.as_str(), "http://127.0.0.1:9/", "the configured one");
}

#[test]
fn failures_that_suggest_another_server() {
    let deadline = Deadline { at: Instant::now(), total: Duration::from_millis(250) };
    assert!(Failure::fetch("/metrics", FetchError::Status(404), deadline).mismatch);
    for e in [
        FetchError::Status(503),
        FetchError::Denied { status: 401, key_sent: false },
        FetchError::Transport("refused".into()),
    ] {
        assert!(!Failure::fetch("/metrics", e, deadline).mismatch);
    }
    let late = Failure::fetch("/metrics", FetchError::Timeout(Duration::from_millis(3)), deadline);
    assert_eq!(late.why, "GET /metrics: no complete answer within 0.250s");
}

#[test]
fn the_series_cap_cuts_after_whole_histogram_series() {
    let plain = |n: usize| {
        let mut f = Family::gauge("llm_a", "a");
        for i in 0..n {
            f.push(labels([("slot", &i.to_string())]), 1.0);
        }
        f
    };
    let histogram = || {
        let mut f = Family::new("llm_h_seconds", "h", Kind::Histogram);
        for i in 0..3 {
            let h = crate::family::Histogram { buckets: vec![(1.0, 1.0)], sum: 1.0, count: 1.0 };
            f.push_histogram(labels([("i", &i.to_string())]), &h);
        }
        f // 3 series of 4 samples: le=1, le=+Inf, _sum, _count
    };
    let mut families = vec![plain(3), histogram()];
    assert_eq!(cap_series(&mut families, 100), 0);
    assert_eq!(cap_series(&mut families, 9), 8, "3 plain and 1 whole histogram series of 4 kept");
    assert_eq!(families[1].samples.len(), 4);
    assert_eq!(families[1].samples.last().map(|s| s.suffix), Some("_count"));
    let mut families = vec![plain(3), histogram()];
    assert_eq!(cap_series(&mut families, 2), 13);
    assert_eq!((families[0].samples.len(), families[1].samples.len()), (2, 0));
}

#[test]
fn dropped_series_are_counted_per_server_and_forgotten_with_it() {
    let c = collector(&["--server", "a=http://127.0.0.1:1/", "--server", "b=http://127.0.0.1:2/"]);
    let (a, b) = (&c.configured[0], &c.configured[1]);
    assert_eq!(c.count_dropped(a, 5), 5);
    assert_eq!(c.count_dropped(a, 0), 5);
    assert_eq!(c.count_dropped(a, 2), 7);
    assert_eq!(c.count_dropped(b, 0), 0);
    let mut c = c;
    c.configured.truncate(1);
    c.targets(&[]);
    assert_eq!(c.dropped.lock().unwrap().keys().collect::<Vec<_>>(), ["a"]);
}
