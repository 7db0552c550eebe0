//! Pure shaping: NVML readings (plain structs in NVML's units) into `llm_gpu_*` families, and
//! NVML's per-GPU process lists into the GPU users of the process collector.
//!
//! A reading NVML did not give (NOT_SUPPORTED, a missing symbol, an error) is `None` here and
//! no sample there: missing data is never 0.
use std::collections::{BTreeMap, HashMap};

use crate::family::{labels, Family, Labels};
use crate::gpu_use::GpuUse;

/// The clocks read, in the order of [`Reading::clocks_mhz`] and [`Static::max_clocks_mhz`].
pub const CLOCKS: [&str; 3] = ["graphics", "sm", "memory"];

/// Throttle reason bits of `nvmlDeviceGetCurrentClocksThrottleReasons` and their `reason`
/// label values; each GPU that answers gets one 0/1 sample per reason.
pub const THROTTLE_REASONS: [(u64, &str); 9] = [
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
];

/// Facts of the driver, read once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct System {
    pub driver_version: Option<String>,
    /// As NVML gives it: `12040` is CUDA 12.4.
    pub cuda_version: Option<i32>,
}

/// Facts of one GPU that cannot change while the driver is loaded, read once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Static {
    pub uuid: String,
    pub name: Option<String>,
    pub pci_bus_id: Option<String>,
    pub max_clocks_mhz: [Option<u32>; 3],
}

/// One scrape's reading of one GPU, in NVML's units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub utilization_percent: Option<u32>,
    pub memory_utilization_percent: Option<u32>,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub temperature_celsius: Option<u32>,
    pub power_milliwatts: Option<u32>,
    pub power_limit_milliwatts: Option<u32>,
    pub energy_millijoules: Option<u64>,
    pub clocks_mhz: [Option<u32>; 3],
    /// `(fan index, percent of its maximum speed)` for each fan that answered.
    pub fans_percent: Vec<(u32, u32)>,
    /// The P-state number, 0 (fastest) to 15.
    pub performance_state: Option<u32>,
    pub throttle_reasons: Option<u64>,
    pub pcie_link_generation: Option<u32>,
    pub pcie_link_width: Option<u32>,
    pub pcie_tx_bytes: Option<u64>,
    pub pcie_rx_bytes: Option<u64>,
    pub ecc_corrected: Option<u64>,
    pub ecc_uncorrected: Option<u64>,
    pub encoder_percent: Option<u32>,
    pub decoder_percent: Option<u32>,
}

/// A GPU as one scrape saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gpu {
    pub index: u32,
    pub fixed: Static,
    pub now: Reading,
}

/// `12040` → `12.4`.
pub fn cuda_version(version: i32) -> String {
    format!("{}.{}", version / 1000, (version % 1000) / 10)
}

