//! Token-level nom parsers for one exposition line: whitespace, metric and label names,
//! quoted strings with escapes, and label sets.
//!
//! Every parser takes the remaining input and returns the unconsumed tail together with
//! the parsed value, so they compose with nom combinators. Names and escape-free strings
//! are returned as slices of the input (no copy).

use std::borrow::Cow;

use nom::bytes::complete::take_while1;
use nom::character::complete::char;
use nom::combinator::verify;
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

/// A lexing error: where in the line it happened and what was expected there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LexError<'a> {
    /// The input that remained when the error was detected.
    pub input: &'a str,
    /// A short, human-readable description.
    pub message: &'static str,
}

impl<'a> ParseError<&'a str> for LexError<'a> {
    fn from_error_kind(input: &'a str, _kind: ErrorKind) -> Self {
        LexError { input, message: "syntax error" }
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

/// Result type of the lexing parsers.
pub type LexResult<'a, T> = IResult<&'a str, T, LexError<'a>>;

/// One label: its name and its unescaped value.
pub type Label<'a> = (&'a str, Cow<'a, str>);

/// A recoverable error at `input`.
pub fn error<'a>(input: &'a str, message: &'static str) -> nom::Err<LexError<'a>> {
    nom::Err::Error(LexError { input, message })
}

/// Fails with a recoverable error at `input`.
pub fn fail<'a, T>(input: &'a str, message: &'static str) -> LexResult<'a, T> {
    Err(error(input, message))
}

/// Replaces the message of a recoverable error, keeping its position.
fn with_message<'a, T>(r: LexResult<'a, T>, message: &'static str) -> LexResult<'a, T> {
    r.map_err(|e| e.map(|e| LexError { message, ..e }))
}

/// Space or tab: the only separators inside a line.
#[inline]
pub fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Skips zero or more spaces and tabs.
#[inline]
pub fn ws(i: &str) -> &str {
    i.trim_start_matches([' ', '\t'])
}

/// Byte classes for names: bit 0 metric-name byte, bit 1 label-name byte.
const NAME_BYTE: u8 = 1;
const LABEL_BYTE: u8 = 2;
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'_' {
            t[b] = NAME_BYTE | LABEL_BYTE;
        } else if c == b':' {
            t[b] = NAME_BYTE;
        }
        b += 1;
    }
    t
};

/// `[class]+` not starting with a digit, recognised on the bytes (names are ASCII).
#[inline]
fn ascii_name<'a>(i: &'a str, class: u8, message: &'static str) -> LexResult<'a, &'a str> {
    let r: IResult<&[u8], &[u8], ()> =
        verify(take_while1(|b: u8| CLASS[usize::from(b)] & class != 0), |name: &[u8]| {
            name.first().is_some_and(|b| !b.is_ascii_digit())
        })
        .parse(i.as_bytes());
    match r {
        // The name is ASCII, so its length is a char boundary.
        Ok((_, name)) => Ok((&i[name.len()..], &i[..name.len()])),
        Err(_) => fail(i, message),
    }
}

/// A metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
#[inline]
pub fn parse_name(i: &str) -> LexResult<'_, &str> {
    ascii_name(i, NAME_BYTE, "invalid metric name")
}

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
#[inline]
pub fn parse_label_name(i: &str) -> LexResult<'_, &str> {
    ascii_name(i, LABEL_BYTE, "invalid label name")
}

