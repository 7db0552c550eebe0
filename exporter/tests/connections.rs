//! The HTTP server under hostile and careless clients, on the real binary: half-sent requests,
//! idle keep-alive connections, more connections than file descriptors, clients that hang up
//! mid-request, methods, and signals. Every wait has a generous deadline; the assertions are
//! about outcomes, never about how long something took.
mod common;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HALF_REQUEST: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\n";
/// The start of a TLS ClientHello, as a client that expects TLS sends to a plain port.
const CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x8a, 0x21];

/// `n` connections that each sent `first` (maybe nothing) and wait.
async fn open(addr: SocketAddr, n: usize, first: &[u8]) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        if !first.is_empty() {
            stream.write_all(first).await.expect("send");
        }
        held.push(stream);
    }
    held
}

/// Reads until the server closes the connection, within `deadline`; what it sent, or `None`
/// when it kept the connection open that long.
async fn read_until_closed(stream: &mut TcpStream, deadline: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(deadline, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.ok().map(|()| got)
}

/// Log lines at warn or error.
fn loud_lines(exporter: &Exporter) -> Vec<String> {
    exporter.log().into_iter().filter(|l| l.contains("level=warn") || l.contains("level=error")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_after_the_header_timeout() {
    let exporter = Exporter::start(&["--no-collector.process", "--web.read-header-timeout", "1s"]);
    let mut flood = open(exporter.addr, 200, HALF_REQUEST).await;
    flood.extend(open(exporter.addr, 50, b"").await);
    for (i, stream) in flood.iter_mut().enumerate() {
        let answer = read_until_closed(stream, Duration::from_secs(60)).await;
        assert_eq!(answer.as_deref(), Some(&b""[..]), "connection {i}: closed, without an answer");
    }
    exporter.scrape().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_before_its_answer() {
    let slow_metrics = Answer::Slow(Duration::from_secs(3), fixture("llamacpp_2026_real_metrics_inflight.txt"));
    let slow = FakeServer::start(vec![("/metrics", slow_metrics)], None).await;
    let exporter = Exporter::start(&[
        "--no-collector.process",
        "--web.read-header-timeout",
        "1s",
        "--web.idle-timeout",
        "1s",
        "--server",
        &format!("slow={}", slow.url()),
    ]);
    let mut stream = TcpStream::connect(exporter.addr).await.unwrap();
    // A request whose answer takes longer than both timeouts is still answered.
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before the answer: {}", String::from_utf8_lossy(&head));
        head.extend_from_slice(&buf[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200 OK"), "{}", String::from_utf8_lossy(&head));
    // Then, idle, it is closed.
    assert!(read_until_closed(&mut stream, Duration::from_secs(60)).await.is_some(), "still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_idle_connections_cannot_starve_a_scrape_under_a_low_open_files_limit() {
    // 256 descriptors, as with `ulimit -n 256`; the timeouts are long, so only the cap helps.
    let exporter = Exporter::start_customized(
        &["--no-collector.process", "--web.read-header-timeout", "1h", "--web.idle-timeout", "1h"],
        &[],
        |command| {
            // SAFETY: setrlimit is async-signal-safe and touches only the child being started.
            unsafe {
                command.pre_exec(|| {
                    let limit = libc::rlimit { rlim_cur: 256, rlim_max: 256 };
                    match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                        0 => Ok(()),
                        _ => Err(std::io::Error::last_os_error()),
                    }
                });
            }
        },
    );
    let mut flood = open(exporter.addr, 150, b"").await;
    flood.extend(open(exporter.addr, 150, HALF_REQUEST).await);
    let body = exporter.scrape().await;
    assert_eq!(value(&body, "llm_exporter_collector_success", &[("collector", "llm")]), 1.0);
    // Again, on a fresh connection, while the flood is still held open.
    exporter.scrape().await;
    let log = exporter.log().join("\n");
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("connection cap of 128 reached"), "{log}");
    drop(flood);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_go_away_log_nothing_above_info_and_sigterm_still_exits_0() {
    let mut exporter = Exporter::start(&["--no-collector.process"]);
    for _ in 0..30 {
        // Half a request, then gone; TLS spoken to the plain port; a reset mid-request; an
        // answer nobody reads.
        drop(open(exporter.addr, 1, HALF_REQUEST).await);
        let mut hello = open(exporter.addr, 1, CLIENT_HELLO).await;
        let _ = read_until_closed(&mut hello[0], Duration::from_secs(60)).await;
        let reset = open(exporter.addr, 1, HALF_REQUEST).await;
        reset[0].set_zero_linger().unwrap();
        drop(reset);
        drop(open(exporter.addr, 1, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await);
    }
    exporter.scrape().await;
    // Connections still open at shutdown are not errors either.
    let _held = open(exporter.addr, 20, HALF_REQUEST).await;
    exporter.signal(libc::SIGTERM);
    let status = exporter.wait_exit(Duration::from_secs(60)).expect("the exporter stops on SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert_eq!(loud_lines(&exporter), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_is_logged_and_ignored() {
    let mut exporter = Exporter::start(&["--no-collector.process"]);
    exporter.signal(libc::SIGHUP);
    assert!(exporter.wait_for_log("SIGHUP ignored", Duration::from_secs(60)), "{:?}", exporter.log());
    exporter.scrape().await;
    let line = exporter.log().into_iter().find(|l| l.contains("SIGHUP ignored")).unwrap_or_default();
    assert!(line.contains("level=info"), "{line}");
    exporter.signal(libc::SIGTERM);
    let status = exporter.wait_exit(Duration::from_secs(60)).expect("the exporter stops on SIGTERM");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_has_no_body_and_other_methods_get_405_over_the_wire() {
    let exporter = Exporter::start(&["--no-collector.process"]);
    let c = client();
    for path in ["/", "/metrics", "/-/healthy", "/-/ready"] {
        let head = c.head(exporter.url(path)).send().await.unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
        let post = c.post(exporter.url(path)).send().await.unwrap();
        assert_eq!(post.status(), 405, "POST {path}");
        assert_eq!(post.headers()["allow"], "GET, HEAD");
    }
    let landing = c.get(exporter.url("/")).send().await.unwrap();
    let length = landing.headers()["content-length"].clone();
    assert_eq!(c.head(exporter.url("/")).send().await.unwrap().headers()["content-length"], length);
    assert_eq!(c.delete(exporter.url("/nope")).send().await.unwrap().status(), 404);
}
