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

#[test]
fn huge_unrelated_fields_are_skipped_and_the_measured_ones_read() {
    let floats = vec!["0.125"; 100_000].join(",");
    let blob = "line\\n\\\"quoted\\\" ".repeat(100_000);
    let body = format!(
        r#"{{"object":"list","data":[{{"embedding":[{floats}],"index":0}}],"blob":"{blob}","deep":{{"a":[{{"b":[1,{{"c":null}}]}}]}},"model":"e","usage":{{"prompt_tokens":6,"total_tokens":6}}}}"#
    );
    let (tally, seen) = read_all(&[&body]);
    assert_eq!(seen, [Event::Other]);
    assert_eq!(tally.model.as_deref(), Some("e"));
    assert_eq!(tally.tokens(), Tokens { prompt: Some(6), cached: None, generated: None });
}

#[test]
fn measured_fields_of_the_wrong_type_read_as_absent() {
    // Every measured field with a type it never has: nothing read, nothing fails.
    let (tally, seen) = read_all(&[
        r#"{"model":7,"message":"hi","response":{"model":["x"],"usage":3},"usage":[1,2],"timings":"fast","prompt_eval_count":-3,"eval_count":1.5,"load_duration":"1s","type":5,"content":"x","choices":{"delta":"y"},"error":null}"#,
    ]);
    assert_eq!(seen, [Event::Other]);
    assert_eq!(tally, Tally::default());
    // Where one field of a pair has the wrong type, the other is read.
    let (tally, _) = read_all(&[
        r#"{"usage":{"prompt_tokens":"12","input_tokens":12,"completion_tokens":null,"output_tokens":4,"cache_read_input_tokens":"x","prompt_tokens_details":[3],"input_tokens_details":{"cached_tokens":2}}}"#,
    ]);
    assert_eq!(tally.tokens(), Tokens { prompt: Some(12), cached: Some(2), generated: Some(4) });
    let (tally, seen) = read_all(&[
        r#"{"content":"a","timings":{"prompt_n":"6","cache_n":-1,"predicted_n":4.7,"prompt_ms":true,"predicted_ms":-5}}"#,
    ]);
    assert_eq!(seen, [Event::Content]);
    assert!(tally.is_llamacpp());
    assert_eq!(tally.tokens(), Tokens { prompt: None, cached: None, generated: Some(4) });
    assert_eq!((tally.prompt_seconds, tally.generation_seconds), (None, None));
    // Counts beyond u64 are numbers, not counts.
    let (tally, _) = read_all(&[r#"{"eval_count":18446744073709551616,"prompt_eval_count":18446744073709551615}"#]);
    assert_eq!(tally.tokens(), Tokens { prompt: Some(u64::MAX), cached: None, generated: None });
}

#[test]
fn content_is_a_non_empty_string_or_array_in_any_choice() {
    let content = |json: &str| read_all(&[json]).1[0];
    assert_eq!(content(r#"{"response":[1]}"#), Event::Content);
    assert_eq!(content(r#"{"error":false,"message":{"content":[]}}"#), Event::Other);
    assert_eq!(content(r#"{"choices":[5,{"delta":"x"},{"text":""},{"delta":{"reasoning":"r"}}]}"#), Event::Content);
    assert_eq!(content(r#"{"choices":[{"delta":{"role":"assistant","content":null,"tool_calls":[]}}]}"#), Event::Other);
    assert_eq!(content(r#"{"type":"response.output_text.delta","delta":"Hi"}"#), Event::Content);
    assert_eq!(content(r#"{"type":"response.output_text.delta","delta":{}}"#), Event::Other);
    for not_an_object in ["\"x\"", "3", "null", r#"[{"model":"m"}]"#, r#"{"model":"m"} x"#] {
        assert_eq!(content(not_an_object), Event::Invalid, "{not_an_object}");
    }
    let (tally, _) = read_all(&[r#"{"error":false}"#]);
    assert!(tally.error, "any error that is not null marks the stream");
}

#[test]
fn a_measured_key_given_twice_makes_the_event_invalid() {
    // A typed read refuses duplicates of the fields it keeps; unknown ones may repeat.
    assert_eq!(read_all(&[r#"{"model":"a","model":"b"}"#]).1, [Event::Invalid]);
    assert_eq!(read_all(&[r#"{"usage":{"prompt_tokens":1,"prompt_tokens":2}}"#]).1, [Event::Invalid]);
    let (tally, seen) = read_all(&[r#"{"id":1,"id":2,"model":"a"}"#]);
    assert_eq!((seen[0], tally.model.as_deref()), (Event::Other, Some("a")));
}
