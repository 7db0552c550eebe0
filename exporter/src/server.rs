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
mod tests {
    use super::*;
    use crate::collectors::local_scan::LocalScanner;

    fn app(args: &[&str], scanner: bool) -> Arc<App> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let Ok(crate::config::Command::Run(config)) = crate::config::load(&args, &|_| None) else {
            panic!("bad test arguments {args:?}");
        };
        let scanner = scanner.then(|| LocalScanner::new(&config, None));
        Arc::new(App { scraper: Scraper::new(Vec::new(), scanner), config: *config })
    }

    /// One request straight to the routes' service, no socket; the answer with its whole body.
    async fn request(app: &Arc<App>, method: &str, path: &str) -> warp::http::Response<Bytes> {
        use warp::hyper::body::Body;
        use warp::hyper::service::Service;
        let service = hyper_util::service::TowerToHyperService::new(warp::service(routes(Arc::clone(app))));
        let request = warp::http::Request::builder().method(method).uri(path).body(String::new()).unwrap();
        let Ok(response) = service.call(request).await;
        let (parts, mut body) = response.into_parts();
        let mut bytes = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
            if let Ok(data) = frame.unwrap().into_data() {
                bytes.extend_from_slice(&data);
            }
        }
        warp::http::Response::from_parts(parts, Bytes::from(bytes))
    }

    #[tokio::test]
    async fn head_answers_like_get_and_other_methods_get_405_on_known_paths() {
        let app = app(&["--web.telemetry-path", "/m"], false);
        for path in ["/", "/m", "/-/healthy", "/-/ready"] {
            assert_eq!(request(&app, "GET", path).await.status(), 200, "GET {path}");
            assert_eq!(request(&app, "HEAD", path).await.status(), 200, "HEAD {path}");
            for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
                let answer = request(&app, method, path).await;
                assert_eq!(answer.status(), 405, "{method} {path}");
                assert_eq!(answer.headers()["allow"], "GET, HEAD", "{method} {path}");
            }
        }
        for method in ["GET", "HEAD", "POST"] {
            assert_eq!(request(&app, method, "/metrics").await.status(), 404, "{method} on an unknown path");
        }
        let get = request(&app, "GET", "/m").await;
        let head = request(&app, "HEAD", "/m").await;
        assert_eq!(head.headers()["content-type"], get.headers()["content-type"]);
        assert!(head.body().is_empty(), "HEAD of the telemetry path runs no collection");
    }

    #[tokio::test]
    async fn the_landing_page_lists_discovered_servers_from_the_last_scrape_only() {
        let root = format!("{}/tests/fixtures/proc/basic", env!("CARGO_MANIFEST_DIR"));
        let app = app(&["--path.procfs", &root, "--server", "mine=http://10.0.0.1:9000", "--no-web.console"], true);
        let page = String::from_utf8_lossy(request(&app, "GET", "/").await.body()).to_string();
        assert!(page.contains("<li>mine (auto): http://10.0.0.1:9000/</li>"), "{page}");
        assert!(!page.contains("discovered)") && page.contains("after the first scrape"), "{page}");
        app.scraper.collect(Duration::from_secs(5)).await;
        let page = String::from_utf8_lossy(request(&app, "GET", "/").await.body()).to_string();
        assert!(page.contains("<li>mine (auto): http://10.0.0.1:9000/</li>"), "{page}");
        for (name, backend, url) in [
            ("llama-server:8080", "llamacpp", "http://127.0.0.1:8080/"),
            ("ollama:11434", "ollama", "http://[::1]:11434/"),
            ("vllm:8000", "vllm", "http://127.0.0.1:8000/"),
        ] {
            assert!(page.contains(&format!("<li>{name} ({backend}, discovered): {url}</li>")), "{name} in {page}");
        }
        assert!(page.contains("most recent scrape"), "{page}");
        let off = app_without_discovery(&root);
        let page = String::from_utf8_lossy(request(&off, "GET", "/").await.body()).to_string();
        assert!(page.contains("none configured or discovered") && page.contains("Discovery of local servers is off"));
    }

    fn app_without_discovery(root: &str) -> Arc<App> {
        app(&["--path.procfs", root, "--no-discovery", "--no-web.console"], true)
    }

    #[tokio::test]
    async fn the_console_is_served_with_its_policy_and_gone_with_no_web_console() {
        let console_app = app(&["--web.telemetry-path", "/m<x>", "--no-collector.nvml", "--no-discovery"], false);
        let page = request(&console_app, "GET", "/").await;
        let csp = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'; script-src 'self';") && csp.contains("connect-src 'self'"));
        let html = String::from_utf8_lossy(page.body()).to_string();
        assert!(html.contains("href=\"/m&lt;x&gt;\"") && html.contains("console.js"), "{html}");
        for path in ["/-/console/console.js", "/-/console/console.css", "/-/console/icon.svg"] {
            let answer = request(&console_app, "GET", path).await;
            assert_eq!(answer.status(), 200, "{path}");
            assert!(answer.headers().contains_key("content-security-policy"), "{path}");
        }
        let data = request(&console_app, "GET", console::DATA_PATH).await;
        assert!(String::from_utf8_lossy(data.body()).contains("llm_exporter_build_info"));
        let again = request(&console_app, "GET", console::DATA_PATH).await;
        let at = |r: &warp::http::Response<Bytes>| r.headers()[console::COLLECTION_TIME_HEADER].clone();
        assert_eq!(at(&data), at(&again), "within the minimum interval: the same collection");
        let plain = app(&["--no-web.console"], false);
        let page = String::from_utf8_lossy(request(&plain, "GET", "/").await.body()).to_string();
        assert!(page.contains("<h1>llm-exporter</h1>") && !page.contains("console.js"));
        assert_eq!(request(&plain, "GET", console::DATA_PATH).await.status(), 404);
    }

    #[test]
    fn budget_follows_the_prometheus_header_less_a_margin() {
        let five = Duration::from_secs(5);
        assert_eq!(scrape_budget(five, None), five);
        assert_eq!(scrape_budget(five, Some("10")), five);
        assert_eq!(scrape_budget(five, Some("3")), Duration::from_secs_f64(2.7));
        assert_eq!(scrape_budget(five, Some("1")), Duration::from_secs_f64(0.9));
        assert_eq!(scrape_budget(five, Some("1e20")), five, "too large for a Duration: ignored");
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
