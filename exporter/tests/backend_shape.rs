//! vLLM, SGLang, TGI and Ollama shaping on fixtures: exact values for every series each
//! backend fills, the labels it keeps, and what it leaves out.
use llm_exporter::collectors::llm::{ollama, sglang, tgi, vllm};
use llm_exporter::config::{Backend, ServerConfig};
use llm_exporter::family::{Family, Kind, Sample};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn server() -> ServerConfig {
    ServerConfig {
        name: "s".into(),
        url: "http://127.0.0.1:8000/".parse().unwrap(),
        backend: Backend::Auto,
        api_key: None,
        timeout: None,
        kv_cache_tokens: None,
    }
}

fn has_labels(sample: &Sample, want: &[(&str, &str)]) -> bool {
    want.iter().all(|(k, v)| sample.labels.iter().any(|(lk, lv)| lk == k && lv == v))
}

/// The value of the one plain sample of `name` whose labels include `want`.
fn value(families: &[Family], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let family = families.iter().find(|f| f.name == name)?;
    let hits: Vec<f64> =
        family.samples.iter().filter(|s| s.suffix.is_empty() && has_labels(s, want)).map(|s| s.value).collect();
    assert!(hits.len() <= 1, "{name}{want:?} matches {} samples", hits.len());
    hits.first().copied()
}

/// `(sum, count, number of buckets)` of the one histogram series of `name` matching `want`.
fn histogram(families: &[Family], name: &str, want: &[(&str, &str)]) -> Option<(f64, f64, usize)> {
    let family = families.iter().find(|f| f.name == name)?;
    assert_eq!(family.kind, Kind::Histogram, "{name}");
    let part = |suffix: &str| -> Vec<&Sample> {
        family.samples.iter().filter(|s| s.suffix == suffix && has_labels(s, want)).collect()
    };
    let (sum, count, buckets) = (part("_sum"), part("_count"), part("_bucket"));
    assert!(sum.len() == 1 && count.len() == 1, "{name}{want:?}: one series expected");
    // Buckets ascend, end at +Inf, and the +Inf bucket is the count.
    let bounds: Vec<f64> = buckets
        .iter()
        .map(|b| b.labels.last().map(|(k, v)| (k.as_ref(), v.as_str())))
        .map(|l| match l {
            Some(("le", "+Inf")) => f64::INFINITY,
            Some(("le", v)) => v.parse().unwrap(),
            other => panic!("le is not the last label: {other:?}"),
        })
        .collect();
    assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{name}: {bounds:?}");
    assert_eq!(bounds.last(), Some(&f64::INFINITY));
    assert_eq!(buckets.last().map(|b| b.value), Some(count[0].value));
    assert!(buckets.windows(2).all(|w| w[0].value <= w[1].value), "{name}: buckets are cumulative");
    Some((sum[0].value, count[0].value, buckets.len()))
}

fn names(families: &[Family]) -> Vec<&str> {
    let mut names: Vec<&str> = families.iter().map(|f| f.name.as_ref()).collect();
    names.sort_unstable();
    names
}

/// What every backend's output must be: DESIGN names only, HELP everywhere, `server` and
/// `backend` on every sample, nothing upstream-specific.
fn check_common(families: &[Family], backend: &str) {
    for f in families {
        assert!(f.name.starts_with("llm_") && !f.name.contains(':'), "{}", f.name);
        assert!(!f.help.is_empty(), "{}", f.name);
        for s in &f.samples {
            assert_eq!(&s.labels[0].0, "server");
            assert_eq!((s.labels[1].0.as_ref(), s.labels[1].1.as_str()), ("backend", backend), "{}", f.name);
            for (k, _) in &s.labels {
                assert!(
                    ["server", "backend", "engine", "reason", "source", "model", "version", "le"].contains(&k.as_ref()),
                    "{}: label {k} is not one we export",
                    f.name
                );
            }
        }
    }
}

mod vllm_backend {
    use super::*;

    fn shape(metrics: &str, models: bool) -> Vec<Family> {
        let reading = vllm::Reading {
            metrics: fixture(metrics).into(),
            models: models.then(|| fixture("vllm_v1_models.json")),
            version: models.then(|| fixture("vllm_version.json")),
        };
        vllm::shape(&server(), &reading).unwrap()
    }