/// Turns the GPUs of one scrape into `llm_gpu_*` families.
pub fn shape(system: &System, gpus: &[Gpu]) -> Vec<Family> {
    let mut info = Family::gauge(
        "llm_gpu_info",
        "GPU identity: NVML index, UUID (as dcgm-exporter prints it), name, PCI bus id, driver and CUDA versions; always 1",
    );
    let mut f = Families::new();
    let driver = system.driver_version.clone().unwrap_or_default();
    let cuda = system.cuda_version.map(cuda_version).unwrap_or_default();
    for gpu in gpus {
        let index = gpu.index.to_string();
        let (fixed, now) = (&gpu.fixed, &gpu.now);
        info.push(
            labels([
                ("gpu", &index),
                ("uuid", &fixed.uuid),
                ("name", fixed.name.as_deref().unwrap_or("")),
                ("pci_bus_id", fixed.pci_bus_id.as_deref().unwrap_or("")),
                ("driver_version", &driver),
                ("cuda_version", &cuda),
            ]),
            1.0,
        );
        let base = labels([("gpu", &index)]);
        let with = |name: &'static str, value: &str| -> Labels {
            vec![("gpu".into(), index.clone()), (name.into(), value.to_string())]
        };
        let ratio = |percent: Option<u32>| percent.map(|p| f64::from(p) / 100.0);
        let put = |family: &mut Family, labels: Labels, value: Option<f64>| {
            if let Some(v) = value {
                family.push(labels, v);
            }
        };
        put(&mut f.utilization, base.clone(), ratio(now.utilization_percent));
        put(&mut f.memory_bandwidth, base.clone(), ratio(now.memory_utilization_percent));
        put(&mut f.memory_used, base.clone(), now.memory_used_bytes.map(|b| b as f64));
        put(&mut f.memory_total, base.clone(), now.memory_total_bytes.map(|b| b as f64));
        put(&mut f.temperature, base.clone(), now.temperature_celsius.map(f64::from));
        put(&mut f.power, base.clone(), now.power_milliwatts.map(|mw| f64::from(mw) / 1e3));
        put(&mut f.power_limit, base.clone(), now.power_limit_milliwatts.map(|mw| f64::from(mw) / 1e3));
        put(&mut f.energy, base.clone(), now.energy_millijoules.map(|mj| mj as f64 / 1e3));
        for (i, clock) in CLOCKS.iter().enumerate() {
            put(&mut f.clock, with("clock", clock), now.clocks_mhz[i].map(|mhz| f64::from(mhz) * 1e6));
            put(&mut f.clock_max, with("clock", clock), fixed.max_clocks_mhz[i].map(|mhz| f64::from(mhz) * 1e6));
        }
        for (fan, percent) in &now.fans_percent {
            f.fan.push(with("fan", &fan.to_string()), f64::from(*percent) / 100.0);
        }
        put(&mut f.performance_state, base.clone(), now.performance_state.map(f64::from));
        if let Some(bits) = now.throttle_reasons {
            for (bit, reason) in THROTTLE_REASONS {
                f.throttled.push(with("reason", reason), if bits & bit != 0 { 1.0 } else { 0.0 });
            }
        }
        put(&mut f.pcie_generation, base.clone(), now.pcie_link_generation.map(f64::from));
        put(&mut f.pcie_width, base.clone(), now.pcie_link_width.map(f64::from));
        put(&mut f.pcie_bytes, with("direction", "tx"), now.pcie_tx_bytes.map(|b| b as f64));
        put(&mut f.pcie_bytes, with("direction", "rx"), now.pcie_rx_bytes.map(|b| b as f64));
        put(&mut f.ecc, with("type", "corrected"), now.ecc_corrected.map(|n| n as f64));
        put(&mut f.ecc, with("type", "uncorrected"), now.ecc_uncorrected.map(|n| n as f64));
        put(&mut f.encoder, base.clone(), ratio(now.encoder_percent));
        put(&mut f.decoder, base, ratio(now.decoder_percent));
    }
    let mut out = vec![info];
    out.extend(f.into_vec());
    out
}

/// The per-GPU families besides `llm_gpu_info`.
struct Families {
    utilization: Family,
    memory_bandwidth: Family,
    memory_used: Family,
    memory_total: Family,
    temperature: Family,
    power: Family,
    power_limit: Family,
    energy: Family,
    clock: Family,
    clock_max: Family,
    fan: Family,
    performance_state: Family,
    throttled: Family,
    pcie_generation: Family,
    pcie_width: Family,
    pcie_bytes: Family,
    ecc: Family,
    encoder: Family,
    decoder: Family,
}

impl Families {
    fn new() -> Families {
        let g = Family::gauge;
        Families {
            utilization: g(
                "llm_gpu_utilization_ratio",
                "Share of the last sample period in which a kernel ran, 0 to 1 (NVML nvmlDeviceGetUtilizationRates gpu)",
            ),
            memory_bandwidth: g(
                "llm_gpu_memory_bandwidth_utilization_ratio",
                "Share of the last sample period in which device memory was read or written, 0 to 1 (NVML nvmlDeviceGetUtilizationRates memory)",
            ),
            memory_used: g(
                "llm_gpu_memory_used_bytes",
                "Allocated device memory, reserved memory excluded (NVML nvmlDeviceGetMemoryInfo_v2 used)",
            ),
            memory_total: g("llm_gpu_memory_total_bytes", "Installed device memory (NVML nvmlDeviceGetMemoryInfo_v2 total)"),
            temperature: g("llm_gpu_temperature_celsius", "GPU core temperature (NVML nvmlDeviceGetTemperature)"),
            power: g("llm_gpu_power_watts", "Power drawn by the board (NVML nvmlDeviceGetPowerUsage)"),
            power_limit: g(
                "llm_gpu_power_limit_watts",
                "Power limit the driver enforces (NVML nvmlDeviceGetEnforcedPowerLimit)",
            ),
            energy: Family::counter(
                "llm_gpu_energy_joules_total",
                "Energy used since the driver loaded (NVML nvmlDeviceGetTotalEnergyConsumption)",
            ),
            clock: g("llm_gpu_clock_hertz", "Current clock, by clock domain (NVML nvmlDeviceGetClockInfo)"),
            clock_max: g("llm_gpu_clock_max_hertz", "Maximum clock, by clock domain (NVML nvmlDeviceGetMaxClockInfo)"),
            fan: g(
                "llm_gpu_fan_speed_ratio",
                "Fan speed as a share of its maximum, by fan (NVML nvmlDeviceGetFanSpeed_v2)",
            ),
            performance_state: g(
                "llm_gpu_performance_state",
                "P-state, 0 (fastest) to 15 (slowest) (NVML nvmlDeviceGetPerformanceState)",
            ),
            throttled: g(
                "llm_gpu_throttled",
                "1 when this reason holds the clocks down now, else 0 (NVML nvmlDeviceGetCurrentClocksThrottleReasons)",
            ),
            pcie_generation: g(
                "llm_gpu_pcie_link_generation",
                "Current PCIe link generation (NVML nvmlDeviceGetCurrPcieLinkGeneration)",
            ),
            pcie_width: g("llm_gpu_pcie_link_width", "Current PCIe link width in lanes (NVML nvmlDeviceGetCurrPcieLinkWidth)"),
            pcie_bytes: Family::counter(
                "llm_gpu_pcie_bytes_total",
                "Bytes moved over PCIe, by direction; may wrap (NVML field values PCIE_COUNT_TX_BYTES, PCIE_COUNT_RX_BYTES)",
            ),
            ecc: Family::counter(
                "llm_gpu_ecc_errors_total",
                "ECC memory errors since the driver loaded, by type (NVML nvmlDeviceGetTotalEccErrors, volatile)",
            ),
            encoder: g(
                "llm_gpu_encoder_utilization_ratio",
                "Video encoder utilization, 0 to 1 (NVML nvmlDeviceGetEncoderUtilization)",
            ),
            decoder: g(
                "llm_gpu_decoder_utilization_ratio",
                "Video decoder utilization, 0 to 1 (NVML nvmlDeviceGetDecoderUtilization)",
            ),
        }
    }

