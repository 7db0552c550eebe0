//! Shapes as the servers send them (abridged from real responses and the APIs' documentation).
use super::*;

fn read_all(events: &[&str]) -> (Tally, Vec<Event>) {
    let mut tally = Tally::default();
    let seen = events.iter().map(|e| read(e.as_bytes(), &mut tally)).collect();
    (tally, seen)
}

#[test]
fn ollama_stream_final_chunk() {
    let (tally, seen) = read_all(&[
        r#"{"model":"qwen3:0.6b","created_at":"t","response":"Hi","done":false}"#,
        r#"{"model":"qwen3:0.6b","created_at":"t","response":"","done":true,"done_reason":"stop","total_duration":900000000,"load_duration":100000000,"prompt_eval_count":12,"prompt_eval_duration":200000000,"eval_count":7,"eval_duration":500000000}"#,
    ]);
    assert_eq!(seen, [Event::Content, Event::Other]);
    assert_eq!(tally.model.as_deref(), Some("qwen3:0.6b"));
    assert_eq!(tally.tokens(), Tokens { prompt: Some(12), cached: None, generated: Some(7) });
    assert_eq!((tally.load_seconds, tally.prompt_seconds, tally.generation_seconds), (Some(0.1), Some(0.2), Some(0.5)));
    let (_, seen) = read_all(&[r#"{"model":"m","message":{"role":"assistant","content":""},"done":false}"#]);
    assert_eq!(seen, [Event::Other]);
}

#[test]
fn openai_chat_stream_with_usage() {
    let (tally, seen) = read_all(&[
        r#"{"id":"c","model":"tiny","choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}"#,
        r#"{"id":"c","model":"tiny","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
        r#"{"id":"c","model":"tiny","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":8}}}"#,
    ]);
    assert_eq!(seen, [Event::Other, Event::Content, Event::Other]);
    assert_eq!(tally.tokens(), Tokens { prompt: Some(12), cached: Some(8), generated: Some(5) });
}

#[test]
fn llamacpp_timings_win_over_usage() {
    let (tally, seen) = read_all(&[
        r#"{"content":"x","stop":false}"#,
        r#"{"content":"","stop":true,"model":"tiny.gguf","tokens_predicted":4,"tokens_evaluated":9,"usage":{"prompt_tokens":9,"completion_tokens":4},"timings":{"cache_n":3,"prompt_n":6,"prompt_ms":12.5,"predicted_n":4,"predicted_ms":40.0}}"#,
    ]);
    assert_eq!(seen, [Event::Content, Event::Other]);
    assert!(tally.is_llamacpp());
    assert_eq!(tally.tokens(), Tokens { prompt: Some(6), cached: Some(3), generated: Some(4) });
    assert_eq!((tally.prompt_seconds, tally.generation_seconds), (Some(0.0125), Some(0.04)));
}

#[test]
fn anthropic_messages_stream() {
    let (tally, seen) = read_all(&[
        r#"{"type":"message_start","message":{"id":"m","model":"claude-x","content":[],"usage":{"input_tokens":25,"cache_read_input_tokens":10,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#,
    ]);
    assert_eq!(seen, [Event::Other, Event::Other, Event::Content, Event::Other]);
    assert_eq!(tally.model.as_deref(), Some("claude-x"));
    assert_eq!(tally.tokens(), Tokens { prompt: Some(25), cached: Some(10), generated: Some(15) });
}

#[test]
fn errors_invalid_json_and_sse_fields() {
    let (tally, seen) = read_all(&[r#"{"error":"model runner crashed"}"#, "{not json", "[1,2]"]);
    assert!(tally.error);
    assert_eq!(seen, [Event::Other, Event::Invalid, Event::Invalid]);
    assert_eq!(sse_data(b"data: {\"a\":1}"), Some(&b"{\"a\":1}"[..]));
    assert_eq!(sse_data(b"data:[DONE]"), None);
    assert_eq!(sse_data(b"event: message_start"), None);
    assert_eq!(sse_data(b": keep-alive"), None);
}

#[test]
fn embeddings_count_prompt_tokens() {
    let (tally, _) = read_all(&[r#"{"model":"e","embeddings":[[0.1]],"prompt_eval_count":4,"total_duration":1}"#]);
    assert_eq!(tally.tokens().prompt, Some(4));
    let (tally, _) =
        read_all(&[r#"{"object":"list","data":[],"model":"e","usage":{"prompt_tokens":6,"total_tokens":6}}"#]);
    assert_eq!(tally.tokens(), Tokens { prompt: Some(6), cached: None, generated: None });
}
