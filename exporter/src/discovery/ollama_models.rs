//! The model an Ollama runner serves, for the `model` label of its process series, read from
//! Ollama's manifests on disk.
//!
//! Ollama starts one child per loaded model and names the model's file on its command line:
//! `ollama_llama_server --model BLOB …` before 0.5.2, `ollama runner [--ollama-engine] --model
//! BLOB --port N` from 0.5.2, and llama.cpp's own `llama-server --model BLOB …` from 0.30; its
//! MLX engine (`ollama runner --mlx-engine --model NAME`, from 0.16.2) is given the name itself. BLOB is `MODELS/blobs/sha256-HEX`, the model layer
//! (`application/vnd.ollama.image.model`) of every manifest that uses it, and each manifest is
//! `MODELS/manifests/HOST/NAMESPACE/MODEL/TAG`. The name `/api/ps` shows is the shortest form of
//! that path (Ollama's `DisplayShortest`): `registry.ollama.ai/library/llama3/8b` is `llama3:8b`,
//! another namespace keeps it (`team/llama3:8b`), another host keeps both
//! (`hf.co/org/model:Q4_K_M`).
//!
//! `/api/ps` has a `digest` as well, but it is the SHA-256 of the manifest file, not of the blob
//! the runner loads, and this collector reads no HTTP: the blob on the command line is the only
//! key needed. Ollama keeps one runner per blob, so tags that share a blob (`llama3:latest` and
//! `llama3:8b`, or an `ollama cp`) share a runner, which `/api/ps` names after the tag whose
//! request loaded it; only `/api/ps` knows which, so here the pick is fixed: a `latest` tag (what
//! a name typed without a tag means), else the lexically first name.
//!
//! Files are read through the runner's own root (`/proc/PID/root` on Linux, `/` on macOS), so a
//! runner in a container is looked up in its own files, and every step goes through a
//! directory descriptor (`in_root.rs`): links on the way to `MODELS/manifests` are followed as
//! the runner would, inside its root (through `/proc/PID/root` the kernel would resolve an
//! absolute one in the exporter's own files, which would let a container ask about the host's
//! models), and below `manifests` no link is followed. The walk is bounded: the fixed depth of Ollama's layout, [`MAX_ENTRIES`]
//! directory entries, [`MAX_MANIFESTS`] manifests and [`MAX_WALK_BYTES`] read in all, each
//! manifest up to [`MANIFEST_CAP`] bytes; names Ollama itself would refuse are skipped.
//! Whatever cannot be read or parsed only costs the label.
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::in_root::Dir;
use super::kept::FileStamp;
use super::model_id::model_label;

/// Directory entries looked at in one walk of a models directory, every level together.
pub const MAX_ENTRIES: usize = 16_384;
/// Manifests read in one walk.
pub const MAX_MANIFESTS: usize = 4_096;
/// Bytes read of one manifest; a longer file is skipped (Ollama's are about 1 KiB).
pub const MANIFEST_CAP: u64 = 16 * 1024;
/// Bytes read of all manifests in one walk (a few thousand real ones).
pub const MAX_WALK_BYTES: u64 = 4 << 20;

const MODEL_LAYER: &str = "application/vnd.ollama.image.model";
const DEFAULT_HOST: &str = "registry.ollama.ai";
const DEFAULT_NAMESPACE: &str = "library";

/// What a runner's command line says about its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerModel {
    /// A model layer: the models directory (the parent of `blobs/`) and the blob's hex digest.
    Blob { models: PathBuf, digest: String },
    /// The name itself (the MLX engine).
    Name(String),
}

/// The model a runner's arguments name: `--model` as a blob path, or as a name for the MLX
/// engine. `None` for anything else, a path with `..` in it among them.
pub fn runner_model(args: &[String]) -> Option<RunnerModel> {
    let value = args.iter().skip(1).enumerate().find_map(|(i, arg)| match arg.strip_prefix("--model") {
        Some("") => args.get(i + 2).map(String::as_str),
        Some(rest) => rest.strip_prefix('='),
        None => None,
    })?;
    if let Some((models, digest)) = blob_path(value) {
        return Some(RunnerModel::Blob { models, digest });
    }
    let mlx = args.get(1).is_some_and(|a| a == "runner") && args.iter().any(|a| a == "--mlx-engine");
    (mlx && is_short_name(value)).then(|| RunnerModel::Name(model_label(value)))
}

