//! The plain record of one process that `linux.rs` and `macos.rs` fill, and the process
//! collector shapes.

/// What `linux.rs` (or `macos.rs`) reads for one process: plain numbers in kernel units (on
/// macOS the `*_ticks` are microseconds and `start_ticks` counts from the epoch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawProcess {
    pub pid: u32,
    pub ppid: u32,
    pub comm: String,
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    /// Clock ticks after boot at which the process started.
    pub start_ticks: u64,
    pub threads: u64,
    pub virtual_bytes: u64,
    pub resident_bytes: Option<u64>,
    pub swap_bytes: Option<u64>,
    pub voluntary_switches: Option<u64>,
    pub involuntary_switches: Option<u64>,
    pub read_bytes: Option<u64>,
    pub written_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    /// The container: its name in a Kubernetes pod the node has names for, else the short id
    /// from the cgroup path; empty on bare metal.
    pub container: String,
    /// The Kubernetes namespace and pod (`pods.rs`); empty off Kubernetes.
    pub namespace: String,
    pub pod: String,
    /// macOS only: CPU times could not be read (another user's process), so they are left out.
    pub no_cpu: bool,
    /// macOS only: thread count and virtual size could not be read, so they are left out.
    pub no_threads_or_virtual: bool,
    /// macOS only: context switches of both kinds together (`pti_csw`).
    pub context_switches: Option<u64>,
    /// macOS only: the physical footprint Activity Monitor shows, and its lifetime maximum.
    pub footprint_bytes: Option<u64>,
    pub footprint_peak_bytes: Option<u64>,
    /// macOS 13+ on Apple Silicon only: the CPU's energy the kernel attributes to the process
    /// (not the GPU's or the Neural Engine's), in nanojoules.
    pub cpu_energy_nanojoules: Option<u64>,
    /// macOS 13+ only: Neural Engine memory, when the process has any.
    pub neural_footprint_bytes: Option<u64>,
}
