//! The bounded set of `model` label values of one proxied server. When the server reports its
//! models (its scrape found `model` labels: [`crate::server_facts`]), only those are values,
//! and any other name a request or response gives is counted as `other`; a server that reports
//! none gets the first names seen. Either way at most [`MAX_MODELS`] values, `other` included,
//! so a client sending made-up names cannot make series without end.
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::server_facts::Reported;

/// `model` values per server, `other` included.
pub const MAX_MODELS: usize = 64;
/// A model name longer than this is counted as `other`.
const MAX_MODEL_NAME_BYTES: usize = 200;
pub const OTHER: &str = "other";

#[derive(Debug, Default)]
pub struct ModelSet {
    names: Vec<Arc<str>>,
    /// The generation of the reported list applied last.
    applied: u64,
}

impl ModelSet {
    /// Applies the server's reported list when it is new: names it lacks stop being values.
    /// Returns them, so their series can be folded into `other`. An empty list (the server
    /// reports none) leaves the names as they are.
    pub fn sync(&mut self, reported: &Reported) -> Vec<Arc<str>> {
        if reported.generation == self.applied {
            return Vec::new();
        }
        self.applied = reported.generation;
        if reported.names.is_empty() {
            return Vec::new();
        }
        let (keep, gone) = self.names.drain(..).partition(|n| reported.names.contains(&**n));
        self.names = keep;
        gone
    }

    /// The label value for `name`, given the names the server reports (empty: none). A name
    /// not a value yet becomes one only when `may_add` (the request succeeded: a failed one's
    /// name is the client's word only); no name at all is `other` and takes no room.
    pub fn admit(&mut self, name: Option<&str>, reported: &BTreeSet<String>, may_add: bool) -> Arc<str> {
        let Some(name) = name.filter(|n| !n.is_empty()) else { return Arc::from(OTHER) };
        // Ollama answers to a name without a tag as to `NAME:latest`, which its list has.
        let latest;
        let name = if !reported.is_empty() && !reported.contains(name) && !name.contains(':') {
            latest = format!("{name}:latest");
            if reported.contains(&latest) {
                latest.as_str()
            } else {
                name
            }
        } else {
            name
        };
        if let Some(known) = self.names.iter().find(|n| ***n == *name) {
            return Arc::clone(known);
        }
        let allowed = if reported.is_empty() {
            name.len() <= MAX_MODEL_NAME_BYTES && name != OTHER
        } else {
            reported.contains(name)
        };
        if !may_add || !allowed || self.names.len() + 1 >= MAX_MODELS {
            return Arc::from(OTHER);
        }
        let name: Arc<str> = Arc::from(name);
        self.names.push(Arc::clone(&name));
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(generation: u64, names: &[&str]) -> Reported {
        Reported { generation, names: Arc::new(names.iter().map(|n| n.to_string()).collect()) }
    }

    #[test]
    fn without_a_reported_list_the_first_names_seen_then_other() {
        let mut set = ModelSet::default();
        let none = BTreeSet::new();
        let values: BTreeSet<Arc<str>> =
            (0..10_000).map(|i| set.admit(Some(&format!("junk-{i}")), &none, true)).collect();
        assert_eq!(values.len(), MAX_MODELS);
        assert!(values.contains(OTHER));
        assert_eq!(&*set.admit(Some("junk-5"), &none, true), "junk-5");
        assert_eq!(&*set.admit(Some(&"x".repeat(201)), &none, true), OTHER);
    }

    #[test]
    fn with_a_reported_list_only_its_models_are_values() {
        let mut set = ModelSet::default();
        let list = reported(1, &["qwen3:0.6b", "llama3.2:latest"]);
        assert!(set.sync(&list).is_empty());
        for i in 0..10_000 {
            assert_eq!(&*set.admit(Some(&format!("made-up-{i}")), &list.names, true), OTHER);
        }
        assert_eq!(&*set.admit(Some("qwen3:0.6b"), &list.names, true), "qwen3:0.6b");
        assert_eq!(&*set.admit(Some("llama3.2"), &list.names, true), "llama3.2:latest");
        assert_eq!(&*set.admit(Some("other"), &list.names, true), OTHER);
    }

    #[test]
    fn names_seen_before_the_list_came_leave_when_it_lacks_them() {
        let mut set = ModelSet::default();
        let none = BTreeSet::new();
        for name in ["junk", "qwen3:0.6b"] {
            set.admit(Some(name), &none, true);
        }
        let list = reported(3, &["qwen3:0.6b"]);
        assert_eq!(set.sync(&list).iter().map(|n| &**n).collect::<Vec<_>>(), ["junk"]);
        assert!(set.sync(&list).is_empty(), "applied once");
        assert_eq!(&*set.admit(Some("junk"), &list.names, true), OTHER);
        // The server reports none any more: what is there stays, new names are admitted again.
        let empty = reported(4, &[]);
        assert!(set.sync(&empty).is_empty());
        assert_eq!(&*set.admit(Some("new"), &empty.names, true), "new");
    }

    #[test]
    fn a_failed_request_or_one_without_a_name_takes_no_room() {
        let mut set = ModelSet::default();
        let none = BTreeSet::new();
        for i in 0..100 {
            assert_eq!(&*set.admit(Some(&format!("404-{i}")), &none, false), OTHER);
            assert_eq!(&*set.admit(None, &none, true), OTHER);
            assert_eq!(&*set.admit(Some(""), &none, true), OTHER);
        }
        assert_eq!(&*set.admit(Some("real"), &none, true), "real");
        assert_eq!(&*set.admit(Some("real"), &none, false), "real", "a known name stays its own");
        assert_eq!(set.names.len(), 1);
    }
}
