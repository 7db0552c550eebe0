//! Ollama: it serves no Prometheus metrics, so `/api/version` says whether it is up and what it
//! is, and `/api/ps` lists the models it holds in memory. Both are shaped into the normalized
//! `llm_*` series (one set per loaded model, labelled `model`).
//!
//! Reading is thin ([`read`]); shaping ([`shape`]) is pure and tested on fixtures. `/api/ps`
//! is optional: when it fails or its body is not what we know, the server is still up and only
//! the model series are left out. Unknown fields are ignored and a model missing a field just
//! lacks that series. Ollama has no token counters, queue or latency series to read.
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::http::{optional, FetchError, Fetcher};
use super::normalize::{model_label, MAX_SERIES_PER_FAMILY};
use crate::config::ServerConfig;
use crate::family::{labels, Family, Labels};

/// What one scrape of an Ollama server read. Only `/api/version` is required.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub version: String,
    pub ps: Option<String>,
    /// `/api/tags`: every model pulled, loaded or not.
    pub tags: Option<String>,
}

/// GETs `/api/version` (unless detection already did), `/api/ps` and `/api/tags`
/// concurrently. None of them loads a model.
pub async fn read(
    fetcher: &Fetcher,
    base: &Url,
    api_key: Option<&str>,
    timeout: Duration,
    version: Option<String>,
) -> Result<Reading, FetchError> {
    let version = async {
        match version {
            Some(body) => Ok(body),
            None => fetcher.get_text(base, "api/version", api_key, timeout).await,
        }
    };
    let (version, ps, tags) = tokio::join!(
        version,
        fetcher.get_text(base, "api/ps", api_key, timeout),
        fetcher.get_text(base, "api/tags", api_key, timeout)
    );
    Ok(Reading { version: version?, ps: optional(base, "api/ps", ps), tags: optional(base, "api/tags", tags) })
}

/// One entry of `/api/ps`, reduced to what we export.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedModel {
    pub name: String,
    pub size_bytes: Option<f64>,
    pub vram_bytes: Option<f64>,
    pub expires_at: Option<f64>,
    pub context_length: Option<u64>,
}

/// Parses `/api/ps`. `None` when the body is not a JSON object with a `models` array; entries
/// without a name are skipped, at most [`MAX_SERIES_PER_FAMILY`] are kept.
pub fn parse_ps(body: &str) -> Option<Vec<LoadedModel>> {
    let value: Value = serde_json::from_str(body).ok()?;
    let models = value.get("models")?.as_array()?;
    let bytes = |m: &Value, key: &str| m.get(key).and_then(Value::as_f64).filter(|v| *v >= 0.0);
    Some(
        models
            .iter()
            .filter_map(|m| {
                let name = m.get("name").or_else(|| m.get("model")).and_then(Value::as_str)?;
                Some(LoadedModel {
                    name: model_label(name),
                    size_bytes: bytes(m, "size"),
                    vram_bytes: bytes(m, "size_vram"),
                    expires_at: m.get("expires_at").and_then(Value::as_str).and_then(parse_rfc3339),
                    context_length: m.get("context_length").and_then(Value::as_u64).filter(|n| *n > 0),
                })
            })
            .take(MAX_SERIES_PER_FAMILY)
            .collect(),
    )
}

