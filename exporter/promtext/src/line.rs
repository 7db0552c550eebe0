//! Lexing of one exposition line into a [`Line`].
//!
//! A line is one of: blank, a `# HELP`, a `# TYPE`, `# EOF`, another `#` comment, or a
//! sample `name{labels} value [timestamp] [# exemplar]`. Spaces and tabs separate tokens;
//! leading and trailing blanks and a trailing `\r` are ignored.

use std::borrow::Cow;

use crate::{MetricType, Sample};

mod number;
mod tokens;

use number::{parse_timestamp, parse_value};
use tokens::{error, is_blank, parse_escaped_string, parse_labels, parse_name, ws, LexError};

/// A type keyword as written on a `# TYPE` line, including the OpenMetrics ones.
///
/// [`DeclaredType::metric_type`] maps it onto the five [`MetricType`]s: `unknown` and
/// `untyped` → `Untyped`, `gaugehistogram` → `Histogram` (its `_bucket`/`_gsum`/`_gcount`
/// samples are grouped under it), `info` and `stateset` → `Gauge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `gaugehistogram` (OpenMetrics)
    GaugeHistogram,
    /// `summary`
    Summary,
    /// `info` (OpenMetrics)
    Info,
    /// `stateset` (OpenMetrics)
    StateSet,
    /// `untyped`, `unknown` (OpenMetrics), or no keyword at all
    Untyped,
}

impl DeclaredType {
    /// Parses a type keyword, ignoring ASCII case. `None` for an unknown keyword.
    pub fn from_keyword(s: &str) -> Option<Self> {
        const KEYWORDS: [(&str, DeclaredType); 9] = [
            ("counter", DeclaredType::Counter),
            ("gauge", DeclaredType::Gauge),
            ("histogram", DeclaredType::Histogram),
            ("summary", DeclaredType::Summary),
            ("untyped", DeclaredType::Untyped),
            ("unknown", DeclaredType::Untyped),
            ("gaugehistogram", DeclaredType::GaugeHistogram),
            ("info", DeclaredType::Info),
            ("stateset", DeclaredType::StateSet),
        ];
        KEYWORDS.iter().find(|(k, _)| k.eq_ignore_ascii_case(s)).map(|&(_, t)| t)
    }

    /// The [`MetricType`] this declaration maps to.
    pub fn metric_type(self) -> MetricType {
        match self {
            DeclaredType::Counter => MetricType::Counter,
            DeclaredType::Gauge | DeclaredType::Info | DeclaredType::StateSet => MetricType::Gauge,
            DeclaredType::Histogram | DeclaredType::GaugeHistogram => MetricType::Histogram,
            DeclaredType::Summary => MetricType::Summary,
            DeclaredType::Untyped => MetricType::Untyped,
        }
    }

    /// Whether a sample named `<family><suffix>` belongs to a family of this type.
    pub fn accepts_suffix(self, suffix: &str) -> bool {
        match self {
            DeclaredType::Counter => matches!(suffix, "_total" | "_created"),
            DeclaredType::Histogram => {
                matches!(suffix, "_bucket" | "_sum" | "_count" | "_created")
            }
            DeclaredType::GaugeHistogram => matches!(suffix, "_bucket" | "_gsum" | "_gcount"),
            DeclaredType::Summary => matches!(suffix, "_sum" | "_count" | "_created"),
            DeclaredType::Info => suffix == "_info",
            DeclaredType::Gauge | DeclaredType::StateSet | DeclaredType::Untyped => false,
        }
    }
}

/// One lexed line.
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'a> {
    /// Nothing but blanks.
    Empty,
    /// A `#` comment that is not HELP, TYPE or EOF.
    Comment,
    /// `# EOF`: the end of an OpenMetrics exposition.
    Eof,
    /// `# HELP name text`; `text` is unescaped (`\\`, `\n`) and empty when absent.
    Help {
        /// The family name.
        name: &'a str,
        /// The unescaped help text.
        text: Cow<'a, str>,
    },
    /// `# TYPE name kind`; a missing keyword reads as `untyped`.
    Type {
        /// The family name.
        name: &'a str,
        /// The declared type.
        kind: DeclaredType,
    },
    /// A sample line.
    Sample(Sample<'a>),
}

/// Why a line did not lex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineError {
    /// What was wrong.
    pub message: &'static str,
    /// 1-based byte column in the line where the problem was found.
    pub column: usize,
}

/// Lexes one line (without its `\n`; a trailing `\r` is allowed). Never panics.
pub fn parse_line(line: &str) -> Result<Line<'_>, LineError> {
    let to_error = |e: nom::Err<LexError<'_>>| {
        let (input, message) = match e {
            nom::Err::Error(e) | nom::Err::Failure(e) => (e.input, e.message),
            nom::Err::Incomplete(_) => (line, "incomplete input"),
        };
        let column = (input.as_ptr() as usize).saturating_sub(line.as_ptr() as usize) + 1;
        LineError { message, column }
    };
    let s = ws(line.trim_end_matches([' ', '\t', '\r']));
    match s.as_bytes().first() {
        None => Ok(Line::Empty),
        Some(b'#') => parse_comment(&s[1..]).map_err(to_error),
        Some(_) => parse_sample(s).map(Line::Sample).map_err(to_error),
    }
}

