//! Table-driven shaping of an upstream Prometheus exposition into `llm_*` families, shared by
//! the backends that serve `/metrics` in the text format (vLLM, SGLang, TGI).
//!
//! Each backend keeps its own table ([`Rule`]s) beside its code. Samples are looked up by their
//! full sample name, never by the family a `# TYPE` line declares, so a body without HELP or
//! TYPE lines (each sample then stands alone, untyped) reads the same as a complete one, and the
//! type written out always comes from the table. Only the labels a rule names (and the few the
//! backend keeps on every series, such as `engine`) survive; every other upstream label is
//! dropped, and series that then coincide are combined: counters and histograms are summed,
//! gauges take the largest value. So a label with unbounded values can never reach the output.
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub use crate::discovery::model_id::model_label;
use crate::family::{Family, Histogram, Kind, Labels};

/// At most this many series per output family, whatever the upstream body holds; the upstream
/// samples left out are counted in [`Family::dropped`].
pub const MAX_SERIES_PER_FAMILY: usize = 64;
/// A histogram series with more buckets than this is left out.
pub const MAX_BUCKETS: usize = 1024;
/// Label values longer than this are cut.
pub const MAX_LABEL_VALUE_CHARS: usize = 128;

/// One row of a backend's normalization table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The upstream sample name (`vllm:prompt_tokens_total`, `tgi_request_input_length_sum`),
    /// or for a histogram its base name (`vllm:e2e_request_latency_seconds`).
    pub from: &'static str,
    /// The `llm_*` family it feeds. When several rules feed one family, the first rule whose
    /// upstream series is present wins (new names first, old ones after).
    pub to: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// Upstream labels kept, as `(upstream name, our name)`.
    pub labels: &'static [(&'static str, &'static str)],
}

/// A backend's `/metrics` body, parsed keeping only the samples its table maps, so memory
/// follows the series kept and not what the target sent.
pub struct Parsed<'a> {
    pub exposition: promtext::Exposition<'a>,
    /// Whether any sample, kept or not, had the backend's prefix.
    pub has_prefix: bool,
}

/// Parses `body` for the rules of `table`.
pub fn parse<'a>(body: &'a [u8], prefix: &str, table: &[Rule]) -> Parsed<'a> {
    let mut wanted: HashSet<&str> = HashSet::with_capacity(table.len() * 3);
    let mut histograms = Vec::new();
    for rule in table {
        wanted.insert(rule.from);
        if let Kind::Histogram = rule.kind {
            histograms.push(rule.from);
        }
    }
    let mut has_prefix = false;
    let mut select = |what: promtext::Wanted<'_>| match what {
        promtext::Wanted::Sample(name) => {
            has_prefix |= name.starts_with(prefix);
            wanted.contains(name)
                || name
                    .strip_suffix("_bucket")
                    .or_else(|| name.strip_suffix("_sum"))
                    .or_else(|| name.strip_suffix("_count"))
                    .is_some_and(|base| histograms.contains(&base))
        }
        // Only histogram families matter: the rest are looked up by sample name.
        promtext::Wanted::Family(name) => histograms.contains(&name),
    };
    let exposition = promtext::parse_selected(body, &mut select);
    Parsed { exposition, has_prefix }
}

/// The samples of one body whose names start with a backend's prefix, by sample name.
pub struct Upstream<'e, 'a> {
    samples: HashMap<&'a str, Vec<&'e promtext::Sample<'a>>>,
}

impl<'e, 'a> Upstream<'e, 'a> {
    pub fn new(exposition: &'e promtext::Exposition<'a>, prefix: &str) -> Self {
        let mut samples: HashMap<&'a str, Vec<&'e promtext::Sample<'a>>> = HashMap::new();
        for sample in exposition.families.iter().flat_map(|f| f.samples.iter()) {
            if sample.name.starts_with(prefix) {
                samples.entry(sample.name).or_default().push(sample);
            }
        }
        Upstream { samples }
    }

