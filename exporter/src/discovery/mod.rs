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
//! Nothing is kept between scrapes but the listening sockets of server processes
//! (`listen_cache.rs`), pod names and Ollama's model names (`kept.rs`), each only while what
//! it was read from is unchanged.
//!
//! Beside the scan here: `netns.rs` and `ns_addresses.rs` (other network namespaces, their
//! addresses and routes), `pods.rs` (Kubernetes names), `ollama_models.rs` with `in_root.rs`
//! and `ollama_cache.rs` (the model an Ollama runner serves), `llama_kv.rs` (what a llama-server's settings say
//! about its KV cache), `model_id.rs` (a model id as a bounded, distinct label) and `stuck.rs`
//! (PIDs whose files hang when read, which scans skip).
//! The operating system is read only through `crate::sys`.
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub mod in_root;
pub mod kept;
pub mod listen_cache;
pub mod llama_kv;
pub mod model_id;
pub mod netns;
pub mod ns_addresses;
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub mod ollama_cache;
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

/// Known server programs by `comm` or `argv[0]` base name, with the backend they speak.
const PROGRAMS: &[(&str, &str)] = &[
    ("llama-server", "llamacpp"),
    ("llama-swap", "llamaswap"),
    ("llamafile", "llamacpp"),
    ("koboldcpp", "koboldcpp"),
    ("ollama", "ollama"),
    // Ollama's model runner before 0.5.2 (a worker of its `ollama`; `comm` is cut to 15 bytes).
    ("ollama_llama_server", "ollama"),
    ("vllm", "vllm"),
    ("text-generation-launcher", "tgi"),
    ("text-generation-router", "tgi"),
    ("text-generation-server", "tgi"),
    ("lms", "lmstudio"),
    ("LM Studio", "lmstudio"),
];

/// Modules that make an interpreter (`python -m MODULE`, or a script path containing it) a server.
const MODULES: &[(&str, &str)] = &[
    ("vllm.entrypoints", "vllm"),
    ("sglang.launch_server", "sglang"),
    ("sglang.srt", "sglang"),
    ("text_generation_server", "tgi"),
    ("mlx_lm.server", "mlx"),
];

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

/// The backend of a server program, judged from its `comm` and command line.
pub fn server_backend(comm: &str, cmdline: impl FnOnce() -> Vec<String>) -> Option<&'static str> {
    if let Some((_, backend)) = PROGRAMS.iter().find(|(name, _)| *name == comm) {
        return Some(backend);
    }
    // A module's console script (`mlx_lm.server` installed by pip) runs under the script's name.
    if let Some((_, backend)) = MODULES.iter().find(|(module, _)| *module == comm) {
        return Some(backend);
    }
    // Interpreters hide the program, and comm is cut at 15 bytes: look at the command line,
    // but only where it can tell something (it is read for every such process on every scrape).
    let interpreter = comm.starts_with("python") || comm.starts_with("uv") || comm == "node";
    // macOS framework builds of Python re-execute as `Python.app`, so the name is `Python`.
    #[cfg(target_os = "macos")]
    let interpreter = interpreter || comm == "Python";
    let cut_program = comm.len() == 15 && PROGRAMS.iter().any(|(name, _)| name.len() > 15 && name.starts_with(comm));
    if !interpreter && !cut_program {
        return None;
    }
    let args = cmdline();
    let argv0 = args.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("");
    if let Some((_, backend)) = PROGRAMS.iter().find(|(name, _)| *name == argv0) {
        return Some(backend);
    }
    args.iter().take(8).find_map(|arg| {
        let arg = arg.rsplit('/').next().unwrap_or(arg);
        PROGRAMS
            .iter()
            .find(|(name, _)| *name == arg && arg != "lms")
            .or_else(|| MODULES.iter().find(|(module, _)| arg.starts_with(module)))
            .map(|(_, backend)| *backend)
    })
}

