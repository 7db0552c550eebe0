//! llama.cpp shaping on captured bodies: every llama.cpp sample, exact values.
use llm_exporter::collectors::llm::llama_server::{
    parse_slots, shape, shape_with_layout, KvLayout, Reading, MAX_SLOTS,
};
use llm_exporter::config::{Backend, ServerConfig};
use llm_exporter::family::{Family, Kind};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn server() -> ServerConfig {
    ServerConfig {
        name: "s".into(),
        url: "http://127.0.0.1:8080/".parse().unwrap(),
        backend: Backend::Llamacpp,
        api_key: None,
        timeout: None,
        kv_cache_tokens: None,
    }
}

fn reading(metrics: &str, slots: Option<&str>, props: Option<&str>) -> Reading {
    Reading { metrics: fixture(metrics).into(), slots: slots.map(fixture), props: props.map(fixture) }
}

/// The value of the one sample of `name` whose labels include `want`.
fn value(families: &[Family], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let family = families.iter().find(|f| f.name == name)?;
    let hits: Vec<f64> = family
        .samples
        .iter()
        .filter(|s| want.iter().all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v)))
        .map(|s| s.value)
        .collect();
    assert!(hits.len() <= 1, "{name}{want:?} matches {} samples", hits.len());
    hits.first().copied()
}

