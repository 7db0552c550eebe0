//! Kubernetes pod attribution: the namespace, pod and container a process runs in, from its
//! cgroup path (pod UID and container id) and the names the kubelet writes on the node, under
//! `--path.rootfs`: `var/log/pods/<namespace>_<pod>_<uid>/` and
//! `var/log/containers/<pod>_<namespace>_<container>-<id>.log`. Only directory names are read:
//! no Kubernetes API, no kubelet socket, no log content.
//!
//! Cgroup paths known (cgroup v1 and v2; a path may start with `/..` segments when the reader
//! runs in its own cgroup namespace):
//! - cgroupfs driver: `/kubepods[/burstable|/besteffort]/pod<uid>/<id>` (containerd,
//!   cri-dockerd) or `…/pod<uid>/crio-<id>` (CRI-O);
//! - systemd driver: `/kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid with _>.slice/`
//!   (kind nests these under `kubelet.slice/kubelet-kubepods…`), then `cri-containerd-<id>.scope`, `crio-<id>.scope` or `docker-<id>.scope` (cri-dockerd).
//!
//! The names are kept between scrapes while the two folders are unchanged
//! ([`NodeNames::read_kept`]): the folders' modification times are exactly what an added or
//! removed pod or container changes.
//!
//! Pod and namespace names are DNS labels or subdomains and container names DNS labels, none
//! with `_`, so the kubelet's `_`-separated names split exactly.
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::SystemTime;

use super::kept::{FileStamp, Kept};
use super::LocalView;
use crate::sys::RawProcess;

/// What a cgroup path says about Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupIds {
    /// The pod's UID as the kubelet writes it (`-` separated, or 32 hex for a static pod).
    pub pod_uid: String,
    /// The full (64-hex) container id; empty when the path ends at the pod.
    pub container_id: String,
}

/// Names of one pod's process, as labels want them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub pod: String,
    /// The container's name; `None` when the node has no log link for its id.
    pub container: Option<String>,
}

/// The pod UID and container id in the contents of `/proc/PID/cgroup`; `None` off Kubernetes.
pub fn parse_cgroup(text: &str) -> Option<CgroupIds> {
    text.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        let segments: Vec<&str> = path.split('/').collect();
        let (at, pod_uid) = segments.iter().enumerate().find_map(|(i, s)| Some((i, pod_uid(s)?)))?;
        let container_id = segments.get(at + 1).and_then(|s| container_id(s)).unwrap_or_default();
        Some(CgroupIds { pod_uid, container_id })
    })
}

/// `pod<uid>` (cgroupfs) or `kubepods[-<qos>]-pod<uid with _>.slice` (systemd).
fn pod_uid(segment: &str) -> Option<String> {
    let uid = match segment.strip_suffix(".slice") {
        Some(unit) if unit.contains("kubepods") => unit.rsplit('-').next()?.strip_prefix("pod")?.replace('_', "-"),
        Some(_) => return None,
        None => segment.strip_prefix("pod")?.to_string(),
    };
    let valid = matches!(uid.len(), 32 | 36) && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    valid.then_some(uid)
}

/// `<id>`, `crio-<id>`, or `<runtime>-<id>.scope`, with a 64-hex id.
fn container_id(segment: &str) -> Option<String> {
    let unit = segment.strip_suffix(".scope").unwrap_or(segment);
    let id = ["cri-containerd-", "crio-", "docker-"].iter().find_map(|p| unit.strip_prefix(p)).unwrap_or(unit);
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
}

/// The kubelet's names on this node.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NodeNames {
    /// Pod UID → (namespace, pod).
    pods: HashMap<String, (String, String)>,
    /// Container id → (namespace, pod, container).
    containers: HashMap<String, (String, String, String)>,
}