/// A double-quoted string with `\\`, `\"` and `\n` escapes. Other escapes are kept as
/// written (the backslash stays), as Prometheus does. Borrows unless an escape occurred.
pub fn parse_escaped_string(i: &str) -> LexResult<'_, Cow<'_, str>> {
    let (body, _) = with_message(char('"').parse(i), "expected '\"'")?;
    let bytes = body.as_bytes();
    let mut owned: Option<String> = None;
    let mut pos = 0;
    let mut chunk = 0;
    loop {
        let Some(off) = bytes.get(pos..).and_then(|b| b.iter().position(|&b| b == b'"' || b == b'\\')) else {
            return fail(i, "unterminated quoted string");
        };
        let at = pos + off;
        // `at` and `at + 1` sit on ASCII bytes, hence on char boundaries.
        if bytes[at] == b'"' {
            let value = match owned {
                None => Cow::Borrowed(&body[..at]),
                Some(mut s) => {
                    s.push_str(&body[chunk..at]);
                    Cow::Owned(s)
                }
            };
            return Ok((&body[at + 1..], value));
        }
        let s = owned.get_or_insert_with(|| String::with_capacity(body.len().min(256)));
        s.push_str(&body[chunk..at]);
        match bytes.get(at + 1) {
            Some(b'\\') => s.push('\\'),
            Some(b'"') => s.push('"'),
            Some(b'n') => s.push('\n'),
            Some(_) => {
                // Unknown escape: keep the backslash; the next char starts the next chunk.
                s.push('\\');
                pos = at + 1;
                chunk = pos;
                continue;
            }
            None => return fail(i, "unterminated quoted string"),
        }
        pos = at + 2;
        chunk = pos;
    }
}

