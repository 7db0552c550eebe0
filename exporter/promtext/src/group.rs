//! Folding lexed lines into metric families (see [`crate::parse`] for the rules).
//!
//! Lookups are O(1): the most recent family is checked first (families are contiguous in
//! well-formed input), then a hash map from family name to index. The map uses std's
//! randomly seeded hasher so that crafted names cannot degrade it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use crate::line::{parse_line, DeclaredType, Line, LineError};
use crate::{Exposition, Family, MetricType, ParseError, Sample};

/// Suffixes that may join a sample to a family of a shorter name.
const SUFFIXES: [&str; 8] = ["_bucket", "_count", "_sum", "_total", "_created", "_gsum", "_gcount", "_info"];

/// How many bytes of an offending line an error message quotes.
const SNIPPET_BYTES: usize = 80;

/// How many error messages are kept; the rest are only counted. A body of junk lines would
/// otherwise cost one message per line: memory that follows what the target sent.
pub const MAX_KEPT_ERRORS: usize = 16;

/// Per-family state that the public [`Family`] does not carry.
struct Meta {
    decl: DeclaredType,
    typed: bool,
    helped: bool,
}

struct Builder<'a, 's> {
    families: Vec<Family<'a>>,
    meta: Vec<Meta>,
    index: HashMap<&'a str, usize>,
    current: Option<usize>,
    errors: Vec<ParseError>,
    error_count: usize,
    skipped_samples: usize,
    select: &'s mut dyn FnMut(Wanted<'_>) -> bool,
}

/// Whether sample `name` belongs to `family` (declared as `decl`).
#[inline]
fn fits(family: &str, decl: DeclaredType, name: &str) -> bool {
    match name.strip_prefix(family) {
        Some("") => true,
        Some(suffix) => decl.accepts_suffix(suffix),
        None => false,
    }
}