/// `MODELS/blobs/sha256-HEX` split into MODELS and the lower-case HEX; the path must be absolute,
/// without `..`. Releases before spring 2024 named blobs `sha256:HEX`.
fn blob_path(value: &str) -> Option<(PathBuf, String)> {
    let path = Path::new(value);
    if !path.is_absolute() || path.components().any(|c| !matches!(c, Component::RootDir | Component::Normal(_))) {
        return None;
    }
    let file = path.file_name()?.to_str()?;
    let hex = file.strip_prefix("sha256-").or_else(|| file.strip_prefix("sha256:"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let blobs = path.parent()?;
    if blobs.file_name()? != "blobs" {
        return None;
    }
    Some((blobs.parent()?.to_path_buf(), hex.to_ascii_lowercase()))
}

/// True for a name in Ollama's short form: `[[HOST/]NAMESPACE/]MODEL[:TAG]`, valid parts only.
fn is_short_name(name: &str) -> bool {
    let (rest, tag) = match name.rsplit_once(':') {
        Some((rest, tag)) if !tag.contains('/') => (rest, Some(tag)),
        _ => (name, None),
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let kinds: &[Part] = match parts.len() {
        1 => &[Part::Model],
        2 => &[Part::Namespace, Part::Model],
        3 => &[Part::Host, Part::Namespace, Part::Model],
        _ => return false,
    };
    parts.iter().zip(kinds).all(|(p, k)| valid_part(*k, p)) && tag.is_none_or(|t| valid_part(Part::Tag, t))
}

/// The parts of a model name, in the order of the manifests tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Host,
    Namespace,
    Model,
    Tag,
}

const PARTS: [Part; 4] = [Part::Host, Part::Namespace, Part::Model, Part::Tag];

/// Ollama's rule for a part of a name: 1 to 80 bytes (350 for a host), starting with a letter,
/// digit or `_`, then those or `-`, `.` (not in a namespace) and `:` (only in a host, a port).
fn valid_part(kind: Part, s: &str) -> bool {
    let max = if kind == Part::Host { 350 } else { 80 };
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = s.as_bytes();
    (1..=max).contains(&bytes.len())
        && word(bytes[0])
        && bytes[1..].iter().all(|&b| {
            word(b) || b == b'-' || (b == b'.' && kind != Part::Namespace) || (b == b':' && kind == Part::Host)
        })
}

/// The name `/api/ps` shows for a manifest path: the default host and namespace left out.
pub fn display_name(host: &str, namespace: &str, model: &str, tag: &str) -> String {
    if !host.eq_ignore_ascii_case(DEFAULT_HOST) {
        format!("{host}/{namespace}/{model}:{tag}")
    } else if !namespace.eq_ignore_ascii_case(DEFAULT_NAMESPACE) {
        format!("{namespace}/{model}:{tag}")
    } else {
        format!("{model}:{tag}")
    }
}

/// A name found for a blob, ordered so that the one kept is the smallest: `latest` tags first,
/// then by name.
type Candidate = (bool, String);

/// Walks budget, spent across the whole walk.
struct Budget {
    entries: usize,
    manifests: usize,
    bytes: u64,
}

/// A folder or manifest a walk looked at: its depth below `manifests` (0 for `manifests`
/// itself), its name, and what it looked like before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub depth: usize,
    pub name: OsString,
    pub is_dir: bool,
    pub stamp: FileStamp,
}

/// What one walk found, and what it read it from.
#[derive(Debug)]
pub struct Walked {
    /// Blob digest → model name.
    pub names: HashMap<String, String>,
    /// Every folder and manifest looked at, in walk order.
    pub seen: Vec<Seen>,
    /// False when something listed could not be opened for want of permission (a change of
    /// permission moves no modification time, so such a walk is not worth keeping).
    pub complete: bool,
}

/// For each blob some manifest under `manifests` (a models directory's, opened inside the
/// runner's root) uses as its model layer, the name kept for it (see the module doc); `None`
/// when it cannot be listed (the runner is gone, or its files are not readable to this
/// exporter).
pub fn names_by_blob(manifests: &Dir) -> Option<HashMap<String, String>> {
    walk_manifests(manifests).map(|walked| walked.names)
}

/// [`names_by_blob`], with what the names were read from.
pub fn walk_manifests(manifests: &Dir) -> Option<Walked> {
    let stamp = manifests.stamp().ok()?;
    let mut walk = Walk {
        budget: Budget { entries: MAX_ENTRIES, manifests: MAX_MANIFESTS, bytes: MAX_WALK_BYTES },
        parts: Vec::new(),
        found: HashMap::new(),
        seen: vec![Seen { depth: 0, name: OsString::new(), is_dir: true, stamp }],
        complete: true,
    };
    walk.dir(manifests, &manifests.names().ok()?);
    let names = walk.found.into_iter().map(|(digest, (_, name))| (digest, model_label(&name))).collect();
    Some(Walked { names, seen: walk.seen, complete: walk.complete })
}

/// One walk of `manifests/HOST/NAMESPACE/MODEL/TAG`.
struct Walk {
    budget: Budget,
    /// The names of the levels above the folder being walked.
    parts: Vec<String>,
    found: HashMap<String, Candidate>,
    seen: Vec<Seen>,
    complete: bool,
}

impl Walk {
    /// One level: `names` of `dir`. Directories and files are opened through `dir`, links
    /// never followed; each is stamped before it is read.
    fn dir(&mut self, dir: &Dir, names: &[OsString]) {
        let Some(&kind) = PARTS.get(self.parts.len()) else { return };
        let depth = self.parts.len() + 1;
        for name in names {
            if self.budget.entries == 0 {
                return;
            }
            self.budget.entries -= 1;
            let Some(name_text) = name.to_str().filter(|n| valid_part(kind, n)) else { continue };
            if kind != Part::Tag {
                let Some((below, stamp, below_names)) = self.opened(dir.child(name).and_then(|below| {
                    let stamp = below.stamp()?;
                    let names = below.names()?;
                    Ok((below, stamp, names))
                })) else {
                    continue;
                };
                self.seen.push(Seen { depth, name: name.clone(), is_dir: true, stamp });
                self.parts.push(name_text.to_string());
                self.dir(&below, &below_names);
                self.parts.pop();
                continue;
            }
            if self.budget.manifests == 0 || self.budget.bytes == 0 {
                continue;
            }
            let Some((stamp, file)) = self.opened(dir.entry_stamp(name).and_then(|s| Ok((s, dir.file(name)?)))) else {
                continue;
            };
            self.seen.push(Seen { depth, name: name.clone(), is_dir: false, stamp });
            self.budget.manifests -= 1;
            let Some(digest) = model_layer(file, &mut self.budget.bytes) else { continue };
            let [host, namespace, model] = self.parts.as_slice() else { continue };
            let candidate = (name_text != "latest", display_name(host, namespace, model, name_text));
            match self.found.entry(digest) {
                Entry::Occupied(mut kept) if candidate < *kept.get() => {
                    kept.insert(candidate);
                }
                Entry::Occupied(_) => {}
                Entry::Vacant(slot) => {
                    slot.insert(candidate);
                }
            }
        }
    }

    /// What was opened; a refusal for want of permission marks the walk incomplete (anything
    /// else, a link or a file where a folder belongs, is skipped by design).
    fn opened<T>(&mut self, result: std::io::Result<T>) -> Option<T> {
        if let Err(error) = &result {
            self.complete &= error.kind() != std::io::ErrorKind::PermissionDenied;
        }
        result.ok()
    }
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    digest: String,
}

/// The hex digest of a manifest's model layer (the last one, as Ollama takes it), or `None`
/// for a file too long, not a manifest or without a model. What is read is taken from
/// `budget`.
fn model_layer(file: std::fs::File, budget: &mut u64) -> Option<String> {
    let mut bytes = Vec::new();
    let limit = (MANIFEST_CAP + 1).min(*budget);
    let read = file.take(limit).read_to_end(&mut bytes);
    *budget = budget.saturating_sub(bytes.len() as u64);
    read.ok()?;
    // Longer than a manifest is, or cut by what was left of the budget.
    if bytes.len() as u64 > MANIFEST_CAP || bytes.len() as u64 == limit && limit <= MANIFEST_CAP {
        return None;
    }
    let manifest: Manifest = serde_json::from_slice(&bytes).ok()?;
    let layer = manifest.layers.iter().rev().find(|l| l.media_type == MODEL_LAYER)?;
    let hex = layer.digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.to_ascii_lowercase())
}

#[cfg(test)]
#[path = "ollama_models_tests.rs"]
pub(crate) mod tests;