    fn into_vec(self) -> Vec<Family> {
        vec![
            self.utilization,
            self.memory_bandwidth,
            self.memory_used,
            self.memory_total,
            self.temperature,
            self.power,
            self.power_limit,
            self.energy,
            self.clock,
            self.clock_max,
            self.fan,
            self.performance_state,
            self.throttled,
            self.pcie_generation,
            self.pcie_width,
            self.pcie_bytes,
            self.ecc,
            self.encoder,
            self.decoder,
        ]
    }
}

/// NVML's process view of one GPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuProcesses {
    pub gpu: u32,
    /// `(pid, used GPU memory)` of the compute processes; memory is `None` where NVML cannot
    /// tell (NVML_VALUE_NOT_AVAILABLE).
    pub compute: Vec<(u32, Option<u64>)>,
    /// The same for graphics processes.
    pub graphics: Vec<(u32, Option<u64>)>,
    /// `(pid, SM utilization percent)` of each utilization sample since the previous call.
    pub samples: Vec<(u32, u32)>,
}

/// GPU use per PID. A process's memory on one GPU is the sum of its entries in one list (one
/// per MIG instance), and the larger of the two lists (a process with both a compute and a
/// graphics context is listed in both with the same memory). Its utilization is the mean of its
/// samples, as a ratio. Each PID's GPUs come in index order.
pub fn gpu_users(gpus: &[GpuProcesses]) -> HashMap<u32, Vec<GpuUse>> {
    let mut by_pid: HashMap<u32, BTreeMap<u32, GpuUse>> = HashMap::new();
    for g in gpus {
        let sum = |list: &[(u32, Option<u64>)]| {
            let mut per_pid: HashMap<u32, Option<u64>> = HashMap::new();
            for (pid, bytes) in list {
                let entry = per_pid.entry(*pid).or_insert(None);
                if let Some(b) = bytes {
                    *entry = Some(entry.unwrap_or(0).saturating_add(*b));
                }
            }
            per_pid
        };
        let (compute, graphics) = (sum(&g.compute), sum(&g.graphics));
        let mut samples: HashMap<u32, (u64, u64)> = HashMap::new();
        for (pid, sm) in &g.samples {
            let entry = samples.entry(*pid).or_default();
            *entry = (entry.0 + u64::from(*sm), entry.1 + 1);
        }
        let pids = compute.keys().chain(graphics.keys()).chain(samples.keys());
        for pid in pids.copied().collect::<Vec<_>>() {
            let memory = match (compute.get(&pid).copied().flatten(), graphics.get(&pid).copied().flatten()) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let ratio = samples.get(&pid).map(|(sum, n)| (*sum as f64 / *n as f64 / 100.0).clamp(0.0, 1.0));
            by_pid
                .entry(pid)
                .or_default()
                .insert(g.gpu, GpuUse { gpu: g.gpu, used_memory_bytes: memory, sm_utilization_ratio: ratio });
        }
    }
    by_pid.into_iter().map(|(pid, gpus)| (pid, gpus.into_values().collect())).collect()
}

#[cfg(test)]
#[path = "shape_tests.rs"]
mod tests;
