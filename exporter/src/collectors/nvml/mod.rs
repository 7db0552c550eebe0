//! The `nvml` collector: every GPU's series through NVML (`nvml-wrapper`), and the GPU users
//! (per-process GPU memory and utilization) that the process collector exports.
//!
//! - NVML is loaded lazily, on the first scrape, from `--nvml.library` or the system's
//!   `libnvidia-ml.so.1`. While it cannot be loaded (no library, no driver yet) every scrape
//!   reports the collector failed, with the reason, and the load is retried with backoff (1 s
//!   doubling to 60 s), so a driver loaded later is picked up.
//! - Static facts (UUID, name, PCI bus id, maximum clocks, driver and CUDA versions) are read
//!   once; the rest on every scrape (`read.rs`), then shaped (`shape.rs`).
//! - All NVML work runs in `spawn_blocking` behind one permit shared by the collector and
//!   [`Gpus::processes`], under the scrape's deadline. A call that hangs fails that scrape; the
//!   stuck thread keeps the permit, so later scrapes answer "busy" at once instead of stacking
//!   threads, until the call returns.
//! - Besides the handle and static facts, one value is kept between scrapes: the time of the
//!   previous process utilization read (see `read::Loaded`).
mod read;
pub mod shape;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use super::{CollectError, Collector, ScrapeContext};
use crate::family::Family;
use crate::gpu_use::GpuUse;
use read::{Loaded, Problems};

/// The first retry of a failed load comes this long after it; each failure doubles the wait.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// The shared NVML handle: loaded lazily, retried with backoff while the driver is missing.
pub struct Gpus {
    library: Option<PathBuf>,
    /// The one slot for NVML work; a hung call keeps it.
    permit: Arc<Semaphore>,
    state: Arc<Mutex<State>>,
    /// Calls that failed (other than NOT_SUPPORTED) since [`Gpus::take_errors`] last ran.
    errors: AtomicU64,
}

struct State {
    handle: Handle,
    /// Problems already logged, so each is logged once.
    reported: HashSet<String>,
}

enum Handle {
    Missing { retry_at: Option<Instant>, delay: Duration, reason: Option<String> },
    Ready(Arc<Loaded>),
}

impl Gpus {
    pub fn new(library: Option<PathBuf>) -> Arc<Gpus> {
        let missing = Handle::Missing { retry_at: None, delay: FIRST_RETRY, reason: None };
        Arc::new(Gpus {
            library,
            permit: Arc::new(Semaphore::new(1)),
            state: Arc::new(Mutex::new(State { handle: missing, reported: HashSet::new() })),
            errors: AtomicU64::new(0),
        })
    }

    /// GPU use per PID (compute and graphics processes, utilization since the previous call).
    pub async fn processes(&self, budget: Duration) -> Result<HashMap<u32, Vec<GpuUse>>, String> {
        let lists = self.run(budget, |loaded, problems| loaded.read_processes(problems)).await?;
        Ok(shape::gpu_users(&lists))
    }

    /// NVML calls that failed with an error other than NOT_SUPPORTED since the previous call
    /// of this function (each such call cost one series of one GPU, or one GPU).
    pub fn take_errors(&self) -> u64 {
        self.errors.swap(0, Ordering::Relaxed)
    }