impl NodeNames {
    /// From the entry names of `var/log/pods` and `var/log/containers`; other names are skipped.
    pub fn from_entries<'a>(
        pod_dirs: impl IntoIterator<Item = &'a str>,
        container_logs: impl IntoIterator<Item = &'a str>,
    ) -> NodeNames {
        let mut names = NodeNames::default();
        for dir in pod_dirs {
            if let [namespace, pod, uid] = dir.split('_').collect::<Vec<_>>()[..] {
                names.pods.insert(uid.to_string(), (namespace.to_string(), pod.to_string()));
            }
        }
        for log in container_logs {
            let Some(stem) = log.strip_suffix(".log") else { continue };
            let [pod, namespace, rest] = stem.split('_').collect::<Vec<_>>()[..] else { continue };
            let Some((container, id)) = rest.rsplit_once('-') else { continue };
            if container_id(id).is_some() {
                names.containers.insert(id.to_string(), (namespace.into(), pod.into(), container.into()));
            }
        }
        names
    }

    /// Reads the entry names under `rootfs`; a missing folder is a node without pods.
    pub fn read(rootfs: &Path) -> NodeNames {
        let entries = |dir: &str| -> Vec<String> {
            fs::read_dir(rootfs.join(dir))
                .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
                .unwrap_or_default()
        };
        let (pods, containers) = (entries("var/log/pods"), entries("var/log/containers"));
        NodeNames::from_entries(pods.iter().map(String::as_str), containers.iter().map(String::as_str))
    }

    /// [`NodeNames::read`], kept between scrapes while both folders are unchanged: adding or
    /// removing an entry changes a folder's modification time (the rules of `kept.rs`). At most
    /// [`MAX_ROOTS`] roots are remembered.
    pub fn read_kept(rootfs: &Path) -> Arc<NodeNames> {
        static KEPT: LazyLock<Mutex<Kept<PathBuf, FolderStamps, NodeNames>>> =
            LazyLock::new(|| Mutex::new(Kept::new(MAX_ROOTS)));
        let kept = || KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let stamps = folder_stamps(rootfs);
        let found = kept().get(&rootfs.to_path_buf());
        if let (Some(stamps), Some((at, names))) = (&stamps, found) {
            if *at == *stamps {
                return names;
            }
        }
        let names = Arc::new(NodeNames::read(rootfs));
        let settled = stamps.as_ref().is_some_and(|s| s.iter().all(FileStamp::settled));
        kept().put(rootfs.to_path_buf(), stamps.unwrap_or_default(), Arc::clone(&names), settled);
        names
    }

    /// The names of the pod and container `ids` points at; `None` when the node does not know
    /// the pod (a pod the kubelet has not logged, or not a Kubernetes node).
    pub fn lookup(&self, ids: &CgroupIds) -> Option<PodRef> {
        let (namespace, pod) = self.pods.get(&ids.pod_uid)?;
        let container = self
            .containers
            .get(&ids.container_id)
            .filter(|(ns, p, _)| ns == namespace && p == pod)
            .map(|(_, _, container)| container.clone());
        Some(PodRef { namespace: namespace.clone(), pod: pod.clone(), container })
    }
}

/// Roots whose names are kept at most.
const MAX_ROOTS: usize = 16;

/// The stamps of `var/log/pods` and `var/log/containers` (a missing folder's is all zero and
/// the epoch); `None` when `rootfs` itself cannot be read.
type FolderStamps = Vec<FileStamp>;

fn folder_stamps(rootfs: &Path) -> Option<FolderStamps> {
    fs::metadata(rootfs).ok()?;
    let of = |dir: &str| match fs::metadata(rootfs.join(dir)) {
        Ok(meta) => FileStamp::of(&meta),
        Err(_) => FileStamp { inode: 0, modified: Some(SystemTime::UNIX_EPOCH), size: 0 },
    };
    Some(vec![of("var/log/pods"), of("var/log/containers")])
}

/// The cgroup ids of a process under the proc filesystem `root`.
fn read_ids(root: &Path, pid: u32) -> Option<CgroupIds> {
    parse_cgroup(&fs::read_to_string(root.join(pid.to_string()).join("cgroup")).ok()?)
}

/// Fills `namespace`, `pod` and the container's name of the processes that run in pods; the
/// node's names are read only when one does.
pub fn attribute<'a>(root: &Path, rootfs: &Path, processes: impl IntoIterator<Item = &'a mut RawProcess>) {
    let mut names: Option<Arc<NodeNames>> = None;
    for raw in processes {
        let Some(ids) = read_ids(root, raw.pid) else { continue };
        let Some(found) = names.get_or_insert_with(|| NodeNames::read_kept(rootfs)).lookup(&ids) else { continue };
        raw.namespace = found.namespace;
        raw.pod = found.pod;
        if let Some(container) = found.container {
            raw.container = container;
        }
    }
}

/// Names discovered servers that run in pods `NAMESPACE.POD:PORT` (a namespace has no `.`, so
/// the name splits back exactly), readable and the same on every scrape of that pod.
/// Configured servers keep their names.
pub fn name_servers(root: &Path, rootfs: &Path, view: &mut LocalView) {
    let mut names: Option<Arc<NodeNames>> = None;
    for server in view.servers.iter_mut().filter(|s| !s.configured) {
        let Some(ids) = read_ids(root, server.pid) else { continue };
        let Some(found) = names.get_or_insert_with(|| NodeNames::read_kept(rootfs)).lookup(&ids) else { continue };
        server.name = match server.port {
            Some(port) => format!("{}.{}:{port}", found.namespace, found.pod),
            None => format!("{}.{}", found.namespace, found.pod),
        };
    }
}

#[cfg(test)]
#[path = "pods_tests.rs"]
mod tests;
