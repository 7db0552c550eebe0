//! The proxy against hostile upstreams and clients: an endless line, invalid JSON, a gzip body,
//! thousands of half-open connections, thousands of model names, a 100 MiB request body, an
//! upstream that never answers, one that closes idle connections. Every byte is forwarded;
//! memory, series, connections and waits stay bounded.
mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::proxy::{exporter_with_proxy, proxy_address, Reply, Seen, Upstream};
use common::{client, value};
use tokio::io::AsyncWriteExt;

const LONG_LINE: usize = 64 << 20;
const LONG_HEAD: &[u8] = b"data: {\"content\":\"";
const LONG_TAIL: &[u8] = b"\"}\n\ndata: {\"content\":\"ok\",\"timings\":{\"prompt_n\":1,\"predicted_n\":1}}\n\n";

/// `/completion` answers with a 64 MiB SSE line, then a good one; `/api/generate` with invalid
/// JSON; `/v1/completions` with a gzip body; `/v1/chat/completions` echoes the model.
fn hostile(seen: &Seen) -> Reply {
    let request: serde_json::Value = serde_json::from_slice(&seen.body_start).unwrap_or_default();
    match seen.path.as_str() {
        "/completion" => {
            let mut frames = vec![LONG_HEAD.to_vec()];
            frames.extend(std::iter::repeat_n(vec![b'x'; 1 << 20], LONG_LINE >> 20));
            frames.push(LONG_TAIL.to_vec());
            Reply { frames, ..Reply::split("text/event-stream", b"", 1) }
        }
        "/api/generate" => Reply::split("application/x-ndjson", b"{\"response\":\"a\"}\n{oops\n", 3),
        "/v1/completions" => {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(br#"{"choices":[{"text":"x"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#).unwrap();
            let mut reply = Reply::split("application/json", &gz.finish().unwrap(), 5);
            reply.headers.push(("content-encoding", "gzip".into()));
            reply
        }
        "/v1/embeddings" => {
            // 2 MiB of one embedding: over the bound for a whole JSON body.
            let numbers = vec!["0.125"; 2 << 20 >> 3].join(",");
            Reply::json(&format!(r#"{{"data":[{{"embedding":[{numbers}]}}],"usage":{{"prompt_tokens":1}}}}"#))
        }
        _ => {
            let model = request["model"].as_str().unwrap_or("");
            let received = seen.body_len;
            Reply::json(&format!(
                r#"{{"model":"{model}","received":{received},"choices":[],"usage":{{"prompt_tokens":2,"completion_tokens":1}}}}"#
            ))
        }
    }
}

/// The peak resident memory of the exporter (`VmHWM`), in MiB.
fn peak_mib(exporter: &common::Exporter) -> f64 {
    exporter.status_bytes("VmHWM:") / (1 << 20) as f64
}

#[tokio::test]
async fn an_endless_line_is_forwarded_whole_and_only_its_measurement_is_dropped() {
    let upstream = Upstream::start(hostile).await;
    let (exporter, proxy) = exporter_with_proxy(&upstream.url(), &[]);
    let before = peak_mib(&exporter);
    let response = client().post(format!("http://{proxy}/completion")).body("{}").send().await.unwrap();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len(), LONG_HEAD.len() + LONG_LINE + LONG_TAIL.len(), "every byte of the long line arrives");
    assert!(bytes.starts_with(LONG_HEAD) && bytes.ends_with(LONG_TAIL));
    let grown = peak_mib(&exporter) - before;
    assert!(grown < 24.0, "a 64 MiB line grew the exporter by {grown:.1} MiB");

    client().post(format!("http://{proxy}/api/generate")).body("{}").send().await.unwrap().bytes().await.unwrap();
    let gz = client().post(format!("http://{proxy}/v1/completions")).body("{}").send().await.unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let gz = gz.bytes().await.unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "the gzip body is forwarded as it is");

    let body = exporter.scrape().await;
    for reason in ["too_long", "invalid_json", "encoded"] {
        assert_eq!(value(&body, "llm_proxy_unmeasured_total", &[("reason", reason)]), 1.0, "{reason}");
    }
    // A compressed body gives no time to first token (not its whole duration either).
    let gzip = [("endpoint", "/v1/completions")];
    assert!(common::values(&body, "llm_proxy_time_to_first_token_seconds_count", &gzip).is_empty());
    assert_eq!(value(&body, "llm_proxy_requests_total", &gzip), 1.0);
    // The good line after the long one still counts.
    assert_eq!(value(&body, "llm_proxy_generation_tokens_total", &[("endpoint", "/completion")]), 1.0);
}

#[tokio::test]
async fn a_100_mib_request_body_streams_through_in_bounded_memory() {
    let upstream = Upstream::start(hostile).await;
    let (exporter, proxy) = exporter_with_proxy(&upstream.url(), &[]);
    let before = peak_mib(&exporter);
    let mut body = br#"{"model":"vision","messages":[{"role":"user","content":""#.to_vec();
    body.resize(body.len() + (100 << 20), b'A');
    body.extend_from_slice(br#""}]}"#);
    let sent = body.len();
    let response = client().post(format!("http://{proxy}/v1/chat/completions")).body(body).send().await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(answer["received"], sent, "the upstream got every byte");
    let grown = peak_mib(&exporter) - before;
    assert!(grown < 24.0, "a 100 MiB request grew the exporter by {grown:.1} MiB");
    let scraped = exporter.scrape().await;
    assert_eq!(value(&scraped, "llm_proxy_prompt_tokens_total", &[("model", "vision")]), 2.0);
}

#[tokio::test]
async fn model_names_are_bounded_per_server() {
    let upstream = Upstream::start(hostile).await;
    let (exporter, proxy) = exporter_with_proxy(&upstream.url(), &[]);
    let http = client();
    let requests = 3000;
    let sends = (0..requests).map(|i| {
        let http = http.clone();
        async move {
            let body = format!(r#"{{"model":"attacker-{i}"}}"#);
            let url = format!("http://{proxy}/v1/chat/completions");
            http.post(url).body(body).send().await.unwrap().bytes().await.unwrap();
        }
    });
    futures::stream::iter(sends).buffer_unordered(32).collect::<Vec<_>>().await;
    let body = exporter.scrape().await;
    let parsed = promtext::parse(&body);
    let models: HashSet<String> = parsed
        .families
        .iter()
        .flat_map(|f| f.samples.iter())
        .filter(|s| s.name == "llm_proxy_requests_total")
        .filter_map(|s| s.label("model").map(str::to_string))
        .collect();
    assert_eq!(models.len(), 64, "{models:?}");
    assert!(models.contains("other"));
    let total: f64 = common::values(&body, "llm_proxy_requests_total", &[]).iter().sum();
    assert_eq!(total, requests as f64, "every request counted once");
}

#[tokio::test]
async fn thousands_of_half_open_connections_do_not_block_a_real_request() {
    let upstream = Upstream::start(hostile).await;
    let (exporter, proxy) = exporter_with_proxy(&upstream.url(), &[]);
    raise_open_files_limit();
    let mut idle = Vec::new();
    for _ in 0..2000 {
        let mut stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
        stream.write_all(b"POST /api/chat HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        idle.push(stream);
    }
    let started = std::time::Instant::now();
    let response = client()
        .post(format!("http://{proxy}/v1/chat/completions"))
        .body(r#"{"model":"m"}"#)
        .timeout(Duration::from_secs(8))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(8));
    drop(idle);
    assert!(exporter.scrape().await.contains("llm_proxy_requests_total"));
}

use futures::StreamExt;

/// 2,000 sockets need more than the usual soft limit of 1,024 open files: up to the hard limit.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max.min(65536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[tokio::test]
async fn an_upstream_that_never_answers_gets_the_client_a_504_in_bounded_time() {
    // Accepts connections and reads nothing, answers nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.toml");
    let toml =
        format!("[[proxy]]\nlisten = \"127.0.0.1:0\"\nupstream = \"http://{upstream}\"\nresponse_timeout = \"1s\"\n");
    std::fs::write(&config, toml).unwrap();
    let exporter = common::Exporter::start(&["--config.file", config.to_str().unwrap()]);
    let proxy = proxy_address(&exporter);
    let started = std::time::Instant::now();
    let response = client()
        .post(format!("http://{proxy}/api/generate"))
        .body(r#"{"model":"m","prompt":"x"}"#)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("an answer from the proxy, not the client's own timeout");
    assert_eq!(response.status(), 504);
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("no response head within 1s"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    let scraped = exporter.scrape().await;
    let want = [("endpoint", "/api/generate"), ("outcome", "upstream_timeout")];
    assert_eq!(value(&scraped, "llm_proxy_requests_total", &want), 1.0);
    holder.abort();
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_upload_is_counted_as_canceled() {
    let upstream = Upstream::start(hostile).await;
    let (exporter, proxy) = exporter_with_proxy(&upstream.url(), &[]);
    let mut stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let head = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                content-length: 1000000\r\n\r\n{\"model\":\"m\",\"messages\":\"";
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    let want = [("endpoint", "/v1/chat/completions"), ("outcome", "canceled")];
    let mut body = String::new();
    for _ in 0..100 {
        body = exporter.scrape().await;
        if !common::values(&body, "llm_proxy_requests_total", &[("endpoint", "/v1/chat/completions")]).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(value(&body, "llm_proxy_requests_total", &want), 1.0, "{body}");
    assert!(common::values(&body, "llm_proxy_requests_total", &[("outcome", "upstream_error")]).is_empty(), "{body}");
}

#[tokio::test]
async fn a_whole_json_body_over_a_mebibyte_is_forwarded_and_not_parsed() {
    let upstream = Upstream::start(hostile).await;
    let (exporter, proxy) = exporter_with_proxy(&upstream.url(), &[]);
    let body = client()
        .post(format!("http://{proxy}/v1/embeddings"))
        .body(r#"{"model":"e","input":"x"}"#)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(body.len() > 2 << 20 >> 1, "{}", body.len());
    assert!(body.ends_with(br#"{"prompt_tokens":1}}"#));
    let scraped = exporter.scrape().await;
    assert_eq!(value(&scraped, "llm_proxy_unmeasured_total", &[("reason", "too_long")]), 1.0);
}

/// An upstream that answers the first request of each connection (keep-alive, as llama-server
/// and uvicorn do, closing idle connections after 5 s) and closes the connection, unanswered,
/// on any later one: how a connection the server is closing looks to a proxy that reuses it.
async fn closing_on_reuse() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nKeep-Alive: timeout=5\r\n";
                let _ = stream.write_all(head).await;
                let _ = stream.write_all(b"Content-Length: 2\r\n\r\n{}").await;
                // The next request's first bytes: closed without an answer.
                let _ = stream.read(&mut buf).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_upstream_connection_idle_past_a_servers_keep_alive_is_not_reused() {
    let upstream = closing_on_reuse().await;
    let (_exporter, proxy) = exporter_with_proxy(&format!("http://{upstream}"), &[]);
    let ask = || client().get(format!("http://{proxy}/health")).send();
    assert_eq!(ask().await.unwrap().status(), 200);
    // Past the pool's idle limit (4 s, under the servers' 5 s): a new connection, not the old one.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(ask().await.unwrap().status(), 200);
}
