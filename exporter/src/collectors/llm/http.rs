//! Bounded HTTP GETs for target scrapes: a deadline for the whole exchange, a cap on the
//! body, no redirects, no proxies, and an optional Bearer key.
use std::time::Duration;

use reqwest::{header, Client, StatusCode, Url};

/// Why a GET gave no usable body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Could not connect or the exchange broke off.
    Transport(String),
    /// The deadline passed before the body was complete.
    Timeout(Duration),
    /// The server answered with a status other than 200.
    Status(u16),
    /// The body is larger than the cap.
    TooLarge(usize),
    /// A 3xx answer; redirects are never followed (a target names its own address).
    Redirect { status: u16, location: String },
    /// 401 or 403: the API key is missing or wrong.
    Denied { status: u16, key_sent: bool },
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Transport(why) => write!(f, "{why}"),
            FetchError::Timeout(d) => write!(f, "no complete answer within {:.3}s", d.as_secs_f64()),
            FetchError::Status(code) => write!(f, "HTTP status {code}{}", status_hint(*code)),
            FetchError::TooLarge(cap) => write!(f, "body larger than the {cap}-byte cap"),
            FetchError::Redirect { status, location } if location.is_empty() => {
                write!(f, "HTTP status {status}, a redirect without a Location (redirects are not followed)")
            }
            FetchError::Redirect { status, location } => write!(
                f,
                "HTTP status {status}, a redirect to {location:?} (redirects are not followed: set the server's URL to where it points)"
            ),
            FetchError::Denied { status, key_sent: false } => {
                write!(f, "HTTP status {status} (the server wants an API key: set api_key_file)")
            }
            FetchError::Denied { status, key_sent: true } => {
                write!(f, "HTTP status {status} (the API key from api_key_file was refused)")
            }
        }
    }
}

/// What a status means for a llama.cpp-like server, for the log line.
fn status_hint(code: u16) -> &'static str {
    match code {
        404 => " (no such endpoint)",
        501 => " (endpoint disabled: llama-server needs --metrics, or --slots for /slots)",
        503 => " (server is loading the model or is unavailable)",
        _ => "",
    }
}

/// The cap on the small JSON bodies (`/props`, `/v1/models`, `/api/ps`, …): real ones are a
/// few KiB (a chat template in `/props` some tens), and a JSON tree costs up to 16 times its
/// text, so the body cap of `/metrics` would be too much here.
pub const MAX_JSON_BYTES: usize = 1 << 20;

/// The one HTTP client of the exporter, shared by every target.
#[derive(Clone)]
pub struct Fetcher {
    client: Client,
    max_body_bytes: usize,
}

impl Fetcher {
    pub fn new(max_body_bytes: usize) -> Result<Fetcher, String> {
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("llm-exporter/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(4)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Fetcher { client, max_body_bytes })
    }

    /// GETs `url` and returns the body as it came, all within `timeout`.
    pub async fn get(&self, url: Url, api_key: Option<&str>, timeout: Duration) -> Result<Vec<u8>, FetchError> {
        self.get_capped(url, api_key, timeout, self.max_body_bytes).await
    }

    async fn get_capped(
        &self,
        url: Url,
        api_key: Option<&str>,
        timeout: Duration,
        cap: usize,
    ) -> Result<Vec<u8>, FetchError> {
        match tokio::time::timeout(timeout, self.get_unbounded(url, api_key, cap)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(timeout)),
        }
    }

    /// GETs `path` below the target's base URL. The body is bytes: the exposition parser
    /// reports lines that are not UTF-8 instead of guessing at them.
    pub async fn get_path(
        &self,
        base: &Url,
        path: &str,
        api_key: Option<&str>,
        timeout: Duration,
    ) -> Result<Vec<u8>, FetchError> {
        self.get(endpoint(base, path)?, api_key, timeout).await
    }

