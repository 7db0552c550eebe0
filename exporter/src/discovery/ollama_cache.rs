//! The model names of each Ollama models directory, kept from one scrape to the next while
//! its manifests tree is unchanged (the rules of `kept.rs`).
//!
//! A pull, `ollama cp` or `ollama rm` adds, renames or removes entries, which moves the
//! modification time of the folder that holds them; a manifest rewritten in place moves its
//! own. So before the names kept for a directory are used, every folder and manifest the walk
//! looked at is looked at again ([`unchanged`]): one open per folder and one `stat` per
//! manifest, instead of a listing per folder and a read and parse per manifest. A walk that
//! met a folder or manifest it was not allowed to open is not kept (a change of permission
//! moves no modification time).
//!
//! Entries are keyed on the proc root, the Ollama server's PID and the models directory;
//! [`MAX_DIRS`] are kept at most, each of at most [`MAX_SEEN`] folders and manifests. When a
//! scrape's [`ModelNames`] is dropped, the entries of its proc root that the scrape did not ask
//! for are forgotten (a server gone, a directory no longer used).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use super::in_root::Dir;
use super::kept::Kept;
use super::ollama_models::{runner_model, walk_manifests, RunnerModel, Seen};
use crate::sys;

/// Models directories whose names are kept at most, over every proc root.
pub const MAX_DIRS: usize = 4;
/// Folders and manifests of a walk that is kept at most: a few hundred models. A larger tree
/// is walked on every scrape, so a hostile one cannot make the exporter hold megabytes.
pub const MAX_SEEN: usize = 2048;

/// Blob digest → model name, of one models directory.
type Names = HashMap<String, String>;
/// (proc root, Ollama server PID, models directory).
type Key = (PathBuf, u32, PathBuf);

fn shared() -> MutexGuard<'static, Kept<Key, Vec<Seen>, Names>> {
    static KEPT: LazyLock<Mutex<Kept<Key, Vec<Seen>, Names>>> = LazyLock::new(|| Mutex::new(Kept::new(MAX_DIRS)));
    KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// True when every folder and manifest a walk saw (`seen`, in walk order) still looks as it
/// did: nothing added, removed, renamed or rewritten below `manifests`. Costs one open per
/// folder and one `stat` per manifest, against a listing per folder and a read per manifest.
pub fn unchanged(manifests: &Dir, seen: &[Seen]) -> bool {
    // open[d - 1] is the folder last seen at depth d.
    let mut open: Vec<Dir> = Vec::new();
    for entry in seen {
        let parent = match entry.depth {
            0 => {
                if manifests.stamp().ok() != Some(entry.stamp) {
                    return false;
                }
                continue;
            }
            1 => manifests,
            depth => match open.get(depth - 2) {
                Some(parent) => parent,
                None => return false,
            },
        };
        if !entry.is_dir {
            if parent.entry_stamp(&entry.name).ok() != Some(entry.stamp) {
                return false;
            }
            continue;
        }
        let Ok(dir) = parent.child(&entry.name) else { return false };
        if dir.stamp().ok() != Some(entry.stamp) {
            return false;
        }
        open.truncate(entry.depth - 1);
        open.push(dir);
    }
    true
}

/// The names of `key`'s directory, whose `manifests` folder is open: the kept ones when the
/// tree is unchanged, else a fresh walk (kept when every time in it has settled).
fn names_kept(key: Key, manifests: &Dir) -> Option<Arc<Names>> {
    let found = shared().get(&key);
    if let Some((seen, names)) = found {
        if unchanged(manifests, &seen) {
            return Some(names);
        }
    }
    let walked = walk_manifests(manifests)?;
    let settled = walked.complete && walked.seen.len() <= MAX_SEEN && walked.seen.iter().all(|s| s.stamp.settled());
    let names = Arc::new(walked.names);
    shared().put(key, walked.seen, Arc::clone(&names), settled);
    Some(names)
}

/// The names asked for during one scrape of the proc root `root`, per server and models
/// directory: runners of one server share its files, so each directory is looked up once
/// however many runners use it.
#[derive(Debug)]
pub struct ModelNames {
    root: PathBuf,
    walked: HashMap<(u32, PathBuf), Arc<Names>>,
}

impl ModelNames {
    pub fn new(root: &Path) -> ModelNames {
        ModelNames { root: root.to_path_buf(), walked: HashMap::new() }
    }

    /// The model the runner `pid` of the Ollama server `server` serves, given its arguments;
    /// `None` when they name none or no manifest uses its blob.
    pub fn model_of(&mut self, pid: u32, server: u32, args: &[String]) -> Option<String> {
        let (models, digest) = match runner_model(args)? {
            RunnerModel::Name(name) => return Some(name),
            RunnerModel::Blob { models, digest } => (models, digest),
        };
        let key = (server, models);
        if !self.walked.contains_key(&key) {
            let runner_root = Dir::open(&sys::process_root(&self.root, pid)).ok()?;
            let manifests = runner_root.resolve(&key.1.join("manifests"))?;
            // A directory that cannot be listed through this runner may be through another one.
            let names = names_kept((self.root.clone(), key.0, key.1.clone()), &manifests)?;
            self.walked.insert(key.clone(), names);
        }
        self.walked.get(&key)?.get(&digest).cloned()
    }
}

impl Drop for ModelNames {
    /// Forgets the directories of this root the scrape did not ask for.
    fn drop(&mut self) {
        shared().retain(|(root, server, models)| {
            *root != self.root || self.walked.contains_key(&(*server, models.clone()))
        });
    }
}

#[cfg(test)]
#[path = "ollama_cache_tests.rs"]
mod tests;
