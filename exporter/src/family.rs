//! The exporter's own metric model and its text encoding.
//!
//! Collectors return [`Family`] values; the scrape runner merges families of the same name
//! (several servers each contribute samples to `llm_server_up`), sorts them, and encodes them
//! once in the Prometheus text format 0.0.4. Owning this small model instead of the
//! `prometheus` crate's protobuf types keeps collectors pure and easy to test, and keeps the
//! output byte-for-byte under our control (sorting, escaping, no timestamps).
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

/// The Content-Type of [`encode_text`]'s output. Prometheus 3 rejects a missing or
/// unparsable Content-Type, so it is spelled out in full.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metric type written on the `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
            Kind::Untyped => "untyped",
        }
    }
}

/// A label set, in the order it is written.
pub type Labels = Vec<(Cow<'static, str>, String)>;

/// One sample. `suffix` is `""` for plain series and `_bucket`, `_sum` or `_count` for the
/// parts of a histogram or summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub suffix: &'static str,
    pub labels: Labels,
    pub value: f64,
}

/// A metric family: one name, one HELP, one TYPE, its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: Cow<'static, str>,
    pub help: Cow<'static, str>,
    pub kind: Kind,
    pub samples: Vec<Sample>,
    /// Series a cap left out while shaping this family (never written out; counted in
    /// `llm_exporter_target_series_dropped_total`).
    pub dropped: usize,
}

impl Family {
    pub fn new(name: impl Into<Cow<'static, str>>, help: impl Into<Cow<'static, str>>, kind: Kind) -> Self {
        Family { name: name.into(), help: help.into(), kind, samples: Vec::new(), dropped: 0 }
    }

    pub fn gauge(name: &'static str, help: &'static str) -> Self {
        Family::new(name, help, Kind::Gauge)
    }

    pub fn counter(name: &'static str, help: &'static str) -> Self {
        Family::new(name, help, Kind::Counter)
    }

    /// Adds a plain sample. A NaN value is dropped: missing data means no sample.
    pub fn push(&mut self, labels: Labels, value: f64) {
        if !value.is_nan() {
            self.samples.push(Sample { suffix: "", labels, value });
        }
    }

    /// Builder form of [`Family::push`].
    pub fn with(mut self, labels: Labels, value: f64) -> Self {
        self.push(labels, value);
        self
    }

    /// Adds one histogram series: its buckets in ascending `le` order (a `+Inf` bucket equal
    /// to the count is added when missing), then `_sum` and `_count`. `le` comes last among
    /// the bucket labels. Buckets with a NaN bound are dropped.
    pub fn push_histogram(&mut self, labels: Labels, histogram: &Histogram) {
        let mut buckets: Vec<(f64, f64)> = histogram.buckets.iter().copied().filter(|(le, _)| !le.is_nan()).collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets.dedup_by(|later, earlier| later.0 == earlier.0);
        if buckets.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
            buckets.push((f64::INFINITY, histogram.count));
        }
        for (le, count) in buckets {
            let mut bucket_labels = labels.clone();
            let mut bound = String::new();
            write_value(&mut bound, le);
            bucket_labels.push((Cow::Borrowed("le"), bound));
            self.samples.push(Sample { suffix: "_bucket", labels: bucket_labels, value: count });
        }
        self.samples.push(Sample { suffix: "_sum", labels: labels.clone(), value: histogram.sum });
        self.samples.push(Sample { suffix: "_count", labels, value: histogram.count });
    }
}

/// One histogram series: cumulative bucket counts by upper bound (`le`), the sum of the
/// observations and their count. Bucket bounds are the source's own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

/// Builds a [`Labels`] from `(name, value)` pairs.
pub fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (Cow::Borrowed(k), v.to_string())).collect()
}

/// Merges families of the same name (the first HELP and TYPE win) and sorts them by name,
/// so every family is written once and contiguously. A series that two sources both give
/// is written once, the first one's value: Prometheus rejects a scrape that repeats one.
/// Only families that several sources gave are checked (one source's series are its own
/// tests' business), which keeps the check off the large per-process families.
pub fn merge(families: impl IntoIterator<Item = Family>) -> Vec<Family> {
    let mut by_name: BTreeMap<Cow<'static, str>, (Family, bool)> = BTreeMap::new();
    for family in families {
        match by_name.get_mut(&family.name) {
            Some((existing, merged)) => {
                existing.samples.extend(family.samples);
                *merged = true;
            }
            None => {
                by_name.insert(family.name.clone(), (family, false));
            }
        }
    }
    by_name
        .into_values()
        .map(|(mut family, merged)| {
            if merged {
                drop_repeated_series(&mut family);
            }
            family
        })
        .filter(|f| !f.samples.is_empty())
        .collect()
}