    #[test]
    fn full_v1_body() {
        let f = shape("vllm_metrics_full.txt", true);
        check_common(&f, "vllm");
        let v = |name: &str| value(&f, name, &[("server", "s"), ("backend", "vllm")]);
        assert_eq!(v("llm_requests_running"), Some(3.0));
        assert_eq!(v("llm_requests_waiting"), Some(1.0));
        assert_eq!(v("llm_kv_cache_usage_ratio"), Some(0.25));
        assert_eq!(v("llm_prompt_tokens_total"), Some(7508.0));
        assert_eq!(v("llm_prompt_cached_tokens_total"), Some(1872.0));
        assert_eq!(v("llm_generation_tokens_total"), Some(3824.0));
        assert_eq!(v("llm_prompt_seconds_total"), Some(2.328));
        assert_eq!(v("llm_generation_seconds_total"), Some(104.055));
        assert_eq!(v("llm_preemptions_total"), Some(2.0));
        assert_eq!(v("llm_speculative_draft_tokens_total"), Some(900.0));
        assert_eq!(v("llm_speculative_accepted_tokens_total"), Some(610.0));
        assert_eq!(v("llm_speculative_drafts_total"), Some(300.0));
        assert_eq!(v("llm_context_size_tokens"), Some(8192.0));
        for (reason, n) in [("stop", 14.0), ("length", 2.0), ("abort", 0.0)] {
            assert_eq!(value(&f, "llm_requests_completed_total", &[("reason", reason)]), Some(n));
        }
        assert_eq!(histogram(&f, "llm_time_to_first_token_seconds", &[]), Some((9.894, 16.0, 23)));
        assert_eq!(histogram(&f, "llm_inter_token_latency_seconds", &[]), Some((8.723, 239.0, 20)));
        assert_eq!(histogram(&f, "llm_request_duration_seconds", &[]), Some((116.295, 16.0, 22)));
        assert_eq!(histogram(&f, "llm_request_queue_seconds", &[]), Some((2.346, 16.0, 22)));
        assert_eq!(
            value(&f, "llm_server_info", &[("model", "meta-llama/Llama-3.1-8B-Instruct"), ("version", "0.11.0")]),
            Some(1.0)
        );
        // One engine: no engine label; every series carries the model.
        assert!(f.iter().flat_map(|f| &f.samples).all(|s| s.labels.iter().all(|(k, _)| k != "engine")));
        assert_eq!(
            names(&f),
            [
                "llm_context_size_tokens",
                "llm_generation_seconds_total",
                "llm_generation_tokens_total",
                "llm_inter_token_latency_seconds",
                "llm_kv_cache_usage_ratio",
                "llm_preemptions_total",
                "llm_prompt_cached_tokens_total",
                "llm_prompt_seconds_total",
                "llm_prompt_tokens_total",
                "llm_request_duration_seconds",
                "llm_request_queue_seconds",
                "llm_requests_completed_total",
                "llm_requests_running",
                "llm_requests_waiting",
                "llm_server_info",
                "llm_speculative_accepted_tokens_total",
                "llm_speculative_draft_tokens_total",
                "llm_speculative_drafts_total",
                "llm_time_to_first_token_seconds",
            ]
        );
        let kind = |name: &str| f.iter().find(|x| x.name == name).map(|x| x.kind);
        assert_eq!(kind("llm_prompt_seconds_total"), Some(Kind::Counter));
        assert_eq!(kind("llm_kv_cache_usage_ratio"), Some(Kind::Gauge));
        // The bucket bounds are vLLM's own.
        let ttft: Vec<&str> = f
            .iter()
            .find(|x| x.name == "llm_time_to_first_token_seconds")
            .map(|x| x.samples.iter().filter(|s| s.suffix == "_bucket").map(|s| s.labels[3].1.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ttft[..4], ["0.001", "0.005", "0.01", "0.02"]);
        assert_eq!(ttft[20..], ["640", "2560", "+Inf"]);
        let model = ("model".into(), "meta-llama/Llama-3.1-8B-Instruct".to_string());
        assert!(f.iter().flat_map(|f| &f.samples).all(|s| s.labels.contains(&model)), "model on every series");
    }

    #[test]
    fn without_help_and_type_lines_the_table_gives_the_types() {
        let typed = shape("vllm_metrics_full.txt", true);
        let untyped = shape("vllm_metrics_untyped.txt", true);
        assert_eq!(untyped, typed);
    }

    #[test]
    fn without_v1_models_the_model_comes_from_the_model_name_label() {
        let f = shape("vllm_metrics_full.txt", false);
        assert_eq!(
            value(&f, "llm_server_info", &[("model", "meta-llama/Llama-3.1-8B-Instruct"), ("version", "")]),
            Some(1.0)
        );
        assert_eq!(value(&f, "llm_context_size_tokens", &[]), None);
    }

    #[test]
    fn two_engines_keep_the_engine_label() {
        let f = shape("vllm_metrics_dp2.txt", true);
        check_common(&f, "vllm");
        for (engine, running, waiting, kv, prompt) in [("0", 2.0, 0.0, 0.2, 8120.0), ("1", 1.0, 1.0, 0.4, 4572.0)] {
            let e = [("engine", engine)];
            assert_eq!(value(&f, "llm_requests_running", &e), Some(running));
            assert_eq!(value(&f, "llm_requests_waiting", &e), Some(waiting));
            assert_eq!(value(&f, "llm_kv_cache_usage_ratio", &e), Some(kv));
            assert_eq!(value(&f, "llm_prompt_tokens_total", &e), Some(prompt));
        }
        assert_eq!(value(&f, "llm_requests_completed_total", &[("engine", "0"), ("reason", "stop")]), Some(8.0));
        assert_eq!(value(&f, "llm_requests_completed_total", &[("engine", "1"), ("reason", "stop")]), Some(4.0));
        assert_eq!(
            histogram(&f, "llm_request_duration_seconds", &[("engine", "0")]),
            Some((74.79899999999999, 10.0, 22))
        );
        assert_eq!(
            histogram(&f, "llm_request_duration_seconds", &[("engine", "1")]),
            Some((37.065999999999995, 6.0, 22))
        );
        assert_eq!(value(&f, "llm_generation_seconds_total", &[("engine", "1")]), Some(32.857));
    }

    #[test]
    fn v0_names() {
        let f = shape("vllm_metrics_v0.txt", false);
        check_common(&f, "vllm");
        let v = |name: &str| value(&f, name, &[]);
        assert_eq!(v("llm_requests_running"), Some(5.0));
        assert_eq!(v("llm_requests_waiting"), Some(2.0));
        assert_eq!(v("llm_kv_cache_usage_ratio"), Some(0.6171875));
        assert_eq!(v("llm_prompt_tokens_total"), Some(48213.0));
        assert_eq!(v("llm_generation_tokens_total"), Some(19876.0));
        assert_eq!(v("llm_preemptions_total"), Some(7.0));
        assert_eq!(value(&f, "llm_requests_completed_total", &[("reason", "length")]), Some(9.0));
        assert_eq!(histogram(&f, "llm_time_to_first_token_seconds", &[]), Some((2.92, 6.0, 20)));
        assert_eq!(histogram(&f, "llm_inter_token_latency_seconds", &[]), Some((0.221, 7.0, 16)));
        assert_eq!(histogram(&f, "llm_request_duration_seconds", &[]), Some((21.6, 4.0, 11)));
        // A hit *rate* is not a token counter: V0 cannot give cached tokens.
        assert_eq!(v("llm_prompt_cached_tokens_total"), None);
        assert_eq!(value(&f, "llm_server_info", &[("model", "Qwen/Qwen2.5-7B-Instruct")]), Some(1.0));
    }

    #[test]
    fn the_new_name_wins_over_the_old_one() {
        let metrics = "vllm:kv_cache_usage_perc 0.5\nvllm:gpu_cache_usage_perc 0.25\n\
                       vllm:gpu_prefix_cache_hits_total 9\nvllm:time_per_output_token_seconds_bucket{le=\"+Inf\"} 1\n\
                       vllm:time_per_output_token_seconds_sum 0.5\nvllm:time_per_output_token_seconds_count 1\n";
        let f = vllm::shape(&server(), &vllm::Reading { metrics: metrics.into(), ..Default::default() }).unwrap();
        assert_eq!(value(&f, "llm_kv_cache_usage_ratio", &[]), Some(0.5));
        assert_eq!(value(&f, "llm_prompt_cached_tokens_total", &[]), Some(9.0));
        assert_eq!(histogram(&f, "llm_inter_token_latency_seconds", &[]), Some((0.5, 1.0, 1)));
    }

    #[test]
    fn the_partial_docs_capture_is_vllm_but_its_histogram_is_not_ours() {
        let f = shape("vllm_metrics_docs_partial_iteration_tokens.txt", false);
        assert_eq!(names(&f), ["llm_server_info"]);
    }

    /// A body captured from vLLM 0.32.0 (CPU build) after six requests, one client abort and a
    /// prefix-cache hit; its `/v1/models` and `/version`.
    fn real(metrics: &str) -> Vec<Family> {
        let reading = vllm::Reading {
            metrics: fixture(metrics).into(),
            models: Some(fixture("vllm_0.32_real_v1_models.json")),
            version: Some(fixture("vllm_0.32_real_version.json")),
        };
        vllm::shape(&server(), &reading).unwrap()
    }

    #[test]
    fn real_0_32_body() {
        let f = real("vllm_0.32_real_metrics_after.txt");
        check_common(&f, "vllm");
        let v = |name: &str| value(&f, name, &[("server", "s"), ("backend", "vllm")]);
        assert_eq!(v("llm_prompt_tokens_total"), Some(674.0));
        assert_eq!(v("llm_prompt_cached_tokens_total"), Some(256.0), "prompt_tokens_cached_total");
        assert_eq!(v("llm_generation_tokens_total"), Some(229.0));
        assert_eq!(v("llm_server_sleeping"), Some(0.0));
        assert_eq!(v("llm_context_size_tokens"), Some(1024.0));
        for (source, n) in [("local_compute", 418.0), ("local_cache_hit", 256.0), ("external_kv_transfer", 0.0)] {
            assert_eq!(value(&f, "llm_prompt_tokens_by_source_total", &[("source", source)]), Some(n));
        }
        for reason in ["capacity", "deferred"] {
            assert_eq!(value(&f, "llm_requests_waiting_by_reason", &[("reason", reason)]), Some(0.0));
        }
        for (reason, n) in [("stop", 2.0), ("length", 4.0), ("abort", 0.0), ("error", 0.0), ("repetition", 0.0)] {
            assert_eq!(value(&f, "llm_requests_completed_total", &[("reason", reason)]), Some(n));
        }
        // The aborted request had its first token: in TTFT, not in the request durations.
        assert_eq!(histogram(&f, "llm_time_to_first_token_seconds", &[]).map(|h| h.1), Some(7.0));
        assert_eq!(histogram(&f, "llm_request_duration_seconds", &[]).map(|h| h.1), Some(6.0));
        assert_eq!(value(&f, "llm_server_info", &[("model", "tiny-llama"), ("version", "0.32.0")]), Some(1.0));
        // `_created` samples (one per counter and histogram upstream) are nobody's series here.
        assert!(f.iter().flat_map(|f| &f.samples).all(|s| !s.suffix.contains("created")));
        assert!(f.iter().all(|f| !f.name.ends_with("_created")));
    }

    #[test]
    fn real_0_32_body_in_flight_and_asleep() {
        let f = real("vllm_0.32_real_metrics_inflight.txt");
        assert_eq!(value(&f, "llm_requests_running", &[]), Some(4.0));
        assert!(value(&f, "llm_kv_cache_usage_ratio", &[]).is_some_and(|r| r > 0.0));
        let f = real("vllm_0.32_metrics_sleeping.txt");
        assert_eq!(value(&f, "llm_server_sleeping", &[]), Some(1.0), "weights_offloaded");
        let level2 = fixture("vllm_0.32_metrics_sleeping.txt")
            .replace("sleep_state=\"weights_offloaded\"} 1.0", "sleep_state=\"weights_offloaded\"} 0.0")
            .replace("sleep_state=\"discard_all\"} 0.0", "sleep_state=\"discard_all\"} 1.0");
        let reading = vllm::Reading { metrics: level2.into(), ..Default::default() };
        assert_eq!(value(&vllm::shape(&server(), &reading).unwrap(), "llm_server_sleeping", &[]), Some(1.0));
        // Servers older than the sleep state say nothing about sleep.
        assert_eq!(value(&shape("vllm_metrics_full.txt", true), "llm_server_sleeping", &[]), None);
    }

    #[test]
    fn bodies_without_vllm_series_are_refused() {
        for metrics in ["", "<html>It works</html>", &fixture("sglang_metrics_full.txt")] {
            let reading = vllm::Reading { metrics: metrics.into(), ..Default::default() };
            let why = vllm::shape(&server(), &reading).unwrap_err();
            assert!(why.contains("no vllm: series"), "{why}");
        }
    }
}

mod sglang_backend {
    use super::*;

