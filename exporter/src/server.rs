//! HTTP routes (warp): `/` landing page, the telemetry path, `/-/healthy` and `/-/ready`;
//! basic auth on the landing page and the telemetry path.
//!
//! Serving them, for plain HTTP and TLS alike, is [`listen`]'s job; [`conn`] holds the
//! per-connection timeouts.
pub mod conn;
pub mod listen;

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use warp::http::{header, HeaderMap, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::{Filter, Rejection, Reply};

use crate::config::Config;
use crate::family::TEXT_CONTENT_TYPE;
use crate::scrape::Scraper;

/// What every route needs.
pub struct App {
    pub config: Config,
    pub scraper: Arc<Scraper>,
}

/// All routes. With `basic_auth_users` in the web config, `/` and the telemetry path need
/// credentials; the health endpoints never do.
pub fn routes(app: Arc<App>) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let extra_headers = Arc::new(app.config.web_config.as_ref().map(|w| w.headers.clone()).unwrap_or_default());
    let with_app = warp::any().map(move || Arc::clone(&app));
    let landing = warp::path::end().and(with_app.clone()).and(warp::header::headers_cloned()).then(
        |app: Arc<App>, headers: HeaderMap| async move {
            if let Some(denied) = unauthorized(&app, &headers).await {
                return denied;
            }
            warp::reply::html(landing_page(&app.config)).into_response()
        },
    );
    let healthy = warp::path!("-" / "healthy").map(|| "Healthy\n");
    let ready = warp::path!("-" / "ready").map(|| "Ready\n");
    let metrics = warp::path::full()
        .and(with_app)
        .and_then(|path: warp::path::FullPath, app: Arc<App>| async move {
            if path.as_str() == app.config.telemetry_path {
                Ok(app)
            } else {
                Err(warp::reject::not_found())
            }
        })
        .and(warp::header::headers_cloned())
        .then(|app: Arc<App>, headers: HeaderMap| async move {
            if let Some(denied) = unauthorized(&app, &headers).await {
                return denied;
            }
            let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let timeout = text(header::HeaderName::from_static("x-prometheus-scrape-timeout-seconds"));
            metrics_reply(app, timeout, text(header::ACCEPT_ENCODING)).await
        });
    warp::get()
        .and(
            landing
                .or(healthy.map(Reply::into_response))
                .unify()
                .or(ready.map(Reply::into_response))
                .unify()
                .or(metrics)
                .unify(),
        )
        .recover(|_: Rejection| async {
            Ok::<_, Infallible>(warp::reply::with_status("Not Found\n", StatusCode::NOT_FOUND).into_response())
        })
        .unify()
        .map(move |mut response: warp::reply::Response| {
            for (name, value) in extra_headers.iter() {
                response.headers_mut().insert(name.clone(), value.clone());
            }
            response
        })
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
        .map(|s| Duration::from_secs_f64(s - (s * 0.1).min(0.5)));
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

fn landing_page(config: &Config) -> String {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let path = escape(&config.telemetry_path);
    let servers: String = config
        .servers
        .iter()
        .map(|s| format!("<li>{} ({}): {}</li>", escape(&s.name), s.backend.as_str(), escape(s.url.as_str())))
        .collect();
    let servers = if servers.is_empty() { "<li>none configured</li>".to_string() } else { servers };
    format!(
        "<!DOCTYPE html>\n<html><head><title>llm-exporter</title></head><body>\n<h1>llm-exporter</h1>\n\
         <p>Version {version}</p>\n<p><a href=\"{path}\">Metrics</a></p>\n<h2>LLM servers</h2>\n<ul>{servers}</ul>\n</body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_follows_the_prometheus_header_less_a_margin() {
        let five = Duration::from_secs(5);
        assert_eq!(scrape_budget(five, None), five);
        assert_eq!(scrape_budget(five, Some("10")), five);
        assert_eq!(scrape_budget(five, Some("3")), Duration::from_secs_f64(2.7));
        assert_eq!(scrape_budget(five, Some("1")), Duration::from_secs_f64(0.9));
        assert_eq!(scrape_budget(five, Some("junk")), five);
        assert_eq!(scrape_budget(five, Some("-1")), five);
    }

    #[test]
    fn gzip_is_negotiated() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }
}
