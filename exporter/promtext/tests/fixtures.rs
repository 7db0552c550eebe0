//! Parses the captured server responses in `exporter/tests/fixtures/` and checks exact values.

use promtext::{parse, unwrap_json_string, Exposition, MetricType};

fn load(name: &str) -> String {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sample_count(exp: &Exposition<'_>) -> usize {
    exp.families.iter().map(|f| f.samples.len()).sum()
}

/// The single unlabelled sample of family `name`, with the family's type and help.
fn single<'e>(exp: &'e Exposition<'_>, name: &str) -> (MetricType, Option<&'e str>, f64) {
    let f = exp.family(name).unwrap_or_else(|| panic!("no family {name}"));
    assert_eq!(f.samples.len(), 1, "{name}");
    assert_eq!(f.samples[0].name, name);
    assert!(f.samples[0].labels.is_empty(), "{name}");
    assert_eq!(f.samples[0].timestamp_ms, None, "{name}");
    (f.kind, f.help.as_deref(), f.samples[0].value)
}

const LLAMACPP_2026_FAMILIES: [&str; 15] = [
    "llamacpp:prompt_tokens_total",
    "llamacpp:prompt_tokens_cached_total",
    "llamacpp:prompt_seconds_total",
    "llamacpp:tokens_predicted_total",
    "llamacpp:tokens_predicted_seconds_total",
    "llamacpp:n_decode_total",
    "llamacpp:n_tokens_max",
    "llamacpp:spec_decode_num_draft_tokens_total",
    "llamacpp:spec_decode_num_accepted_tokens_total",
    "llamacpp:spec_decode_num_drafts_total",
    "llamacpp:prompt_tokens_seconds",
    "llamacpp:predicted_tokens_seconds",
    "llamacpp:requests_processing",
    "llamacpp:requests_deferred",
    "llamacpp:n_busy_slots_per_decode",
];

#[test]
fn llamacpp_2026_inflight() {
    let body = load("llamacpp_2026_real_metrics_inflight.txt");
    let exp = parse(&body);
    assert_eq!(exp.errors, vec![]);
    let names: Vec<_> = exp.families.iter().map(|f| f.name).collect();
    assert_eq!(names, LLAMACPP_2026_FAMILIES);
    assert_eq!(sample_count(&exp), 15);
    let kinds: Vec<_> = exp.families.iter().map(|f| f.kind).collect();
    assert_eq!(kinds[..10], [MetricType::Counter; 10]);
    assert_eq!(kinds[10..], [MetricType::Gauge; 5]);
    assert_eq!(
        single(&exp, "llamacpp:tokens_predicted_total"),
        (MetricType::Counter, Some("Number of generation tokens processed"), 200.0)
    );
    assert_eq!(
        single(&exp, "llamacpp:n_busy_slots_per_decode"),
        (MetricType::Gauge, Some("Average number of busy slots per llama_decode() call"), 1.57895)
    );
    assert_eq!(single(&exp, "llamacpp:prompt_tokens_total").2, 57.0);
    assert_eq!(single(&exp, "llamacpp:prompt_tokens_cached_total").2, 4.0);
    assert_eq!(single(&exp, "llamacpp:prompt_seconds_total").2, 0.080463);
    assert_eq!(single(&exp, "llamacpp:tokens_predicted_seconds_total").2, 1.14592);
    assert_eq!(single(&exp, "llamacpp:n_decode_total").2, 475.0);
    assert_eq!(
        single(&exp, "llamacpp:n_tokens_max"),
        (MetricType::Counter, Some("Largest observed sequence length (prompt + generation)"), 316.0)
    );
    assert_eq!(single(&exp, "llamacpp:prompt_tokens_seconds").2, 708.4);
    assert_eq!(single(&exp, "llamacpp:predicted_tokens_seconds").2, 173.66);
    assert_eq!(single(&exp, "llamacpp:requests_processing").2, 2.0);
    assert_eq!(single(&exp, "llamacpp:requests_deferred").2, 0.0);
}

#[test]
fn llamacpp_2026_after() {
    let body = load("llamacpp_2026_real_metrics_after.txt");
    let exp = parse(&body);
    assert_eq!(exp.errors, vec![]);
    let names: Vec<_> = exp.families.iter().map(|f| f.name).collect();
    assert_eq!(names, LLAMACPP_2026_FAMILIES);
    assert_eq!(single(&exp, "llamacpp:tokens_predicted_total").2, 3200.0);
    assert_eq!(single(&exp, "llamacpp:tokens_predicted_seconds_total").2, 41.2514);
    assert_eq!(single(&exp, "llamacpp:n_decode_total").2, 1700.0);
    assert_eq!(single(&exp, "llamacpp:n_tokens_max").2, 1541.0);
    assert_eq!(single(&exp, "llamacpp:prompt_tokens_seconds").2, 0.0);
    assert_eq!(single(&exp, "llamacpp:predicted_tokens_seconds").2, 74.7529);
    assert_eq!(single(&exp, "llamacpp:requests_processing").2, 0.0);
    assert_eq!(single(&exp, "llamacpp:n_busy_slots_per_decode").2, 1.88235);
}