    fn shape(metrics: &str, info: bool) -> Vec<Family> {
        let reading = sglang::Reading {
            metrics: fixture(metrics).into(),
            model_info: info.then(|| fixture("sglang_get_model_info.json")),
        };
        sglang::shape(&server(), &reading).unwrap()
    }

    #[test]
    fn full_body() {
        let f = shape("sglang_metrics_full.txt", true);
        check_common(&f, "sglang");
        let v = |name: &str| value(&f, name, &[("server", "s"), ("backend", "sglang")]);
        assert_eq!(v("llm_requests_running"), Some(4.0));
        assert_eq!(v("llm_requests_waiting"), Some(2.0));
        assert_eq!(v("llm_kv_cache_usage_ratio"), Some(0.1875));
        assert_eq!(v("llm_context_size_tokens"), Some(32768.0));
        assert_eq!(v("llm_prompt_tokens_total"), Some(12000.0));
        assert_eq!(v("llm_prompt_cached_tokens_total"), Some(4000.0));
        assert_eq!(v("llm_generation_tokens_total"), Some(3000.0));
        assert_eq!(v("llm_requests_completed_total"), Some(25.0));
        assert_eq!(histogram(&f, "llm_time_to_first_token_seconds", &[]), Some((22.26, 25.0, 19)));
        assert_eq!(histogram(&f, "llm_inter_token_latency_seconds", &[]), Some((58.062, 2703.0, 24)));
        assert_eq!(histogram(&f, "llm_request_duration_seconds", &[]), Some((146.7, 25.0, 23)));
        assert_eq!(histogram(&f, "llm_request_queue_seconds", &[]), Some((6.71, 25.0, 37)));
        assert_eq!(value(&f, "llm_server_info", &[("model", "Qwen/Qwen2.5-7B-Instruct"), ("version", "")]), Some(1.0));
        assert_eq!(
            names(&f),
            [
                "llm_context_size_tokens",
                "llm_generation_tokens_total",
                "llm_inter_token_latency_seconds",
                "llm_kv_cache_usage_ratio",
                "llm_prompt_cached_tokens_total",
                "llm_prompt_tokens_total",
                "llm_request_duration_seconds",
                "llm_request_queue_seconds",
                "llm_requests_completed_total",
                "llm_requests_running",
                "llm_requests_waiting",
                "llm_server_info",
                "llm_time_to_first_token_seconds",
            ]
        );
        // Per-function and per-stage latency (unbounded or internal labels) are not re-exported,
        // and no rank label survives.
        let text = llm_exporter::family::encode_text(&f);
        for gone in ["generate_request", "prefill_forward", "tp_rank", "engine_type", "model_name"] {
            assert!(!text.contains(gone), "{gone}");
        }
    }

