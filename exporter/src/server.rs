//! HTTP routes (warp): `/` (the live console of [`console`], or with `--no-web.console` a
//! plain landing page), the console's paths, the telemetry path, `/-/healthy` and `/-/ready`;
//! basic auth on all but the last two. Each answers GET and HEAD; other methods get 405 with
//! `Allow: GET, HEAD`, and unknown paths 404.
//!
//! Serving them, for plain HTTP and TLS alike, is [`listen`]'s job; [`conn`] holds the
//! per-connection timeouts, [`tracked`] the wrappers that feed them, and [`table`] the cap on
//! open connections.
pub mod conn;
pub mod console;
pub mod listen;
pub mod table;
pub mod tracked;

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use warp::http::{header, HeaderMap, Method, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::{Filter, Reply};

use crate::config::Config;
use crate::family::TEXT_CONTENT_TYPE;
use crate::scrape::Scraper;

/// What every route needs.
pub struct App {
    pub config: Config,
    pub scraper: Arc<Scraper>,
}

/// The paths the exporter answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Landing,
    Metrics,
    Healthy,
    Ready,
    Console(console::Part),
}

impl Route {
    fn of(config: &Config, path: &str) -> Option<Route> {
        match path {
            "/" => Some(Route::Landing),
            "/-/healthy" => Some(Route::Healthy),
            "/-/ready" => Some(Route::Ready),
            p if p == config.telemetry_path => Some(Route::Metrics),
            p if config.web_console => console::Part::of(p).map(Route::Console),
            _ => None,
        }
    }

    /// With `basic_auth_users` in the web config, these need credentials; the health
    /// endpoints never do.
    fn needs_auth(self) -> bool {
        matches!(self, Route::Landing | Route::Metrics | Route::Console(_))
    }
}

/// All routes, with the web config's extra response headers on every answer.
pub fn routes(app: Arc<App>) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let extra_headers = Arc::new(app.config.web_config.as_ref().map(|w| w.headers.clone()).unwrap_or_default());
    warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .then(move |method: Method, path: warp::path::FullPath, headers: HeaderMap| {
            let app = Arc::clone(&app);
            async move { answer(&app, &method, path.as_str(), &headers).await }
        })
        .map(move |mut response: warp::reply::Response| {
            for (name, value) in extra_headers.iter() {
                response.headers_mut().insert(name.clone(), value.clone());
            }
            response
        })
}

/// One request's answer: 404 for an unknown path, then 401 where credentials are needed and
/// missing, then 405 for a method other than GET or HEAD.
async fn answer(app: &Arc<App>, method: &Method, path: &str, headers: &HeaderMap) -> warp::reply::Response {
    let Some(route) = Route::of(&app.config, path) else {
        return warp::reply::with_status("Not Found\n", StatusCode::NOT_FOUND).into_response();
    };
    if route.needs_auth() {
        if let Some(denied) = unauthorized(app, headers).await {
            return denied;
        }
    }
    // For HEAD, hyper sends the headers of the answer and drops its body.
    let head = match *method {
        Method::GET => false,
        Method::HEAD => true,
        _ => return method_not_allowed(),
    };
    match route {
        Route::Landing if app.config.web_console => console::page(&app.config.telemetry_path),
        Route::Landing => warp::reply::html(landing_page(app)).into_response(),
        Route::Console(part) => console::reply(app, part, head).await,
        Route::Healthy => "Healthy\n".into_response(),
        Route::Ready => "Ready\n".into_response(),
        // HEAD runs no collection: a collection reads every target (and llama.cpp resets some
        // values when read), which a HEAD from a link checker or uptime probe should not cause.
        // The answer carries the Content-Type but no Content-Length, which only a collection
        // could tell; RFC 9110 (9.3.2) lets a HEAD answer leave such a field out.
        Route::Metrics if head => Response::builder()
            .header(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)
            .body(Bytes::new())
            .map(Reply::into_response)
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Route::Metrics => {
            let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let timeout = text(header::HeaderName::from_static("x-prometheus-scrape-timeout-seconds"));
            metrics_reply(Arc::clone(app), timeout, text(header::ACCEPT_ENCODING)).await
        }
    }
}

