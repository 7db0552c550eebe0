//! The one scan of this machine that the collectors of a scrape share: discovery's servers
//! (`discovery/`) joined with NVML's GPU users, run before the collectors, off the async
//! threads and within the scrape's budget. The `llm` collector scrapes the servers it finds;
//! the `process` collector reads the processes it selects.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::nvml::Gpus;
use crate::config::{Config, ProcessMatch, ServerConfig};
use crate::discovery::{self, pods, stuck, LocalView};

/// Scans the proc filesystem for local servers once per scrape, off the async threads and
/// behind a few permits, so a stuck `/proc` read cannot pile up threads; the PID a scan hung
/// on is skipped by later scans (`discovery/stuck.rs`).
pub struct LocalScanner {
    root: PathBuf,
    /// The host's root filesystem, for the kubelet's pod names (`pods.rs`).
    rootfs: PathBuf,
    configured: Vec<ServerConfig>,
    rules: Vec<ProcessMatch>,
    /// Reach servers of other network namespaces at their own addresses.
    other_namespaces: bool,
    /// The GPU users come from NVML when that collector is on.
    gpus: Option<Arc<Gpus>>,
    /// One permit per scan thread; a scan blocked on a hung read keeps its permit.
    permit: Arc<Semaphore>,
    /// PIDs whose reads hang, skipped by later scans.
    unreadable: Arc<stuck::Unreadable>,
    /// The skipped servers already logged, so each is logged once while it stays skipped.
    skipped: std::sync::Mutex<Vec<discovery::Skipped>>,
    /// Whether discovered servers are scraped at all: when not, why one is not is no news.
    scrapes_discovered: bool,
}

impl LocalScanner {
    pub fn new(config: &Config, gpus: Option<Arc<Gpus>>) -> LocalScanner {
        LocalScanner {
            root: config.procfs.clone(),
            rootfs: config.rootfs.clone(),
            configured: config.servers.clone(),
            rules: config.process_matches.clone(),
            // Reading another namespace's sockets costs milliseconds: only when they are scraped.
            other_namespaces: config.discovery && config.collectors.llm && config.discovery_namespaces,
            gpus,
            permit: Arc::new(Semaphore::new(stuck::MAX_BLOCKED_SCANS)),
            unreadable: Arc::default(),
            skipped: std::sync::Mutex::default(),
            scrapes_discovered: config.discovery && config.collectors.llm,
        }
    }

    /// The scan skips (and reports) the PIDs of `unreadable`, shared with the process collector.
    pub fn sharing_unreadable(self, unreadable: Arc<stuck::Unreadable>) -> LocalScanner {
        LocalScanner { unreadable, ..self }
    }

    /// Logs, at debug, each server that this scan skipped and the previous one did not.
    fn log_skipped(&self, now: &[discovery::Skipped]) {
        if !self.scrapes_discovered {
            return;
        }
        let mut logged = self.skipped.lock().unwrap_or_else(|p| p.into_inner());
        for skipped in now.iter().filter(|s| !logged.contains(s)) {
            log::debug!("discovery: {}", skipped.why);
        }
        *logged = now.to_vec();
    }

    /// The servers and GPU users running here; a part that fails or overruns `budget` is
    /// logged and left empty.
    pub async fn scan(&self, budget: Duration) -> Arc<LocalView> {
        let gpu_users = async {
            let Some(gpus) = &self.gpus else { return HashMap::new() };
            gpus.processes(budget).await.unwrap_or_else(|e| {
                log::debug!("no GPU processes this scrape: {e}");
                HashMap::new()
            })
        };
        let (mut view, gpu_users) = futures::join!(self.scan_proc(budget), gpu_users);
        self.log_skipped(&view.skipped);
        view.gpu_users = gpu_users;
        Arc::new(view)
    }

    /// Scans in a thread of its own. A scan that fails or overruns leaves a view that says so
    /// ([`LocalView::incomplete`]); the PID it hung on is skipped from then on ([`stuck`]).
    async fn scan_proc(&self, budget: Duration) -> LocalView {
        for pid in self.unreadable.newly_hung() {
            log::warn!(
                "process scan: reading {}/{pid} hangs (a process in uninterruptible sleep?); PID {pid} is left \
                 out while it hangs and for {} s after (llm_exporter_process_unreadable_pids)",
                self.root.display(),
                stuck::REMEMBER.as_secs()
            );
        }
        let unreadable = self.unreadable.current();
        let failed =
            |why: String| LocalView { incomplete: Some(why), unreadable: unreadable.clone(), ..LocalView::default() };
        let Ok(permit) = Arc::clone(&self.permit).try_acquire_owned() else {
            return failed(format!(
                "process scan skipped: {} earlier scans of {} still hang",
                stuck::MAX_BLOCKED_SCANS,
                self.root.display()
            ));
        };
        let watch = stuck::Watch::new(unreadable.clone());
        let (root, configured, rules) = (self.root.clone(), self.configured.clone(), self.rules.clone());
        let other_namespaces = self.other_namespaces;
        let rootfs = self.rootfs.clone();
        let (watching, marks) = (Arc::clone(&watch), Arc::clone(&self.unreadable));
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut view = scan_local(&root, &configured, &rules, other_namespaces, &watching);
            pods::name_servers(&root, &rootfs, &mut view);
            marks.finished(&watching);
            view
        });
        match tokio::time::timeout(budget, task).await {
            Ok(Ok(view)) => LocalView { unreadable, ..view },
            Ok(Err(e)) => failed(format!("process scan failed: {e}")),
            Err(_) => {
                if let Some(pid) = self.unreadable.overran(&watch, budget) {
                    log::debug!("process scan: still reading {}/{pid}; skipped until it answers", self.root.display());
                }
                failed(format!(
                    "process scan of {} ran out of its {:.3}s budget",
                    self.root.display(),
                    budget.as_secs_f64()
                ))
            }
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "macos"))]
fn scan_local(
    root: &std::path::Path,
    configured: &[ServerConfig],
    rules: &[ProcessMatch],
    others: bool,
    watch: &stuck::Watch,
) -> LocalView {
    discovery::scan_watched(root, configured, rules, others, watch)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn scan_local(_: &std::path::Path, _: &[ServerConfig], _: &[ProcessMatch], _: bool, _: &stuck::Watch) -> LocalView {
    LocalView::default()
}
