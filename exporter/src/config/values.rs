//! Parsers for single setting values, shared by flags, environment and the config file.
//! Each returns the reason as a `String`; the caller adds where the value came from.
use std::time::Duration;

use reqwest::Url;

/// The LLM server software behind a target. `Auto` (the default when the config names none)
/// means "detect it on first contact": metric prefixes on `/metrics`, else Ollama's
/// `/api/version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Auto,
    Llamacpp,
    Vllm,
    Sglang,
    Tgi,
    Ollama,
    Llamaswap,
    Mlx,
}

impl Backend {
    /// Every backend that can be scraped, in detection order.
    pub const KNOWN: [Backend; 7] = [
        Backend::Llamacpp,
        Backend::Vllm,
        Backend::Sglang,
        Backend::Tgi,
        Backend::Ollama,
        Backend::Llamaswap,
        Backend::Mlx,
    ];

    /// The `backend` label value (`auto` only names the setting; series carry the detected one).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Llamacpp => "llamacpp",
            Backend::Vllm => "vllm",
            Backend::Sglang => "sglang",
            Backend::Tgi => "tgi",
            Backend::Ollama => "ollama",
            Backend::Llamaswap => "llamaswap",
            Backend::Mlx => "mlx",
        }
    }

    pub fn parse(s: &str) -> Result<Backend, String> {
        match s {
            "auto" => Ok(Backend::Auto),
            _ => Backend::KNOWN.into_iter().find(|b| b.as_str() == s).ok_or_else(|| {
                format!("unknown backend '{s}' (known: auto, llamacpp, vllm, sglang, tgi, ollama, llamaswap, mlx)")
            }),
        }
    }
}

/// Log line format (`--log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

pub fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    match s {
        "logfmt" => Ok(LogFormat::Logfmt),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("'{s}' is not one of logfmt, json")),
    }
}

pub fn parse_log_level(s: &str) -> Result<log::LevelFilter, String> {
    match s {
        "debug" => Ok(log::LevelFilter::Debug),
        "info" => Ok(log::LevelFilter::Info),
        "warn" => Ok(log::LevelFilter::Warn),
        "error" => Ok(log::LevelFilter::Error),
        _ => Err(format!("'{s}' is not one of debug, info, warn, error")),
    }
}

pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("'{s}' is not a boolean (true or false)")),
    }
}

/// A Prometheus-style duration: one or more `<number><unit>` with units `ms`, `s`, `m`, `h`
/// (`1m30s`, `500ms`, `2.5s`). Must be positive and at most a day.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a duration like 5s, 500ms or 1m30s");
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    if !(total > 0.0 && total <= 86_400.0) {
        return Err(format!("'{s}' must be more than 0 and at most 24h"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// A byte size: a plain number of bytes or one with a `KiB`, `MiB` or `GiB` suffix.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (number, scale) = [("KiB", 1usize << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)]
        .iter()
        .find_map(|(suffix, scale)| s.strip_suffix(suffix).map(|n| (n.trim(), *scale)))
        .unwrap_or((s, 1));
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{s}' is not a size like 16MiB or 1048576"))
}

/// `--web.max-connections`: a whole number from 1 to 1000000.
pub fn parse_max_connections(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(|| format!("'{s}' is not a number of connections from 1 to 1000000"))
}

/// A server name: the `server` label value.
pub fn check_server_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-[]".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("server name '{name}' must match ^[A-Za-z0-9_.:\\[\\]-]+$ (at most 128 characters)"))
    }
}

/// A target URL: http or https with a host, and no credentials in it (keys go in files).
pub fn parse_target_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("'{s}' is not a URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("URL scheme '{}' is not http or https", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL '{s}' has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are not allowed; use api_key_file".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        // Endpoints are joined below the URL's path; a query or fragment would be dropped.
        return Err(format!("URL '{s}' has a query or fragment; give the server's base URL (a path is fine)"));
    }
    if url.port() == Some(0) {
        return Err(format!("URL '{s}' has port 0, which no server listens on"));
    }
    Ok(url)
}

/// `text` with the user and password of every URL in it replaced by `***`, so an error that
/// echoes a URL (which may not even parse) never prints a secret to a terminal or journald.
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail.find(|c: char| "/?#'\"".contains(c) || c.is_whitespace()).unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                out.push_str(&authority[userinfo_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `--server [NAME=]URL`. Without a name, the server is named after the URL's `host:port`.
pub fn parse_server_flag(s: &str) -> Result<(String, Url), String> {
    let (name, url) = match s.split_once('=') {
        Some((name, url)) if !name.contains('/') => (Some(name.to_string()), url),
        _ => (None, s),
    };
    let url = parse_target_url(url)?;
    let name = match name {
        Some(name) => name,
        None => default_server_name(&url),
    };
    check_server_name(&name)?;
    Ok((name, url))
}

/// `host:port` of a URL, the name of a server given without one.
pub fn default_server_name(url: &Url) -> String {
    // An IPv6 host keeps its brackets (`[::1]:8080`), so its port stays apart from it.
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// A listen address: `HOST:PORT` or `:PORT` (all interfaces).
pub fn check_listen_address(s: &str) -> Result<(), String> {
    let port = s.rsplit_once(':').map(|(_, p)| p);
    match port.map(str::parse::<u16>) {
        Some(Ok(_)) => Ok(()),
        _ => Err(format!("'{s}' is not HOST:PORT or :PORT")),
    }
}

/// A listen address not already among `earlier`: binding it twice would fail only once the
/// exporter has started listening on the first one.
pub fn check_listen_address_once(earlier: &[String], s: &str) -> Result<(), String> {
    match earlier.iter().any(|e| e == s) {
        true => Err(format!("'{s}' is given twice")),
        false => Ok(()),
    }
}

/// The telemetry path: absolute, and not one of the exporter's other routes.
pub fn check_telemetry_path(s: &str) -> Result<(), String> {
    if !s.starts_with('/') || s == "/" || s.starts_with("/-/") || s.contains(char::is_whitespace) {
        return Err(format!("'{s}' must start with / and must not be / or under /-/"));
    }
    Ok(())
}

/// A regular expression from the config, with bounded compiled size (a config is trusted,
/// but a typo should fail at start, not cost memory on every scrape).
pub fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(s).size_limit(1 << 20).build().map_err(|e| {
        let detail = e.to_string();
        format!("bad regular expression: {}", detail.lines().last().unwrap_or(&detail).trim())
    })
}