fn method_not_allowed() -> warp::reply::Response {
    let mut response = warp::reply::with_status("Method Not Allowed\n", StatusCode::METHOD_NOT_ALLOWED).into_response();
    response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
    response
}

/// `None` when the request may go on; else the 401 answer.
async fn unauthorized(app: &App, headers: &HeaderMap) -> Option<warp::reply::Response> {
    let auth = app.config.web_config.as_ref()?.basic_auth.as_ref()?;
    if auth.allows(headers.get(header::AUTHORIZATION)).await {
        return None;
    }
    let mut response = warp::reply::with_status("Unauthorized\n", StatusCode::UNAUTHORIZED).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"llm-exporter\""));
    Some(response)
}

async fn metrics_reply(
    app: Arc<App>,
    timeout_header: Option<String>,
    accept_encoding: Option<String>,
) -> warp::reply::Response {
    let budget = scrape_budget(app.config.scrape_timeout, timeout_header.as_deref());
    let Some(body) = app.scraper.scrape(budget).await else {
        return warp::reply::with_status("collection failed\n", StatusCode::INTERNAL_SERVER_ERROR).into_response();
    };
    let response = Response::builder().header(header::CONTENT_TYPE, TEXT_CONTENT_TYPE);
    let built = match accept_encoding.as_deref().is_some_and(accepts_gzip).then(|| gzip(body.as_bytes())).flatten() {
        Some(compressed) => response.header(header::CONTENT_ENCODING, "gzip").body(Bytes::from(compressed)),
        None => response.body(Bytes::from(body.as_bytes().to_vec())),
    };
    built.map(Reply::into_response).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The scrape deadline: `--scrape.timeout`, lowered to Prometheus' own timeout (sent in
/// `X-Prometheus-Scrape-Timeout-Seconds`) less a margin so the answer arrives in time.
pub fn scrape_budget(configured: Duration, header: Option<&str>) -> Duration {
    let from_header = header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        // A huge value would overflow Duration: it cannot lower the configured deadline anyway.
        .and_then(|s| Duration::try_from_secs_f64(s - (s * 0.1).min(0.5)).ok());
    match from_header {
        Some(h) => configured.min(h),
        None => configured,
    }
}

/// True when `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(accept: &str) -> bool {
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let zero_q = parts.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f64>().ok()) == Some(0.0));
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero_q
    })
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), flate2::Compression::fast());
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The plain landing page (`--no-web.console`): version, the metrics link, the configured
/// servers and the discovered ones. It runs no collector (healthchecks call it): the discovered servers are those the
/// most recent scrape found.
fn landing_page(app: &App) -> String {
    let config = &app.config;
    let path = escape(&config.telemetry_path);
    let mut servers: String = config
        .servers
        .iter()
        .map(|s| format!("<li>{} ({}): {}</li>\n", escape(&s.name), s.backend.as_str(), escape(s.url.as_str())))
        .collect();
    let discovery = config.discovery && config.collectors.llm;
    let note = match (discovery, app.scraper.last_scan()) {
        (false, _) => "<p>Discovery of local servers is off.</p>".to_string(),
        (true, None) => "<p>Discovered servers are listed after the first scrape.</p>".to_string(),
        (true, Some((at, local))) => {
            for (target, backend) in crate::collectors::llm::discovered_targets(&local.servers) {
                servers.push_str(&format!(
                    "<li>{} ({}, discovered): {}</li>\n",
                    escape(&target.name),
                    backend.as_str(),
                    escape(target.url.as_str())
                ));
            }
            format!(
                "<p>Discovered servers as found by the most recent scrape, {} s ago; this page does not scrape.</p>",
                at.elapsed().as_secs()
            )
        }
    };
    if servers.is_empty() {
        servers = "<li>none configured or discovered</li>\n".to_string();
    }
    format!(
        "<!DOCTYPE html>\n<html><head><title>llm-exporter</title></head><body>\n<h1>llm-exporter</h1>\n\
         <p>Version {version}</p>\n<p><a href=\"{path}\">Metrics</a></p>\n<h2>LLM servers</h2>\n<ul>\n{servers}</ul>\n{note}\n</body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
#[path = "server/tests.rs"]
mod tests;