    #[test]
    fn old_inter_token_name() {
        let f = shape("sglang_metrics_old.txt", false);
        check_common(&f, "sglang");
        assert_eq!(value(&f, "llm_requests_running", &[]), Some(12.0));
        assert_eq!(value(&f, "llm_kv_cache_usage_ratio", &[]), Some(0.71));
        assert_eq!(value(&f, "llm_prompt_tokens_total", &[]), Some(2_621_400.0));
        assert_eq!(value(&f, "llm_generation_tokens_total", &[]), Some(7_400_757.0));
        assert_eq!(histogram(&f, "llm_inter_token_latency_seconds", &[]), Some((1.14, 51.0, 20)));
        assert_eq!(value(&f, "llm_context_size_tokens", &[]), None);
        assert_eq!(value(&f, "llm_server_info", &[("model", "Qwen/Qwen2.5-7B-Instruct")]), Some(1.0));
    }

    #[test]
    fn ranks_collapse_and_data_parallel_ranks_become_engines() {
        let metrics = "sglang:num_running_reqs{tp_rank=\"0\"} 3\nsglang:num_running_reqs{tp_rank=\"1\"} 3\n";
        let f = sglang::shape(&server(), &sglang::Reading { metrics: metrics.into(), model_info: None }).unwrap();
        assert_eq!(value(&f, "llm_requests_running", &[]), Some(3.0), "tensor-parallel ranks report one scheduler");
        let metrics = "sglang:num_running_reqs{dp_rank=\"0\",tp_rank=\"0\"} 3\nsglang:num_running_reqs{dp_rank=\"1\",tp_rank=\"0\"} 5\n";
        let f = sglang::shape(&server(), &sglang::Reading { metrics: metrics.into(), model_info: None }).unwrap();
        assert_eq!(value(&f, "llm_requests_running", &[("engine", "0")]), Some(3.0));
        assert_eq!(value(&f, "llm_requests_running", &[("engine", "1")]), Some(5.0));
    }
}

mod tgi_backend {
    use super::*;

