//! Finds the LLM servers running on this machine, from the proc filesystem alone.
//!
//! A process is a server when its `comm` or the base name of its `argv[0]` is a known server
//! (or, for interpreters, when its command line runs a known server module). Its sockets are
//! the socket inodes of its `fd/` matched to the LISTEN sockets of its network namespace. In
//! the exporter's own namespace it is scraped at loopback, on its lowest port that loopback
//! reaches; in another (a container, a pod) at an address of that namespace on a link of this
//! machine to local containers, on its lowest port listening there (`netns.rs` says which
//! namespaces and addresses are believed). Only such addresses are ever probed, never one the
//! exporter's uplink or a router leads to. A configured server lends its name to the process
//! listening on its address. A server process whose ancestor is also a server (an Ollama
//! model runner, a vLLM engine core) is a worker of that server, not a server of its own.
//! Nothing is kept between scrapes but the listening sockets of server processes, and those
//! only while what they depend on is unchanged (`listen_cache.rs`).
//!
//! Beside the scan here: `classify.rs` (which process is a server, of which backend), `netns.rs` and `ns_addresses.rs` (other network namespaces, their
//! addresses and routes), `pods.rs` (Kubernetes names), `ollama_models.rs` with `in_root.rs`
//! (the model an Ollama runner serves), `llama_kv.rs` (what a llama-server's settings say
//! about its KV cache), `model_id.rs` (a model id as a bounded, distinct label) and `stuck.rs`
//! (PIDs whose files hang when read, which scans skip).
//! The operating system is read only through `crate::sys`.
pub mod classify;
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub mod in_root;
pub mod listen_cache;
pub mod llama_kv;
pub mod model_id;
pub mod netns;
pub mod ns_addresses;
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub mod ollama_models;
pub mod pods;
pub mod stuck;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use crate::config::{ProcessMatch, ServerConfig, Workload};
use crate::gpu_use::GpuUse;
use crate::sys;
use llama_kv::KvLayout;
use stuck::Watch;

pub use classify::{is_server_program, rule_matches, server_backend, worker_model};

/// How deep parent chains are followed.
const MAX_ANCESTRY: usize = 32;

/// An LLM server process found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalServer {
    pub pid: u32,
    /// `comm` of the process, the `process` label.
    pub process: String,
    /// The backend its program speaks (`llamacpp`, `vllm`, …), judged from its name.
    pub backend: &'static str,
    /// The port it is scraped at, if any: the one discovery found, or a configured server's.
    pub port: Option<u16>,
    /// Where discovery scrapes it: loopback for a server of the exporter's network namespace,
    /// an address of its own for another's; `None` when configured or not reachable.
    pub target: Option<std::net::SocketAddr>,
    /// The `server` label: a configured server's name when one points at this port, else
    /// `PROCESS:PORT` (or the bare process name without a port).
    pub name: String,
    /// True when a configured server points at it (then it is not a new target).
    pub configured: bool,
    /// What a llama-server's command line and environment say about its KV cache.
    pub kv: Option<KvLayout>,
}

/// A server process that listens but is not scraped, and why (for a debug line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub pid: u32,
    pub why: String,
}

/// What one scan found: the servers, every process's parent (for tying workers to them), and
/// the processes using a GPU.
#[derive(Debug, Default, Clone)]
pub struct LocalView {
    pub servers: Vec<LocalServer>,
    /// `pid → ppid` of every process whose `stat` was read while scanning.
    pub parents: HashMap<u32, u32>,
    /// GPU use per PID as NVML reports it; empty without NVML.
    pub gpu_users: HashMap<u32, Vec<GpuUse>>,
    /// Server processes started by another server (model runners, engine cores): they get
    /// process series under their server's label, but are not targets of their own.
    pub workers: Vec<u32>,
    /// Processes a `[[process.match]]` rule selected, with the rule's workload override.
    pub matched: HashMap<u32, Option<Workload>>,
    /// Servers that listen where this exporter cannot reach them.
    pub skipped: Vec<Skipped>,
    /// Why the scan did not finish (it overran its budget, or earlier scans still hang): what
    /// it found is then not the whole picture, and the collectors that use it fail.
    pub incomplete: Option<String>,
    /// PIDs left out because reading their files hangs (`stuck.rs`).
    pub unreadable: Vec<u32>,
}

impl LocalView {
    /// The server a process belongs to: itself or its nearest ancestor that is a server.
    pub fn server_of(&self, root: &Path, pid: u32, parents: &mut HashMap<u32, u32>) -> Option<&LocalServer> {
        let mut current = pid;
        for _ in 0..MAX_ANCESTRY {
            if let Some(server) = self.servers.iter().find(|s| s.pid == current) {
                return Some(server);
            }
            current = match self.parents.get(&current).or_else(|| parents.get(&current)) {
                Some(&ppid) => ppid,
                None => {
                    let ppid = sys::read_stat(root, current)?.ppid;
                    parents.insert(current, ppid);
                    ppid
                }
            };
            if current <= 1 {
                return None;
            }
        }
        None
    }
}

