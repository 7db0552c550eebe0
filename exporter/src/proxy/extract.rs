//! Reads what one response event (an NDJSON line, an SSE `data:` line or a whole JSON body)
//! says: whether it carries a content token, and the model, token counts and server-side
//! timings of Ollama, OpenAI-compatible, Anthropic-style and llama.cpp responses. Pure: bytes
//! in, a [`Tally`] updated; nothing of the text itself is kept.
use serde_json::Value;

/// What the events of one response said, the latest value of each field winning (the final
/// chunk carries the totals).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    pub model: Option<String>,
    /// OpenAI `usage` / Anthropic `usage` / Ollama counts: prompt tokens as reported (OpenAI's
    /// include the cached ones), cached, generated.
    usage_prompt: Option<u64>,
    usage_cached: Option<u64>,
    usage_generated: Option<u64>,
    /// Whether `usage_prompt` already leaves the cached tokens out (Anthropic, Ollama).
    prompt_excludes_cached: bool,
    /// llama.cpp `timings`: `prompt_n` (processed), `cache_n`, `predicted_n`.
    timings: Option<(Option<u64>, Option<u64>, Option<u64>)>,
    pub load_seconds: Option<f64>,
    pub prompt_seconds: Option<f64>,
    pub generation_seconds: Option<f64>,
    /// An event carried an `error` (a stream that failed after its 200).
    pub error: bool,
}

/// Prompt tokens processed (cached ones left out), cached prompt tokens, generated tokens.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tokens {
    pub prompt: Option<u64>,
    pub cached: Option<u64>,
    pub generated: Option<u64>,
}

impl Tally {
    /// llama.cpp's own `timings` when present (they match its counters), else `usage`.
    pub fn tokens(&self) -> Tokens {
        if let Some((prompt, cached, generated)) = self.timings {
            return Tokens { prompt, cached, generated };
        }
        let prompt = match (self.usage_prompt, self.usage_cached) {
            (Some(p), Some(c)) if !self.prompt_excludes_cached => Some(p.saturating_sub(c)),
            (p, _) => p,
        };
        Tokens { prompt, cached: self.usage_cached, generated: self.usage_generated }
    }

    /// A response that said it was llama.cpp (its `timings`).
    pub fn is_llamacpp(&self) -> bool {
        self.timings.is_some()
    }

    pub fn has_counts(&self) -> bool {
        let t = self.tokens();
        t.prompt.is_some() || t.generated.is_some()
    }
}

/// The JSON of an SSE line: the text after `data:`, or `None` for other fields, comments and
/// OpenAI's `[DONE]`.
pub fn sse_data(line: &[u8]) -> Option<&[u8]> {
    let data = line.strip_prefix(b"data:")?;
    let data = data.strip_prefix(b" ").unwrap_or(data);
    (data != b"[DONE]" && !data.is_empty()).then_some(data)
}

/// What one event was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Carries at least one content token (text, reasoning or a tool call).
    Content,
    /// Valid JSON without content (a role-only delta, the final totals).
    Other,
    Invalid,
}

/// Reads one JSON event into `tally`.
pub fn read(json: &[u8], tally: &mut Tally) -> Event {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(json) else {
        return Event::Invalid;
    };
    let doc = Value::Object(doc);
    if !doc["error"].is_null() {
        tally.error = true;
    }
    let model = [&doc["model"], &doc["message"]["model"], &doc["response"]["model"]]
        .into_iter()
        .find_map(|m| m.as_str().filter(|m| !m.is_empty()));
    if let Some(model) = model {
        tally.model = Some(model.to_string());
    }
    read_ollama(&doc, tally);
    for usage in [&doc["usage"], &doc["message"]["usage"], &doc["response"]["usage"]] {
        read_usage(usage, tally);
    }
    let timings = &doc["timings"];
    if timings.is_object() {
        let n = |key: &str| timings[key].as_f64().filter(|v| *v >= 0.0).map(|v| v as u64);
        tally.timings = Some((n("prompt_n"), n("cache_n"), n("predicted_n")));
        let ms = |key: &str| timings[key].as_f64().filter(|v| v.is_finite() && *v >= 0.0).map(|v| v / 1000.0);
        tally.prompt_seconds = ms("prompt_ms").or(tally.prompt_seconds);
        tally.generation_seconds = ms("predicted_ms").or(tally.generation_seconds);
    }
    if has_content(&doc) {
        Event::Content
    } else {
        Event::Other
    }
}

/// Ollama's counts and nanosecond durations (final chunk of `/api/generate` and `/api/chat`,
/// and `/api/embed`).
fn read_ollama(doc: &Value, tally: &mut Tally) {
    let count = |key: &str| doc[key].as_u64();
    let seconds = |key: &str| doc[key].as_f64().filter(|v| v.is_finite() && *v >= 0.0).map(|ns| ns / 1e9);
    if let Some(n) = count("prompt_eval_count") {
        tally.usage_prompt = Some(n);
        tally.prompt_excludes_cached = true;
    }
    tally.usage_generated = count("eval_count").or(tally.usage_generated);
    tally.load_seconds = seconds("load_duration").or(tally.load_seconds);
    tally.prompt_seconds = seconds("prompt_eval_duration").or(tally.prompt_seconds);
    tally.generation_seconds = seconds("eval_duration").or(tally.generation_seconds);
}

/// OpenAI `usage` (chat, completions, embeddings, responses) and Anthropic `usage`.
fn read_usage(usage: &Value, tally: &mut Tally) {
    if !usage.is_object() {
        return;
    }
    let n = |v: &Value| v.as_u64();
    if let Some(p) = n(&usage["prompt_tokens"]).or(n(&usage["input_tokens"])) {
        tally.usage_prompt = Some(p);
        // Anthropic's input_tokens leave cache reads out; OpenAI's (both APIs) include them.
        tally.prompt_excludes_cached = !usage["cache_read_input_tokens"].is_null();
    }
    let cached = [
        &usage["prompt_tokens_details"]["cached_tokens"],
        &usage["input_tokens_details"]["cached_tokens"],
        &usage["cache_read_input_tokens"],
    ];
    if let Some(c) = cached.into_iter().find_map(n) {
        tally.usage_cached = Some(c);
    }
    if let Some(g) = n(&usage["completion_tokens"]).or(n(&usage["output_tokens"])) {
        tally.usage_generated = Some(g);
    }
}

fn nonempty(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// A content token in any of the shapes: Ollama `response` / `thinking` / `message`, OpenAI
/// `choices[].delta` / `choices[].text`, llama.cpp `content`, Anthropic and Responses-API
/// delta events. Role-only and empty deltas are not content.
fn has_content(doc: &Value) -> bool {
    let message = |m: &Value| nonempty(&m["content"]) || nonempty(&m["thinking"]) || nonempty(&m["tool_calls"]);
    if nonempty(&doc["response"]) || nonempty(&doc["thinking"]) || message(&doc["message"]) {
        return true;
    }
    if nonempty(&doc["content"]) && doc["type"].is_null() {
        return true;
    }
    if let Some(choices) = doc["choices"].as_array() {
        let delta = |d: &Value| message(d) || nonempty(&d["reasoning_content"]) || nonempty(&d["reasoning"]);
        if choices.iter().any(|c| delta(&c["delta"]) || nonempty(&c["text"])) {
            return true;
        }
    }
    match doc["type"].as_str() {
        Some("content_block_delta") => true,
        Some(t) => t.starts_with("response.") && t.ends_with(".delta") && nonempty(&doc["delta"]),
        None => false,
    }
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
