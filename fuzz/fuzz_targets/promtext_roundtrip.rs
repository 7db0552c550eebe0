//! Structure-aware: valid exposition text is rendered from arbitrary families (names, label
//! values with every character that needs escaping, any float), then parsed back; every sample
//! must come back with its labels and value.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Family {
    name: u8,
    counter: bool,
    help: String,
    samples: Vec<Sample>,
}

#[derive(Arbitrary, Debug)]
struct Sample {
    labels: Vec<(u8, String)>,
    value: f64,
}

const NAMES: [&str; 6] = ["a", "llamacpp:x", "vllm:y_total", "up", "tgi_z", "n_0"];
const LABELS: [&str; 4] = ["server", "le", "model_name", "engine"];

fn escape(value: &str, help: bool) -> String {
    let mut out = String::new();
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if !help => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

fn render(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{value:?}")
    }
}

fuzz_target!(|families: Vec<Family>| {
    let mut text = String::new();
    let mut want: Vec<(String, Vec<(String, String)>, f64)> = Vec::new();
    for (i, family) in families.iter().enumerate().take(16) {
        // Distinct names so that samples cannot join each other's families.
        let name = format!("{}_{i}", NAMES[family.name as usize % NAMES.len()]);
        text.push_str(&format!("# HELP {name} {}\n", escape(&family.help, true)));
        text.push_str(&format!("# TYPE {name} {}\n", if family.counter { "counter" } else { "gauge" }));
        for sample in family.samples.iter().take(16) {
            let mut labels: Vec<(String, String)> = Vec::new();
            for (k, v) in sample.labels.iter().take(4) {
                let key = LABELS[*k as usize % LABELS.len()].to_string();
                if !labels.iter().any(|(l, _)| *l == key) && !v.contains('\r') {
                    labels.push((key, v.clone()));
                }
            }
            let rendered: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v, false))).collect();
            let braces = if rendered.is_empty() { String::new() } else { format!("{{{}}}", rendered.join(",")) };
            text.push_str(&format!("{name}{braces} {}\n", render(sample.value)));
            want.push((name.clone(), labels, sample.value));
        }
    }
    let parsed = promtext::parse(&text);
    assert!(parsed.errors.is_empty(), "valid text gave errors {:?}\n{text}", parsed.errors);
    let got: Vec<_> = parsed.families.iter().flat_map(|f| f.samples.iter()).collect();
    assert_eq!(got.len(), want.len(), "{text}");
    for (sample, (name, labels, value)) in got.iter().zip(&want) {
        assert_eq!(sample.name, name);
        let got_labels: Vec<(String, String)> =
            sample.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(&got_labels, labels, "{text}");
        assert!(sample.value == *value || (sample.value.is_nan() && value.is_nan()), "{text}");
    }
});