/// Scans the proc root for LLM servers and for the processes `rules` select. `configured`
/// servers that point at a found server's socket lend it their name. Servers of other network
/// namespaces are reached at their own addresses when `other_namespaces` is set.
pub fn scan(root: &Path, configured: &[ServerConfig], rules: &[ProcessMatch], other_namespaces: bool) -> LocalView {
    scan_watched(root, configured, rules, other_namespaces, &Watch::default())
}

/// [`scan`], telling `watch` which PID it reads and skipping the PIDs `watch` says to skip
/// (their reads hang: `stuck.rs`).
pub fn scan_watched(
    root: &Path,
    configured: &[ServerConfig],
    rules: &[ProcessMatch],
    other_namespaces: bool,
    watch: &Watch,
) -> LocalView {
    let mut view = LocalView::default();
    let mut candidates = Vec::new();
    for pid in sys::list_pids(root) {
        if !watch.enter(pid) {
            continue;
        }
        let Some(comm) = sys::read_comm(root, pid) else { continue };
        match rules.iter().find(|r| rule_matches(r, root, pid, &comm)) {
            Some(rule) => {
                view.matched.insert(pid, rule.workload);
                if let Some(backend) = rule.backend {
                    candidates.push((pid, rule.name.clone(), comm, backend.as_str()));
                }
            }
            None => {
                if let Some(backend) = server_backend(&comm, || sys::read_cmdline(root, pid)) {
                    // An interpreter is named after the server it runs (`vllm:8000`, not `python3:8000`).
                    let base = if is_server_program(&comm) { comm.clone() } else { backend.into() };
                    candidates.push((pid, base, comm, backend));
                }
            }
        }
    }
    // A candidate that is gone by now, or a zombie, serves nothing.
    candidates.retain(|(pid, ..)| {
        watch.enter(*pid);
        let stat = sys::read_stat(root, *pid);
        match stat {
            Some(stat) if stat.state != 'Z' && stat.state != 'X' => {
                view.parents.insert(*pid, stat.ppid);
                true
            }
            _ => false,
        }
    });
    let candidate_pids: Vec<u32> = candidates.iter().map(|c| c.0).collect();
    let mut sockets = sys::SocketTables::new(root);
    let cache_scan = listen_cache::shared().begin();
    let mut namespaces = netns::Namespaces::new(root);
    // Servers reached at an address of another namespace.
    let mut elsewhere: Vec<Elsewhere> = Vec::new();
    // `base` names the server: the process name, or the name of the rule that matched it.
    for (pid, base, comm, backend) in candidates {
        watch.enter(pid);
        if is_worker(&view.parents, pid, &candidate_pids) {
            view.workers.push(pid);
            continue;
        }
        // Another namespace has a loopback of its own: the same port there is another server,
        // so such a server is reached at an address of its namespace, or not at all.
        let ours = namespaces.is_own(pid);
        let place = match (ours, other_namespaces, ours || namespaces.is_trusted(pid)) {
            (true, ..) => Place::Own,
            (false, false, _) => Place::NotEntered,
            (false, true, false) => Place::Untrusted,
            (false, true, true) => Place::Other,
        };
        let listening = match place {
            Place::NotEntered => Vec::new(),
            _ => listeners_of(root, &mut sockets, pid, cache_scan),
        };
        let theirs = if place == Place::Other { namespaces.reachable(pid) } else { Vec::new() };
        let mut is_theirs = |a: IpAddr| if ours { namespaces.is_own_address(a) } else { theirs.contains(&a) };
        let configured_server = configured.iter().find(|s| netns::serves(&s.url, &listening, &mut is_theirs));
        let reached = match ours {
            true => netns::loopback_target(&listening),
            false => netns::reachable_target(&listening, &theirs),
        };
        if reached.is_none() && configured_server.is_none() && (!listening.is_empty() || place == Place::NotEntered) {
            view.skipped.push(Skipped { pid, why: why_unreached(&comm, pid, &listening, place) });
        }
        let port = reached.map(|t| t.port()).or_else(|| configured_server?.url.port_or_known_default());
        if let (None, Some(target), false) = (configured_server, reached, ours) {
            let netns = namespaces.link(pid);
            elsewhere.push(Elsewhere { index: view.servers.len(), base: base.clone(), netns, address: target.ip() });
        }
        let name = match (configured_server, reached) {
            (Some(server), _) => server.name.clone(),
            (None, Some(target)) if !ours => format!("{base}@{target}"),
            (None, Some(target)) => format!("{base}:{}", target.port()),
            (None, None) => base,
        };
        let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || "_.:-@[]".contains(*c)).collect();
        let kv = (backend == "llamacpp" && port.is_some())
            .then(|| KvLayout::parse(&sys::read_cmdline(root, pid), &sys::read_environ(root, pid, &KvLayout::ENV)));
        view.servers.push(LocalServer {
            pid,
            process: comm,
            backend,
            port,
            target: reached.filter(|_| configured_server.is_none()),
            name,
            configured: configured_server.is_some(),
            kv,
        });
    }
    drop_ambiguous(&mut view, &elsewhere);
    listen_cache::shared().end(root, cache_scan);
    view
}