/// True when every condition the rule gives holds. The executable and the command line are
/// read only when the rule asks for them and its `comm` (if any) already matched.
pub fn rule_matches(rule: &ProcessMatch, root: &Path, pid: u32, comm: &str) -> bool {
    if rule.comm.as_deref().is_some_and(|c| c != comm) {
        return false;
    }
    let mut args = None;
    let mut args = || args.get_or_insert_with(|| sys::read_cmdline(root, pid)).clone();
    if let Some(exe) = &rule.exe {
        let path = sys::read_exe(root, pid).or_else(|| args().into_iter().next());
        if !path.is_some_and(|p| exe.is_match(&p)) {
            return false;
        }
    }
    rule.cmdline.as_ref().is_none_or(|re| re.is_match(&args().join(" ")))
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
                    let base =
                        if PROGRAMS.iter().any(|(name, _)| *name == comm) { comm.clone() } else { backend.into() };
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

/// The model a llama-server child of a router (llama.cpp `--models-dir`, llama-swap) serves,
/// from its command line: `--alias` (the router's model id), else the file name of `--model`.
pub fn worker_model(args: &[String]) -> Option<String> {
    let value = |names: &[&str]| {
        let at = args.iter().skip(1).position(|a| names.contains(&a.as_str()))? + 2;
        args.get(at).filter(|v| !v.is_empty())
    };
    let model = match value(&["-a", "--alias"]) {
        Some(alias) => alias.as_str(),
        None => value(&["-m", "--model"])?.rsplit(['/', '\\']).next()?,
    };
    Some(model_id::label(model))
}

/// The LISTEN sockets `pid` holds: as the last scan read them when nothing they depend on
/// changed (`listen_cache.rs`), else read now.
fn listeners_of(root: &Path, sockets: &mut sys::SocketTables, pid: u32, scan: u64) -> Vec<sys::Listener> {
    let mut inodes = sys::socket_inodes(root, pid);
    if inodes.is_empty() {
        return Vec::new();
    }
    inodes.sort_unstable();
    inodes.dedup();
    let stamp = stamp_of(root, pid, &inodes);
    if let Some(stamp) = &stamp {
        if let Some(known) = listen_cache::shared().get(root, pid, stamp, scan) {
            return known;
        }
    }
    let found: Vec<sys::Listener> =
        sockets.listeners(pid).iter().filter(|l| inodes.binary_search(&l.inode).is_ok()).copied().collect();
    if let Some(stamp) = stamp {
        listen_cache::shared().put(root, pid, stamp, &found, scan);
    }
    found
}

/// What the listeners of `pid` depend on; `None` where that cannot be told (then nothing is
/// kept).
#[cfg(target_os = "linux")]
fn stamp_of(root: &Path, pid: u32, inodes: &[u64]) -> Option<listen_cache::Stamp> {
    let netns = std::fs::read_link(root.join(pid.to_string()).join("ns/net")).ok();
    let tcp_in_use = sys::linux::tcp_sockets_in_use(root, pid)?;
    Some(listen_cache::Stamp { netns, inodes: inodes.to_vec(), tcp_in_use })
}

/// macOS has no cheap count of a namespace's sockets: its listeners are read every scan.
#[cfg(not(target_os = "linux"))]
fn stamp_of(_: &Path, _: u32, _: &[u64]) -> Option<listen_cache::Stamp> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_router_child_names_its_model() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let child = "llama-server --host 127.0.0.1 --port 0 --alias alpha --model models/alpha.gguf";
        assert_eq!(worker_model(&args(child)).as_deref(), Some("alpha"));
        assert_eq!(
            worker_model(&args("llama-server -m /srv/m/qwen-7b.gguf --port 0")).as_deref(),
            Some("qwen-7b.gguf")
        );
        assert_eq!(worker_model(&args("llama-server --port 0")), None);
        assert_eq!(worker_model(&args("llama-server --alias")), None);
    }

    #[test]
    fn an_address_two_namespaces_claim_is_scraped_in_neither() {
        let server = |pid: u32, at: &str| LocalServer {
            pid,
            process: "vllm".into(),
            backend: "vllm",
            port: Some(8000),
            target: Some(at.parse().unwrap()),
            name: format!("vllm@{at}"),
            configured: false,
            kv: None,
        };
        let mut view = LocalView {
            servers: vec![server(1, "10.88.0.5:8000"), server(2, "10.88.0.5:8000"), server(3, "10.88.0.6:8000")],
            ..LocalView::default()
        };
        let at = |index: usize, netns: &str, address: &str| Elsewhere {
            index,
            base: "vllm".into(),
            netns: Some(netns.into()),
            address: address.parse().unwrap(),
        };
        // 1 and 2 in two namespaces with one address; 3 alone.
        let elsewhere = [at(0, "net:[1]", "10.88.0.5"), at(1, "net:[2]", "10.88.0.5"), at(2, "net:[3]", "10.88.0.6")];
        drop_ambiguous(&mut view, &elsewhere);
        let left: Vec<(&str, bool)> = view.servers.iter().map(|s| (s.name.as_str(), s.target.is_some())).collect();
        assert_eq!(left, [("vllm", false), ("vllm", false), ("vllm@10.88.0.6:8000", true)]);
        assert_eq!(view.skipped.len(), 2);
        assert!(view.skipped[0].why.contains("an address another network namespace claims too"));
    }

    #[test]
    fn servers_by_name_and_by_command_line() {
        let none = Vec::new;
        assert_eq!(server_backend("llama-server", none), Some("llamacpp"));
        assert_eq!(server_backend("ollama", none), Some("ollama"));
        assert_eq!(server_backend("bash", || panic!("cmdline is read only for interpreters")), None);
        let args = |a: &[&str]| {
            let v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
            move || v
        };
        assert_eq!(
            server_backend("python3", args(&["/usr/bin/python3", "-m", "vllm.entrypoints.openai.api_server"])),
            Some("vllm")
        );
        assert_eq!(
            server_backend("python3.11", args(&["python", "-m", "sglang.launch_server", "--model", "x"])),
            Some("sglang")
        );
        assert_eq!(server_backend("python3", args(&["/opt/venv/bin/vllm", "serve", "m"])), Some("vllm"));
        assert_eq!(server_backend("text-generation", args(&["/usr/local/bin/text-generation-launcher"])), Some("tgi"));
        assert_eq!(server_backend("containerd-shim", || panic!("a cut name of no known program")), None);
        assert_eq!(server_backend("python3", args(&["python", "train.py"])), None);
        assert_eq!(server_backend("python3", args(&["python", "my_lms_tool.py", "lms"])), None);
        assert_eq!(
            server_backend("python3.12", args(&["python3.12", "-m", "mlx_lm.server", "--port", "8080"])),
            Some("mlx")
        );
        assert_eq!(
            server_backend("python3", args(&["/opt/homebrew/bin/python3", "/Users/me/venv/bin/mlx_lm.server"])),
            Some("mlx")
        );
        // pip's console script, run straight from its shebang: comm is the script's name.
        assert_eq!(server_backend("mlx_lm.server", || panic!("the name says it")), Some("mlx"));
    }

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/basic")
    }

    fn rule(name: &str) -> ProcessMatch {
        ProcessMatch { name: name.into(), comm: None, exe: None, cmdline: None, backend: None, workload: None }
    }

    #[test]
    fn scan_of_a_fixture_tree() {
        let configured: Vec<ServerConfig> = Vec::new();
        let view = scan(&fixture(), &configured, &[], true);
        let found: Vec<(u32, &str, &str, Option<u16>, bool)> = view
            .servers
            .iter()
            .map(|s| (s.pid, s.name.as_str(), s.backend, s.port, s.target.is_some_and(|t| t.is_ipv6())))
            .collect();
        // 201 and 202 are ollama's runners (workers), 500 a zombie, 600 gone before its stat was read.
        assert_eq!(
            found,
            [
                (100, "llama-server:8080", "llamacpp", Some(8080), false),
                (200, "ollama:11434", "ollama", Some(11434), true),
                (300, "vllm:8000", "vllm", Some(8000), false),
            ]
        );
        assert_eq!(view.workers, [201, 202]);
        assert!(view.matched.is_empty());
        let mut cache = HashMap::new();
        assert_eq!(view.server_of(&fixture(), 201, &mut cache).map(|s| s.pid), Some(200));
        assert_eq!(view.server_of(&fixture(), 202, &mut cache).map(|s| s.pid), Some(200));
        assert_eq!(view.server_of(&fixture(), 400, &mut cache), None);
    }

    #[test]
    fn configured_servers_lend_their_name_and_rules_select_processes() {
        let url = "http://localhost:8080/".parse().unwrap();
        let configured = [ServerConfig {
            name: "chat".into(),
            url,
            backend: crate::config::Backend::Llamacpp,
            api_key: None,
            timeout: None,
            kv_cache_tokens: None,
        }];
        let by_exe = ProcessMatch {
            exe: Some(regex::Regex::new("^/opt/embed/").unwrap()),
            workload: Some(Workload::GpuCompute),
            ..rule("embed")
        };
        let as_server = ProcessMatch {
            comm: Some("bash".into()),
            backend: Some(crate::config::Backend::Llamacpp),
            ..rule("shell")
        };
        let by_cmdline = ProcessMatch { cmdline: Some(regex::Regex::new("--iters 100$").unwrap()), ..rule("job") };
        let view = scan(&fixture(), &configured, &[by_exe, as_server, by_cmdline], true);
        let names: Vec<(&str, bool)> = view.servers.iter().map(|s| (s.name.as_str(), s.configured)).collect();
        assert_eq!(names, [("chat", true), ("ollama:11434", false), ("vllm:8000", false), ("shell", false)]);
        let mut matched: Vec<_> = view.matched.into_iter().collect();
        matched.sort_unstable_by_key(|m| m.0);
        assert_eq!(matched, [(400, None), (700, Some(Workload::GpuCompute)), (800, None)]);
    }
}
