//! Tests of `ollama_cache.rs`: a runner's model found through its own root, once per directory
//! in a scrape; across scrapes, a tree unchanged is not walked again, and a pull, a rewritten
//! manifest or a directory no longer asked for is read afresh.
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::*;
use crate::discovery::ollama_models::tests::{args, manifest, write, A, B, C};

const MODELS: &str = "/usr/share/ollama/.ollama/models";

fn runner(digest: &str) -> Vec<String> {
    args(&format!("/usr/bin/ollama runner --model {MODELS}/blobs/sha256-{digest} --port 1"))
}

/// The models directory of process `pid` under the fake proc root `procfs`.
fn models_of(procfs: &Path, pid: u32) -> PathBuf {
    procfs.join(format!("{pid}/root")).join(&MODELS[1..])
}

/// Sets the modification time of every folder and file under `dir` (and `dir`) `seconds` in
/// the past, as a tree looks that was last changed that long ago.
fn age(dir: &Path, seconds: u64) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            age(&path, seconds);
        } else {
            fs::File::options().write(true).open(&path).unwrap().set_modified(ago(seconds)).unwrap();
        }
    }
    fs::File::open(dir).unwrap().set_modified(ago(seconds)).unwrap();
}

fn ago(seconds: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(seconds)
}

/// The model of runner 201 of server 200 in a scrape of its own.
fn scrape(procfs: &Path, digest: &str) -> Option<String> {
    ModelNames::new(procfs).model_of(201, 200, &runner(digest))
}

/// A models directory for runner 201 under `procfs`, with one manifest (`llama3.2:latest`, blob
/// A) last changed a minute ago, walked once: the proc root, the models directory and the
/// manifest.
fn settled_tree(procfs: &Path) -> (&Path, PathBuf, PathBuf) {
    let models = models_of(procfs, 201);
    write(&models, "registry.ollama.ai/library/llama3.2/latest", &manifest(A));
    age(&models, 60);
    assert_eq!(scrape(procfs, A).as_deref(), Some("llama3.2:latest"));
    let llama = models.join("manifests/registry.ollama.ai/library/llama3.2/latest");
    (procfs, models, llama)
}

/// Rewrites a manifest in place (same inode, same size) to use `digest`, and puts its old
/// modification time back: only reading the file again can tell.
fn rewrite_unseen(file: &Path, digest: &str) {
    let modified = fs::metadata(file).unwrap().modified().unwrap();
    fs::write(file, manifest(digest)).unwrap();
    fs::File::options().write(true).open(file).unwrap().set_modified(modified).unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn runners_are_looked_up_in_their_own_root_once_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let procfs = dir.path();
    write(&models_of(procfs, 201), "registry.ollama.ai/library/llama3.2/latest", &manifest(A));
    let mut names = ModelNames::new(procfs);
    assert_eq!(names.model_of(201, 200, &runner(A)).as_deref(), Some("llama3.2:latest"));
    assert_eq!(names.model_of(201, 200, &runner(B)), None);
    // Another runner of the same server: the directory is not walked again.
    fs::remove_dir_all(procfs.join("201")).unwrap();
    assert_eq!(names.model_of(202, 200, &runner(A)).as_deref(), Some("llama3.2:latest"));
    // Another server walks its own runner's root: a runner whose root cannot be read does not
    // stop the next one from being looked up.
    assert_eq!(names.model_of(301, 300, &runner(A)), None);
    write(&models_of(procfs, 303), "registry.ollama.ai/team/m/v1", &manifest(A));
    assert_eq!(names.model_of(303, 300, &runner(A)).as_deref(), Some("team/m:v1"));
    let mlx = args("/usr/bin/ollama runner --mlx-engine --model qwen3:8b --port 1");
    assert_eq!(names.model_of(302, 300, &mlx).as_deref(), Some("qwen3:8b"));
}

#[cfg(target_os = "linux")]
#[test]
fn an_unchanged_tree_is_not_walked_again_and_a_pull_is_seen_at_the_next_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let (procfs, models, llama) = settled_tree(dir.path());

    // The manifest now names B, but nothing in the tree looks changed: the names kept are
    // used, which shows the tree was not walked (a walk would read B).
    rewrite_unseen(&llama, B);
    assert_eq!(scrape(procfs, A).as_deref(), Some("llama3.2:latest"), "kept");
    assert_eq!(scrape(procfs, B), None, "kept");

    // A pull makes folders and a manifest: seen at the next scrape.
    write(&models, "registry.ollama.ai/library/qwen3/8b", &manifest(C));
    assert_eq!(scrape(procfs, C).as_deref(), Some("qwen3:8b"));
    assert_eq!(scrape(procfs, B).as_deref(), Some("llama3.2:latest"), "the walk read the rewrite too");
    // That walk was made seconds after the pull, so it was not kept: the next scrape walks
    // again and sees a rewrite it could not have seen otherwise.
    rewrite_unseen(&llama, A);
    assert_eq!(scrape(procfs, A).as_deref(), Some("llama3.2:latest"), "read again");

    // A manifest rewritten in place with a new time (`ollama pull` of a newer version under
    // the same tag) is read again, even though no folder changed.
    age(&models, 60);
    assert_eq!(scrape(procfs, A).as_deref(), Some("llama3.2:latest"));
    fs::write(&llama, manifest(B)).unwrap();
    fs::File::options().write(true).open(&llama).unwrap().set_modified(ago(30)).unwrap();
    assert_eq!(scrape(procfs, B).as_deref(), Some("llama3.2:latest"));
    assert_eq!(scrape(procfs, A), None);
}

#[cfg(target_os = "linux")]
#[test]
fn a_directory_no_scrape_asks_for_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let (procfs, _, llama) = settled_tree(dir.path());
    rewrite_unseen(&llama, B);
    // A scrape of this root that asks about no Ollama runner.
    drop(ModelNames::new(procfs));
    assert_eq!(scrape(procfs, B).as_deref(), Some("llama3.2:latest"), "forgotten, so read again");
    // Another root's scrapes forget nothing of this one.
    rewrite_unseen(&llama, A);
    drop(ModelNames::new(&procfs.join("elsewhere")));
    assert_eq!(scrape(procfs, B).as_deref(), Some("llama3.2:latest"), "still kept");
}

#[cfg(target_os = "linux")]
#[test]
fn a_tree_too_large_to_keep_is_walked_every_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let (procfs, models) = (dir.path(), models_of(dir.path(), 201));
    for i in 0..MAX_SEEN {
        write(&models, &format!("registry.ollama.ai/library/big/t{i}"), &manifest(A));
    }
    age(&models, 60);
    assert_eq!(scrape(procfs, B), None);
    rewrite_unseen(&models.join("manifests/registry.ollama.ai/library/big/t7"), B);
    assert_eq!(scrape(procfs, B).as_deref(), Some("big:t7"), "not kept, so read again");
}
