//! The `process` collector: per-process series for the LLM servers on this machine, every
//! process using a GPU, and the processes the config asks for, and for nothing else (the set
//! of processes, hence of `pid` label values, is bounded by what runs models).
//!
//! The proc filesystem is scanned once per scrape, before the collectors run
//! (`collectors/local_scan.rs`): the scan finds the servers (`discovery/`), which the `llm`
//! collector also scrapes. This collector then reads only the selected processes through
//! `sys/` (the proc filesystem on Linux, libproc on macOS) and shapes them (`shape.rs`). The
//! worker of a multi-model server gets a `model`: from its command line (`discovery/`), or for
//! an Ollama runner from Ollama's manifests (`discovery/ollama_cache.rs`).
pub mod shape;

#[cfg(test)]
mod macos_tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use super::{CollectError, Collector, ScrapeContext};
use crate::config::{Config, Workload};
#[cfg(any(target_os = "linux", target_os = "macos"))]
use crate::discovery::ollama_cache;
use crate::discovery::stuck::{self, Unreadable, Watch};
use crate::discovery::{self, LocalServer, LocalView};
use crate::family::Family;
use crate::gpu_use::GpuUse;
use crate::sys;
#[cfg(target_os = "linux")]
use crate::sys::linux;
use crate::sys::RawProcess;

/// A selected process with everything its series need.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub raw: RawProcess,
    pub server: Option<String>,
    /// The model a worker of a multi-model server serves (a llama.cpp router's or llama-swap's
    /// child, an Ollama runner).
    pub model: Option<String>,
    pub workload: Workload,
    pub gpus: Vec<GpuUse>,
}

pub struct ProcessCollector {
    root: PathBuf,
    rootfs: PathBuf,
    /// One permit per reading thread; a read blocked on a hung process keeps its permit.
    permit: Arc<Semaphore>,
    /// PIDs whose reads hang, shared with the scan: skipped by both.
    unreadable: Arc<Unreadable>,
}

/// The share of the scrape budget this collector's read of `/proc` may take before the PID it
/// is on is judged hung (the runner cuts the collector off at the whole budget).
const READ_SHARE_OF_BUDGET: f64 = 0.9;

impl ProcessCollector {
    pub fn new(config: &Config, unreadable: Arc<Unreadable>) -> ProcessCollector {
        ProcessCollector {
            root: config.procfs.clone(),
            rootfs: config.rootfs.clone(),
            permit: Arc::new(Semaphore::new(stuck::MAX_BLOCKED_SCANS)),
            unreadable,
        }
    }
}

/// Reads and classifies the selected processes: the local servers, the GPU users and the
/// processes the config's rules matched.
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub fn select(root: &std::path::Path, view: &LocalView) -> Vec<Selected> {
    select_watched(root, view, &Watch::new(view.unreadable.clone()))
}

/// [`select`], telling `watch` which PID it reads and skipping those it says to skip.
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub fn select_watched(root: &std::path::Path, view: &LocalView, watch: &Watch) -> Vec<Selected> {
    let servers = view.servers.iter().map(|s| s.pid).chain(view.workers.iter().copied());
    let mut pids: Vec<u32> =
        servers.chain(view.gpu_users.keys().copied()).chain(view.matched.keys().copied()).collect();
    pids.sort_unstable();
    pids.dedup();
    let mut parents = HashMap::new();
    let mut ollama_names = ollama_cache::ModelNames::new(root);
    pids.into_iter()
        .filter_map(|pid| {
            // Reading a PID whose reads hang would block this read too.
            if !watch.enter(pid) {
                return None;
            }
            let raw = sys::read_process(root, pid)?;
            let owner = view.server_of(root, pid, &mut parents);
            let server = owner.map(|s| s.name.clone());
            let gpus = view.gpu_users.get(&pid).cloned().unwrap_or_default();
            let workload = match (view.matched.get(&pid).copied().flatten(), &server) {
                (Some(rule), _) => rule,
                (None, Some(_)) => Workload::LlmInference,
                (None, None) => shape::classify(&raw.comm, &sys::read_cmdline(root, pid), !gpus.is_empty()),
            };
            // A worker serves one model of its server: its series say which.
            let model = owner
                .filter(|_| view.workers.contains(&pid))
                .and_then(|owner| worker_model(root, pid, &raw.comm, owner, &mut ollama_names));
            Some(Selected { raw, server, model, workload, gpus })
        })
        .collect()
}