    /// The samples named exactly `name`.
    pub fn get(&self, name: &str) -> &[&'e promtext::Sample<'a>] {
        self.samples.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The distinct values of one label over every sample (at most [`MAX_SERIES_PER_FAMILY`] + 1
    /// are collected, enough to tell one from many).
    pub fn label_values(&self, label: &str) -> BTreeSet<&str> {
        let mut values = BTreeSet::new();
        for sample in self.samples.values().flatten() {
            if let Some(v) = sample.label(label) {
                values.insert(v);
                if values.len() > MAX_SERIES_PER_FAMILY {
                    break;
                }
            }
        }
        values
    }
}

/// Applies a table. `base` starts every label set (`server`, `backend`); `shared` lists upstream
/// labels kept on every series that has them (`(upstream, ours)`); `source` names the backend in
/// the HELP text.
pub fn apply(
    table: &[Rule],
    upstream: &Upstream<'_, '_>,
    base: &Labels,
    shared: &[(&'static str, &'static str)],
    source: &str,
) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for rule in table {
        if out.iter().any(|f| f.name == rule.to) {
            continue;
        }
        let kept: Vec<(&str, &'static str)> = rule.labels.iter().chain(shared).copied().collect();
        let help = format!("{} ({source} {})", rule.help, rule.from);
        let mut family = Family::new(rule.to, help, rule.kind);
        match rule.kind {
            Kind::Histogram => histograms(rule.from, upstream, &kept, base, &mut family),
            _ => plain(rule, upstream, &kept, base, &mut family),
        }
        // A family emptied by a cap is kept for its dropped count; `merge` leaves it out.
        if !family.samples.is_empty() || family.dropped > 0 {
            out.push(family);
        }
    }
    out
}

/// Our labels of one upstream sample: the kept ones it has, in the order they are listed.
type Key = Vec<(&'static str, String)>;

fn key(sample: &promtext::Sample<'_>, kept: &[(&str, &'static str)]) -> Key {
    kept.iter()
        .filter_map(|(upstream, ours)| {
            sample.label(upstream).map(|v| (*ours, v.chars().take(MAX_LABEL_VALUE_CHARS).collect()))
        })
        .collect()
}

fn labels_of(base: &Labels, key: Key) -> Labels {
    let mut labels = base.clone();
    labels.extend(key.into_iter().map(|(k, v)| (Cow::Borrowed(k), v)));
    labels
}

fn plain(rule: &Rule, upstream: &Upstream<'_, '_>, kept: &[(&str, &'static str)], base: &Labels, family: &mut Family) {
    let mut series: BTreeMap<Key, f64> = BTreeMap::new();
    for sample in upstream.get(rule.from) {
        let key = key(sample, kept);
        if let Some(value) = series.get_mut(&key) {
            *value = match rule.kind {
                Kind::Gauge => value.max(sample.value),
                _ => *value + sample.value,
            };
        } else if series.len() < MAX_SERIES_PER_FAMILY {
            series.insert(key, sample.value);
        } else {
            family.dropped += 1;
        }
    }
    for (key, value) in series {
        family.push(labels_of(base, key), value);
    }
}

#[derive(Default)]
struct Partial {
    buckets: Vec<(f64, f64)>,
    sum: Option<f64>,
    count: Option<f64>,
    /// Buckets past [`MAX_BUCKETS`]; the series is left out when there are any.
    extra_buckets: usize,
}

/// The partial histogram of one output series; `None` once the family is full.
fn entry(series: &mut BTreeMap<Key, Partial>, key: Key) -> Option<&mut Partial> {
    if !series.contains_key(&key) && series.len() >= MAX_SERIES_PER_FAMILY {
        return None;
    }
    Some(series.entry(key).or_default())
}

fn histograms(
    name: &str,
    upstream: &Upstream<'_, '_>,
    kept: &[(&str, &'static str)],
    base: &Labels,
    family: &mut Family,
) {
    let mut series: BTreeMap<Key, Partial> = BTreeMap::new();
    for sample in upstream.get(&format!("{name}_bucket")) {
        let Some(le) = sample.label("le").and_then(|le| le.trim().parse::<f64>().ok()) else { continue };
        if le.is_nan() {
            continue;
        }
        let Some(partial) = entry(&mut series, key(sample, kept)) else {
            family.dropped += 1;
            continue;
        };
        if let Some((_, count)) = partial.buckets.iter_mut().find(|(bound, _)| *bound == le) {
            *count += sample.value;
        } else if partial.buckets.len() < MAX_BUCKETS {
            partial.buckets.push((le, sample.value));
        } else {
            partial.extra_buckets += 1;
        }
    }
    for (suffix, is_sum) in [("_sum", true), ("_count", false)] {
        for sample in upstream.get(&format!("{name}{suffix}")) {
            let Some(partial) = entry(&mut series, key(sample, kept)) else {
                family.dropped += 1;
                continue;
            };
            let slot = if is_sum { &mut partial.sum } else { &mut partial.count };
            *slot = Some(slot.unwrap_or(0.0) + sample.value);
        }
    }
    for (key, partial) in series {
        if partial.extra_buckets > 0 {
            let parts = [partial.sum, partial.count].iter().filter(|p| p.is_some()).count();
            family.dropped += partial.buckets.len() + partial.extra_buckets + parts;
            continue;
        }
        let inf = partial.buckets.iter().find(|(le, _)| *le == f64::INFINITY).map(|(_, c)| *c);
        // A series without its sum, or without both its count and its +Inf bucket, is incomplete.
        let (Some(sum), Some(count)) = (partial.sum, partial.count.or(inf)) else { continue };
        family.push_histogram(labels_of(base, key), &Histogram { buckets: partial.buckets, sum, count });
    }
}

/// The reason a body with none of the backend's series is not that backend.
pub fn no_series(prefix: &str, exposition: &promtext::Exposition<'_>, what: &str) -> String {
    format!("/metrics has no {prefix} series ({} lines did not parse); is this a {what}?", exposition.error_count)
}

/// `base` plus `model`, unless the model is not known (empty): the labels of every request,
/// token, context, KV and latency series, so `sum by (model)` works on every backend.
pub fn with_model(base: &Labels, model: &str) -> Labels {
    let mut labels = base.clone();
    if !model.is_empty() {
        labels.push((Cow::Borrowed("model"), model.to_string()));
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::labels;

    const TABLE: &[Rule] = &[
        Rule { from: "x:new_total", to: "llm_a_total", kind: Kind::Counter, help: "a", labels: &[("why", "reason")] },
        Rule { from: "x:old_total", to: "llm_a_total", kind: Kind::Counter, help: "a", labels: &[] },
        Rule { from: "x:g", to: "llm_g", kind: Kind::Gauge, help: "g", labels: &[] },
        Rule { from: "x:h", to: "llm_h_seconds", kind: Kind::Histogram, help: "h", labels: &[] },
    ];

    fn shape(body: &str) -> Vec<Family> {
        let parsed = parse(body.as_bytes(), "x:", TABLE);
        let upstream = Upstream::new(&parsed.exposition, "x:");
        apply(TABLE, &upstream, &labels([("server", "s")]), &[], "X")
    }

    #[test]
    fn labels_are_dropped_and_coinciding_series_combined() {
        let f = shape(
            "x:new_total{why=\"a\",rank=\"0\"} 1\nx:new_total{why=\"a\",rank=\"1\"} 2\nx:new_total{why=\"b\"} 4\n\
             x:old_total 99\nx:g{rank=\"0\"} 3\nx:g{rank=\"1\"} 5\n",
        );
        let text = crate::family::encode_text(&f);
        assert_eq!(
            text,
            "# HELP llm_a_total a (X x:new_total)\n# TYPE llm_a_total counter\n\
             llm_a_total{server=\"s\",reason=\"a\"} 3\nllm_a_total{server=\"s\",reason=\"b\"} 4\n\
             # HELP llm_g g (X x:g)\n# TYPE llm_g gauge\nllm_g{server=\"s\"} 5\n"
        );
    }

    #[test]
    fn the_old_name_serves_when_the_new_one_is_absent() {
        let f = shape("x:old_total 7\n");
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].name.as_ref(), f[0].samples[0].value), ("llm_a_total", 7.0));
    }

    #[test]
    fn untyped_histograms_are_rebuilt_and_incomplete_ones_left_out() {
        let f = shape(
            "x:h_bucket{le=\"0.5\",rank=\"0\"} 1\nx:h_bucket{le=\"+Inf\",rank=\"0\"} 2\nx:h_sum{rank=\"0\"} 0.75\n\
             x:h_count{rank=\"0\"} 2\nx:h_bucket{le=\"0.5\",rank=\"1\"} 1\nx:h_bucket{le=\"+Inf\",rank=\"1\"} 1\n\
             x:h_sum{rank=\"1\"} 0.25\nx:h_count{rank=\"1\"} 1\n",
        );
        let text = crate::family::encode_text(&f);
        assert_eq!(
            text,
            "# HELP llm_h_seconds h (X x:h)\n# TYPE llm_h_seconds histogram\n\
             llm_h_seconds_bucket{server=\"s\",le=\"0.5\"} 2\nllm_h_seconds_bucket{server=\"s\",le=\"+Inf\"} 3\n\
             llm_h_seconds_sum{server=\"s\"} 1\nllm_h_seconds_count{server=\"s\"} 3\n"
        );
        assert!(shape("x:h_bucket{le=\"1\"} 1\nx:h_count 1\n").is_empty(), "no _sum");
        assert!(shape("x:h_bucket{le=\"1\"} 1\nx:h_sum 1\n").is_empty(), "neither _count nor +Inf");
        let inf_only = shape("x:h_bucket{le=\"+Inf\"} 4\nx:h_sum 1\n");
        assert_eq!(inf_only[0].samples.last().map(|s| (s.suffix, s.value)), Some(("_count", 4.0)));
    }

    #[test]
    fn hostile_bodies_stay_bounded() {
        let mut body = String::new();
        for i in 0..1000 {
            body.push_str(&format!("x:new_total{{why=\"{i}\"}} 1\n"));
        }
        for i in 0..=MAX_BUCKETS {
            body.push_str(&format!("x:h_bucket{{le=\"{i}\"}} 1\n"));
        }
        body.push_str("x:h_sum 1\nx:h_count 1\n");
        let f = shape(&body);
        assert_eq!(f[0].samples.len(), MAX_SERIES_PER_FAMILY);
        assert_eq!(f[0].dropped, 1000 - MAX_SERIES_PER_FAMILY);
        assert!(f[1].samples.is_empty(), "the histogram with too many buckets is left out");
        assert_eq!(f[1].dropped, MAX_BUCKETS + 1 + 2, "every upstream sample of it is counted");
    }
}
