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
use crate::discovery::{self, pods, LocalView};

/// Scans the proc filesystem for local servers once per scrape, off the async threads and
/// behind one permit, so a stuck `/proc` read cannot pile up threads.
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
    permit: Arc<Semaphore>,
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
            permit: Arc::new(Semaphore::new(1)),
            skipped: std::sync::Mutex::default(),
            scrapes_discovered: config.discovery && config.collectors.llm,
        }
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

    async fn scan_proc(&self, budget: Duration) -> LocalView {
        let Ok(permit) = Arc::clone(&self.permit).try_acquire_owned() else {
            log::warn!("process scan skipped: the previous scan of {} is still running", self.root.display());
            return LocalView::default();
        };
        let (root, configured, rules) = (self.root.clone(), self.configured.clone(), self.rules.clone());
        let other_namespaces = self.other_namespaces;
        let rootfs = self.rootfs.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut view = scan_local(&root, &configured, &rules, other_namespaces);
            pods::name_servers(&root, &rootfs, &mut view);
            view
        });
        match tokio::time::timeout(budget, task).await {
            Ok(Ok(view)) => view,
            Ok(Err(e)) => {
                log::warn!("process scan failed: {e}");
                LocalView::default()
            }
            Err(_) => {
                log::warn!(
                    "process scan of {} ran out of its {:.3}s budget",
                    self.root.display(),
                    budget.as_secs_f64()
                );
                LocalView::default()
            }
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "macos"))]
fn scan_local(root: &std::path::Path, configured: &[ServerConfig], rules: &[ProcessMatch], others: bool) -> LocalView {
    discovery::scan(root, configured, rules, others)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn scan_local(_: &std::path::Path, _: &[ServerConfig], _: &[ProcessMatch], _: bool) -> LocalView {
    LocalView::default()
}