    /// Runs `work` on a blocking thread with the loaded NVML, under the permit and `budget`.
    async fn run<T, F>(&self, budget: Duration, work: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&Loaded, &mut Problems) -> T + Send + 'static,
    {
        let Ok(permit) = Arc::clone(&self.permit).try_acquire_owned() else {
            return Err("busy: an earlier NVML call has not returned yet".into());
        };
        let ready = match &lock(&self.state).handle {
            Handle::Ready(loaded) => Some(Arc::clone(loaded)),
            Handle::Missing { retry_at: Some(at), reason: Some(reason), .. } if Instant::now() < *at => {
                return Err(unavailable(reason));
            }
            Handle::Missing { .. } => None,
        };
        let (state, library) = (Arc::clone(&self.state), self.library.clone());
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut problems = Problems::default();
            let loaded = match ready {
                Some(loaded) => loaded,
                None => load(&state, library.as_deref(), &mut problems)?,
            };
            let found = work(&loaded, &mut problems);
            Ok((found, problems))
        });
        // A little under the scrape's own deadline, so the failure names NVML.
        let deadline = budget.saturating_sub(budget / 20);
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(Ok((found, problems)))) => {
                self.report(problems);
                Ok(found)
            }
            Ok(Ok(Err(why))) => Err(why),
            Ok(Err(e)) => Err(format!("the NVML reader failed: {e}")),
            Err(_) => Err(format!(
                "an NVML call did not return within {:.3}s; later scrapes report busy until it does",
                deadline.as_secs_f64()
            )),
        }
    }

    /// Counts the batch's errors, and logs each problem the first time it is seen.
    fn report(&self, problems: Problems) {
        if problems.errors.is_empty() && problems.missing.is_empty() {
            return;
        }
        self.errors.fetch_add(problems.errors.len() as u64, Ordering::Relaxed);
        let mut state = lock(&self.state);
        for (gpu, call, error) in problems.errors {
            let gpu = gpu.map_or_else(|| "NVML".to_string(), |g| format!("GPU {g}"));
            let line = format!("{gpu}: {call} failed: {error}; its series are left out while it fails");
            if state.reported.insert(line.clone()) {
                log::warn!("{line}");
            } else {
                log::debug!("{line}");
            }
        }
        for (call, why) in problems.missing {
            if state.reported.insert(format!("missing {call}")) {
                log::warn!("the NVML library lacks {call} (an older driver?), so its series are left out: {why}");
            }
        }
    }
}

/// Loads NVML (on a blocking thread), recording the outcome: the handle, or the reason and
/// when to try again.
fn load(
    state: &Mutex<State>,
    library: Option<&std::path::Path>,
    problems: &mut Problems,
) -> Result<Arc<Loaded>, String> {
    let outcome = read::load(library, problems);
    let mut state = lock(state);
    match outcome {
        Ok(loaded) => {
            let loaded = Arc::new(loaded);
            let version = loaded.system.driver_version.as_deref().unwrap_or("unknown");
            log::info!("NVML loaded: driver {version}, GPUs: {}", loaded.count);
            state.handle = Handle::Ready(Arc::clone(&loaded));
            Ok(loaded)
        }
        Err(why) => {
            // Not logged here: the scrape runner logs the collector's failure, which says why.
            log::debug!("loading NVML failed: {why}");
            if let Handle::Missing { retry_at, delay, reason } = &mut state.handle {
                *retry_at = Some(Instant::now() + *delay);
                *delay = (*delay * 2).min(MAX_RETRY);
                *reason = Some(why.clone());
            }
            Err(unavailable(&why))
        }
    }
}

/// The collector's failure while NVML cannot be loaded: the same text every time for the same
/// reason, so the runner can log it once.
fn unavailable(reason: &str) -> String {
    format!(
        "NVML is unavailable: {reason}; no GPU series until it loads (retried with backoff, at least every {}s)",
        MAX_RETRY.as_secs()
    )
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct NvmlCollector {
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

    fn collect<'a>(&'a self, scrape: &'a ScrapeContext) -> BoxFuture<'a, Result<Vec<Family>, CollectError>> {
        Box::pin(async move {
            let (system, gpus) = self
                .gpus
                .run(scrape.budget, |loaded, problems| (loaded.system.clone(), loaded.read_gpus(problems)))
                .await
                .map_err(CollectError)?;
            Ok(shape::shape(&system, &gpus))
        })
    }

    fn take_partial_errors(&self) -> u64 {
        self.gpus.take_errors()
    }
}
