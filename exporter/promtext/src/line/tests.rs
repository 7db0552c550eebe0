//! Tests for [`super::parse_line`].

use super::*;

fn sample(line: &str) -> Sample<'_> {
    match parse_line(line) {
        Ok(Line::Sample(s)) => s,
        other => panic!("{line:?}: expected a sample, got {other:?}"),
    }
}

fn err(line: &str) -> LineError {
    match parse_line(line) {
        Err(e) => e,
        other => panic!("{line:?}: expected an error, got {other:?}"),
    }
}

fn le(message: &'static str, column: usize) -> LineError {
    LineError { message, column }
}

#[test]
fn blank_and_comments() {
    assert_eq!(parse_line(""), Ok(Line::Empty));
    assert_eq!(parse_line(" \t\r"), Ok(Line::Empty));
    assert_eq!(parse_line("# just a comment"), Ok(Line::Comment));
    assert_eq!(parse_line("#"), Ok(Line::Comment));
    assert_eq!(parse_line("# help lowercase is a comment"), Ok(Line::Comment));
    assert_eq!(parse_line("# EOF"), Ok(Line::Eof));
    assert_eq!(parse_line("# EOF \r"), Ok(Line::Eof));
    assert_eq!(parse_line("# EOF trailing"), Ok(Line::Comment));
}

#[test]
fn help_lines() {
    assert_eq!(
        parse_line("# HELP llamacpp:n_decode_total Total number of llama_decode() calls\r"),
        Ok(Line::Help { name: "llamacpp:n_decode_total", text: Cow::Borrowed("Total number of llama_decode() calls") })
    );
    assert_eq!(parse_line("# HELP x"), Ok(Line::Help { name: "x", text: Cow::Borrowed("") }));
    assert_eq!(
        parse_line("#\tHELP\tx \t a\\\\b\\nc \\t\"q\""),
        Ok(Line::Help { name: "x", text: Cow::Owned("a\\b\nc \\t\"q\"".to_string()) })
    );
    assert_eq!(
        parse_line("# HELP \"my.metric\" Dotted"),
        Ok(Line::Help { name: "my.metric", text: Cow::Borrowed("Dotted") })
    );
    assert_eq!(err("# HELP"), le("invalid metric name", 7));
    assert_eq!(err("# HELP \"\" text"), le("empty quoted name", 8));
    assert_eq!(err("# HELP 1x text"), le("invalid metric name", 8));
    assert_eq!(err("# HELP a-b text"), le("invalid metric name", 9));
}

#[test]
fn type_lines() {
    let t = |name, kind| Ok(Line::Type { name, kind });
    assert_eq!(parse_line("# TYPE a counter"), t("a", DeclaredType::Counter));
    assert_eq!(parse_line("# TYPE a GAUGE "), t("a", DeclaredType::Gauge));
    assert_eq!(parse_line("# TYPE a histogram"), t("a", DeclaredType::Histogram));
    assert_eq!(parse_line("# TYPE a summary"), t("a", DeclaredType::Summary));
    assert_eq!(parse_line("# TYPE a untyped"), t("a", DeclaredType::Untyped));
    assert_eq!(parse_line("# TYPE a unknown"), t("a", DeclaredType::Untyped));
    assert_eq!(parse_line("# TYPE a info"), t("a", DeclaredType::Info));
    assert_eq!(parse_line("# TYPE a stateset"), t("a", DeclaredType::StateSet));
    assert_eq!(parse_line("# TYPE a gaugehistogram"), t("a", DeclaredType::GaugeHistogram));
    assert_eq!(parse_line("# TYPE a"), t("a", DeclaredType::Untyped));
    assert_eq!(err("# TYPE a countr"), le("unknown metric type", 10));
    assert_eq!(err("# TYPE a counter x"), le("unexpected text after metric type", 18));
}

