//! The [`Collector`] trait and the explicit list of collectors built from the config.
//!
//! A collector reads its sources when asked and returns metric families; it never reports its
//! own health. The scrape runner (`scrape.rs`) times each one, applies its deadline, and emits
//! `llm_exporter_collector_success` and `_duration_seconds` for it.
pub mod apple_gpu;
pub mod llm;
pub mod local_scan;
pub mod nvml;
pub mod process;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::config::Config;
use crate::family::Family;

/// Why a collector produced nothing this scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectError(pub String);

impl std::fmt::Display for CollectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What every collector of one scrape shares.
#[derive(Debug, Clone)]
pub struct ScrapeContext {
    /// The time this scrape may take; the runner enforces it, so a collector that overruns is
    /// cut off and reported failed.
    pub budget: Duration,
    /// The LLM servers found on this machine in this scrape (empty when nothing scans).
    pub local: Arc<crate::discovery::LocalView>,
}

/// A source of metric families, read afresh on every scrape.
pub trait Collector: Send + Sync {
    /// The `collector` label value (`llm`, `nvml`, `process`).
    fn name(&self) -> &'static str;

    /// Reads the source and shapes it into families.
    fn collect<'a>(&'a self, scrape: &'a ScrapeContext) -> BoxFuture<'a, Result<Vec<Family>, CollectError>>;

    /// Failures that cost part of the collector's series without failing it (a call for one
    /// GPU, say) since this was last asked; the runner adds them to
    /// `llm_exporter_scrape_errors_total`.
    fn take_partial_errors(&self) -> u64 {
        0
    }

    /// Whether part of the series come from the scan of local processes: a scan that did not
    /// finish then fails the collector, though what it did collect is kept.
    fn uses_local_scan(&self) -> bool {
        false
    }
}

/// The enabled collectors, in a fixed order, and the scan of local processes they need.
pub struct Plan {
    pub collectors: Vec<Arc<dyn Collector>>,
    /// `None` when no collector needs to know what runs here.
    pub scanner: Option<local_scan::LocalScanner>,
    /// What the `llm` collector learns about each server, for the proxies.
    pub facts: Arc<crate::server_facts::ServerFacts>,
}

pub fn from_config(config: &Config) -> Result<Plan, String> {
    let enabled = &config.collectors;
    #[cfg(not(target_os = "macos"))]
    let gpus = enabled.nvml.then(|| nvml::Gpus::new(config.nvml_library.clone()));
    // macOS has no NVML: there the same switch turns on the Apple GPU collector instead.
    #[cfg(target_os = "macos")]
    let gpus: Option<Arc<nvml::Gpus>> = None;
    let mut collectors: Vec<Arc<dyn Collector>> = Vec::new();
    let facts = Arc::<crate::server_facts::ServerFacts>::default();
    if enabled.llm {
        collectors.push(Arc::new(llm::LlmCollector::new(config)?.sharing_facts(Arc::clone(&facts))));
    }
    if let Some(gpus) = &gpus {
        collectors.push(Arc::new(nvml::NvmlCollector::new(Arc::clone(gpus))));
    }
    #[cfg(target_os = "macos")]
    if enabled.nvml {
        collectors.push(Arc::new(apple_gpu::AppleGpuCollector::new()));
    }
    // PIDs whose reads hang: whichever of the scan and the process collector hits one first,
    // both skip it.
    let unreadable = Arc::<crate::discovery::stuck::Unreadable>::default();
    if enabled.process {
        collectors.push(Arc::new(process::ProcessCollector::new(config, Arc::clone(&unreadable))));
    }
    let needs_scan = enabled.process || (config.discovery && enabled.llm);
    // GPU users matter only to the process series.
    let scanner = needs_scan.then(|| {
        local_scan::LocalScanner::new(config, gpus.filter(|_| enabled.process)).sharing_unreadable(unreadable)
    });
    Ok(Plan { collectors, scanner, facts })
}
