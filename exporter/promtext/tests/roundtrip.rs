//! Property: any exposition rendered from families, with label values and HELP text holding
//! every character that needs escaping and values that include NaN and ±Inf, parses back to
//! the same samples with no errors.
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Sample {
    labels: Vec<(String, String)>,
    value: f64,
}

fn escape(text: &str, quote: bool) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n").replace('"', if quote { "\\\"" } else { "\"" })
}

fn render_value(v: f64) -> String {
    match v {
        v if v.is_nan() => "NaN".into(),
        v if v == f64::INFINITY => "+Inf".into(),
        v if v == f64::NEG_INFINITY => "-Inf".into(),
        v => format!("{v:?}"),
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(0.0)]
}

fn sample() -> impl Strategy<Value = Sample> {
    let labels = proptest::collection::btree_map("[a-z_][a-z0-9_]{0,8}", "[ -~\\n\\\\\"é]{0,12}", 0..4);
    (labels, value()).prop_map(|(labels, value)| Sample { labels: labels.into_iter().collect(), value })
}

fn family() -> impl Strategy<Value = (String, String, Vec<Sample>)> {
    ("[a-z][a-z0-9_:]{0,12}", "[ -~\\n\\\\é]{0,20}", proptest::collection::vec(sample(), 1..5))
}

proptest! {
    #[test]
    fn render_then_parse_round_trips(families in proptest::collection::vec(family(), 1..6)) {
        let mut text = String::new();
        let mut want = Vec::new();
        for (i, (name, help, samples)) in families.iter().enumerate() {
            let name = format!("{name}_f{i}");
            text.push_str(&format!("# HELP {name} {}\n# TYPE {name} gauge\n", escape(help, false)));
            for s in samples {
                let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v, true))).collect();
                let braces = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
                text.push_str(&format!("{name}{braces} {}\n", render_value(s.value)));
                want.push((name.clone(), s.clone()));
            }
        }
        let parsed = promtext::parse(&text);
        prop_assert!(parsed.errors.is_empty(), "{:?}\n{}", parsed.errors, text);
        prop_assert_eq!(parsed.families.len(), families.len());
        for ((family, (_, help, _)), i) in parsed.families.iter().zip(&families).zip(0..) {
            // Whitespace around HELP text is not significant; the parser trims it.
            prop_assert_eq!(family.help.as_deref().map(str::trim), Some(help.trim()), "family {}", i);
        }
        let got: Vec<_> = parsed.families.iter().flat_map(|f| f.samples.iter()).collect();
        prop_assert_eq!(got.len(), want.len());
        for (g, (name, w)) in got.iter().zip(&want) {
            prop_assert_eq!(g.name, name.as_str());
            let labels: Vec<(String, String)> = g.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            prop_assert_eq!(&labels, &w.labels);
            prop_assert!(g.value == w.value || (g.value.is_nan() && w.value.is_nan()), "{} vs {}", g.value, w.value);
        }
    }
}
