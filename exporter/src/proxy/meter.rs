//! The measurement of one request: started when it arrives, told the response head, fed the
//! body as it goes to the client, recorded once when it ends. A meter dropped before the end
//! (the client went away) records the request as canceled.
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::endpoint::{Endpoint, Kind};
use super::extract::{self, Event, Tally};
use super::lines::{Framing, Piece, Splitter, MAX_WHOLE_BYTES};
use super::metrics::{Hist, Record, ServerState, ITL_BUCKETS};
use super::shapes::{Obj, Request};

/// The measurement of one request, from its arrival to its end.
pub struct Meter {
    state: Arc<ServerState>,
    endpoint: Endpoint,
    start: Instant,
    request_prefix: Arc<Mutex<Vec<u8>>>,
    /// How the body is read; `None`: not read (an error status, or unmeasurable).
    reading: Option<(Splitter, bool)>,
    status_class: &'static str,
    tally: Tally,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    itl: Hist,
    unmeasured: Option<&'static str>,
    done: bool,
}

impl Meter {
    pub fn start(state: Arc<ServerState>, endpoint: Endpoint, request_prefix: Arc<Mutex<Vec<u8>>>) -> Meter {
        state.started();
        Meter {
            state,
            endpoint,
            start: Instant::now(),
            request_prefix,
            reading: None,
            status_class: "canceled",
            tally: Tally::default(),
            first_token: None,
            last_token: None,
            itl: Hist::new(ITL_BUCKETS),
            unmeasured: None,
            done: false,
        }
    }

    /// The response head arrived: decides how its body is read.
    pub fn response(&mut self, status: http::StatusCode, headers: &http::HeaderMap) {
        self.status_class = match status.as_u16() / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        if !status.is_success() {
            return;
        }
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let encoding = header(http::header::CONTENT_ENCODING);
        if !encoding.is_empty() && encoding != "identity" {
            self.unmeasured = Some("encoded");
            return;
        }
        let content_type = header(http::header::CONTENT_TYPE);
        let media = content_type.split(';').next().unwrap_or("").trim();
        self.reading = match media {
            "text/event-stream" => Some((Splitter::new(Framing::Lines), true)),
            "application/x-ndjson" | "application/jsonl" | "application/jsonlines" => {
                Some((Splitter::new(Framing::Lines), false))
            }
            "application/json" => Some((Splitter::with_bound(Framing::Whole, MAX_WHOLE_BYTES), false)),
            _ => {
                self.unmeasured = Some("content_type");
                None
            }
        };
    }

