//! Tests for grouping samples into families.

use super::*;
use crate::parse;

fn summary(exp: &Exposition<'_>) -> Vec<(String, MetricType, Vec<String>)> {
    exp.families
        .iter()
        .map(|f| {
            let samples = f.samples.iter().map(|s| s.name.to_string()).collect();
            (f.name.to_string(), f.kind, samples)
        })
        .collect()
}

fn fam(name: &str, kind: MetricType, samples: &[&str]) -> (String, MetricType, Vec<String>) {
    let samples = samples.iter().map(|s| s.to_string()).collect();
    (name.to_string(), kind, samples)
}

#[test]
fn histogram_and_summary() {
    let exp = parse(
        "# TYPE h histogram\n\
         h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\nh_created 1.7e9\n\
         # TYPE s summary\n\
         s{quantile=\"0.5\"} 1\ns_sum 4\ns_count 5\n",
    );
    assert_eq!(exp.errors, vec![]);
    assert_eq!(
        summary(&exp),
        vec![
            fam("h", MetricType::Histogram, &["h_bucket", "h_bucket", "h_sum", "h_count", "h_created"]),
            fam("s", MetricType::Summary, &["s", "s_sum", "s_count"]),
        ]
    );
}

#[test]
fn counters_with_and_without_total() {
    let exp = parse(
        "# TYPE a counter\na_total 1\na_created 2\n\
         # TYPE b_total counter\nb_total 3\n\
         # TYPE c gauge\nc_total 4\n",
    );
    assert_eq!(
        summary(&exp),
        vec![
            fam("a", MetricType::Counter, &["a_total", "a_created"]),
            fam("b_total", MetricType::Counter, &["b_total"]),
            fam("c", MetricType::Gauge, &[]),
            fam("c_total", MetricType::Untyped, &["c_total"]),
        ]
    );
}

#[test]
fn untyped_samples_and_non_contiguous_families() {
    let exp = parse("x 1\nx{a=\"b\"} 2\ny 3\n# TYPE h histogram\nh_sum 1\nx 4\nh_count 2\n");
    assert_eq!(
        summary(&exp),
        vec![
            fam("x", MetricType::Untyped, &["x", "x", "x"]),
            fam("y", MetricType::Untyped, &["y"]),
            fam("h", MetricType::Histogram, &["h_sum", "h_count"]),
        ]
    );
}

#[test]
fn help_and_type_in_any_order() {
    let exp = parse(
        "# TYPE a gauge\n# HELP a first\na 1\n\
         # HELP b second\n# TYPE b counter\nb_total 2\n\
         # TYPE c summary\n# HELP d only help\nd 4\nc_sum 3\n",
    );
    assert_eq!(exp.errors, vec![]);
    let help: Vec<_> = exp.families.iter().map(|f| f.help.as_deref()).collect();
    assert_eq!(help, vec![Some("first"), Some("second"), None, Some("only help")]);
    assert_eq!(
        summary(&exp),
        vec![
            fam("a", MetricType::Gauge, &["a"]),
            fam("b", MetricType::Counter, &["b_total"]),
            fam("c", MetricType::Summary, &["c_sum"]),
            fam("d", MetricType::Untyped, &["d"]),
        ]
    );
}

#[test]
fn duplicates_and_unknown_types() {
    let exp = parse(
        "# TYPE a gauge\n# TYPE a counter\n# HELP a one\n# HELP a two\na 1\n\
         # TYPE b sparkline\nb 2\n",
    );
    assert_eq!(
        exp.errors,
        vec![
            ParseError { line: 2, message: "duplicate TYPE for `a`; the first one is kept".into() },
            ParseError { line: 4, message: "duplicate HELP for `a`; the first one is kept".into() },
            ParseError { line: 6, message: "unknown metric type at column 10: \"# TYPE b sparkline\"".into() },
        ]
    );
    assert_eq!(exp.families[0].help.as_deref(), Some("one"));
    assert_eq!(summary(&exp), vec![fam("a", MetricType::Gauge, &["a"]), fam("b", MetricType::Untyped, &["b"]),]);
}

#[test]
fn openmetrics_types() {
    let exp = parse(
        "# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 1\ng_gcount 1\ng_gsum 2\n\
         # TYPE build info\nbuild_info{version=\"1\"} 1\n\
         # TYPE st stateset\nst{st=\"a\"} 1\n# EOF\nignored 1\n",
    );
    assert_eq!(exp.errors, vec![]);
    assert_eq!(
        summary(&exp),
        vec![
            fam("g", MetricType::Histogram, &["g_bucket", "g_gcount", "g_gsum"]),
            fam("build", MetricType::Gauge, &["build_info"]),
            fam("st", MetricType::Gauge, &["st"]),
        ]
    );
}

#[test]
fn error_messages_quote_the_line() {
    let long = format!("bad line {}", "é".repeat(100));
    let body = format!("ok 1\n{long}\r\nok 2");
    let exp = parse(&body);
    assert_eq!(exp.errors.len(), 1);
    assert_eq!(exp.errors[0].line, 2);
    let expected = format!("invalid value at column 5: {:?}...", &long[..79]);
    assert_eq!(exp.errors[0].message, expected);
    assert_eq!(exp.families[0].samples.len(), 2);
}

#[test]
fn error_messages_quote_like_debug() {
    for line in ["x y", "a{b=\"c\" 1", "tab\there 1 2 3", "back\\slash", "ünï 1", "ctl\u{1} 1", "a'b", "~ 1"] {
        let exp = parse(line);
        assert_eq!(exp.errors.len(), 1, "{line:?}");
        let (_, quoted) = exp.errors[0].message.split_once(": ").unwrap();
        assert_eq!(quoted, format!("{line:?}"));
    }
}

#[test]
fn decimals() {
    for n in [0, 7, 10, 99, 12345, usize::MAX] {
        let mut s = String::from("x");
        push_decimal(&mut s, n);
        assert_eq!(s, format!("x{n}"));
    }
}
