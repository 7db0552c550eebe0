//! Whole-body behaviour: line endings, `# EOF`, error recovery, histograms, summaries,
//! escapes.

use std::borrow::Cow;

use promtext::{parse, MetricType, ParseError, Sample};

#[test]
fn crlf_line_endings() {
    let body = "# HELP a Help text\r\n# TYPE a gauge\r\na{x=\"1\"} 1.5\r\nb 2\r\n";
    let exp = parse(body);
    assert_eq!(exp.errors, vec![]);
    let a = exp.family("a").unwrap();
    assert_eq!((a.kind, a.help.as_deref()), (MetricType::Gauge, Some("Help text")));
    assert_eq!(a.samples[0].label("x"), Some("1"));
    assert_eq!(a.samples[0].value, 1.5);
    assert_eq!(exp.family("b").unwrap().samples[0].value, 2.0);
}

#[test]
fn tabs_and_missing_final_newline() {
    let exp = parse("a\t1\t123 \n\tb {c=\"d\"}\t2");
    assert_eq!(exp.errors, vec![]);
    let a = &exp.family("a").unwrap().samples[0];
    assert_eq!((a.value, a.timestamp_ms), (1.0, Some(123)));
    assert_eq!(exp.family("b").unwrap().samples[0].value, 2.0);
}

#[test]
fn leading_byte_order_mark() {
    let exp = parse("\u{feff}# TYPE a gauge\na 1\n");
    assert_eq!(exp.errors, vec![]);
    assert_eq!(exp.families[0].kind, MetricType::Gauge);
}

#[test]
fn eof_stops_parsing() {
    let body = "# TYPE a counter\na_total 1\n# EOF\n\u{0}garbage{{{ \"\nb 2\n";
    let exp = parse(body);
    assert_eq!(exp.errors, vec![]);
    assert_eq!(exp.families.len(), 1);
    assert_eq!(exp.families[0].samples[0].name, "a_total");
}

#[test]
fn bad_line_in_the_middle() {
    let body = "# TYPE a gauge\na 1\na{x=\"1\" 2\nb 3\n\nc 4\n";
    let exp = parse(body);
    assert_eq!(
        exp.errors,
        vec![ParseError {
            line: 3,
            message: "expected ',' or '}' in label set at column 9: \"a{x=\\\"1\\\" 2\"".into()
        }]
    );
    let names: Vec<_> = exp.families.iter().map(|f| f.name).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(exp.family("a").unwrap().samples.len(), 1);
    assert_eq!(exp.family("c").unwrap().samples[0].value, 4.0);
}

#[test]
fn histogram_grouped_in_order() {
    let body = r#"# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="m"} 0.0
vllm:time_to_first_token_seconds_bucket{le="0.5",model_name="m"} 7.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 9.0
vllm:time_to_first_token_seconds_count{model_name="m"} 9.0
vllm:time_to_first_token_seconds_sum{model_name="m"} 2.25
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 1.0
"#;
    let exp = parse(body);
    assert_eq!(exp.errors, vec![]);
    assert_eq!(exp.families.len(), 2);
    let h = &exp.families[0];
    assert_eq!(h.name, "vllm:time_to_first_token_seconds");
    assert_eq!(h.kind, MetricType::Histogram);
    let got: Vec<_> = h.samples.iter().map(|s| (s.name.rsplit('_').next().unwrap(), s.label("le"), s.value)).collect();
    assert_eq!(
        got,
        vec![
            ("bucket", Some("0.001"), 0.0),
            ("bucket", Some("0.5"), 7.0),
            ("bucket", Some("+Inf"), 9.0),
            ("count", None, 9.0),
            ("sum", None, 2.25),
        ]
    );
    assert_eq!(exp.families[1].kind, MetricType::Gauge);
}

#[test]
fn summary_grouped() {
    let body = "# HELP rpc_duration_seconds A summary of the RPC duration in seconds.\n\
                # TYPE rpc_duration_seconds summary\n\
                rpc_duration_seconds{quantile=\"0.01\"} 3102\n\
                rpc_duration_seconds{quantile=\"0.99\"} 76656\n\
                rpc_duration_seconds_sum 1.7560473e+07\n\
                rpc_duration_seconds_count 2693\n";
    let exp = parse(body);
    assert_eq!(exp.errors, vec![]);
    assert_eq!(exp.families.len(), 1);
    let s = &exp.families[0];
    assert_eq!((s.name, s.kind), ("rpc_duration_seconds", MetricType::Summary));
    let got: Vec<_> = s.samples.iter().map(|x| (x.name, x.label("quantile"), x.value)).collect();
    assert_eq!(
        got,
        vec![
            ("rpc_duration_seconds", Some("0.01"), 3102.0),
            ("rpc_duration_seconds", Some("0.99"), 76656.0),
            ("rpc_duration_seconds_sum", None, 1.7560473e7),
            ("rpc_duration_seconds_count", None, 2693.0),
        ]
    );
}

#[test]
fn escaped_label_values() {
    let body = r#"m{path="C:\\dir\\f.txt",msg="say \"hi\"\nbye",plain="x",odd="a\tb"} 1"#;
    let exp = parse(body);
    assert_eq!(exp.errors, vec![]);
    let s = &exp.families[0].samples[0];
    assert_eq!(
        *s,
        Sample {
            name: "m",
            labels: vec![
                ("path", Cow::Owned("C:\\dir\\f.txt".into())),
                ("msg", Cow::Owned("say \"hi\"\nbye".into())),
                ("plain", Cow::Borrowed("x")),
                ("odd", Cow::Owned("a\\tb".into())),
            ],
            value: 1.0,
            timestamp_ms: None,
        }
    );
    assert!(matches!(s.labels[2].1, Cow::Borrowed(_)));
    assert!(matches!(s.labels[0].1, Cow::Owned(_)));
}

#[test]
fn openmetrics_body() {
    let body = "# TYPE acme_http_router_request_seconds summary\n\
                # UNIT acme_http_router_request_seconds seconds\n\
                # HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.\n\
                acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32\n\
                acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0\n\
                acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0\n\
                # TYPE go_goroutines unknown\n\
                go_goroutines 69\n\
                # TYPE process_cpu_seconds counter\n\
                # UNIT process_cpu_seconds seconds\n\
                process_cpu_seconds_total 4.20072246e+06 1605281325.5\n\
                # EOF\n";
    let exp = parse(body);
    assert_eq!(exp.errors, vec![]);
    let kinds: Vec<_> = exp.families.iter().map(|f| (f.name, f.kind, f.samples.len())).collect();
    assert_eq!(
        kinds,
        vec![
            ("acme_http_router_request_seconds", MetricType::Summary, 3),
            ("go_goroutines", MetricType::Untyped, 1),
            ("process_cpu_seconds", MetricType::Counter, 1),
        ]
    );
    let cpu = &exp.family("process_cpu_seconds").unwrap().samples[0];
    assert_eq!((cpu.value, cpu.timestamp_ms), (4.20072246e6, Some(1_605_281_325_500)));
}