/// Shapes a reading into families. `Err` means `/api/version` is not Ollama's.
pub fn shape(server: &ServerConfig, reading: &Reading) -> Result<Vec<Family>, String> {
    let version = serde_json::from_str::<Value>(&reading.version)
        .ok()
        .and_then(|v| v.get("version").and_then(Value::as_str).map(|s| s.chars().take(64).collect::<String>()))
        .ok_or("/api/version did not answer with an Ollama version; is this an Ollama server?")?;
    let base = labels([("server", &server.name), ("backend", "ollama")]);
    let mut models = reading.ps.as_deref().and_then(parse_ps).unwrap_or_default();
    models.sort_by(|a, b| a.name.cmp(&b.name));
    models.dedup_by(|later, earlier| later.name == earlier.name);

    let model_labels = |m: &LoadedModel| -> Labels {
        let mut l = base.clone();
        l.push(("model".into(), m.name.clone()));
        l
    };
    let mut loaded = Family::gauge(
        "llm_model_loaded",
        "1 for each model held in memory (Ollama /api/ps), 0 for one pulled but not loaded (/api/tags)",
    );
    let mut size = Family::gauge("llm_model_size_bytes", "Memory a loaded model takes, in bytes (Ollama /api/ps size)");
    let mut vram = Family::gauge(
        "llm_model_vram_bytes",
        "Part of a loaded model's memory that is on the GPU, in bytes (Ollama /api/ps size_vram)",
    );
    let mut expiry = Family::gauge(
        "llm_model_expiry_timestamp_seconds",
        "When an idle loaded model will be unloaded, seconds since the epoch (Ollama /api/ps expires_at)",
    );
    let mut context = Family::gauge(
        "llm_context_size_tokens",
        "Context window a loaded model was given, in tokens (Ollama /api/ps context_length)",
    );
    for m in &models {
        loaded.push(model_labels(m), 1.0);
        let optional = [
            (&mut size, m.size_bytes),
            (&mut vram, m.vram_bytes),
            (&mut expiry, m.expires_at),
            (&mut context, m.context_length.map(|n| n as f64)),
        ];
        for (family, value) in optional {
            if let Some(value) = value {
                family.push(model_labels(m), value);
            }
        }
    }
    // Pulled models that are not loaded (the same entry shape as /api/ps), within the cap.
    let mut pulled = reading.tags.as_deref().and_then(parse_ps).unwrap_or_default();
    pulled.retain(|t| !models.iter().any(|m| m.name == t.name));
    pulled.sort_by(|a, b| a.name.cmp(&b.name));
    pulled.dedup_by(|later, earlier| later.name == earlier.name);
    let room = MAX_SERIES_PER_FAMILY.saturating_sub(models.len());
    loaded.dropped += pulled.len().saturating_sub(room);
    for m in pulled.iter().take(room) {
        loaded.push(model_labels(m), 0.0);
    }
    // One info series per server, so joins on it stay one-to-one: the loaded models, joined.
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    let mut info_labels = base.clone();
    info_labels.extend([("model".into(), names.join(",")), ("version".into(), version)]);
    let info = Family::gauge(
        "llm_server_info",
        "Models loaded (comma-separated) and server version; always 1 (Ollama /api/ps, /api/version)",
    )
    .with(info_labels, 1.0);
    Ok([loaded, size, vram, expiry, context, info].into_iter().filter(|f| !f.samples.is_empty()).collect())
}

/// Parses an RFC 3339 timestamp (`2024-06-04T14:38:31.83753-07:00`, `…Z`, any number of
/// fraction digits) into seconds since the Unix epoch. `None` for anything else, and for times
/// before the epoch (Go's zero time means "never").
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0i64, |n, c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut fraction = 0.0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        fraction = format!("0.{}", &s[start..i]).parse().ok()?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let (h, m) = (digits(i + 1, 2)?, digits(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'+' {
                minutes
            } else {
                -minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset * 60;
    (seconds >= 0).then_some(seconds as f64 + fraction)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_nanoseconds_and_zones() {
        let near = |s: &str, want: f64| {
            let got = parse_rfc3339(s).unwrap_or(f64::NAN);
            assert!((got - want).abs() < 1e-6, "{s}: {got} != {want}");
        };
        near("1970-01-01T00:00:00Z", 0.0);
        near("2024-06-04T14:38:31-07:00", 1_717_537_111.0);
        near("2024-06-04T21:38:31Z", 1_717_537_111.0);
        near("2024-06-04T14:38:31.83753-07:00", 1_717_537_111.837_53);
        near("2025-03-01T05:30:00.123456789+05:30", 1_740_787_200.0 + 0.123_456_789);
        near("2000-02-29T00:00:00z", 951_782_400.0);
        near("2318-08-25T10:09:43.927532-07:00", 11_002_237_783.0 + 0.927_532);
        for bad in [
            "",
            "0001-01-01T00:00:00Z",
            "2024-06-04",
            "2024-06-04T14:38:31",
            "2024-06-04T14:38:31.Z",
            "2024-13-04T14:38:31Z",
            "2023-02-29T14:38:31Z",
            "2024-06-04T24:38:31Z",
            "2024-06-04T14:38:31+0700",
            "2024-06-04T14:38:31Zjunk",
            "2024-06-04T14:38:31.5-07:00x",
            "２０２４-06-04T14:38:31Z",
            "+024-06-04T14:38:31Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
