//! Reads what one response event (an NDJSON line, an SSE `data:` line or a whole JSON body)
//! says: whether it carries a content token, and the model, token counts and server-side
//! timings of Ollama, OpenAI-compatible, Anthropic-style and llama.cpp responses. Pure: bytes
//! in, a [`Tally`] updated; nothing of the text itself is kept, and only the measured fields
//! are built (see [`super::shapes`]).
use super::shapes::{Details, Doc, Num, Obj, Text, Usage};

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
    let Ok(Obj(Some(doc))) = serde_json::from_slice::<Obj<Doc>>(json) else {
        return Event::Invalid;
    };
    if doc.error.is_some() {
        tally.error = true;
    }
    let nested = [doc.message.0.as_ref(), doc.response.object.as_ref()];
    let model = std::iter::once(&doc.model)
        .chain(nested.iter().flatten().map(|m| &m.model))
        .find_map(|m| m.as_str().filter(|m| !m.is_empty()));
    if let Some(model) = model {
        tally.model = Some(model.to_string());
    }
    read_ollama(&doc, tally);
    let usages = std::iter::once(doc.usage.0.as_ref()).chain(nested.iter().map(|m| m.and_then(|m| m.usage.0.as_ref())));
    for usage in usages.flatten() {
        read_usage(usage, tally);
    }
    if let Some(timings) = &doc.timings.0 {
        let n = |v: Num| v.number().filter(|v| *v >= 0.0).map(|v| v as u64);
        tally.timings = Some((n(timings.prompt_n), n(timings.cache_n), n(timings.predicted_n)));
        let ms = |v: Num| v.number().filter(|v| v.is_finite() && *v >= 0.0).map(|v| v / 1000.0);
        tally.prompt_seconds = ms(timings.prompt_ms).or(tally.prompt_seconds);
        tally.generation_seconds = ms(timings.predicted_ms).or(tally.generation_seconds);
    }
    if has_content(&doc) {
        Event::Content
    } else {
        Event::Other
    }
}

/// Ollama's counts and nanosecond durations (final chunk of `/api/generate` and `/api/chat`,
/// and `/api/embed`).
fn read_ollama(doc: &Doc, tally: &mut Tally) {
    let seconds = |v: Num| v.number().filter(|v| v.is_finite() && *v >= 0.0).map(|ns| ns / 1e9);
    if let Some(n) = doc.prompt_eval_count.count() {
        tally.usage_prompt = Some(n);
        tally.prompt_excludes_cached = true;
    }
    tally.usage_generated = doc.eval_count.count().or(tally.usage_generated);
    tally.load_seconds = seconds(doc.load_duration).or(tally.load_seconds);
    tally.prompt_seconds = seconds(doc.prompt_eval_duration).or(tally.prompt_seconds);
    tally.generation_seconds = seconds(doc.eval_duration).or(tally.generation_seconds);
}

/// OpenAI `usage` (chat, completions, embeddings, responses) and Anthropic `usage`.
fn read_usage(usage: &Usage, tally: &mut Tally) {
    if let Some(p) = usage.prompt_tokens.count().or(usage.input_tokens.count()) {
        tally.usage_prompt = Some(p);
        // Anthropic's input_tokens leave cache reads out; OpenAI's (both APIs) include them.
        tally.prompt_excludes_cached = usage.cache_read_input_tokens != Num::Absent;
    }
    let details = |d: &Obj<Details>| d.0.as_ref().and_then(|d| d.cached_tokens.count());
    let cached = details(&usage.prompt_tokens_details)
        .or_else(|| details(&usage.input_tokens_details))
        .or(usage.cache_read_input_tokens.count());
    if let Some(c) = cached {
        tally.usage_cached = Some(c);
    }
    if let Some(g) = usage.completion_tokens.count().or(usage.output_tokens.count()) {
        tally.usage_generated = Some(g);
    }
}

/// A content token in any of the shapes: Ollama `response` / `thinking` / `message`, OpenAI
/// `choices[].delta` / `choices[].text`, llama.cpp `content`, Anthropic and Responses-API
/// delta events. Role-only and empty deltas are not content.
fn has_content(doc: &Doc) -> bool {
    let message = doc.message.0.as_ref().is_some_and(|m| m.content.0 || m.thinking.0 || m.tool_calls.0);
    if doc.response.filled || doc.thinking.0 || message || doc.choices.0 {
        return true;
    }
    if doc.content.0 && doc.kind == Text::Absent {
        return true;
    }
    match doc.kind.as_str() {
        Some("content_block_delta") => true,
        Some(t) => t.starts_with("response.") && t.ends_with(".delta") && doc.delta.0,
        None => false,
    }
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