impl<'a, 's> Builder<'a, 's> {
    fn new(select: &'s mut dyn FnMut(Wanted<'_>) -> bool) -> Self {
        Builder {
            families: Vec::new(),
            meta: Vec::new(),
            index: HashMap::new(),
            current: None,
            errors: Vec::new(),
            error_count: 0,
            skipped_samples: 0,
            select,
        }
    }

    /// Appends a new untyped family (not yet in the index).
    fn push_family(&mut self, name: &'a str) -> usize {
        let idx = self.families.len();
        self.families.push(Family { name, help: None, kind: MetricType::Untyped, samples: Vec::new() });
        self.meta.push(Meta { decl: DeclaredType::Untyped, typed: false, helped: false });
        idx
    }

    /// The family a HELP or TYPE line names, created if new; it becomes the current one.
    fn named(&mut self, name: &'a str) -> usize {
        let idx = match self.current {
            Some(c) if self.families[c].name == name => c,
            _ => {
                let next = self.families.len();
                let idx = *self.index.entry(name).or_insert(next);
                if idx == next {
                    self.push_family(name);
                }
                idx
            }
        };
        self.current = Some(idx);
        idx
    }

    fn help(&mut self, line: usize, name: &'a str, text: Cow<'a, str>) {
        if !self.wanted_family(name) {
            return;
        }
        let idx = self.named(name);
        if self.meta[idx].helped {
            self.error(line, format!("duplicate HELP for `{name}`; the first one is kept"));
        } else {
            self.meta[idx].helped = true;
            self.families[idx].help = Some(text);
        }
    }

    fn declare(&mut self, line: usize, name: &'a str, kind: DeclaredType) {
        if !self.wanted_family(name) {
            return;
        }
        let idx = self.named(name);
        if self.meta[idx].typed {
            self.error(line, format!("duplicate TYPE for `{name}`; the first one is kept"));
        } else {
            self.meta[idx].typed = true;
            self.meta[idx].decl = kind;
            self.families[idx].kind = kind.metric_type();
        }
    }

    /// Whether the caller keeps a family of this name; an existing one is always kept.
    fn wanted_family(&mut self, name: &str) -> bool {
        let known = matches!(self.current, Some(c) if self.families[c].name == name) || self.index.contains_key(name);
        known || (self.select)(Wanted::Family(name))
    }

    fn sample(&mut self, sample: Sample<'a>) {
        if !(self.select)(Wanted::Sample(sample.name)) {
            self.skipped_samples += 1;
            return;
        }
        let idx = match self.current {
            Some(c) if fits(self.families[c].name, self.meta[c].decl, sample.name) => c,
            _ => {
                let idx = self.resolve(sample.name);
                self.current = Some(idx);
                idx
            }
        };
        self.families[idx].samples.push(sample);
    }

    /// An earlier family by exact name, else by base name and allowed suffix, else a new one.
    fn resolve(&mut self, name: &'a str) -> usize {
        if let Some(&idx) = self.index.get(name) {
            return idx;
        }
        for suffix in SUFFIXES {
            let Some(base) = name.strip_suffix(suffix) else {
                continue;
            };
            if let Some(&idx) = self.index.get(base) {
                if self.meta[idx].decl.accepts_suffix(suffix) {
                    return idx;
                }
            }
        }
        let idx = self.push_family(name);
        self.index.insert(name, idx);
        idx
    }

    fn error(&mut self, line: usize, message: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_KEPT_ERRORS {
            self.errors.push(ParseError { line, message });
        }
    }

    fn line_error(&mut self, line: usize, text: &str, e: LineError) {
        if self.errors.len() >= MAX_KEPT_ERRORS {
            // Only counted: building a message nobody keeps is most of the work on junk.
            self.error_count += 1;
            return;
        }
        let text = text.trim_end_matches(['\r', ' ', '\t']);
        let mut end = text.len().min(SNIPPET_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let snippet = &text[..end];
        // The text of `format!("{} at column {}: {snippet:?}...")`, built into one allocation
        // and, for plain ASCII, without the formatting machinery: in a body of junk lines (a
        // list of series names, say) this message is most of the work.
        let mut message = String::with_capacity(e.message.len() + snippet.len() + 40);
        message.push_str(e.message);
        message.push_str(" at column ");
        push_decimal(&mut message, e.column);
        message.push_str(": ");
        if snippet.bytes().all(|b| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\') {
            message.push('"');
            message.push_str(snippet);
            message.push('"');
        } else {
            let _ = write!(message, "{snippet:?}");
        }
        if end < text.len() {
            message.push_str("...");
        }
        self.error(line, message);
    }

    fn line(&mut self, number: usize, raw: &'a str) -> Flow {
        match parse_line(raw) {
            Ok(Line::Sample(s)) => self.sample(s),
            Ok(Line::Empty | Line::Comment) => {}
            Ok(Line::Help { name, text }) => self.help(number, name, text),
            Ok(Line::Type { name, kind }) => self.declare(number, name, kind),
            Ok(Line::Eof) => return Flow::Stop,
            Err(e) => self.line_error(number, raw, e),
        }
        Flow::Continue
    }

    fn finish(self) -> Exposition<'a> {
        Exposition {
            families: self.families,
            errors: self.errors,
            error_count: self.error_count,
            skipped_samples: self.skipped_samples,
        }
    }
}

/// Appends `n` in decimal, as `write!(s, "{n}")` would.
fn push_decimal(s: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.extend(digits[start..].iter().map(|&d| char::from(d)));
}

enum Flow {
    Continue,
    Stop,
}

/// What [`parse_selected`]'s caller is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted<'n> {
    /// A sample of this name (as written, suffix included) is about to be kept.
    Sample(&'n str),
    /// A `# HELP` or `# TYPE` line names a family not seen before.
    Family(&'n str),
}

pub(crate) fn parse_selected<'a>(body: &'a [u8], select: &mut dyn FnMut(Wanted<'_>) -> bool) -> Exposition<'a> {
    let mut b = Builder::new(select);
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    match std::str::from_utf8(body) {
        // The usual case: one validation pass over the whole body, then &str lines.
        Ok(text) => {
            for (idx, raw) in text.split('\n').enumerate() {
                if let Flow::Stop = b.line(idx + 1, raw) {
                    break;
                }
            }
        }
        // Some bytes are not UTF-8: only the lines that hold them are errors.
        Err(_) => {
            for (idx, raw) in body.split(|&byte| byte == b'\n').enumerate() {
                match std::str::from_utf8(raw) {
                    Ok(raw) => {
                        if let Flow::Stop = b.line(idx + 1, raw) {
                            break;
                        }
                    }
                    Err(e) => {
                        let valid = std::str::from_utf8(&raw[..e.valid_up_to()]).unwrap_or_default();
                        b.line_error(
                            idx + 1,
                            valid,
                            LineError { message: "invalid UTF-8", column: e.valid_up_to() + 1 },
                        );
                    }
                }
            }
        }
    }
    b.finish()
}

#[cfg(test)]
mod tests;