fn kind(families: &[Family], name: &str) -> Kind {
    families.iter().find(|f| f.name == name).map(|f| f.kind).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn real_2026_server_in_flight() {
    let r = reading(
        "llamacpp_2026_real_metrics_inflight.txt",
        Some("llamacpp_2026_real_slots_inflight.json"),
        Some("llamacpp_2026_real_props.json"),
    );
    let f = shape(&server(), &r).unwrap();
    let v = |name: &str| value(&f, name, &[("server", "s"), ("backend", "llamacpp")]);
    assert_eq!(v("llm_prompt_tokens_total"), Some(57.0));
    assert_eq!(v("llm_prompt_cached_tokens_total"), Some(4.0));
    assert_eq!(v("llm_prompt_seconds_total"), Some(0.080463));
    assert_eq!(v("llm_generation_tokens_total"), Some(200.0));
    assert_eq!(v("llm_generation_seconds_total"), Some(1.14592));
    assert_eq!(v("llm_decode_calls_total"), Some(475.0));
    assert_eq!(v("llm_context_peak_tokens"), Some(316.0));
    assert_eq!(v("llm_requests_running"), Some(2.0));
    assert_eq!(v("llm_requests_waiting"), Some(0.0));
    assert_eq!(v("llm_decode_busy_slots_average"), Some(1.57895));
    assert_eq!(v("llm_speculative_draft_tokens_total"), Some(0.0));
    assert_eq!(v("llm_speculative_accepted_tokens_total"), Some(0.0));
    assert_eq!(v("llm_speculative_drafts_total"), Some(0.0));
    assert_eq!(value(&f, "llm_slots", &[("state", "busy")]), Some(2.0));
    assert_eq!(value(&f, "llm_slots", &[("state", "idle")]), Some(2.0));
    assert_eq!(v("llm_context_size_tokens"), Some(2048.0));
    let used: Vec<Option<f64>> =
        (0..4).map(|i| value(&f, "llm_slot_context_used_tokens", &[("slot", &i.to_string())])).collect();
    assert_eq!(used, [Some(0.0), Some(0.0), Some(316.0), Some(284.0)]);
    assert_eq!(v("llm_kv_cache_usage_ratio"), Some(600.0 / 8192.0));
    assert_eq!(
        value(&f, "llm_server_info", &[("model", "tiny-random-llama.gguf"), ("version", "b0-unknown")]),
        Some(1.0)
    );
    // Averages that reset when read are not re-exported; nothing keeps an upstream name.
    assert!(f.iter().all(|fam| fam.name.starts_with("llm_") && !fam.name.contains(':')));
    assert!(f.iter().all(|fam| !fam.help.is_empty()));
    assert_eq!(
        kind(&f, "llm_context_peak_tokens"),
        Kind::Gauge,
        "n_tokens_max is typed counter upstream but is a high-water mark"
    );
    assert_eq!(kind(&f, "llm_generation_tokens_total"), Kind::Counter);
    assert_eq!(v("llm_server_sleeping"), Some(0.0));
    assert_eq!(f.len(), 19);
}

#[test]
fn a_sleeping_server_is_up_asleep_and_keeps_its_slot_count() {
    // `/slots` is not read while the server sleeps; had it been, it is ignored.
    for slots in [None, Some("llamacpp_2026_real_slots_after.json")] {
        let r = reading("llamacpp_2026_real_metrics_after.txt", slots, Some("llamacpp_2026_props_sleeping.json"));
        let f = shape(&server(), &r).unwrap();
        let v = |name: &str| value(&f, name, &[("server", "s"), ("backend", "llamacpp")]);
        assert_eq!(v("llm_server_sleeping"), Some(1.0));
        assert_eq!(value(&f, "llm_slots", &[("state", "busy")]), Some(0.0));
        assert_eq!(value(&f, "llm_slots", &[("state", "idle")]), Some(4.0));
        assert_eq!(v("llm_context_size_tokens"), Some(2048.0));
        assert_eq!(v("llm_generation_tokens_total"), Some(3200.0));
        // The model is unloaded: no slot holds a sequence, and there is no KV cache to fill.
        for absent in ["llm_slot_context_used_tokens", "llm_kv_cache_usage_ratio"] {
            assert!(f.iter().all(|fam| fam.name != absent), "{absent} while asleep");
        }
    }
}

#[test]
fn builds_without_a_sleep_state_have_no_sleeping_series() {
    let props = "{\"total_slots\":4,\"model_path\":\"m.gguf\"}";
    let r = Reading { props: Some(props.into()), ..reading("llamacpp_2026_real_metrics_after.txt", None, None) };
    let f = shape(&server(), &r).unwrap();
    assert!(f.iter().all(|fam| fam.name != "llm_server_sleeping"));
}

#[test]
fn real_2026_server_after_requests() {
    let r = reading(
        "llamacpp_2026_real_metrics_after.txt",
        Some("llamacpp_2026_real_slots_after.json"),
        Some("llamacpp_2026_real_props.json"),
    );
    let f = shape(&server(), &r).unwrap();
    assert_eq!(value(&f, "llm_generation_tokens_total", &[]), Some(3200.0));
    assert_eq!(value(&f, "llm_slots", &[("state", "busy")]), Some(0.0));
    assert_eq!(value(&f, "llm_slots", &[("state", "idle")]), Some(4.0));
    // Finished slots keep their sequence cached for the next prompt.
    assert_eq!(value(&f, "llm_slot_context_used_tokens", &[("slot", "2")]), Some(1541.0));
    assert_eq!(value(&f, "llm_slot_context_used_tokens", &[("slot", "3")]), Some(1509.0));
    assert_eq!(value(&f, "llm_kv_cache_usage_ratio", &[]), Some(3050.0 / 8192.0));
}

#[test]
fn unified_kv_cache_is_counted_once() {
    let r = reading("llamacpp_2026_real_metrics_inflight.txt", Some("llamacpp_2026_real_slots_inflight.json"), None);
    let f = shape(&ServerConfig { kv_cache_tokens: Some(2048), ..server() }, &r).unwrap();
    assert_eq!(value(&f, "llm_kv_cache_usage_ratio", &[]), Some(600.0 / 2048.0));
}

#[test]
fn the_command_line_sizes_the_kv_cache_and_the_config_overrides_it() {
    let r = reading("llamacpp_2026_real_metrics_inflight.txt", Some("llamacpp_2026_real_slots_inflight.json"), None);
    let args = |a: &str| -> Vec<String> { a.split(' ').map(String::from).collect() };
    // No -np: four slots share one cache of -c tokens, each reporting all of it (2048 here).
    let unified = KvLayout::parse(&args("llama-server -m m.gguf -c 2048"), &[]);
    let f = shape_with_layout(&server(), &r, Some(&unified)).unwrap();
    assert_eq!(value(&f, "llm_kv_cache_usage_ratio", &[]), Some(600.0 / 2048.0));
    // -np 4: each slot owns its share, the four shares are the cache.
    let split = KvLayout::parse(&args("llama-server -np 4 -c 8192"), &[]);
    let f = shape_with_layout(&server(), &r, Some(&split)).unwrap();
    assert_eq!(value(&f, "llm_kv_cache_usage_ratio", &[]), Some(600.0 / 8192.0));
    let configured = ServerConfig { kv_cache_tokens: Some(4096), ..server() };
    let f = shape_with_layout(&configured, &r, Some(&unified)).unwrap();
    assert_eq!(value(&f, "llm_kv_cache_usage_ratio", &[]), Some(600.0 / 4096.0));
}

#[test]
fn old_build_with_kv_cache_series_and_no_slots_or_props() {
    let f = shape(&server(), &reading("llamacpp_metrics_2025-08_ik_llama_pr695.txt", None, None)).unwrap();
    assert_eq!(value(&f, "llm_kv_cache_usage_ratio", &[]), Some(0.491063));
    assert_eq!(value(&f, "llm_prompt_tokens_total", &[]), Some(6886.0));
    assert_eq!(value(&f, "llm_prompt_seconds_total", &[]), Some(2903.63));
    assert_eq!(value(&f, "llm_generation_tokens_total", &[]), Some(3469.0));
    assert_eq!(value(&f, "llm_requests_running", &[]), Some(0.0));
    for absent in [
        "llm_slots",
        "llm_server_info",
        "llm_context_size_tokens",
        "llm_decode_calls_total",
        "llm_prompt_cached_tokens_total",
    ] {
        assert!(f.iter().all(|fam| fam.name != absent), "{absent} has no source in this build");
    }
    assert_eq!(f.len(), 7);
}

#[test]
fn n_tokens_max_and_busy_slots_gauge() {
    let f = shape(&server(), &reading("llamacpp_metrics_2026_n_tokens_max_gauge_busy.txt", None, None)).unwrap();
    assert_eq!(value(&f, "llm_context_peak_tokens", &[]), Some(82854.0));
    assert_eq!(value(&f, "llm_decode_busy_slots_average", &[]), Some(1.12925));
    assert_eq!(value(&f, "llm_decode_calls_total", &[]), Some(43512.0));
    assert_eq!(value(&f, "llm_generation_seconds_total", &[]), Some(683.744));
}

#[test]
fn old_names_counter_typed_averages_and_missing_types() {
    let metrics = "# TYPE llamacpp:n_busy_slots_per_decode counter\nllamacpp:n_busy_slots_per_decode 1.5\n\
                   llamacpp:n_past_max 77\nllamacpp:prompt_tokens_total 12\n";
    let f = shape(&server(), &Reading { metrics: metrics.into(), ..Default::default() }).unwrap();
    assert_eq!(kind(&f, "llm_decode_busy_slots_average"), Kind::Gauge);
    assert_eq!(value(&f, "llm_decode_busy_slots_average", &[]), Some(1.5));
    assert_eq!(value(&f, "llm_context_peak_tokens", &[]), Some(77.0));
    assert_eq!(kind(&f, "llm_prompt_tokens_total"), Kind::Counter);
}

#[test]
fn without_slots_the_slot_states_come_from_props() {
    let r = reading("llamacpp_2026_real_metrics_inflight.txt", None, Some("llamacpp_2026_real_props.json"));
    let f = shape(&server(), &r).unwrap();
    assert_eq!(value(&f, "llm_slots", &[("state", "busy")]), Some(2.0));
    assert_eq!(value(&f, "llm_slots", &[("state", "idle")]), Some(2.0));
    assert_eq!(value(&f, "llm_context_size_tokens", &[]), Some(2048.0));
    assert!(f.iter().all(|fam| fam.name != "llm_slot_context_used_tokens" && fam.name != "llm_kv_cache_usage_ratio"));
}

#[test]
fn a_json_escaped_body_is_unwrapped() {
    let body = fixture("llamacpp_2026_real_metrics_inflight.txt");
    let wrapped = serde_json::to_string(&body).unwrap();
    let plain = shape(&server(), &Reading { metrics: body.into(), ..Default::default() }).unwrap();
    let unwrapped = shape(&server(), &Reading { metrics: wrapped.into(), ..Default::default() }).unwrap();
    assert_eq!(plain, unwrapped);
    assert_eq!(plain.len(), 13);
}

#[test]
fn crlf_line_ends() {
    let body = fixture("llamacpp_2026_real_metrics_inflight.txt").replace('\n', "\r\n");
    let f = shape(&server(), &Reading { metrics: body.into(), ..Default::default() }).unwrap();
    assert_eq!(value(&f, "llm_decode_calls_total", &[]), Some(475.0));
}

#[test]
fn bodies_that_are_not_llama_metrics_are_errors() {
    for body in [
        "<html><body>Welcome to nginx</body></html>",
        "",
        "{\"error\":\"Loading model\"}",
        "vllm:num_requests_running 3\n",
    ] {
        let e = shape(&server(), &Reading { metrics: body.into(), ..Default::default() }).unwrap_err();
        assert!(e.contains("no llamacpp: series"), "{body}: {e}");
    }
}

#[test]
fn hostile_slots_and_props_cost_only_their_series() {
    let metrics = fixture("llamacpp_2026_real_metrics_inflight.txt");
    for (slots, props) in [
        ("{\"not\":\"an array\"}", "[]"),
        ("[1, \"x\", null, {\"id\": -1}, {\"id\": 0, \"is_processing\": \"yes\"}]", "{\"total_slots\": \"four\"}"),
        ("[{\"id\":0,\"is_processing\":true,\"n_ctx\":1e300}]", "{\"model_alias\": 5}"),
        ("not json at all", "{\"build_info\": null}"),
    ] {
        let r = Reading { metrics: metrics.clone().into(), slots: Some(slots.into()), props: Some(props.into()) };
        let f = shape(&server(), &r).unwrap();
        assert_eq!(value(&f, "llm_generation_tokens_total", &[]), Some(200.0), "{slots}");
    }
    let many: Vec<String> =
        (0..MAX_SLOTS + 100).map(|i| format!("{{\"id\":{i},\"is_processing\":false,\"n_ctx\":10}}")).collect();
    let parsed = parse_slots(&format!("[{}]", many.join(","))).unwrap();
    assert_eq!((parsed.kept.len(), parsed.left_out), (MAX_SLOTS, 100));
}

#[test]
fn older_slots_format_uses_state_and_n_past() {
    let slots = parse_slots("[{\"id\":0,\"n_ctx\":512,\"state\":1,\"n_past\":40,\"n_prompt_tokens\":10},{\"id\":1,\"n_ctx\":512,\"state\":0}]").unwrap().kept;
    assert!(slots[0].busy);
    assert_eq!(slots[0].tokens, Some(40));
    assert!(!slots[1].busy);
    assert_eq!(slots[1].tokens, Some(0));
}

#[test]
fn a_model_alias_wins_over_the_path() {
    let r = Reading {
        metrics: fixture("llamacpp_2026_real_metrics_inflight.txt").into(),
        slots: None,
        props: Some("{\"model_alias\":\"qwen3-8b\",\"model_path\":\"/models/Qwen3-8B-Q4_K_M.gguf\",\"build_info\":\"b7100-abc\"}".into()),
    };
    let f = shape(&server(), &r).unwrap();
    assert_eq!(value(&f, "llm_server_info", &[("model", "qwen3-8b"), ("version", "b7100-abc")]), Some(1.0));
}
