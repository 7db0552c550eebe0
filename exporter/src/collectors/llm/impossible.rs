//! Values no honest server sends: a negative or infinite counter, a negative or infinite
//! gauge (every gauge of a target counts or measures something: requests, slots, tokens,
//! ratios, bytes, seconds). Such a sample is dropped, not re-exported, and counted by reason in
//! `llm_exporter_target_values_dropped_total`, so a broken or hostile server cannot put `-5`
//! generated tokens or `+Inf` running requests into dashboards and alerts. Pure.
//!
//! Histograms and summaries are left as they are: dropping one bucket would leave a series
//! that is worse than the odd value.
use crate::family::{Family, Kind};

/// The `reason` label values, in the order [`drop_impossible`] counts them.
pub const REASONS: [&str; 2] = ["negative", "infinite"];

/// Drops the impossible samples of counters and gauges and returns how many were dropped for
/// each of [`REASONS`].
pub fn drop_impossible(families: &mut [Family]) -> [u64; 2] {
    let mut dropped = [0; 2];
    for family in families.iter_mut().filter(|f| matches!(f.kind, Kind::Counter | Kind::Gauge)) {
        family.samples.retain(|s| match reason(s.value) {
            Some(i) => {
                dropped[i] += 1;
                false
            }
            None => true,
        });
    }
    dropped
}

/// The index in [`REASONS`] of why `value` is impossible, if it is.
fn reason(value: f64) -> Option<usize> {
    if value.is_infinite() {
        Some(1)
    } else if value < 0.0 {
        Some(0)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::{labels, Histogram};

    #[test]
    fn negative_and_infinite_values_are_dropped_and_counted() {
        let one = |kind: Kind, name: &'static str, value: f64| {
            Family::new(name, "h", kind).with(labels([("server", "s")]), value)
        };
        let mut histogram = Family::new("llm_request_duration_seconds", "h", Kind::Histogram);
        histogram.push_histogram(labels([]), &Histogram { buckets: vec![(1.0, 1.0)], sum: -1.0, count: 1.0 });
        let mut families = vec![
            one(Kind::Counter, "llm_generation_tokens_total", -5.0),
            one(Kind::Gauge, "llm_requests_running", f64::INFINITY),
            one(Kind::Gauge, "llm_requests_waiting", -1.0),
            one(Kind::Counter, "llm_prompt_tokens_total", f64::NEG_INFINITY),
            one(Kind::Gauge, "llm_kv_cache_usage_ratio", 0.0),
            one(Kind::Counter, "llm_decode_calls_total", 12.0),
            histogram,
        ];
        assert_eq!(drop_impossible(&mut families), [2, 2]);
        let left: Vec<(&str, usize)> = families.iter().map(|f| (&*f.name, f.samples.len())).collect();
        assert_eq!(
            left,
            [
                ("llm_generation_tokens_total", 0),
                ("llm_requests_running", 0),
                ("llm_requests_waiting", 0),
                ("llm_prompt_tokens_total", 0),
                ("llm_kv_cache_usage_ratio", 1),
                ("llm_decode_calls_total", 1),
                ("llm_request_duration_seconds", 4),
            ]
        );
    }
}
