//! Relays one request to the upstream server with hyper and its response back, both bodies
//! streamed frame by frame. Only hop-by-hop headers are removed (and `Host` set to the
//! upstream's, as nginx does by default); an upstream that cannot be reached gets the client a
//! 502 with a one-line reason, one that sends no response head within the proxy's
//! `response_timeout` a 504. Dropping the response (the client went away) drops the upstream
//! body, which closes that upstream connection, so the server stops the request.
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::endpoint;
use super::meter::Meter;
use super::metrics::ServerState;
use super::tap::{RequestTap, ResponseTap};
use crate::config::ProxyConfig;

/// Time to open a connection to the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle upstream connections kept per proxy.
const MAX_IDLE_UPSTREAM: usize = 64;
/// How long an idle upstream connection is kept for reuse: under the 5 s after which
/// llama-server (cpp-httplib) and uvicorn (vLLM, SGLang) close one, so a request is never sent
/// on a connection the server is closing (that request would fail: it cannot be sent again).
const UPSTREAM_IDLE: Duration = Duration::from_secs(4);

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

pub struct Forwarder {
    client: Client<HttpConnector, RequestTap>,
    /// `http://host:port` of the upstream, and its path prefix without the trailing `/`.
    authority: http::uri::Authority,
    base_path: String,
    host: HeaderValue,
    upstream: String,
    response_timeout: Duration,
    state: Arc<ServerState>,
}

impl Forwarder {
    pub fn new(proxy: &ProxyConfig, state: Arc<ServerState>) -> Forwarder {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(UPSTREAM_IDLE)
            .pool_max_idle_per_host(MAX_IDLE_UPSTREAM)
            .set_host(false)
            .build(connector);
        // host_str keeps an IPv6 address's brackets.
        let host = proxy.upstream.host_str().unwrap_or("127.0.0.1");
        let host = format!("{host}:{}", proxy.upstream.port_or_known_default().unwrap_or(80));
        Forwarder {
            client,
            authority: host.parse().unwrap_or_else(|_| http::uri::Authority::from_static("127.0.0.1")),
            base_path: proxy.upstream.path().trim_end_matches('/').to_string(),
            host: HeaderValue::from_str(&host).unwrap_or_else(|_| HeaderValue::from_static("127.0.0.1")),
            upstream: proxy.upstream.to_string(),
            response_timeout: proxy.response_timeout,
            state,
        }
    }

    /// Forwards one request; never fails (an upstream failure is a 502 response).
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<ResponseTap>, Infallible> {
        let (mut parts, body) = request.into_parts();
        let measured = endpoint::lookup(&parts.method, parts.uri.path());
        let prefix = Arc::new(Mutex::new(Vec::new()));
        let mut meter = measured.map(|e| Meter::start(Arc::clone(&self.state), e, Arc::clone(&prefix)));
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(format!("{}{path_and_query}", self.base_path))
            .build();
        let Ok(uri) = uri else {
            let why = "the request path cannot be forwarded";
            return Ok(self.failed(meter, StatusCode::BAD_GATEWAY, "upstream_error", why));
        };
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        // Answered by this side already (hyper sends the 100 when the body is first read).
        parts.headers.remove(header::EXPECT);
        parts.headers.insert(header::HOST, self.host.clone());
        let aborted = Arc::new(AtomicBool::new(false));
        let tap = RequestTap::new(body, measured.map(|_| prefix), Arc::clone(&aborted));
        let sent = self.client.request(Request::from_parts(parts, tap));
        let response = match tokio::time::timeout(self.response_timeout, sent).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let why = match std::error::Error::source(&e) {
                    Some(cause) => format!("{e}: {cause}"),
                    None => e.to_string(),
                };
                // The client hung up while sending its body: its cancel, not the upstream's fault.
                let outcome = if aborted.load(Ordering::Relaxed) { "canceled" } else { "upstream_error" };
                return Ok(self.failed(meter, StatusCode::BAD_GATEWAY, outcome, &why));
            }
            Err(_) => {
                let why = format!("no response head within {}", humantime(self.response_timeout));
                return Ok(self.failed(meter, StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", &why));
            }
        };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        if let Some(meter) = meter.as_mut() {
            meter.response(parts.status, &parts.headers);
        }
        Ok(Response::from_parts(parts, ResponseTap::upstream(body, meter)))
    }

    /// The client's answer when the upstream gave none: `status` with one line saying why
    /// (the upstream's address only in the debug log), counted under `outcome`.
    fn failed(
        &self,
        meter: Option<Meter>,
        status: StatusCode,
        outcome: &'static str,
        why: &str,
    ) -> Response<ResponseTap> {
        if let Some(mut meter) = meter {
            meter.finish(Some(outcome));
        }
        log::debug!("proxy to {}: {why}", self.upstream);
        let line = format!("llm-exporter proxy: upstream did not answer: {why}");
        let mut response =
            Response::new(ResponseTap::fixed(line.replace(['\r', '\n'], " ").trim_end().to_string() + "\n"));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        response
    }
}

/// `1s`, `10m`, `90s`: a timeout as the config file spells it.
fn humantime(d: Duration) -> String {
    match d.as_secs() {
        0 => format!("{}ms", d.as_millis()),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Removes the hop-by-hop headers and those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
    // An upgrade cannot be relayed by this proxy: drop the request for one.
    headers.remove(header::UPGRADE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-trace"),
            ("keep-alive", "timeout=5"),
            ("x-trace", "1"),
            ("transfer-encoding", "chunked"),
            ("authorization", "Bearer k"),
            ("content-type", "application/json"),
            ("te", "trailers"),
        ] {
            headers.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["authorization", "content-type"]);
    }
}