    #[test]
    fn full_body() {
        let reading =
            tgi::Reading { metrics: fixture("tgi_metrics_full.txt").into(), info: Some(fixture("tgi_info.json")) };
        let f = tgi::shape(&server(), &reading).unwrap();
        check_common(&f, "tgi");
        let v = |name: &str| value(&f, name, &[("server", "s"), ("backend", "tgi")]);
        assert_eq!(v("llm_requests_running"), Some(3.0));
        assert_eq!(v("llm_requests_waiting"), Some(1.0));
        assert_eq!(v("llm_prompt_tokens_total"), Some(28561.0));
        assert_eq!(v("llm_generation_tokens_total"), Some(9104.0));
        assert_eq!(v("llm_decode_calls_total"), Some(5271.0));
        assert_eq!(v("llm_requests_completed_total"), Some(40.0));
        assert_eq!(v("llm_context_size_tokens"), Some(4096.0));
        assert_eq!(histogram(&f, "llm_inter_token_latency_seconds", &[]), Some((1.0635, 40.0, 36)));
        assert_eq!(histogram(&f, "llm_request_duration_seconds", &[]), Some((185.896, 40.0, 36)));
        assert_eq!(histogram(&f, "llm_request_queue_seconds", &[]), Some((6.59012, 40.0, 36)));
        assert_eq!(
            value(&f, "llm_server_info", &[("model", "mistralai/Mistral-7B-Instruct-v0.3"), ("version", "3.3.6")]),
            Some(1.0)
        );
        let kind = |name: &str| f.iter().find(|x| x.name == name).map(|x| x.kind);
        assert_eq!(kind("llm_prompt_tokens_total"), Some(Kind::Counter));
        assert_eq!(kind("llm_decode_calls_total"), Some(Kind::Counter));
        assert_eq!(
            names(&f),
            [
                "llm_context_size_tokens",
                "llm_decode_calls_total",
                "llm_generation_tokens_total",
                "llm_inter_token_latency_seconds",
                "llm_prompt_tokens_total",
                "llm_request_duration_seconds",
                "llm_request_queue_seconds",
                "llm_requests_completed_total",
                "llm_requests_running",
                "llm_requests_waiting",
                "llm_server_info",
            ]
        );
    }

