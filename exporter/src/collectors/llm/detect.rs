//! Which backend a target runs, told from what it serves (pure; the collector does the GETs).
//!
//! `/metrics` first: the backend whose prefix (`llamacpp:`, `vllm:`, `sglang:`, `tgi_`) names the
//! most distinct series wins; a body that mixes prefixes still names one backend, and the others
//! are reported so the log can say so. A target whose `/metrics` has none of them is Ollama when
//! `/api/version` answers with a JSON object holding a `version` string.
use std::collections::HashSet;

use serde_json::Value;

use crate::config::Backend;

/// The metric name prefix of each backend that serves `/metrics`, in the order ties are broken.
pub const PREFIXES: [(&str, Backend); 4] =
    [("llamacpp:", Backend::Llamacpp), ("vllm:", Backend::Vllm), ("sglang:", Backend::Sglang), ("tgi_", Backend::Tgi)];

/// What a `/metrics` body says about its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromMetrics {
    pub backend: Backend,
    /// Other backends whose series are in the same body.
    pub also: Vec<Backend>,
}

/// At most this many distinct names are counted per prefix: enough to tell backends apart,
/// and a body of a million distinct names costs no more.
const MAX_NAMES_COUNTED: usize = 1000;

/// The backend a `/metrics` body comes from, or `None` when it has no known prefix.
pub fn from_metrics(body: &[u8]) -> Option<FromMetrics> {
    let unwrapped = promtext::unwrap_json_string(body);
    let body = unwrapped.as_ref().map_or(body, |text| text.as_bytes());
    let mut names: [HashSet<String>; 4] = Default::default();
    // Nothing is kept: only the names are looked at, as they go by.
    promtext::parse_selected(body, &mut |what| {
        if let promtext::Wanted::Sample(name) = what {
            if let Some(i) = PREFIXES.iter().position(|(prefix, _)| name.starts_with(prefix)) {
                if names[i].len() < MAX_NAMES_COUNTED && !names[i].contains(name) {
                    names[i].insert(name.to_string());
                }
            }
        }
        false
    });
    let counts: Vec<usize> = names.iter().map(HashSet::len).collect();
    let most = *counts.iter().max()?;
    if most == 0 {
        return None;
    }
    let winner = counts.iter().position(|&c| c == most)?;
    let also = (0..PREFIXES.len()).filter(|&i| i != winner && counts[i] > 0).map(|i| PREFIXES[i].1).collect();
    Some(FromMetrics { backend: PREFIXES[winner].1, also })
}

/// True when an `/api/version` body is Ollama's: a JSON object with a `version` string.
pub fn is_ollama_version(body: &str) -> bool {
    serde_json::from_str::<Value>(body).ok().and_then(|v| v.get("version").map(Value::is_string)).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn backend(body: &str) -> Option<Backend> {
        from_metrics(body.as_bytes()).map(|d| d.backend)
    }

    #[test]
    fn every_fixture_names_its_backend() {
        assert_eq!(backend(&fixture("llamacpp_2026_real_metrics_inflight.txt")), Some(Backend::Llamacpp));
        assert_eq!(backend(&fixture("llamacpp_metrics_2025-08_ik_llama_pr695.txt")), Some(Backend::Llamacpp));
        assert_eq!(backend(&fixture("vllm_metrics_full.txt")), Some(Backend::Vllm));
        assert_eq!(backend(&fixture("vllm_metrics_untyped.txt")), Some(Backend::Vllm));
        assert_eq!(backend(&fixture("vllm_metrics_docs_partial_iteration_tokens.txt")), Some(Backend::Vllm));
        assert_eq!(backend(&fixture("sglang_metrics_full.txt")), Some(Backend::Sglang));
        assert_eq!(backend(&fixture("tgi_metrics_full.txt")), Some(Backend::Tgi));
        assert_eq!(backend(&fixture("tgi_metrics_grep_gke_tutorial.txt")), Some(Backend::Tgi));
    }

    #[test]
    fn bodies_that_are_no_backend() {
        for body in
            ["", "<html><body>It works!</body></html>", "# HELP x y\nx 1\n", "{\"version\":\"0.12.3\"}", "\0\u{fffd}"]
        {
            assert_eq!(from_metrics(body.as_bytes()), None, "{body:?}");
        }
    }

    #[test]
    fn mixed_prefixes_name_the_larger_side_and_report_the_other() {
        let body = "vllm:a 1\nvllm:b 1\nsglang:a 1\n";
        assert_eq!(
            from_metrics(body.as_bytes()),
            Some(FromMetrics { backend: Backend::Vllm, also: vec![Backend::Sglang] })
        );
        // A tie goes to the first prefix in the fixed order.
        let tie = "sglang:a 1\nllamacpp:a 1\n";
        assert_eq!(
            from_metrics(tie.as_bytes()),
            Some(FromMetrics { backend: Backend::Llamacpp, also: vec![Backend::Sglang] })
        );
    }

    #[test]
    fn ollama_version_bodies() {
        assert!(is_ollama_version("{\"version\":\"0.12.3\"}"));
        assert!(is_ollama_version(&fixture("ollama_api_version.json")));
        for body in ["", "{}", "{\"version\":3}", "[\"version\"]", "<html></html>", "not found"] {
            assert!(!is_ollama_version(body), "{body:?}");
        }
    }
}
