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

/// Per-family state that the public [`Family`] does not carry.
struct Meta {
    decl: DeclaredType,
    typed: bool,
    helped: bool,
}

struct Builder<'a> {
    families: Vec<Family<'a>>,
    meta: Vec<Meta>,
    index: HashMap<&'a str, usize>,
    current: Option<usize>,
    errors: Vec<ParseError>,
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

impl<'a> Builder<'a> {
    fn new() -> Self {
        Builder { families: Vec::new(), meta: Vec::new(), index: HashMap::new(), current: None, errors: Vec::new() }
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
        let idx = self.named(name);
        if self.meta[idx].helped {
            self.error(line, format!("duplicate HELP for `{name}`; the first one is kept"));
        } else {
            self.meta[idx].helped = true;
            self.families[idx].help = Some(text);
        }
    }

    fn declare(&mut self, line: usize, name: &'a str, kind: DeclaredType) {
        let idx = self.named(name);
        if self.meta[idx].typed {
            self.error(line, format!("duplicate TYPE for `{name}`; the first one is kept"));
        } else {
            self.meta[idx].typed = true;
            self.meta[idx].decl = kind;
            self.families[idx].kind = kind.metric_type();
        }
    }

    fn sample(&mut self, sample: Sample<'a>) {
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
        self.errors.push(ParseError { line, message });
    }

    fn line_error(&mut self, line: usize, text: &str, e: LineError) {
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

    fn finish(self) -> Exposition<'a> {
        Exposition { families: self.families, errors: self.errors }
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

pub(crate) fn parse(text: &str) -> Exposition<'_> {
    let mut b = Builder::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (idx, raw) in text.split('\n').enumerate() {
        match parse_line(raw) {
            Ok(Line::Sample(s)) => b.sample(s),
            Ok(Line::Empty | Line::Comment) => {}
            Ok(Line::Help { name, text }) => b.help(idx + 1, name, text),
            Ok(Line::Type { name, kind }) => b.declare(idx + 1, name, kind),
            Ok(Line::Eof) => break,
            Err(e) => b.line_error(idx + 1, raw, e),
        }
    }
    b.finish()
}

#[cfg(test)]
mod tests;