    #[test]
    fn the_captured_grep_output() {
        let reading = tgi::Reading { metrics: fixture("tgi_metrics_grep_gke_tutorial.txt").into(), info: None };
        let f = tgi::shape(&server(), &reading).unwrap();
        assert_eq!(names(&f), ["llm_decode_calls_total", "llm_server_info"]);
        assert_eq!(value(&f, "llm_decode_calls_total", &[]), Some(293.0));
        assert_eq!(value(&f, "llm_server_info", &[("model", ""), ("version", "")]), Some(1.0));
    }
}

mod ollama_backend {
    use super::*;

    fn shape(ps: Option<&str>) -> Vec<Family> {
        let reading =
            ollama::Reading { version: fixture("ollama_api_version.json"), ps: ps.map(str::to_string), tags: None };
        ollama::shape(&server(), &reading).unwrap()
    }

    #[test]
    fn pulled_models_that_are_not_loaded_are_loaded_0() {
        let reading = ollama::Reading {
            version: fixture("ollama_api_version.json"),
            ps: Some(fixture("ollama_api_ps_2026.json")),
            tags: Some(fixture("ollama_api_tags.json")),
        };
        let f = ollama::shape(&server(), &reading).unwrap();
        let loaded = |model| value(&f, "llm_model_loaded", &[("server", "s"), ("backend", "ollama"), ("model", model)]);
        assert_eq!((loaded("qwen3:8b"), loaded("llama3.2:1b"), loaded("gemma3:4b")), (Some(1.0), Some(1.0), Some(0.0)));
        let family = f.iter().find(|x| x.name == "llm_model_loaded").unwrap();
        assert_eq!(family.samples.len(), 3, "each model once");
        assert_eq!(
            value(&f, "llm_model_size_bytes", &[("model", "gemma3:4b")]),
            None,
            "only loaded models have a size"
        );
        assert_eq!(value(&f, "llm_server_info", &[("model", "llama3.2:1b,qwen3:8b")]), Some(1.0));
    }