#[test]
fn type_mapping() {
    use DeclaredType as D;
    assert_eq!(D::Info.metric_type(), MetricType::Gauge);
    assert_eq!(D::StateSet.metric_type(), MetricType::Gauge);
    assert_eq!(D::GaugeHistogram.metric_type(), MetricType::Histogram);
    assert!(D::Counter.accepts_suffix("_total"));
    assert!(!D::Gauge.accepts_suffix("_total"));
    assert!(D::GaugeHistogram.accepts_suffix("_gsum"));
    assert!(!D::Histogram.accepts_suffix("_gsum"));
    assert!(D::Summary.accepts_suffix("_count"));
    assert!(!D::Summary.accepts_suffix("_bucket"));
    assert!(D::Info.accepts_suffix("_info"));
    assert_eq!(MetricType::from_keyword("Unknown"), Some(MetricType::Untyped));
    assert_eq!(MetricType::from_keyword("bogus"), None);
    assert_eq!(MetricType::Histogram.as_str(), "histogram");
}

#[test]
fn simple_samples() {
    assert_eq!(
        sample("llamacpp:n_busy_slots_per_decode 1.57895"),
        Sample { name: "llamacpp:n_busy_slots_per_decode", labels: vec![], value: 1.57895, timestamp_ms: None }
    );
    let s = sample("  up\t \t1  1700000000000 \r");
    assert_eq!((s.name, s.value, s.timestamp_ms), ("up", 1.0, Some(1_700_000_000_000)));
    let s = sample("x 1.5 1520879607.789");
    assert_eq!(s.timestamp_ms, Some(1_520_879_607_789));
    assert!(sample("x NaN").value.is_nan());
    assert_eq!(sample("x -Inf").value, f64::NEG_INFINITY);
    assert!(sample("x -nan(ind)").value.is_nan());
}

#[test]
fn labelled_samples() {
    let s = sample(r#"http_requests_total{method="post",code="200"} 1027 1395066363000"#);
    assert_eq!(s.name, "http_requests_total");
    assert_eq!(s.labels, vec![("method", Cow::Borrowed("post")), ("code", Cow::Borrowed("200"))]);
    assert_eq!((s.value, s.timestamp_ms), (1027.0, Some(1_395_066_363_000)));

    let s = sample(
        r#"msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9"#,
    );
    assert_eq!(s.label("path"), Some("C:\\DIR\\FILE.TXT"));
    assert_eq!(s.label("error"), Some("Cannot find file:\n\"FILE.TXT\""));
    assert_eq!(s.value, 1.458255915e9);

    let s = sample("a {x=\"1\",} 2");
    assert_eq!((s.name, s.label("x"), s.value), ("a", Some("1"), 2.0));
    let s = sample("a{}3");
    assert_eq!((s.labels.len(), s.value), (0, 3.0));
    let s = sample("{\"my.dotted.metric\", \"a.b\"=\"c\"} 4");
    assert_eq!((s.name, s.label("a.b"), s.value), ("my.dotted.metric", Some("c"), 4.0));
}

#[test]
fn exemplars_are_skipped() {
    let s = sample(r#"foo_bucket{le="0.5"} 17 # {trace_id="KOO5S4vxi0o"} 0.67"#);
    assert_eq!((s.value, s.timestamp_ms, s.labels.len()), (17.0, None, 1));
    let s = sample(r#"foo_bucket{le="1"} 3 1520879607.789 # {a="b"} 1 1520879606.5"#);
    assert_eq!((s.value, s.timestamp_ms), (3.0, Some(1_520_879_607_789)));
}

#[test]
fn sample_errors() {
    assert_eq!(err("foo"), le("missing value", 4));
    assert_eq!(err("foo "), le("missing value", 4));
    assert_eq!(err("foo bar"), le("invalid value", 5));
    assert_eq!(err("foo 1 2 3"), le("unexpected text after sample", 9));
    assert_eq!(err("foo 1 x"), le("invalid timestamp", 7));
    assert_eq!(err("foo-bar 1"), le("invalid character in metric name", 4));
    assert_eq!(err("1foo 1"), le("invalid metric name", 1));
    assert_eq!(err("{a=\"b\"} 1"), le("missing metric name", 1));
    assert_eq!(err("m{\"n\"} 1"), le("metric name given twice", 1));
    assert_eq!(err("m{a=\"b} 1"), le("unterminated quoted string", 5));
    assert_eq!(err("m{a=\"b\" 1"), le("expected ',' or '}' in label set", 9));
    assert_eq!(err("curl -sL http://127.0.0.1:8080/metrics"), le("invalid value", 6));
    assert_eq!(err("..."), le("invalid metric name", 1));
}