/// A HELP/TYPE family name: bare or, in the OpenMetrics 2 style, quoted.
fn family_name(i: &str) -> tokens::LexResult<'_, &str> {
    if !i.starts_with('"') {
        return parse_name(i);
    }
    match parse_escaped_string(i)? {
        (_, Cow::Borrowed("")) => tokens::fail(i, "empty quoted name"),
        (rest, Cow::Borrowed(name)) => Ok((rest, name)),
        (_, Cow::Owned(_)) => tokens::fail(i, "escape sequences in quoted names are not supported"),
    }
}

/// `HELP`/`TYPE` name, then the blank-separated remainder. `i` has no trailing blanks.
fn name_and_rest(i: &str) -> tokens::LexResult<'_, &str> {
    let (rest, name) = family_name(ws(i))?;
    if rest.is_empty() || rest.starts_with(is_blank) {
        Ok((ws(rest), name))
    } else {
        tokens::fail(rest, "invalid metric name")
    }
}

/// Everything after the leading `#`.
fn parse_comment(i: &str) -> Result<Line<'_>, nom::Err<LexError<'_>>> {
    let i = ws(i);
    let end = i.find(is_blank).unwrap_or(i.len());
    let (keyword, after) = i.split_at(end);
    match keyword {
        "HELP" => {
            let (text, name) = name_and_rest(after)?;
            Ok(Line::Help { name, text: unescape_help(text) })
        }
        "TYPE" => {
            let (rest, name) = name_and_rest(after)?;
            let end = rest.find(is_blank).unwrap_or(rest.len());
            let (keyword, tail) = rest.split_at(end);
            let kind = if keyword.is_empty() {
                DeclaredType::Untyped
            } else {
                match DeclaredType::from_keyword(keyword) {
                    Some(kind) => kind,
                    None => return Err(error(rest, "unknown metric type")),
                }
            };
            if !ws(tail).is_empty() {
                return Err(error(ws(tail), "unexpected text after metric type"));
            }
            Ok(Line::Type { name, kind })
        }
        "EOF" if after.is_empty() => Ok(Line::Eof),
        _ => Ok(Line::Comment),
    }
}

/// `\\` → `\` and `\n` → newline; other backslashes are kept as written.
fn unescape_help(text: &str) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// `name{labels} value [timestamp] [# exemplar]`, `s` trimmed on both sides.
fn parse_sample(s: &str) -> Result<Sample<'_>, nom::Err<LexError<'_>>> {
    let (rest, bare) = if s.starts_with('{') {
        (s, None)
    } else {
        let (rest, name) = parse_name(s)?;
        if !(rest.is_empty() || rest.starts_with(is_blank) || rest.starts_with('{')) {
            return Err(error(rest, "invalid character in metric name"));
        }
        (ws(rest), Some(name))
    };
    let (rest, name, labels) = if rest.starts_with('{') {
        let (rest, (quoted, labels)) = parse_labels(rest)?;
        let name = match (bare, quoted) {
            (Some(n), None) | (None, Some(n)) => n,
            (Some(_), Some(_)) => return Err(error(s, "metric name given twice")),
            (None, None) => return Err(error(s, "missing metric name")),
        };
        if let Some(repeated) = repeated_label(&labels) {
            return Err(error(repeated, "label name given twice"));
        }
        (ws(rest), name, labels)
    } else {
        // `bare` is always set here: without a name the line starts with '{'.
        (rest, bare.unwrap_or_default(), Vec::new())
    };
    let (rest, value) = parse_value(rest)?;
    let rest = ws(rest);
    let (rest, timestamp_ms) = if rest.is_empty() || rest.starts_with('#') {
        (rest, None)
    } else {
        let (rest, ts) = parse_timestamp(rest)?;
        (ws(rest), Some(ts))
    };
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err(error(rest, "unexpected text after sample"));
    }
    // Anything after '#' is an OpenMetrics exemplar; it is not kept.
    Ok(Sample { name, labels, value, timestamp_ms })
}

/// The second occurrence of a label name that appears twice (a sample's label set is a map:
/// Prometheus rejects the line, and which value would win is anyone's guess).
fn repeated_label<'a>(labels: &[(&'a str, Cow<'a, str>)]) -> Option<&'a str> {
    // Quadratic on purpose for the usual handful of labels; a hostile line with thousands of
    // labels is checked in O(n log n) instead.
    if labels.len() <= 16 {
        return labels
            .iter()
            .enumerate()
            .find(|(i, (name, _))| labels[..*i].iter().any(|(n, _)| n == name))
            .map(|(_, (n, _))| *n);
    }
    let mut names: Vec<&'a str> = labels.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.windows(2).find(|w| w[0] == w[1]).map(|w| w[1])
}

#[cfg(test)]
mod tests;