    #[test]
    fn two_loaded_models() {
        let f = shape(Some(&fixture("ollama_api_ps_2026.json")));
        check_common(&f, "ollama");
        for (model, size, vram, ctx) in
            [("llama3.2:1b", 2147483648.0, 1073741824.0, 4096.0), ("qwen3:8b", 6738382848.0, 6738382848.0, 8192.0)]
        {
            let m = [("server", "s"), ("backend", "ollama"), ("model", model)];
            assert_eq!(value(&f, "llm_model_loaded", &m), Some(1.0));
            assert_eq!(value(&f, "llm_model_size_bytes", &m), Some(size));
            assert_eq!(value(&f, "llm_model_vram_bytes", &m), Some(vram));
            assert_eq!(value(&f, "llm_context_size_tokens", &m), Some(ctx));
        }
        assert_eq!(value(&f, "llm_model_expiry_timestamp_seconds", &[("model", "llama3.2:1b")]), Some(1_795_568_983.5));
        let qwen = value(&f, "llm_model_expiry_timestamp_seconds", &[("model", "qwen3:8b")]).unwrap();
        assert!((qwen - (1_795_569_247.0 + 0.316_547_925)).abs() < 1e-6, "{qwen}");
        assert_eq!(
            value(&f, "llm_server_info", &[("model", "llama3.2:1b,qwen3:8b"), ("version", "0.12.3")]),
            Some(1.0)
        );
    }

    #[test]
    fn the_docs_example_has_no_context_length() {
        let f = shape(Some(&fixture("ollama_api_ps_docs.json")));
        let m = [("model", "mistral:latest")];
        assert_eq!(value(&f, "llm_model_size_bytes", &m), Some(5137025024.0));
        assert_eq!(value(&f, "llm_model_vram_bytes", &m), Some(5137025024.0));
        let expiry = value(&f, "llm_model_expiry_timestamp_seconds", &m).unwrap();
        assert!((expiry - 1_717_537_111.837_53).abs() < 1e-6, "{expiry}");
        assert_eq!(value(&f, "llm_context_size_tokens", &m), None);
    }