    /// Reads one chunk of the body, or (`None`) its end.
    pub(super) fn read(&mut self, chunk: Option<&[u8]>) {
        let Some((splitter, sse)) = self.reading.as_mut() else { return };
        let sse = *sse;
        let (tally, unmeasured) = (&mut self.tally, &mut self.unmeasured);
        let (first, last, itl) = (&mut self.first_token, &mut self.last_token, &mut self.itl);
        let mut each = |piece: Piece<'_>| {
            let json = match piece {
                Piece::TooLong => {
                    unmeasured.get_or_insert("too_long");
                    return;
                }
                Piece::Complete(line) if sse => match extract::sse_data(line) {
                    Some(json) => json,
                    None => return,
                },
                Piece::Complete(line) if line.iter().all(u8::is_ascii_whitespace) => return,
                Piece::Complete(line) => line,
            };
            match extract::read(json, tally) {
                Event::Content => {
                    let now = Instant::now();
                    match last.replace(now) {
                        Some(previous) => itl.observe(now.duration_since(previous).as_secs_f64()),
                        None => *first = Some(now),
                    }
                }
                Event::Other => {}
                Event::Invalid => {
                    unmeasured.get_or_insert("invalid_json");
                }
            }
        };
        match chunk {
            Some(chunk) => splitter.push(chunk, &mut each),
            None => splitter.finish(&mut each),
        }
    }

    /// The response ended (`failure` `None`: as its status says) or failed; records it once.
    pub fn finish(&mut self, failure: Option<&'static str>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        if failure.is_none() {
            self.read(None);
        }
        let duration = self.start.elapsed().as_secs_f64();
        let framing = self.reading.as_ref().map(|(s, _)| s.framing());
        let ok = failure.is_none() && self.status_class == "2xx";
        // A body that could not be read (compressed, unknown type) gives no time to first token.
        let ttft = match framing.filter(|_| ok) {
            Some(Framing::Lines) => self.first_token.map(|t| t.duration_since(self.start).as_secs_f64()),
            Some(Framing::Whole) => Some(duration),
            None => None,
        };
        let outcome = match failure {
            Some(why) => why,
            None if ok && self.tally.error => "stream_error",
            None => self.status_class,
        };
        let mut unmeasured = self.unmeasured.filter(|_| ok);
        if ok && unmeasured.is_none() && !self.tally.has_counts() {
            unmeasured = Some("no_usage");
        }
        let backend_seen = if self.endpoint.ollama {
            Some("ollama")
        } else if self.tally.is_llamacpp() {
            Some("llamacpp")
        } else {
            None
        };
        // llama-server names its model by the file's path where it has no alias; the scraped
        // series name it by the file name.
        let model = self.tally.model.take().map(|m| match m.rsplit_once('/') {
            Some((_, file)) if self.tally.is_llamacpp() && !file.is_empty() => file.to_string(),
            _ => m,
        });
        let model = model.or_else(|| {
            let prefix = self.request_prefix.lock().unwrap_or_else(|p| p.into_inner());
            model_of_request(&prefix)
        });
        let itl = std::mem::replace(&mut self.itl, Hist::new(ITL_BUCKETS));
        let tally = std::mem::take(&mut self.tally);
        self.state.record(Record {
            endpoint: self.endpoint,
            model,
            outcome,
            duration,
            ttft: ttft.filter(|_| self.endpoint.kind == Kind::Generation),
            itl,
            tally,
            unmeasured,
            backend_seen,
        });
    }
}

impl Drop for Meter {
    /// Dropped before the end: the client went away (hyper drops the response, or the request
    /// before its response came).
    fn drop(&mut self) {
        self.finish(Some("canceled"));
    }
}

/// The `model` of a JSON request body from its first bytes: parsed whole when it fits, else
/// found as the first `"model": "…"` pair (a body with large images is cut off).
pub fn model_of_request(prefix: &[u8]) -> Option<String> {
    if let Ok(Obj(doc)) = serde_json::from_slice::<Obj<Request>>(prefix) {
        return doc?.model.as_str().filter(|m| !m.is_empty()).map(str::to_string);
    }
    let text = String::from_utf8_lossy(prefix);
    let after = &text[text.find("\"model\"")? + 7..];
    let after = after.trim_start().strip_prefix(':')?.trim_start();
    if !after.starts_with('"') {
        return None;
    }
    // The JSON string up to its closing quote, escapes included, decoded by serde.
    let mut escaped = false;
    let end = after[1..].char_indices().find_map(|(i, c)| match (escaped, c) {
        (true, _) => {
            escaped = false;
            None
        }
        (false, '\\') => {
            escaped = true;
            None
        }
        (false, '"') => Some(i + 1),
        _ => None,
    })?;
    serde_json::from_str::<String>(&after[..=end]).ok().filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::model_of_request;

    #[test]
    fn the_model_of_a_whole_or_cut_request() {
        assert_eq!(model_of_request(br#"{"model":"qwen3:0.6b","prompt":"x"}"#).as_deref(), Some("qwen3:0.6b"));
        assert_eq!(
            model_of_request(br#"{"messages":[{"image":"AAAA"}], "model" : "a\"b", "x"#).as_deref(),
            Some("a\"b")
        );
        assert_eq!(model_of_request(br#"{"prompt":"xx"#), None);
        assert_eq!(model_of_request(br#"{"model":""}"#), None);
        assert_eq!(model_of_request(br#"{"model": 3, "#), None);
        // Whole and valid: a model of another type is no model (the text is not searched).
        assert_eq!(model_of_request(br#"{"model":["m"],"x":"\"model\":\"n\""}"#), None);
        let big = format!(r#"{{"messages":[{{"content":"{}"}}],"model":"m"}}"#, "\\u0041".repeat(2000));
        assert_eq!(model_of_request(big.as_bytes()).as_deref(), Some("m"));
    }
}