/// A label set `{a="b",c="d"}`: blanks allowed around every token, a trailing comma and the
/// empty set `{}` accepted. The first item may be a bare quoted string, `{"name.with.dots",
/// a="b"}`, which is the metric name (OpenMetrics 2 / Prometheus 3); label names may be quoted
/// too. Quoted names must not contain escapes (names borrow from the input).
///
/// Returns the quoted metric name, if one was given, and the labels in input order.
pub fn parse_labels(i: &str) -> LexResult<'_, (Option<&str>, Vec<Label<'_>>)> {
    let (mut rest, _) = with_message(char('{').parse(i), "expected '{'")?;
    let mut labels: Vec<Label<'_>> = Vec::new();
    let mut metric_name = None;
    let mut first = true;
    loop {
        rest = ws(rest);
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((r, (metric_name, labels)));
        }
        let item = rest;
        let (r, name) = if rest.starts_with('"') {
            let (r, quoted) = parse_escaped_string(rest)?;
            let quoted = match quoted {
                Cow::Borrowed("") => return fail(item, "empty quoted name"),
                Cow::Borrowed(quoted) => quoted,
                Cow::Owned(_) => return fail(item, "escape sequences in quoted names are not supported"),
            };
            let r = ws(r);
            if !r.starts_with('=') {
                if !first {
                    return fail(item, "a quoted metric name must come first in the label set");
                }
                metric_name = Some(quoted);
                first = false;
                rest = match r.strip_prefix(',') {
                    Some(r) => r,
                    None if r.starts_with('}') => r,
                    None => return fail(r, "expected ',' or '}' in label set"),
                };
                continue;
            }
            (r, quoted)
        } else {
            parse_label_name(rest)?
        };
        let r = ws(r);
        let Some(r) = r.strip_prefix('=') else {
            return fail(r, "expected '=' after label name");
        };
        let r = ws(r);
        if !r.starts_with('"') {
            return fail(r, "expected quoted label value");
        }
        let (r, value) = parse_escaped_string(r)?;
        labels.push((name, value));
        first = false;
        let r = ws(r);
        rest = match r.strip_prefix(',') {
            Some(r) => r,
            None if r.starts_with('}') => r,
            None => return fail(r, "expected ',' or '}' in label set"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_at<T: std::fmt::Debug>(r: LexResult<'_, T>) -> (&str, &'static str) {
        match r {
            Err(nom::Err::Error(e)) => (e.input, e.message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn names() {
        assert_eq!(parse_name("foo_bar 1"), Ok((" 1", "foo_bar")));
        assert_eq!(
            parse_name("llamacpp:prompt_tokens_total{a=\"b\"}"),
            Ok(("{a=\"b\"}", "llamacpp:prompt_tokens_total"))
        );
        assert_eq!(parse_name(":a9_:x"), Ok(("", ":a9_:x")));
        assert_eq!(parse_name("a-b"), Ok(("-b", "a")));
        assert_eq!(err_at(parse_name("9abc")), ("9abc", "invalid metric name"));
        assert_eq!(err_at(parse_name("")), ("", "invalid metric name"));
        assert_eq!(err_at(parse_name("é")), ("é", "invalid metric name"));
    }

    #[test]
    fn label_names() {
        assert_eq!(parse_label_name("le=\"1\""), Ok(("=\"1\"", "le")));
        assert_eq!(parse_label_name("_a1 ="), Ok((" =", "_a1")));
        assert_eq!(parse_label_name("a:b"), Ok((":b", "a")));
        assert_eq!(err_at(parse_label_name(":a")), (":a", "invalid label name"));
        assert_eq!(err_at(parse_label_name("1a")), ("1a", "invalid label name"));
    }

    #[test]
    fn escaped_strings() {
        let (rest, v) = parse_escaped_string("\"plain\" tail").unwrap();
        assert_eq!((rest, &v), (" tail", &Cow::Borrowed("plain")));
        assert!(matches!(v, Cow::Borrowed(_)));

        let (rest, v) = parse_escaped_string(r#""a\"b\\c\nd","#).unwrap();
        assert_eq!((rest, v.as_ref()), (",", "a\"b\\c\nd"));
        assert!(matches!(v, Cow::Owned(_)));

        assert_eq!(parse_escaped_string(r#""x\tyé\é"}"#), Ok(("}", Cow::Owned(r"x\tyé\é".to_string()))));
        assert_eq!(parse_escaped_string("\"\""), Ok(("", Cow::Borrowed(""))));
        assert_eq!(parse_escaped_string("\"ünï\"x"), Ok(("x", Cow::Borrowed("ünï"))));
        assert_eq!(err_at(parse_escaped_string("\"abc")), ("\"abc", "unterminated quoted string"));
        assert_eq!(err_at(parse_escaped_string("\"abc\\")), ("\"abc\\", "unterminated quoted string"));
        assert_eq!(err_at(parse_escaped_string("abc")), ("abc", "expected '\"'"));
    }

    #[test]
    fn label_sets() {
        let (rest, (name, labels)) = parse_labels("{a=\"1\",b=\"2\"} 3").unwrap();
        assert_eq!(rest, " 3");
        assert_eq!(name, None);
        assert_eq!(labels, vec![("a", Cow::Borrowed("1")), ("b", Cow::Borrowed("2"))]);

        let (rest, (_, labels)) = parse_labels("{ a = \"1\" ,\tb=\"2\", } 3").unwrap();
        assert_eq!(rest, " 3");
        assert_eq!(labels.len(), 2);

        assert_eq!(parse_labels("{}x"), Ok(("x", (None, vec![]))));
        assert_eq!(parse_labels("{ }"), Ok(("", (None, vec![]))));

        let (rest, (name, labels)) = parse_labels("{\"name.with.dots\", \"label.x\"=\"v\", y=\"w\"} 1").unwrap();
        assert_eq!(rest, " 1");
        assert_eq!(name, Some("name.with.dots"));
        assert_eq!(labels, vec![("label.x", Cow::Borrowed("v")), ("y", Cow::Borrowed("w"))]);
        assert_eq!(parse_labels("{\"m\"} 1"), Ok((" 1", (Some("m"), vec![]))));
    }

    #[test]
    fn label_set_errors() {
        assert_eq!(err_at(parse_labels("{a=\"1\" b=\"2\"}")), ("b=\"2\"}", "expected ',' or '}' in label set"));
        assert_eq!(err_at(parse_labels("{a\"1\"}")), ("\"1\"}", "expected '=' after label name"));
        assert_eq!(err_at(parse_labels("{a=1}")), ("1}", "expected quoted label value"));
        assert_eq!(err_at(parse_labels("{,}")), (",}", "invalid label name"));
        assert_eq!(err_at(parse_labels("{a=\"1\"")), ("", "expected ',' or '}' in label set"));
        assert_eq!(
            err_at(parse_labels("{a=\"1\", \"m\"}")),
            ("\"m\"}", "a quoted metric name must come first in the label set")
        );
        assert_eq!(
            err_at(parse_labels("{\"a\\\"b\"=\"1\"}")),
            ("\"a\\\"b\"=\"1\"}", "escape sequences in quoted names are not supported")
        );
        assert_eq!(err_at(parse_labels("a")), ("a", "expected '{'"));
        assert_eq!(err_at(parse_labels("{\"\"} 1")), ("\"\"} 1", "empty quoted name"));
        assert_eq!(err_at(parse_labels("{\"\"=\"v\"}")), ("\"\"=\"v\"}", "empty quoted name"));
    }
}