    #[test]
    fn unknown_and_missing_fields() {
        let ps = r#"{"models":[{"name":"a","size":10,"future_field":{"x":[1,2]},"expires_at":"soon"},
                    {"model":"b","size_vram":-5,"context_length":"big"},{"size":1},7,null],"extra":true}"#;
        let f = shape(Some(ps));
        assert_eq!(value(&f, "llm_model_loaded", &[("model", "a")]), Some(1.0));
        assert_eq!(value(&f, "llm_model_loaded", &[("model", "b")]), Some(1.0));
        assert_eq!(value(&f, "llm_model_size_bytes", &[("model", "a")]), Some(10.0));
        assert_eq!(value(&f, "llm_model_size_bytes", &[("model", "b")]), None);
        assert_eq!(value(&f, "llm_model_vram_bytes", &[("model", "b")]), None);
        assert_eq!(value(&f, "llm_model_expiry_timestamp_seconds", &[("model", "a")]), None);
        assert_eq!(value(&f, "llm_context_size_tokens", &[("model", "b")]), None);
        assert_eq!(f.iter().find(|x| x.name == "llm_model_loaded").map(|x| x.samples.len()), Some(2));
    }

    #[test]
    fn no_or_broken_ps_still_serves_the_version() {
        for ps in [None, Some(""), Some("<html>"), Some("{\"models\":null}"), Some("[]"), Some("{\"models\":[]}")] {
            let f = shape(ps);
            assert_eq!(names(&f), ["llm_server_info"], "{ps:?}");
            assert_eq!(value(&f, "llm_server_info", &[("model", ""), ("version", "0.12.3")]), Some(1.0));
        }
    }

    #[test]
    fn a_version_that_is_not_ollama_is_refused() {
        for version in ["", "{}", "<html>", "{\"version\":1}"] {
            let reading = ollama::Reading { version: version.into(), ps: None, tags: None };
            assert!(ollama::shape(&server(), &reading).is_err(), "{version:?}");
        }
    }
}

/// Mutated and truncated fixtures through every backend's shaping and detection: no panic,
/// whatever the bytes, and never more series than the caps allow.
#[test]
fn hostile_bodies_never_panic() {
    use llm_exporter::collectors::llm::{detect, normalize};
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const ODD: &[u8] = b"{}[]\"\\=,:# \t\r\n.eE+-0123456789_aNnIif()le\x00\xff";
    let files = [
        "vllm_metrics_full.txt",
        "vllm_metrics_dp2.txt",
        "vllm_0.32_real_metrics_inflight.txt",
        "vllm_v1_models.json",
        "sglang_metrics_full.txt",
        "sglang_get_model_info.json",
        "tgi_metrics_full.txt",
        "tgi_info.json",
        "ollama_api_ps_2026.json",
        "ollama_api_version.json",
        "llamacpp_2026_real_metrics_inflight.txt",
    ];
    for file in files {
        let original = fixture(file).into_bytes();
        for round in 0..40 {
            let mut bytes = original.clone();
            if round % 4 == 0 {
                bytes.truncate((next() as usize) % (bytes.len() + 1));
            }
            for _ in 0..1 + next() % 16 {
                let at = (next() as usize) % (bytes.len() + 1);
                let byte = ODD[(next() as usize) % ODD.len()];
                match next() % 3 {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
            let body = String::from_utf8_lossy(&bytes).into_owned();
            let _ = detect::from_metrics(body.as_bytes());
            let _ = detect::is_ollama_version(&body);
            let some = Some(body.clone());
            let results = [
                vllm::shape(
                    &server(),
                    &vllm::Reading { metrics: body.clone().into(), models: some.clone(), version: some.clone() },
                ),
                sglang::shape(&server(), &sglang::Reading { metrics: body.clone().into(), model_info: some.clone() }),
                tgi::shape(&server(), &tgi::Reading { metrics: body.clone().into(), info: some.clone() }),
                ollama::shape(&server(), &ollama::Reading { version: body.clone(), ps: some.clone(), tags: None }),
            ];
            for families in results.into_iter().flatten() {
                for f in &families {
                    let series = f.samples.iter().filter(|s| s.suffix != "_bucket").count();
                    assert!(series <= 2 * normalize::MAX_SERIES_PER_FAMILY, "{}: {series}", f.name);
                }
            }
            let _ = ollama::parse_ps(&body);
            let _ = ollama::parse_rfc3339(&body.chars().take(40).collect::<String>());
        }
    }
}
