//! A small `log` backend writing logfmt or JSON lines to stderr, as Prometheus exporters do.
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::LogFormat;

struct Logger {
    level: log::LevelFilter,
    format: LogFormat,
}

/// Installs the logger; call once at start.
pub fn init(level: log::LevelFilter, format: LogFormat) {
    if log::set_boxed_logger(Box::new(Logger { level, format })).is_ok() {
        log::set_max_level(level);
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(self.format, &timestamp(SystemTime::now()), record);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

fn format_line(format: LogFormat, ts: &str, record: &log::Record) -> String {
    let level = record.level().as_str().to_ascii_lowercase();
    let msg = record.args().to_string();
    let source = record.module_path().unwrap_or("llm_exporter");
    match format {
        LogFormat::Logfmt => format!("ts={ts} level={level} source={source} msg={}\n", quote(&msg)),
        LogFormat::Json => format!(
            "{{\"ts\":\"{ts}\",\"level\":\"{level}\",\"source\":{},\"msg\":{}}}\n",
            serde_json::Value::from(source),
            serde_json::Value::from(msg)
        ),
    }
}

/// logfmt quoting: bare when safe, else a quoted string with `"` and `\` escaped.
fn quote(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '"', '=', '\\', '\n']) {
        return s.to_string();
    }
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// RFC 3339 UTC with milliseconds, without a date crate.
fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, since.subsec_millis())
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_416_698_123);
        assert_eq!(timestamp(t), "2026-11-23T06:51:38.123Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn logfmt_and_json_lines() {
        let args = format_args!("target \"a\" down: connection refused");
        let record = log::Record::builder().args(args).level(log::Level::Warn).module_path(Some("m")).build();
        assert_eq!(
            format_line(LogFormat::Logfmt, "T", &record),
            "ts=T level=warn source=m msg=\"target \\\"a\\\" down: connection refused\"\n"
        );
        assert_eq!(
            format_line(LogFormat::Json, "T", &record),
            "{\"ts\":\"T\",\"level\":\"warn\",\"source\":\"m\",\"msg\":\"target \\\"a\\\" down: connection refused\"}\n"
        );
    }
}
