//! A small, zero-copy parser for the Prometheus text exposition format (version 0.0.4) and
//! the subset of OpenMetrics 1.0 text that servers emit.
//!
//! # What it parses
//!
//! * `# HELP name text` (text unescaped: `\\`, `\n`) and `# TYPE name kind` lines, in either
//!   order, before or after the family's samples;
//! * samples `name{label="value",...} value [timestamp]`, with metric names such as
//!   `llamacpp:prompt_tokens_total`, label values with `\\`, `\"`, `\n` escapes, a trailing
//!   comma, `{}`, and the OpenMetrics 2 / Prometheus 3 quoted form `{"name.with.dots", a="b"}`;
//! * values as Go's `strconv.ParseFloat` writes them (`1e+06`, `.5`, `-0`, `NaN`, `+Inf`,
//!   any case, and MSVC's `nan(ind)`); timestamps in integer milliseconds, or float seconds
//!   (OpenMetrics) converted to milliseconds;
//! * OpenMetrics details: `# EOF` ends the input, exemplars after ` # ` are skipped, type
//!   keywords `unknown`/`gaugehistogram`/`info`/`stateset` are mapped (see
//!   [`line::DeclaredType`]), `_total`/`_created`/`_gsum`/`_gcount`/`_info` suffixes are grouped;
//! * LF or CRLF line endings, spaces or tabs between tokens, a missing final newline.
//!
//! Other backslash sequences in label values and help texts are kept as written, as
//! Prometheus does. A label named twice in one sample makes the line an error. Not checked:
//! bucket monotonicity. Not kept: `# UNIT` lines (read as comments) and exemplars. An integer
//! timestamp is always read as milliseconds, as the Prometheus format defines it; only a
//! timestamp with a fraction or an exponent is read as OpenMetrics seconds. [`parse`] takes
//! `&str`; [`parse_bytes`] takes bytes and reports each line that is not UTF-8 as an error.
//!
//! Samples are grouped into [`Family`]s: a sample joins the family declared by `# TYPE`
//! whose name it extends with a suffix that type allows (`_bucket`, `_sum`, `_count` for a
//! histogram; `_total` for a counter declared with or without it, ...). A sample with no
//! declared family starts an untyped family of its own name. Samples of a family that show up
//! apart from the rest are still appended to that one family. The rules are in [`parse`].
//!
//! # Zero copy
//!
//! Names, help texts and label values are slices of the input. Only a label value or help
//! text that contains an escape is copied (`Cow::Owned`); the only allocations per sample
//! are its label vector and the family's sample vector growing.
//!
//! # Errors
//!
//! Parsing never fails as a whole and never panics. A line that cannot be parsed is skipped
//! and reported as a [`ParseError`] with its 1-based line number; every other line is still
//! used. Only the first [`MAX_KEPT_ERRORS`] messages are kept, all are counted, so a body of
//! junk costs no more memory than a good one. [`parse_selected`] keeps only the samples and
//! families its caller asks for. Also reported (and otherwise ignored): a `# TYPE` with an unknown keyword (the
//! family stays untyped), a second `# TYPE` or `# HELP` for the same family (the first one
//! wins).
//!
//! # Example
//!
//! ```
//! use promtext::{parse, MetricType};
//!
//! let body = "\
//! ## HELP llamacpp:tokens_predicted_total Number of generation tokens processed
//! ## TYPE llamacpp:tokens_predicted_total counter
//! llamacpp:tokens_predicted_total 200
//! ## TYPE vllm:e2e_request_latency_seconds histogram
//! vllm:e2e_request_latency_seconds_bucket{model_name=\"m\",le=\"1.0\"} 3
//! vllm:e2e_request_latency_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 4
//! vllm:e2e_request_latency_seconds_sum{model_name=\"m\"} 2.5
//! vllm:e2e_request_latency_seconds_count{model_name=\"m\"} 4
//! ";
//! let exp = parse(body);
//! assert!(exp.errors.is_empty());
//!
//! let tokens = exp.family("llamacpp:tokens_predicted_total").unwrap();
//! assert_eq!(tokens.kind, MetricType::Counter);
//! assert_eq!(tokens.samples[0].value, 200.0);
//!
//! let latency = exp.family("vllm:e2e_request_latency_seconds").unwrap();
//! assert_eq!(latency.kind, MetricType::Histogram);
//! assert_eq!(latency.samples.len(), 4);
//! assert_eq!(latency.samples[1].label("le"), Some("+Inf"));
//! ```
#![deny(missing_docs)]

use std::borrow::Cow;

mod group;
mod json;
pub mod line;

pub use group::{Wanted, MAX_KEPT_ERRORS};
pub use line::{parse_line, DeclaredType, Line, LineError};

