//! Tests of `server.rs`.
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
