//! The `nvml` collector: every GPU's series through NVML (`nvml-wrapper`), and the GPU users
//! (per-process GPU memory and utilization) that the process collector exports.
//!
//! SKELETON: the public API below is the contract with the rest of the exporter; the bodies
//! are to be filled in.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::process::GpuUse;
use super::{CollectError, Collector, ScrapeContext};
use crate::family::Family;

/// The shared NVML handle: loaded lazily, retried with backoff while the driver is missing.
pub struct Gpus {
    #[allow(dead_code)]
    library: Option<PathBuf>,
}

impl Gpus {
    pub fn new(library: Option<PathBuf>) -> Arc<Gpus> {
        Arc::new(Gpus { library })
    }

    /// GPU use per PID (compute and graphics processes, utilization since the previous call).
    pub async fn processes(&self, _budget: Duration) -> Result<HashMap<u32, Vec<GpuUse>>, String> {
        Ok(HashMap::new())
    }
}

pub struct NvmlCollector {
    #[allow(dead_code)]
    gpus: Arc<Gpus>,
}

impl NvmlCollector {
    pub fn new(gpus: Arc<Gpus>) -> NvmlCollector {
        NvmlCollector { gpus }
    }
}

impl Collector for NvmlCollector {
    fn name(&self) -> &'static str {
        "nvml"
    }

    fn collect<'a>(&'a self, _scrape: &'a ScrapeContext) -> BoxFuture<'a, Result<Vec<Family>, CollectError>> {
        Box::pin(async move { Err(CollectError("NVML is not implemented yet".into())) })
    }
}
