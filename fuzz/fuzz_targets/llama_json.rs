//! Arbitrary `/slots` and `/props` bodies (and a valid `/metrics`) into the llama.cpp shaping:
//! it must never panic, whatever the JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use llm_exporter::collectors::llm::llama_server::{self, Reading};
use llm_exporter::config::{Backend, ServerConfig};

const METRICS: &str = "# TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total 10\n\
# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 1\n";

fuzz_target!(|input: (&str, &str, bool)| {
    let (slots, props, unified) = input;
    let Ok(url) = "http://127.0.0.1:8080/".parse() else { return };
    let server = ServerConfig {
        name: "fuzz".into(),
        url,
        backend: Backend::Llamacpp,
        api_key: None,
        timeout: None,
        kv_cache_tokens: unified.then_some(4096),
    };
    let reading = Reading { metrics: METRICS.into(), slots: Some(slots.into()), props: Some(props.into()) };
    let _ = llama_server::shape(&server, &reading);
    let _ = llama_server::parse_slots(slots);
});