/// Drops each sample whose suffix and label set (in any order) an earlier one already has.
fn drop_repeated_series(family: &mut Family) {
    if family.samples.len() < 2 {
        return;
    }
    let keep: Vec<bool> = {
        let mut seen = HashSet::with_capacity(family.samples.len());
        family
            .samples
            .iter()
            .map(|s| {
                let mut labels: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (k.as_ref(), v.as_str())).collect();
                labels.sort_unstable();
                seen.insert((s.suffix, labels))
            })
            .collect()
    };
    let mut keep = keep.into_iter();
    family.samples.retain(|_| keep.next().unwrap_or(true));
}

/// Encodes families in the Prometheus text format 0.0.4, in the order given.
pub fn encode_text(families: &[Family]) -> String {
    let mut out = String::with_capacity(families.len() * 256);
    for family in families {
        out.push_str("# HELP ");
        out.push_str(&family.name);
        out.push(' ');
        escape_into(&mut out, &family.help, false);
        out.push_str("\n# TYPE ");
        out.push_str(&family.name);
        out.push(' ');
        out.push_str(family.kind.as_str());
        out.push('\n');
        for sample in &family.samples {
            out.push_str(&family.name);
            out.push_str(sample.suffix);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (name, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(name);
                    out.push_str("=\"");
                    escape_into(&mut out, value, true);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            write_value(&mut out, sample.value);
            out.push('\n');
        }
    }
    out
}

fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        // `Display` for f64 is the shortest representation that round-trips.
        let _ = write!(out, "{value}");
    }
}

/// Escapes `\` and newlines (and `"` inside label values), as the text format requires.
fn escape_into(out: &mut String, text: &str, quote: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_sorted_merged_families_with_escapes() {
        let a = Family::gauge("llm_b", "second").with(labels([("server", "x")]), 1.0);
        let b = Family::gauge("llm_a", "first \\ line\nnext").with(labels([("v", "q\"\\\n")]), 0.5);
        let c = Family::gauge("llm_b", "ignored").with(labels([("server", "y")]), f64::INFINITY);
        let text = encode_text(&merge([a, b, c]));
        assert_eq!(
            text,
            "# HELP llm_a first \\\\ line\\nnext\n# TYPE llm_a gauge\nllm_a{v=\"q\\\"\\\\\\n\"} 0.5\n\
             # HELP llm_b second\n# TYPE llm_b gauge\nllm_b{server=\"x\"} 1\nllm_b{server=\"y\"} +Inf\n"
        );
    }

    #[test]
    fn a_series_given_twice_is_written_once() {
        let first = Family::gauge("llm_up", "up").with(labels([("server", "a"), ("backend", "x")]), 1.0);
        let again = Family::gauge("llm_up", "up").with(labels([("backend", "x"), ("server", "a")]), 0.0);
        let other = Family::gauge("llm_up", "up").with(labels([("server", "b"), ("backend", "x")]), 0.0);
        let text = encode_text(&merge([first, again, other]));
        assert_eq!(
            text,
            "# HELP llm_up up\n# TYPE llm_up gauge\nllm_up{server=\"a\",backend=\"x\"} 1\nllm_up{server=\"b\",backend=\"x\"} 0\n"
        );
        let one = Histogram { buckets: vec![(1.0, 1.0)], sum: 1.0, count: 1.0 };
        let histogram = || {
            let mut h = Family::new("llm_h_seconds", "h", Kind::Histogram);
            h.push_histogram(labels([("server", "a")]), &one);
            h
        };
        assert_eq!(merge([histogram(), histogram()])[0].samples.len(), 4, "le=1, le=+Inf, _sum, _count once");
    }

    #[test]
    fn nan_samples_and_empty_families_are_left_out() {
        let f = Family::counter("llm_c_total", "c").with(vec![], f64::NAN);
        assert!(merge([f]).is_empty());
    }

    #[test]
    fn histograms_are_written_in_le_order_with_sum_and_count() {
        let mut f = Family::new("llm_h_seconds", "h", Kind::Histogram);
        let h = Histogram { buckets: vec![(1.0, 3.0), (0.5, 1.0), (f64::NAN, 9.0), (0.5, 1.0)], sum: 2.5, count: 4.0 };
        f.push_histogram(labels([("server", "a")]), &h);
        let text = encode_text(&merge([f]));
        assert_eq!(
            text,
            "# HELP llm_h_seconds h\n# TYPE llm_h_seconds histogram\n\
             llm_h_seconds_bucket{server=\"a\",le=\"0.5\"} 1\n\
             llm_h_seconds_bucket{server=\"a\",le=\"1\"} 3\n\
             llm_h_seconds_bucket{server=\"a\",le=\"+Inf\"} 4\n\
             llm_h_seconds_sum{server=\"a\"} 2.5\n\
             llm_h_seconds_count{server=\"a\"} 4\n"
        );
    }

    #[test]
    fn values_round_trip() {
        let mut out = String::new();
        for v in [0.080463, 1e-7, 57.0, -0.0, 1.5e300, f64::NEG_INFINITY] {
            out.clear();
            write_value(&mut out, v);
            let back: f64 = if out == "-Inf" { f64::NEG_INFINITY } else { out.parse().unwrap() };
            assert_eq!(back, v, "{out}");
        }
    }
}
