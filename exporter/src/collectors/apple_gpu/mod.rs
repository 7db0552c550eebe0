//! The `apple_gpu` collector (macOS): the Mac's GPUs through IOKit's `IOAccelerator` services,
//! whose `PerformanceStatistics` any user may read: busy ratios (device, renderer, tiler),
//! unified memory in use and allocated, recoveries, and the model and core count.
//!
//! IOKit and CoreFoundation are loaded at run time on the first scrape (`iokit.rs`); a failed
//! load is kept, so every scrape reports the collector failed with the same reason and nothing
//! else is lost. The read runs in `spawn_blocking` behind one permit; the walk is pure
//! (`shape.rs`) and tested on `ioreg` dumps on any host.
//!
//! Not read: power and clocks, which need the private IOReport library (no stable interface,
//! and its channel names differ between chips), and per-process GPU use (the accelerator's
//! user clients name their owning process but carry no usage that is documented).
#[cfg(target_os = "macos")]
mod iokit;
pub mod shape;

#[cfg(target_os = "macos")]
pub use collector::AppleGpuCollector;

#[cfg(target_os = "macos")]
mod collector {
    use std::sync::{Arc, Mutex};

    use futures::future::BoxFuture;
    use tokio::sync::Semaphore;

    use super::iokit::Frameworks;
    use super::shape;
    use crate::collectors::{CollectError, Collector, ScrapeContext};
    use crate::family::Family;

    /// `None` until the first scrape; then the frameworks, or why they could not be loaded.
    type Loaded = Mutex<Option<Result<Arc<Frameworks>, String>>>;

    pub struct AppleGpuCollector {
        loaded: Arc<Loaded>,
        permit: Arc<Semaphore>,
    }

    impl AppleGpuCollector {
        pub fn new() -> AppleGpuCollector {
            AppleGpuCollector { loaded: Arc::new(Mutex::new(None)), permit: Arc::new(Semaphore::new(1)) }
        }
    }

    impl Default for AppleGpuCollector {
        fn default() -> Self {
            Self::new()
        }
    }

    fn read(loaded: &Loaded) -> Result<Vec<Family>, CollectError> {
        let frameworks = {
            let mut slot = loaded.lock().unwrap_or_else(|p| p.into_inner());
            let result = slot.get_or_insert_with(|| {
                let loaded = Frameworks::load().map(Arc::new);
                if let Err(why) = &loaded {
                    log::debug!("IOKit unavailable: {why}");
                }
                loaded
            });
            result.clone().map_err(|why| CollectError(format!("IOKit is unavailable: {why}; no GPU series")))?
        };
        let services = frameworks.accelerators().map_err(CollectError)?;
        Ok(shape::shape(&shape::accelerators(&services)))
    }

    impl Collector for AppleGpuCollector {
        fn name(&self) -> &'static str {
            "apple_gpu"
        }

        fn collect<'a>(&'a self, _scrape: &'a ScrapeContext) -> BoxFuture<'a, Result<Vec<Family>, CollectError>> {
            Box::pin(async move {
                let permit = Arc::clone(&self.permit)
                    .try_acquire_owned()
                    .map_err(|_| CollectError("busy: the previous IOKit read has not returned yet".into()))?;
                let loaded = Arc::clone(&self.loaded);
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    read(&loaded)
                })
                .await
                .map_err(|e| CollectError(format!("IOKit reader failed: {e}")))?
            })
        }
    }
}