#[test]
fn llamacpp_2025_ik_llama() {
    let body = load("llamacpp_metrics_2025-08_ik_llama_pr695.txt");
    let exp = parse(&body);
    assert_eq!(exp.errors, vec![]);
    assert_eq!((exp.families.len(), sample_count(&exp)), (10, 10));
    assert_eq!(
        single(&exp, "llamacpp:kv_cache_usage_ratio"),
        (MetricType::Gauge, Some("KV-cache usage. 1 means 100 percent usage."), 0.491063)
    );
    assert_eq!(single(&exp, "llamacpp:kv_cache_tokens").2, 31428.0);
    assert_eq!(
        single(&exp, "llamacpp:prompt_tokens_total"),
        (MetricType::Counter, Some("Number of prompt tokens processed."), 6886.0)
    );
    assert_eq!(single(&exp, "llamacpp:prompt_seconds_total").2, 2903.63);
    assert_eq!(single(&exp, "llamacpp:predicted_tokens_seconds").2, 0.978764);
    assert!(exp.family("llamacpp:n_decode_total").is_none());
    assert!(exp.family("llamacpp:n_busy_slots_per_decode").is_none());
}

#[test]
fn llamacpp_2026_n_tokens_max() {
    let body = load("llamacpp_metrics_2026_n_tokens_max_gauge_busy.txt");
    let exp = parse(&body);
    assert_eq!(exp.errors, vec![]);
    assert_eq!((exp.families.len(), sample_count(&exp)), (11, 11));
    assert_eq!(
        single(&exp, "llamacpp:n_tokens_max"),
        (MetricType::Counter, Some("Largest observed n_tokens."), 82854.0)
    );
    assert_eq!(single(&exp, "llamacpp:n_busy_slots_per_decode").2, 1.12925);
    assert_eq!(single(&exp, "llamacpp:prompt_tokens_total").2, 479209.0);
    assert_eq!(single(&exp, "llamacpp:tokens_predicted_seconds_total").2, 683.744);
    assert_eq!(single(&exp, "llamacpp:n_decode_total").2, 43512.0);
    assert_eq!(single(&exp, "llamacpp:prompt_tokens_seconds").2, 3288.72);
}

#[test]
fn vllm_partial_histogram() {
    let body = load("vllm_metrics_docs_partial_iteration_tokens.txt");
    let exp = parse(&body);
    assert_eq!(exp.errors, vec![]);
    assert_eq!(exp.families.len(), 1);
    let f = &exp.families[0];
    assert_eq!(f.name, "vllm:iteration_tokens_total");
    assert_eq!(f.kind, MetricType::Histogram);
    assert_eq!(f.help.as_deref(), Some("Histogram of number of tokens per engine_step."));
    assert_eq!(f.samples.len(), 9);
    let sum = &f.samples[0];
    assert_eq!(
        (sum.name, sum.value, sum.label("model_name")),
        ("vllm:iteration_tokens_total_sum", 0.0, Some("unsloth/Llama-3.2-1B-Instruct"))
    );
    let buckets: Vec<_> = f.samples[1..]
        .iter()
        .map(|s| {
            assert_eq!(s.name, "vllm:iteration_tokens_total_bucket");
            assert_eq!(s.label("model_name"), Some("unsloth/Llama-3.2-1B-Instruct"));
            (s.labels[0].0, s.label("le").unwrap_or_default(), s.value)
        })
        .collect();
    let expected: Vec<_> = ["1.0", "8.0", "16.0", "32.0", "64.0", "128.0", "256.0", "512.0"]
        .into_iter()
        .map(|le| ("le", le, 3.0))
        .collect();
    assert_eq!(buckets, expected);
}

#[test]
fn tgi_grep_excerpt() {
    let body = load("tgi_metrics_grep_gke_tutorial.txt");
    let exp = parse(&body);
    assert_eq!(exp.errors, vec![]);
    assert_eq!(exp.families.len(), 2);
    assert_eq!(single(&exp, "tgi_request_count"), (MetricType::Counter, None, 1.0));
    let f = exp.family("tgi_batch_inference_count").unwrap();
    assert_eq!((f.kind, f.help.as_deref()), (MetricType::Counter, None));
    let got: Vec<_> = f.samples.iter().map(|s| (s.label("method"), s.value)).collect();
    assert_eq!(got, vec![(Some("decode"), 292.0), (Some("prefill"), 1.0)]);
}