    /// `/metrics` as detection already read it (it reads the body once and hands it to the
    /// backend), else a GET of it.
    pub async fn metrics(
        &self,
        base: &Url,
        api_key: Option<&str>,
        timeout: Duration,
        already_read: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, FetchError> {
        match already_read {
            Some(body) => Ok(body),
            None => self.get_path(base, "metrics", api_key, timeout).await,
        }
    }

    /// [`Fetcher::get_path`] for small JSON endpoints, whose bodies are read as text (bytes
    /// that are not UTF-8 replaced: the JSON parser then refuses what it cannot read) under
    /// [`MAX_JSON_BYTES`]: their JSON tree costs many times the body.
    pub async fn get_text(
        &self,
        base: &Url,
        path: &str,
        api_key: Option<&str>,
        timeout: Duration,
    ) -> Result<String, FetchError> {
        let cap = self.max_body_bytes.min(MAX_JSON_BYTES);
        self.get_capped(endpoint(base, path)?, api_key, timeout, cap).await.map(into_text)
    }

    async fn get_unbounded(&self, url: Url, api_key: Option<&str>, cap: usize) -> Result<Vec<u8>, FetchError> {
        let mut request = self.client.get(url).header(header::ACCEPT, "text/plain, application/json;q=0.9, */*;q=0.1");
        if let Some(key) = api_key {
            request = request.bearer_auth(key);
        }
        let mut response = request.send().await.map_err(|e| FetchError::Transport(describe(&e)))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers().get(header::LOCATION).and_then(|l| l.to_str().ok());
            let location = location.map(|l| l.chars().take(200).collect()).unwrap_or_default();
            return Err(FetchError::Redirect { status: status.as_u16(), location });
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(FetchError::Denied { status: status.as_u16(), key_sent: api_key.is_some() });
        }
        if status != StatusCode::OK {
            return Err(FetchError::Status(status.as_u16()));
        }
        if response.content_length().is_some_and(|len| len > cap as u64) {
            return Err(FetchError::TooLarge(cap));
        }
        // The declared length (already checked against the cap) is reserved at once; a body
        // without one grows, and large buffers are mmapped, so growing does not copy.
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(8192) as usize);
        while let Some(chunk) = response.chunk().await.map_err(|e| FetchError::Transport(describe(&e)))? {
            if body.len() + chunk.len() > cap {
                return Err(FetchError::TooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// `path` below `base`, whose own path is a base path: `http://h/llama` and `http://h/llama/`
/// both give `http://h/llama/metrics`.
pub fn endpoint(base: &Url, path: &str) -> Result<Url, FetchError> {
    let mut url = base.clone();
    {
        let mut segments =
            url.path_segments_mut().map_err(|()| FetchError::Transport("bad URL: not a base URL".into()))?;
        segments.pop_if_empty();
        segments.extend(path.split('/'));
    }
    Ok(url)
}

/// Bytes as text, invalid UTF-8 replaced; no copy when the bytes are valid.
pub fn into_text(body: Vec<u8>) -> String {
    match String::from_utf8(body) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// The body of an endpoint a backend can do without: its failure is logged at debug level
/// and costs only the series it feeds.
pub fn optional<T>(base: &Url, path: &str, result: Result<T, FetchError>) -> Option<T> {
    match result {
        Ok(body) => Some(body),
        Err(e) => {
            log::debug!("{base}{path} unavailable: {e}");
            None
        }
    }
}

/// A short cause for a reqwest error, without the URL (it is logged beside it anyway).
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut cause = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    cause
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_path_is_a_base_path() {
        let at = |base: &str, path: &str| endpoint(&Url::parse(base).unwrap(), path).unwrap().to_string();
        assert_eq!(at("http://h:1", "metrics"), "http://h:1/metrics");
        assert_eq!(at("http://h:1/", "metrics"), "http://h:1/metrics");
        assert_eq!(at("http://h:1/llama", "metrics"), "http://h:1/llama/metrics");
        assert_eq!(at("http://h:1/llama/", "api/version"), "http://h:1/llama/api/version");
        assert_eq!(at("http://h:1/a/b", "v1/models"), "http://h:1/a/b/v1/models");
    }

    #[test]
    fn errors_say_what_to_do() {
        let redirect = FetchError::Redirect { status: 302, location: "http://h/x".into() };
        assert!(redirect.to_string().contains("a redirect to \"http://h/x\" (redirects are not followed"));
        let without = FetchError::Denied { status: 401, key_sent: false }.to_string();
        let refused = FetchError::Denied { status: 403, key_sent: true }.to_string();
        assert!(without.contains("set api_key_file") && !refused.contains("set api_key_file"), "{refused}");
    }
}
