//! The join between the GPU collectors and the process series: what one process uses of one
//! GPU. NVML fills it (`collectors/nvml`), the per-scrape scan carries it, and the process
//! collector shapes it; it sits apart from all three so none imports another for it.

/// A process's use of one GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuUse {
    pub gpu: u32,
    pub used_memory_bytes: Option<u64>,
    pub sm_utilization_ratio: Option<f64>,
}