#[test]
fn nvidia_gpu_exporter() {
    let body = load("nvidia_gpu_exporter_rtx4080s_load.metrics");
    let exp = parse(&body);
    assert_eq!(exp.errors, vec![]);
    assert_eq!((exp.families.len(), sample_count(&exp)), (100, 104));
    let gauges = exp.families.iter().filter(|f| f.kind == MetricType::Gauge);
    assert_eq!(gauges.count(), 99);
    assert_eq!(
        single(&exp, "nvidia_smi_failed_scrapes_total"),
        (MetricType::Counter, Some("Number of failed collections"), 0.0)
    );
    let uuid_value = |name: &str| {
        let f = exp.family(name).unwrap();
        assert_eq!(f.samples.len(), 1);
        let s = &f.samples[0];
        assert_eq!(s.label("uuid"), Some("00000000-0000-0000-0000-000000000000"));
        s.value
    };
    assert_eq!(uuid_value("nvidia_smi_clocks_current_graphics_clock_hz"), 2.805e9);
    assert_eq!(uuid_value("nvidia_smi_clocks_current_memory_clock_hz"), 1.1251e10);
    assert_eq!(uuid_value("nvidia_smi_power_draw_watts"), 84.24);
    assert_eq!(uuid_value("nvidia_smi_memory_used_bytes"), 1545601024.0);
    assert_eq!(uuid_value("nvidia_smi_temperature_gpu"), 46.0);
    assert_eq!(uuid_value("nvidia_smi_utilization_gpu_ratio"), 0.07);

    let info = exp.family("nvidia_smi_gpu_info").unwrap();
    assert_eq!(info.samples[0].labels.len(), 12);
    assert_eq!(info.samples[0].label("name"), Some("NVIDIA GeForce RTX 4080 SUPER"));
    assert_eq!(info.samples[0].label("driver_model_current"), Some("[N/A]"));

    let apps = exp.family("nvidia_smi_compute_app_info").unwrap();
    let got: Vec<_> = apps.samples.iter().map(|s| (s.label("pid"), s.label("process_name"), s.value)).collect();
    assert_eq!(
        got,
        vec![
            (Some("2165"), Some("/usr/bin/kwin_wayland"), 1.0),
            (Some("5021"), Some("ffmpeg"), 1.0),
            (Some("5022"), Some("ffmpeg"), 1.0),
        ]
    );
}

#[test]
fn dcgm_readme_excerpt_reports_non_exposition_lines() {
    let body = load("dcgm_exporter_readme_excerpt.txt");
    let exp = parse(&body);
    let lines: Vec<_> = exp.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![1, 8, 12]);
    assert_eq!(exp.errors[1].message, "invalid metric name at column 1: \"...\"");
    assert_eq!(exp.families.len(), 3);
    let temp = exp.family("DCGM_FI_DEV_MEMORY_TEMP").unwrap();
    assert_eq!(temp.kind, MetricType::Gauge);
    assert_eq!(temp.help.as_deref(), Some("Memory temperature (in C)."));
    assert_eq!(temp.samples[0].value, 9223372036854775794.0);
    assert_eq!(temp.samples[0].label("gpu"), Some("0"));
    assert_eq!(temp.samples[0].label("UUID"), Some("GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52"));
    assert_eq!(temp.samples[0].label("pod"), Some(""));
    assert_eq!(exp.family("DCGM_FI_DEV_SM_CLOCK").unwrap().samples[0].value, 139.0);
}

#[test]
fn series_name_lists_are_all_errors() {
    for (file, lines) in [
        ("llamacpp_series_names_llmkube.txt", 11),
        ("vllm_series_names_llmkube.txt", 28),
        ("sglang_series_names_llmkube.txt", 94),
    ] {
        let body = load(file);
        let exp = parse(&body);
        assert_eq!(exp.families.len(), 0, "{file}");
        assert_eq!(exp.error_count, lines, "{file}");
        assert_eq!(exp.errors.len(), lines.min(promtext::MAX_KEPT_ERRORS), "{file}");
        assert!(exp.errors.iter().all(|e| e.message.starts_with("missing value")));
    }
}

#[test]
fn json_wrapped_inflight_parses_identically() {
    let body = load("llamacpp_2026_real_metrics_inflight.txt");
    let mut wrapped = String::from("\"");
    for c in body.chars() {
        match c {
            '\n' => wrapped.push_str("\\n"),
            '"' => wrapped.push_str("\\\""),
            '\\' => wrapped.push_str("\\\\"),
            '/' => wrapped.push_str("\\/"),
            '(' => wrapped.push_str("\\u0028"),
            c => wrapped.push(c),
        }
    }
    wrapped.push_str("\"\n");
    assert_eq!(unwrap_json_string(&body), None);
    let decoded = unwrap_json_string(&wrapped).expect("a JSON string");
    assert_eq!(decoded, body);
    assert_eq!(parse(&decoded), parse(&body));
}