/// Where a server process runs, as discovery sees its network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The exporter's own network namespace.
    Own,
    /// Another one, which discovery does not look into (`--no-discovery.namespaces`).
    NotEntered,
    /// Another one, owned by another user namespace: its addresses are not believed.
    Untrusted,
    /// Another one, reached at its own addresses.
    Other,
}

/// A server reached at an address of another network namespace.
#[derive(Debug, Clone)]
struct Elsewhere {
    /// Its place in `LocalView::servers`.
    index: usize,
    /// Its name without the address.
    base: String,
    netns: Option<std::path::PathBuf>,
    address: IpAddr,
}

/// Two namespaces that claim one address: which of them a connection reaches is not known, so
/// the servers of neither are scraped (they keep their process series).
fn drop_ambiguous(view: &mut LocalView, elsewhere: &[Elsewhere]) {
    let claimed_twice =
        |e: &Elsewhere| elsewhere.iter().any(|other| other.address == e.address && other.netns != e.netns);
    for Elsewhere { index, base, .. } in elsewhere.iter().filter(|e| claimed_twice(e)).cloned() {
        let Some(server) = view.servers.get_mut(index) else { continue };
        let Some(at) = server.target.take() else { continue };
        view.skipped.push(Skipped {
            pid: server.pid,
            why: format!(
                "{} (pid {}) listens at {at}, an address another network namespace claims too: not scraped",
                server.process, server.pid
            ),
        });
        (server.name, server.port, server.kv) = (base, None, None);
    }
}

/// Why a server that listens is not scraped, for the debug log.
fn why_unreached(comm: &str, pid: u32, listening: &[sys::Listener], place: Place) -> String {
    let who = format!("{comm} (pid {pid})");
    let sockets: Vec<String> =
        listening.iter().map(|l| std::net::SocketAddr::new(l.address, l.port).to_string()).collect();
    let sockets = sockets.join(", ");
    let to_scrape = "configure a --server with its address to scrape it";
    match place {
        Place::Own => format!("{who} listens on {sockets}, none of them on loopback: not scraped ({to_scrape})"),
        Place::NotEntered => {
            format!("{who} runs in another network namespace and --no-discovery.namespaces is set: not scraped")
        }
        Place::Untrusted => format!(
            "{who} listens on {sockets} in a network namespace of another user namespace (a rootless container, \
             unshare -r), whose addresses are not believed: not scraped ({to_scrape})"
        ),
        Place::Other if listening.iter().all(|l| l.reaches_loopback() && !l.address.is_unspecified()) => format!(
            "{who} listens only on the loopback of its own network namespace ({sockets}), which this exporter cannot reach: not scraped"
        ),
        Place::Other => format!(
            "{who} listens on {sockets} in another network namespace, at no address on a link of this machine to local containers: not scraped"
        ),
    }
}

/// True when an ancestor of `pid` is also a candidate server.
fn is_worker(parents: &HashMap<u32, u32>, pid: u32, candidates: &[u32]) -> bool {
    let mut current = pid;
    for _ in 0..MAX_ANCESTRY {
        match parents.get(&current) {
            Some(&ppid) if candidates.contains(&ppid) => return true,
            Some(&ppid) if ppid > 1 => current = ppid,
            _ => return false,
        }
    }
    false
}

/// The LISTEN sockets `pid` holds: as the last scan read them when nothing they depend on
/// changed (`listen_cache.rs`), else read now.
fn listeners_of(root: &Path, sockets: &mut sys::SocketTables, pid: u32, scan: u64) -> Vec<sys::Listener> {
    // Taken before the sockets are read: a change in between makes the next scan read again.
    let stamp = stamp_of(root, pid);
    if let Some(stamp) = &stamp {
        if let Some(known) = listen_cache::shared().get(root, pid, stamp, scan) {
            return known;
        }
    }
    let mut inodes = sys::socket_inodes(root, pid);
    inodes.sort_unstable();
    inodes.dedup();
    let found: Vec<sys::Listener> = if inodes.is_empty() {
        Vec::new()
    } else {
        sockets.listeners(pid).iter().filter(|l| inodes.binary_search(&l.inode).is_ok()).copied().collect()
    };
    if let Some(stamp) = stamp {
        listen_cache::shared().put(root, pid, stamp, &found, scan);
    }
    found
}

/// What the listeners of `pid` depend on; `None` where that cannot be told (then nothing is
/// kept).
#[cfg(target_os = "linux")]
fn stamp_of(root: &Path, pid: u32) -> Option<listen_cache::Stamp> {
    let netns = std::fs::read_link(root.join(pid.to_string()).join("ns/net")).ok();
    let tcp_in_use = sys::linux::tcp_sockets_in_use(root, pid)?;
    let fds = sys::linux::fd_fingerprint(root, pid)?;
    Some(listen_cache::Stamp { netns, fds, tcp_in_use })
}

/// macOS has no cheap count of a namespace's sockets: its listeners are read every scan.
#[cfg(not(target_os = "linux"))]
fn stamp_of(_: &Path, _: u32) -> Option<listen_cache::Stamp> {
    None
}

#[cfg(test)]
mod tests;
