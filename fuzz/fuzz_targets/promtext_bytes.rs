//! Arbitrary bytes into the parser: it must never panic, and every line it reports as an
//! error must be a real line of the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = promtext::parse(&text);
    let lines = text.lines().count().max(1);
    for error in &parsed.errors {
        assert!(error.line >= 1 && error.line <= lines, "error on line {} of {lines}", error.line);
    }
    for family in &parsed.families {
        for sample in &family.samples {
            assert!(!sample.name.is_empty());
        }
    }
    if let Some(inner) = promtext::unwrap_json_string(text.as_bytes()) {
        let _ = promtext::parse(&inner);
    }
    // The same bytes unconverted: lines that are not UTF-8 are errors of their own line.
    let raw = promtext::parse_bytes(data);
    let raw_lines = data.split(|&b| b == b'\n').count();
    assert!(raw.errors.len() <= raw.error_count && raw.errors.len() <= promtext::MAX_KEPT_ERRORS);
    for error in &raw.errors {
        assert!(error.line >= 1 && error.line <= raw_lines, "error on line {} of {raw_lines}", error.line);
    }
});
