//! What the scrape of each LLM server learned about it, by server name, for the measuring
//! proxy in front of it: the backend detection found, and the models the server reports (the
//! `model` label values of its own series: Ollama's `/api/tags` and `/api/ps`, a llama.cpp
//! router's `/models`, llama-swap's and vLLM's `/v1/models`, a llama-server's model). The
//! proxy labels its series with these, so they join the server's own by `server`, `backend`
//! and `model`, and a client cannot make up `model` values of its own.
//!
//! Bounded: at most [`MAX_REPORTED`] names per server (the proxy's `model` label has room for
//! that many, `other` besides), and only servers that are scraped are kept.
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::config::Backend;
use crate::family::Family;

/// Reported models kept per server: the proxy's `model` values, `other` not counted.
pub const MAX_REPORTED: usize = 63;

/// The models one server reported on its last successful scrape, and a number that changes
/// whenever the list does, so a reader can tell a new list from the one it already applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reported {
    pub generation: u64,
    pub names: Arc<BTreeSet<String>>,
}

#[derive(Debug, Default)]
struct Facts {
    backend: Option<Backend>,
    reported: Reported,
}

/// Shared by the `llm` collector (which writes after each scrape) and the proxies (which read
/// when they record a request).
#[derive(Debug, Default)]
pub struct ServerFacts {
    by_server: Mutex<HashMap<String, Facts>>,
    generations: std::sync::atomic::AtomicU64,
}

impl ServerFacts {
    /// Records what one scrape of `server` found: the backend it was scraped as (`Auto`: not
    /// known yet, keeps what was known), and, when it answered, the models its series name.
    pub fn learned(&self, server: &str, backend: Backend, families: Option<&[Family]>) {
        let mut by_server = self.by_server.lock().unwrap_or_else(|p| p.into_inner());
        let facts = by_server.entry(server.to_string()).or_default();
        if backend != Backend::Auto {
            facts.backend = Some(backend);
        }
        let Some(families) = families else { return };
        let names = model_names(families);
        if *facts.reported.names != names {
            let generation = self.generations.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            facts.reported = Reported { generation, names: Arc::new(names) };
        }
    }

    /// Forgets every server not in `scraped` (gone from the targets).
    pub fn keep_only(&self, scraped: &[&str]) {
        let mut by_server = self.by_server.lock().unwrap_or_else(|p| p.into_inner());
        by_server.retain(|name, _| scraped.contains(&name.as_str()));
    }

    /// The backend the scrape found for `server`, if any.
    pub fn backend(&self, server: &str) -> Option<Backend> {
        let by_server = self.by_server.lock().unwrap_or_else(|p| p.into_inner());
        by_server.get(server).and_then(|f| f.backend)
    }

    /// The models `server` reports (empty: none, or not scraped yet).
    pub fn reported(&self, server: &str) -> Reported {
        let by_server = self.by_server.lock().unwrap_or_else(|p| p.into_inner());
        by_server.get(server).map(|f| f.reported.clone()).unwrap_or_default()
    }
}

/// The distinct `model` label values of a server's families, the first [`MAX_REPORTED`] in
/// order. A comma-joined value (the info series' list of loaded models) is not a model.
fn model_names(families: &[Family]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for sample in families.iter().flat_map(|f| &f.samples) {
        for (key, value) in &sample.labels {
            if key == "model" && !value.is_empty() && !value.contains(',') {
                names.insert(value.clone());
            }
        }
    }
    names.into_iter().take(MAX_REPORTED).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::labels;

    fn with_models(models: &[&str]) -> Vec<Family> {
        let mut family = Family::gauge("llm_model_loaded", "h");
        for m in models {
            family.push(labels([("server", "s"), ("model", m)]), 1.0);
        }
        vec![family]
    }

    #[test]
    fn models_and_backend_are_learned_and_a_new_list_gets_a_new_generation() {
        let facts = ServerFacts::default();
        assert_eq!(facts.reported("s"), Reported::default());
        facts.learned("s", Backend::Auto, None);
        assert_eq!(facts.backend("s"), None);
        facts.learned("s", Backend::Vllm, Some(&with_models(&["b", "a", "a,b", ""])));
        let first = facts.reported("s");
        assert_eq!(first.names.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(facts.backend("s"), Some(Backend::Vllm));
        // A failed scrape keeps both; the same list keeps its generation.
        facts.learned("s", Backend::Auto, None);
        facts.learned("s", Backend::Vllm, Some(&with_models(&["a", "b"])));
        assert_eq!(facts.reported("s"), first);
        facts.learned("s", Backend::Vllm, Some(&with_models(&["a"])));
        assert_ne!(facts.reported("s").generation, first.generation);
        let many: Vec<String> = (0..1000).map(|i| format!("m{i:04}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        facts.learned("s", Backend::Vllm, Some(&with_models(&many)));
        assert_eq!(facts.reported("s").names.len(), MAX_REPORTED);
        facts.keep_only(&[]);
        assert_eq!(facts.backend("s"), None);
    }
}