/// The model the worker `pid` of `owner` serves: for an Ollama runner (whatever its program),
/// the name Ollama's manifests give its model file; for a llama-server child of a llama.cpp
/// router or llama-swap, what its command line says.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn worker_model(
    root: &std::path::Path,
    pid: u32,
    comm: &str,
    owner: &LocalServer,
    ollama_names: &mut ollama_cache::ModelNames,
) -> Option<String> {
    if owner.backend == "ollama" {
        return ollama_names.model_of(pid, owner.pid, &sys::read_cmdline(root, pid));
    }
    (comm == "llama-server").then(|| discovery::worker_model(&sys::read_cmdline(root, pid))).flatten()
}

#[cfg(target_os = "linux")]
fn read_and_shape(root: &std::path::Path, rootfs: &std::path::Path, view: &LocalView, watch: &Watch) -> Vec<Family> {
    let mut selected = select_watched(root, view, watch);
    discovery::pods::attribute(root, rootfs, selected.iter_mut().map(|s| &mut s.raw));
    shape::shape(&selected, ticks_per_second(), linux::boot_time(root))
}

/// `macos.rs` gives times in microseconds and the start in microseconds since the epoch.
/// There is no Kubernetes node to attribute pods on a Mac.
#[cfg(target_os = "macos")]
fn read_and_shape(root: &std::path::Path, _rootfs: &std::path::Path, view: &LocalView, watch: &Watch) -> Vec<Family> {
    let selected = select_watched(root, view, watch);
    shape::shape(&selected, 1e6, Some(0.0))
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn read_and_shape(_: &std::path::Path, _: &std::path::Path, _: &LocalView, _: &Watch) -> Vec<Family> {
    Vec::new()
}

/// The kernel's USER_HZ, the unit of `stat` times.
#[cfg(target_os = "linux")]
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

impl Collector for ProcessCollector {
    fn name(&self) -> &'static str {
        "process"
    }

    fn collect<'a>(&'a self, scrape: &'a ScrapeContext) -> BoxFuture<'a, Result<Vec<Family>, CollectError>> {
        Box::pin(async move {
            // Processes missing from an unfinished scan would vanish as if they had ended.
            if let Some(why) = &scrape.local.incomplete {
                return Err(CollectError(why.clone()));
            }
            let permit = Arc::clone(&self.permit).try_acquire_owned().map_err(|_| {
                CollectError(format!("busy: {} earlier reads of /proc still hang", stuck::MAX_BLOCKED_SCANS))
            })?;
            let (root, rootfs, view) = (self.root.clone(), self.rootfs.clone(), Arc::clone(&scrape.local));
            let mut skip = self.unreadable.current();
            skip.extend(&view.unreadable);
            let watch = Watch::new(skip);
            let (watching, marks) = (Arc::clone(&watch), Arc::clone(&self.unreadable));
            let task = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                // A proc filesystem that cannot be listed is a failure, not a machine without
                // processes: the runner reports it and logs it once.
                #[cfg(target_os = "linux")]
                std::fs::read_dir(&root)
                    .map_err(|e| CollectError(format!("cannot list processes in {}: {e}", root.display())))?;
                let families = read_and_shape(&root, &rootfs, &view, &watching);
                marks.finished(&watching);
                Ok(families)
            });
            let budget = scrape.budget.mul_f64(READ_SHARE_OF_BUDGET);
            match tokio::time::timeout(budget, task).await {
                Ok(joined) => joined.map_err(|e| CollectError(format!("process reader failed: {e}")))?,
                Err(_) => {
                    if let Some(pid) = self.unreadable.overran(&watch, budget) {
                        log::debug!(
                            "process read: still reading {}/{pid}; skipped until it answers",
                            self.root.display()
                        );
                    }
                    Err(CollectError(format!(
                        "reading the processes ran out of its {:.3}s budget",
                        budget.as_secs_f64()
                    )))
                }
            }
        })
    }
}
