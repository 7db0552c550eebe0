//! For the proxy's tests: the exporter started with `--proxy`, and a loopback upstream whose
//! answers are written frame by frame (split where the test says, a pause between frames, so
//! each reaches the proxy as its own read).
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use super::Exporter;

/// The exporter with one proxy in front of `upstream`; returns it and the proxy's address.
pub fn exporter_with_proxy(upstream: &str, extra: &[&str]) -> (Exporter, SocketAddr) {
    let spec = format!("127.0.0.1:0={upstream}");
    let mut args = vec!["--proxy", spec.as_str()];
    args.extend_from_slice(extra);
    let exporter = Exporter::start(&args);
    let addr = proxy_address(&exporter);
    (exporter, addr)
}

/// The address the exporter's (first) proxy listens on, from its log.
pub fn proxy_address(exporter: &Exporter) -> SocketAddr {
    assert!(exporter.wait_for_log("proxy on ", Duration::from_secs(10)), "{:?}", exporter.log());
    let line = exporter.log().into_iter().find(|l| l.contains("proxy on ")).unwrap();
    line.split("proxy on ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap()
}

/// What the upstream answers to one request.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// Written one after another, `pause` between them.
    pub frames: Vec<Vec<u8>>,
    pub pause: Duration,
}

impl Reply {
    pub fn json(body: &str) -> Reply {
        Reply {
            status: 200,
            // A known length, as servers send whole JSON: the body's end is its last frame.
            headers: vec![
                ("content-type", "application/json; charset=utf-8".into()),
                ("content-length", body.len().to_string()),
            ],
            frames: vec![body.as_bytes().to_vec()],
            pause: Duration::ZERO,
        }
    }

    /// `body` cut at pseudo-random byte boundaries (1 to 40 bytes) from `seed`.
    pub fn split(content_type: &str, body: &[u8], seed: u64) -> Reply {
        let mut frames = Vec::new();
        let mut state = seed | 1;
        let mut rest = body;
        while !rest.is_empty() {
            // xorshift: reproducible cuts without a dependency.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (1 + (state % 40) as usize).min(rest.len());
            frames.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        Reply {
            status: 200,
            headers: vec![("content-type", content_type.into())],
            frames,
            pause: Duration::from_millis(1),
        }
    }
}

/// The request as the upstream saw it: method, path (and with its query), headers, body
/// length, and the body's first 64 KiB.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub path_and_query: String,
    pub headers: hyper::HeaderMap,
    pub body_len: usize,
    pub body_start: Vec<u8>,
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A loopback upstream driven by `handler`; stopped when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Upstream {
        let handler: Arc<Handler> = Arc::new(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |r| answer(Arc::clone(&handler), r));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Frames = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>;

async fn answer(handler: Arc<Handler>, request: Request<Incoming>) -> Result<Response<StreamBody<Frames>>, Infallible> {
    let (parts, mut body) = request.into_parts();
    let (mut body_len, mut body_start) = (0, Vec::new());
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            body_len += data.len();
            let room = (64 * 1024usize).saturating_sub(body_start.len()).min(data.len());
            body_start.extend_from_slice(&data[..room]);
        }
    }
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        path_and_query: parts.uri.path_and_query().map_or("", |p| p.as_str()).to_string(),
        headers: parts.headers,
        body_len,
        body_start,
    };
    let reply = handler(&seen);
    let pause = reply.pause;
    let frames = futures::stream::iter(reply.frames).then(move |frame| async move {
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        Ok(Frame::data(Bytes::from(frame)))
    });
    let mut response = Response::new(StreamBody::new(Box::pin(frames) as Frames));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status).unwrap();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    Ok(response)
}
