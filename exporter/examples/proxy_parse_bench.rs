//! What the proxy's reading of one response event costs: `extract::read`, which builds only
//! the measured fields, beside parsing the same bytes into a `serde_json::Value` tree (how
//! events were read before), in the same run: time per event and the peak heap it takes, for
//! an SSE token chunk, llama.cpp's final chunk and a 920 KiB embeddings answer.
//!
//! Run: cargo run --release -p llm-exporter --example proxy_parse_bench
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use llm_exporter::proxy::extract::{self, Event, Tally};

/// Counts the bytes allocated and their peak, so each way's heap shows.
struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = NOW.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(now, Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Microseconds per event and the peak heap above the start, in bytes.
fn measure(body: &[u8], read: impl Fn(&[u8]) -> bool) -> (f64, usize) {
    let rounds = if body.len() > 10_000 { 50 } else { 100_000 };
    let base = NOW.load(Relaxed);
    PEAK.store(base, Relaxed);
    let start = Instant::now();
    for _ in 0..rounds {
        assert!(read(black_box(body)));
    }
    (start.elapsed().as_secs_f64() * 1e6 / rounds as f64, PEAK.load(Relaxed) - base)
}

fn main() {
    let token = br#"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"L"}}],"created":1796677444,"id":"chatcmpl-P09TUnraiOMZVzm0daCo8gGWnhdYUD1a","model":"/models/tiny-llama.gguf","system_fingerprint":"b0-unknown","object":"chat.completion.chunk"}"#;
    let last = br#"{"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1796677444,"id":"chatcmpl-P09TUnraiOMZVzm0daCo8gGWnhdYUD1a","model":"/models/tiny-llama.gguf","system_fingerprint":"b0-unknown","object":"chat.completion.chunk","timings":{"cache_n":0,"prompt_n":56,"prompt_ms":2.638,"prompt_per_token_ms":0.047107142857142854,"prompt_per_second":21228.20318423048,"predicted_n":256,"predicted_ms":82.244,"predicted_per_token_ms":0.32252549019607846,"predicted_per_second":3100.5301298574973}}"#;
    let row = (0..4096).map(|i| format!("{:.8}", (i as f64).sin())).collect::<Vec<_>>().join(",");
    let data = (0..20).map(|i| format!(r#"{{"object":"embedding","index":{i},"embedding":[{row}]}}"#));
    let embeddings = format!(
        r#"{{"object":"list","data":[{}],"model":"e","usage":{{"prompt_tokens":6,"total_tokens":6}}}}"#,
        data.collect::<Vec<_>>().join(",")
    );
    println!("| event | bytes | Value tree µs | extract::read µs | Value tree peak heap | extract::read peak heap |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, body) in
        [("SSE token chunk", &token[..]), ("llama.cpp final chunk", last), ("embeddings", embeddings.as_bytes())]
    {
        let (tree_us, tree_heap) = measure(body, |b| serde_json::from_slice::<serde_json::Value>(b).is_ok());
        let (typed_us, typed_heap) = measure(body, |b| extract::read(b, &mut Tally::default()) != Event::Invalid);
        println!("| {name} | {} | {tree_us:.2} | {typed_us:.2} | {tree_heap} | {typed_heap} |", body.len());
    }
}
