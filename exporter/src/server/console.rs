//! The live console at `/`: one HTML page, its script, style and icon (all embedded in the
//! binary), and the data the page polls every second at [`DATA_PATH`].
//!
//! The data is the telemetry path's own text, from the same coalesced collections
//! ([`Scraper::recent`]): the page parses the series Prometheus reads, so it can never show
//! anything else, and a console refresh reuses the most recent collection while it is younger
//! than `--web.console.min-interval`. Rates and history are computed in the page; the exporter
//! keeps no state for it.
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use warp::http::{header, HeaderValue, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::Reply;

use super::App;
use crate::family::TEXT_CONTENT_TYPE;

/// Where the page reads its data: the series of the most recent collection, as text.
pub const DATA_PATH: &str = "/-/console/metrics";
/// The response header that says when the data's collection read its values (Unix seconds).
pub const COLLECTION_TIME_HEADER: &str = "x-collection-time";

/// Nothing but this origin's own script, style, icon and data: no inline script, no other
/// host, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");
const ICON: &str = include_str!("console/icon.svg");

/// The console's paths besides `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Script,
    Style,
    Icon,
    Data,
}

impl Part {
    pub fn of(path: &str) -> Option<Part> {
        match path {
            "/-/console/console.js" => Some(Part::Script),
            "/-/console/console.css" => Some(Part::Style),
            "/-/console/icon.svg" => Some(Part::Icon),
            DATA_PATH => Some(Part::Data),
            _ => None,
        }
    }
}

/// The page, with the telemetry path and the version filled in (HTML-escaped).
pub fn page(telemetry_path: &str) -> warp::reply::Response {
    let html = PAGE
        .replace("{{telemetry_path}}", &super::escape(telemetry_path))
        .replace("{{version}}", &super::escape(env!("CARGO_PKG_VERSION")));
    secured(Response::builder().header(header::CONTENT_TYPE, "text/html; charset=utf-8"), Bytes::from(html))
}

/// A console path's answer. HEAD of the data runs no collection, as on the telemetry path.
pub async fn reply(app: &Arc<App>, part: Part, head: bool) -> warp::reply::Response {
    let (content_type, body) = match part {
        Part::Script => ("text/javascript; charset=utf-8", SCRIPT),
        Part::Style => ("text/css; charset=utf-8", STYLE),
        Part::Icon => ("image/svg+xml", ICON),
        Part::Data => return data(app, head).await,
    };
    secured(Response::builder().header(header::CONTENT_TYPE, content_type), Bytes::from_static(body.as_bytes()))
}

async fn data(app: &Arc<App>, head: bool) -> warp::reply::Response {
    let builder = Response::builder().header(header::CONTENT_TYPE, TEXT_CONTENT_TYPE);
    if head {
        return secured(builder, Bytes::new());
    }
    let config = &app.config;
    let Some(collection) = app.scraper.recent(config.web_console_min_interval, config.scrape_timeout).await else {
        return warp::reply::with_status("collection failed\n", StatusCode::INTERNAL_SERVER_ERROR).into_response();
    };
    let at = collection.at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let builder = builder.header(COLLECTION_TIME_HEADER, format!("{at:.3}"));
    secured(builder, Bytes::from(collection.body.as_bytes().to_vec()))
}

/// Adds the headers every console answer carries and builds it.
fn secured(builder: warp::http::response::Builder, body: Bytes) -> warp::reply::Response {
    let mut response = match builder.body(body) {
        Ok(response) => response.into_response(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The assets change only with the binary; revalidating costs a request a page load.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
