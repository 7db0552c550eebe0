//! Renders the proxies' state as `llm_proxy_*` families. A series appears once it has data
//! (a token counter only once some response reported that count): missing data is no sample.
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::*;

/// Every family of every proxy; families of the same name are merged by the scrape runner.
pub fn render(states: &[Arc<ServerState>]) -> Vec<Family> {
    let mut in_flight = Family::gauge(
        "llm_proxy_requests_in_flight",
        "Requests to measured endpoints the proxy is forwarding now (llm-exporter --proxy)",
    );
    let mut requests = Family::counter(
        "llm_proxy_requests_total",
        "Requests the proxy forwarded to measured endpoints, by outcome: status class (2xx, 4xx, 5xx, …), canceled (the client went away first), upstream_error (no answer, or the body broke off), upstream_timeout (no response head within the proxy's response_timeout), stream_error (an error event inside a 2xx stream)",
    );
    let mut ttft = Family::new(
        "llm_proxy_time_to_first_token_seconds",
        "Seconds from a request's arrival at the proxy to the first content token forwarded to the client; the whole duration for a response that is not streamed",
        family::Kind::Histogram,
    );
    let mut itl = Family::new(
        "llm_proxy_inter_token_latency_seconds",
        "Seconds between consecutive content chunks of a streamed response, as forwarded by the proxy",
        family::Kind::Histogram,
    );
    let mut duration = Family::new(
        "llm_proxy_request_duration_seconds",
        "Seconds from a request's arrival at the proxy to the last byte of its response",
        family::Kind::Histogram,
    );
    let mut counters = [
        Family::counter("llm_proxy_prompt_tokens_total", "Prompt tokens the server processed, cached ones left out, as responses report them (llama.cpp timings.prompt_n, OpenAI usage.prompt_tokens less cached_tokens, Ollama prompt_eval_count, Anthropic input_tokens)"),
        Family::counter("llm_proxy_prompt_cached_tokens_total", "Prompt tokens taken from the server's cache, as responses report them (llama.cpp timings.cache_n, OpenAI cached_tokens, Anthropic cache_read_input_tokens)"),
        Family::counter("llm_proxy_generation_tokens_total", "Generated tokens, as responses report them (llama.cpp timings.predicted_n, OpenAI completion_tokens, Ollama eval_count, Anthropic output_tokens)"),
        Family::counter("llm_proxy_load_seconds_total", "Seconds the server spent loading the model for these requests (Ollama load_duration)"),
        Family::counter("llm_proxy_prompt_seconds_total", "Seconds the server spent on prompts, as responses report them (llama.cpp timings.prompt_ms, Ollama prompt_eval_duration)"),
        Family::counter("llm_proxy_generation_seconds_total", "Seconds the server spent generating, as responses report them (llama.cpp timings.predicted_ms, Ollama eval_duration)"),
    ];
    let mut unmeasured = Family::counter(
        "llm_proxy_unmeasured_total",
        "Requests forwarded whole whose tokens or latencies could not be read, by reason: too_long (a line over the buffer), encoded (compressed body), content_type, invalid_json, no_usage (no token counts in the response)",
    );
    for state in states {
        let mut inner = state.inner.lock().unwrap_or_else(|p| p.into_inner());
        state.sync_models(&mut inner);
        let backend = state.backend_label(&inner);
        let server = state.server.as_str();
        let base = || labels([("server", server), ("backend", backend)]);
        in_flight.push(base(), state.in_flight.load(Ordering::Relaxed).max(0) as f64);
        for (reason, n) in &inner.unmeasured {
            unmeasured.push(with(base(), [("reason", reason)]), *n as f64);
        }
        for ((endpoint, model), series) in &inner.series {
            let series_labels = with(base(), [("endpoint", endpoint), ("model", model)]);
            for (outcome, n) in &series.outcomes {
                requests.push(with(series_labels.clone(), [("outcome", outcome)]), *n as f64);
            }
            for (family, hist) in
                [(&mut ttft, &series.ttft), (&mut itl, &series.itl), (&mut duration, &series.duration)]
            {
                if hist.count() > 0 {
                    family.push_histogram(series_labels.clone(), &hist.to_family_histogram());
                }
            }
            let values = [
                series.prompt.map(|v| v as f64),
                series.cached.map(|v| v as f64),
                series.generated.map(|v| v as f64),
                series.load_seconds,
                series.prompt_seconds,
                series.generation_seconds,
            ];
            for (family, value) in counters.iter_mut().zip(values) {
                if let Some(value) = value {
                    family.push(series_labels.clone(), value);
                }
            }
        }
    }
    let mut out = vec![in_flight, requests, ttft, itl, duration, unmeasured];
    out.extend(counters);
    out.retain(|f| !f.samples.is_empty());
    out
}

fn with<const N: usize>(mut base: Labels, more: [(&'static str, &str); N]) -> Labels {
    base.extend(labels(more));
    base
}