/// The type a `# TYPE` line declares; `Untyped` when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge` (also OpenMetrics `info` and `stateset`)
    Gauge,
    /// `histogram` (also OpenMetrics `gaugehistogram`)
    Histogram,
    /// `summary`
    Summary,
    /// `untyped`, OpenMetrics `unknown`, or no `# TYPE` line
    Untyped,
}

impl MetricType {
    /// Parses a `# TYPE` keyword (ASCII case ignored), mapping the OpenMetrics-only ones as
    /// [`DeclaredType::metric_type`] does. `None` for an unknown keyword.
    pub fn from_keyword(keyword: &str) -> Option<Self> {
        DeclaredType::from_keyword(keyword).map(DeclaredType::metric_type)
    }

    /// The Prometheus keyword: `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }
}

/// One sample line. `name` is the full sample name (with `_bucket`/`_sum`/`_count`/`_total`
/// suffixes as written). Label values are unescaped; they borrow from the input unless they
/// contained an escape.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The sample name as written.
    pub name: &'a str,
    /// Labels in input order: name and unescaped value.
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    /// The value.
    pub value: f64,
    /// The timestamp in milliseconds since the Unix epoch, if the line had one.
    pub timestamp_ms: Option<i64>,
}

impl<'a> Sample<'a> {
    /// The value of label `name`, if present (the first one if repeated).
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_ref())
    }
}

/// A metric family: consecutive samples sharing a base name.
#[derive(Debug, Clone, PartialEq)]
pub struct Family<'a> {
    /// The base name, as declared by `# TYPE`/`# HELP`, or the sample name if undeclared.
    pub name: &'a str,
    /// The unescaped `# HELP` text.
    pub help: Option<Cow<'a, str>>,
    /// The declared type.
    pub kind: MetricType,
    /// The samples, in input order. Empty for a family that was declared but had none.
    pub samples: Vec<Sample<'a>>,
}

/// A line that could not be parsed; it was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong, with the column and the start of the line.
    pub message: String,
}

/// The result of parsing a whole body: every family that parsed (or was selected), and the
/// lines that did not parse.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition<'a> {
    /// Families in order of first appearance.
    pub families: Vec<Family<'a>>,
    /// The first [`MAX_KEPT_ERRORS`] lines that did not parse, in line order.
    pub errors: Vec<ParseError>,
    /// How many lines did not parse (or were otherwise reported), kept or not.
    pub error_count: usize,
    /// Samples that parsed but were not selected (always 0 for [`parse`]).
    pub skipped_samples: usize,
}

impl<'a> Exposition<'a> {
    /// The family with this exact name (a linear scan over the families).
    pub fn family(&self, name: &str) -> Option<&Family<'a>> {
        self.families.iter().find(|f| f.name == name)
    }
}

/// Parses a whole exposition body. Never panics.
///
/// Grouping rules, for each sample in turn:
/// 1. it joins the most recent family if it has that family's name, or that name plus a
///    suffix the family's type allows ([`DeclaredType::accepts_suffix`]);
/// 2. otherwise it joins an earlier family with its exact name, or whose name plus an
///    allowed suffix it is;
/// 3. otherwise it starts a new untyped family named after it.
///
/// `# HELP` and `# TYPE` lines create their family if needed (so they may precede or follow
/// each other and the samples) and make it the most recent one. Parsing stops at `# EOF`. A
/// leading byte order mark is skipped.
pub fn parse(text: &str) -> Exposition<'_> {
    group::parse_selected(text.as_bytes(), &mut |_| true)
}

/// [`parse`] for bytes that may not be UTF-8: a line holding invalid UTF-8 is reported and
/// skipped like any other bad line; every other line is used. Nothing is copied.
pub fn parse_bytes(body: &[u8]) -> Exposition<'_> {
    group::parse_selected(body, &mut |_| true)
}

/// [`parse_bytes`] keeping only what `select` wants, so memory follows what the caller uses,
/// not what the body holds. `select` is asked about each parsed sample by its name
/// ([`Wanted::Sample`]; a refused one is counted in [`Exposition::skipped_samples`]) and about
/// each family a `# HELP` or `# TYPE` line would create ([`Wanted::Family`]; a refused one
/// leaves its samples to start untyped families of their own names, if they are wanted).
pub fn parse_selected<'a>(body: &'a [u8], select: &mut dyn FnMut(Wanted<'_>) -> bool) -> Exposition<'a> {
    group::parse_selected(body, select)
}

/// Some llama.cpp builds served the body as a JSON string literal. If `body` (trimmed) is one,
/// returns its decoded contents; otherwise `None`.
pub fn unwrap_json_string(body: impl AsRef<[u8]>) -> Option<String> {
    let body = body.as_ref();
    // Cheap refusal first: a text body is never re-validated or copied.
    if body.trim_ascii_start().first() != Some(&b'"') {
        return None;
    }
    json::unwrap_json_string(std::str::from_utf8(body).ok()?)
}
