//! What discovery read from files, kept from one scan to the next while those files are
//! unchanged: the kubelet's pod names (`pods.rs`) and the model names of Ollama's manifests
//! (`ollama_models.rs`).
//!
//! Each entry holds the value and a stamp: the inode, modification time and size of every file
//! and folder the value was read from, taken before they were read. The caller checks the stamp
//! against the files before it uses the value. Adding, removing or renaming an entry changes
//! its folder's modification time; rewriting a file changes its own. A clock tick can be
//! coarse, so a second change within the tick of the first would leave the time where it was:
//! a value is not kept when any of its times is within [`SETTLE`] of now (git's "racy" rule).
//!
//! The cache is bounded: at most the number of entries it was made with; when full, the entry
//! used least recently makes room. The lock is held only to get and put, never while files are
//! read, so a hung file system cannot hold it.
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long a modification time must be in the past before a read made under it is kept.
pub const SETTLE: Duration = Duration::from_secs(2);

/// What a file or folder looked like when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub inode: u64,
    pub modified: Option<SystemTime>,
    pub size: u64,
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp { inode: meta.ino(), modified: meta.modified().ok(), size: meta.len() }
    }

    /// True when its modification time is more than [`SETTLE`] in the past.
    pub fn settled(&self) -> bool {
        self.modified.and_then(|t| t.elapsed().ok()).is_some_and(|age| age > SETTLE)
    }
}

/// One kept value with the stamp it was read under.
#[derive(Debug)]
struct Slot<S, V> {
    stamp: Arc<S>,
    value: Arc<V>,
    /// When it was last got or put, in [`Kept`]'s own count.
    used: u64,
}

/// Values per key, each with the stamp it was read under (any type the caller can check).
#[derive(Debug)]
pub struct Kept<K, S, V> {
    slots: HashMap<K, Slot<S, V>>,
    max: usize,
    uses: u64,
}

impl<K: Eq + Hash + Clone, S, V> Kept<K, S, V> {
    pub fn new(max: usize) -> Self {
        Kept { slots: HashMap::new(), max, uses: 0 }
    }

    /// The value kept for `key` and the stamp it was read under; the caller uses the value only
    /// when the stamp still holds.
    pub fn get(&mut self, key: &K) -> Option<(Arc<S>, Arc<V>)> {
        self.uses += 1;
        let slot = self.slots.get_mut(key)?;
        slot.used = self.uses;
        Some((Arc::clone(&slot.stamp), Arc::clone(&slot.value)))
    }

    /// Keeps `value`, read under `stamp`, in place of what `key` had; when `settled` is false
    /// (a time in the stamp is too recent to trust) the old value is dropped and nothing kept.
    pub fn put(&mut self, key: K, stamp: S, value: Arc<V>, settled: bool) {
        self.slots.remove(&key);
        if !settled || self.max == 0 {
            return;
        }
        if self.slots.len() >= self.max {
            let oldest = self.slots.iter().min_by_key(|(_, slot)| slot.used).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.slots.remove(&oldest);
            }
        }
        self.uses += 1;
        self.slots.insert(key, Slot { stamp: Arc::new(stamp), value, used: self.uses });
    }

    /// Forgets every key `keep` says no to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.slots.retain(|k, _| keep(k));
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_only_when_settled_and_the_least_used_makes_room() {
        let mut kept: Kept<u32, u8, &str> = Kept::new(2);
        kept.put(1, 0, Arc::new("one"), true);
        kept.put(2, 0, Arc::new("two"), true);
        assert_eq!(kept.get(&1).map(|(_, v)| *v), Some("one"));
        kept.put(3, 0, Arc::new("three"), true);
        assert_eq!(kept.len(), 2);
        assert!(kept.get(&2).is_none(), "the least recently used went");
        assert!(kept.get(&1).is_some() && kept.get(&3).is_some());
        kept.put(1, 0, Arc::new("fresh"), false);
        assert!(kept.get(&1).is_none(), "a read under a recent time replaces nothing and is not kept");
        kept.retain(|k| *k != 3);
        assert!(kept.is_empty());
    }

    #[test]
    fn a_time_within_the_settle_time_is_not_settled() {
        let stamp =
            |age: u64| FileStamp { inode: 1, modified: Some(SystemTime::now() - Duration::from_secs(age)), size: 0 };
        assert!(!stamp(0).settled());
        assert!(stamp(60).settled());
        assert!(!FileStamp { modified: None, ..stamp(60) }.settled(), "no time: never trusted");
    }
}
