//! The thin, blocking part: NVML calls through `nvml-wrapper` into the plain structs of
//! `shape.rs`. It runs only on a blocking thread, one batch at a time (see `mod.rs`).
//!
//! Every call goes through [`Problems::ask`], which sorts its outcome: NOT_SUPPORTED is no
//! value and no error; a symbol the library lacks (an older driver) is no value, reported once;
//! any other error is no value for that series of that GPU and counts as an error. The other
//! series and GPUs go on. `nvml-wrapper` 0.11 checks each symbol before calling it and answers
//! `FailedToLoadSymbol` instead of panicking; the calls are still wrapped in `catch_unwind`, so
//! a panic in the bindings would cost one series too.
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, PerformanceState, TemperatureSensor};
use nvml_wrapper::enums::device::{SampleValue, UsedGpuMemory};
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::struct_wrappers::device::{FieldValueSample, ProcessInfo};
use nvml_wrapper::structs::device::FieldId;
use nvml_wrapper::{Device, Nvml};

use super::shape::{Gpu, GpuProcesses, Reading, Static, System};

/// NVML field ids of the PCIe byte counters (nvml.h `NVML_FI_DEV_PCIE_COUNT_TX_BYTES`,
/// `NVML_FI_DEV_PCIE_COUNT_RX_BYTES`).
const PCIE_TX_BYTES: FieldId = FieldId(197);
const PCIE_RX_BYTES: FieldId = FieldId(198);
/// Clocks in the order of `shape::CLOCKS`.
const CLOCK_TYPES: [Clock; 3] = [Clock::Graphics, Clock::SM, Clock::Memory];
/// More fans than this are not asked for (a confused library cannot make a scrape loop long).
const MAX_FANS: u32 = 16;

/// What went wrong in one batch of calls, for the caller to count and log.
#[derive(Debug, Default)]
pub struct Problems {
    /// Calls that failed with something other than NOT_SUPPORTED: `(gpu, call, error)`.
    pub errors: Vec<(Option<u32>, &'static str, String)>,
    /// Calls whose symbol the library lacks: `(call, why)`.
    pub missing: Vec<(&'static str, String)>,
}

impl Problems {
    /// Makes one NVML call and sorts its outcome (see the module docs).
    fn ask<T>(&mut self, gpu: Option<u32>, call: &'static str, f: impl FnOnce() -> Result<T, NvmlError>) -> Option<T> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                self.note(gpu, call, e);
                None
            }
            Err(_) => {
                self.errors.push((gpu, call, "the NVML bindings panicked".into()));
                None
            }
        }
    }

    fn note(&mut self, gpu: Option<u32>, call: &'static str, e: NvmlError) {
        match e {
            NvmlError::NotSupported => {}
            NvmlError::FailedToLoadSymbol(why) => self.missing.push((call, why)),
            e => self.errors.push((gpu, call, e.to_string())),
        }
    }
}

/// A loaded NVML and what is read only once.
pub struct Loaded {
    /// Never dropped: `nvml-wrapper`'s `Drop` calls `nvmlShutdown` unchecked (it would panic on
    /// a library without it) and a shutdown can hang like any call. The process's exit frees it.
    nvml: ManuallyDrop<Nvml>,
    pub system: System,
    pub count: u32,
    /// Static facts per GPU index, filled on the first scrape that reads them without error.
    statics: Mutex<Vec<Option<Static>>>,
    /// The one timestamp kept between scrapes: when the previous process utilization read
    /// started, in microseconds since the epoch (NVML's sample clock). Each read asks NVML for
    /// the samples taken after it; 0 before the first read, which gets what NVML still holds.
    last_utilization_read_us: AtomicU64,
}

/// Loads and initialises NVML, and reads the driver's facts. The error is one clear sentence.
pub fn load(library: Option<&Path>, problems: &mut Problems) -> Result<Loaded, String> {
    let mut builder = Nvml::builder();
    if let Some(path) = library {
        builder.lib_path(path.as_os_str());
    }
    let nvml = match catch_unwind(AssertUnwindSafe(|| builder.init())) {
        Ok(Ok(nvml)) => ManuallyDrop::new(nvml),
        Ok(Err(e)) => return Err(init_failure(library, e)),
        Err(_) => return Err("the NVML bindings panicked in nvmlInit".into()),
    };
    let count = match catch_unwind(AssertUnwindSafe(|| nvml.device_count())) {
        Ok(Ok(count)) => count,
        Ok(Err(e)) => return Err(format!("nvmlDeviceGetCount_v2 failed: {e}")),
        Err(_) => return Err("the NVML bindings panicked in nvmlDeviceGetCount_v2".into()),
    };
    let system = System {
        driver_version: problems.ask(None, "nvmlSystemGetDriverVersion", || nvml.sys_driver_version()),
        cuda_version: problems.ask(None, "nvmlSystemGetCudaDriverVersion_v2", || nvml.sys_cuda_driver_version()),
    };
    Ok(Loaded {
        nvml,
        system,
        count,
        statics: Mutex::new(vec![None; count as usize]),
        last_utilization_read_us: AtomicU64::new(0),
    })
}

fn init_failure(library: Option<&Path>, e: NvmlError) -> String {
    let lib = library.map_or_else(|| "libnvidia-ml.so.1".to_string(), |p| p.display().to_string());
    match e {
        NvmlError::LibloadingError(e) => format!("cannot load the NVML library ({e})"),
        NvmlError::FailedToLoadSymbol(e) => format!("{lib} is not an NVML library ({e})"),
        NvmlError::DriverNotLoaded => {
            format!("the NVIDIA driver is not loaded ({lib}: nvmlInit_v2 answered DRIVER_NOT_LOADED)")
        }
        NvmlError::NoPermission => {
            format!("no permission to talk to the NVIDIA driver ({lib}: nvmlInit_v2 answered NO_PERMISSION)")
        }
        e => format!("nvmlInit_v2 of {lib} failed: {e}"),
    }
}

impl Loaded {
    /// Every GPU's static facts (read once) and current reading. A GPU whose handle or UUID
    /// cannot be had this time is left out of this scrape.
    pub fn read_gpus(&self, problems: &mut Problems) -> Vec<Gpu> {
        let mut gpus = Vec::with_capacity(self.count as usize);
        for index in 0..self.count {
            let Some(device) = self.device(index, problems) else { continue };
            let Some(fixed) = self.fixed(index, &device, problems) else { continue };
            gpus.push(Gpu { index, fixed, now: reading(index, &device, problems) });
        }
        gpus
    }

    /// Every GPU's processes and the utilization samples since the previous call.
    pub fn read_processes(&self, problems: &mut Problems) -> Vec<GpuProcesses> {
        let since = self.last_utilization_read_us.load(Ordering::Relaxed);
        let started = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let mut found = Vec::with_capacity(self.count as usize);
        for index in 0..self.count {
            let Some(device) = self.device(index, problems) else { continue };
            let gpu = Some(index);
            let compute =
                problems.ask(gpu, "nvmlDeviceGetComputeRunningProcesses_v3", || device.running_compute_processes());
            let graphics =
                problems.ask(gpu, "nvmlDeviceGetGraphicsRunningProcesses_v3", || device.running_graphics_processes());
            let samples = problems.ask(gpu, "nvmlDeviceGetProcessUtilization", || {
                match device.process_utilization_stats(since) {
                    // NOT_FOUND: no sample newer than `since`.
                    Err(NvmlError::NotFound) => Ok(Vec::new()),
                    other => other,
                }
            });
            found.push(GpuProcesses {
                gpu: index,
                compute: compute.map(pid_memory).unwrap_or_default(),
                graphics: graphics.map(pid_memory).unwrap_or_default(),
                samples: samples.unwrap_or_default().into_iter().map(|s| (s.pid, s.sm_util)).collect(),
            });
        }
        self.last_utilization_read_us.store(started, Ordering::Relaxed);
        found
    }

    fn device(&self, index: u32, problems: &mut Problems) -> Option<Device<'_>> {
        problems.ask(Some(index), "nvmlDeviceGetHandleByIndex_v2", || self.nvml.device_by_index(index))
    }

    /// The static facts of a GPU: cached, or read now (and cached when every call answered).
    fn fixed(&self, index: u32, device: &Device, problems: &mut Problems) -> Option<Static> {
        let slot = index as usize;
        if let Some(known) = self.statics.lock().unwrap_or_else(|p| p.into_inner()).get(slot).cloned().flatten() {
            return Some(known);
        }
        let gpu = Some(index);
        let errors_before = problems.errors.len();
        let uuid = problems.ask(gpu, "nvmlDeviceGetUUID", || device.uuid());
        if problems.errors.len() > errors_before {
            return None;
        }
        let fixed = Static {
            uuid: uuid.unwrap_or_default(),
            name: problems.ask(gpu, "nvmlDeviceGetName", || device.name()),
            pci_bus_id: problems.ask(gpu, "nvmlDeviceGetPciInfo_v3", || device.pci_info()).map(|p| p.bus_id),
            max_clocks_mhz: CLOCK_TYPES
                .map(|c| problems.ask(gpu, "nvmlDeviceGetMaxClockInfo", || device.max_clock_info(c))),
        };
        if problems.errors.len() == errors_before {
            if let Some(cached) = self.statics.lock().unwrap_or_else(|p| p.into_inner()).get_mut(slot) {
                *cached = Some(fixed.clone());
            }
        }
        Some(fixed)
    }
}

/// One scrape's dynamic values of one GPU.
fn reading(index: u32, device: &Device, p: &mut Problems) -> Reading {
    let gpu = Some(index);
    let utilization = p.ask(gpu, "nvmlDeviceGetUtilizationRates", || device.utilization_rates());
    let memory = p.ask(gpu, "nvmlDeviceGetMemoryInfo_v2", || device.memory_info());
    let mut fans = Vec::new();
    for fan in 0..p.ask(gpu, "nvmlDeviceGetNumFans", || device.num_fans()).unwrap_or(0).min(MAX_FANS) {
        if let Some(percent) = p.ask(gpu, "nvmlDeviceGetFanSpeed_v2", || device.fan_speed(fan)) {
            fans.push((fan, percent));
        }
    }
    let pcie = p.ask(gpu, "nvmlDeviceGetFieldValues", || device.field_values_for(&[PCIE_TX_BYTES, PCIE_RX_BYTES]));
    let mut pcie = pcie.unwrap_or_default().into_iter().map(|field| field_u64(p, gpu, field));
    let (pcie_tx_bytes, pcie_rx_bytes) = (pcie.next().flatten(), pcie.next().flatten());
    let ecc = |p: &mut Problems, kind| {
        p.ask(gpu, "nvmlDeviceGetTotalEccErrors", || device.total_ecc_errors(kind, EccCounter::Volatile))
    };
    Reading {
        utilization_percent: utilization.as_ref().map(|u| u.gpu),
        memory_utilization_percent: utilization.map(|u| u.memory),
        memory_used_bytes: memory.as_ref().map(|m| m.used),
        memory_total_bytes: memory.map(|m| m.total),
        temperature_celsius: p.ask(gpu, "nvmlDeviceGetTemperature", || device.temperature(TemperatureSensor::Gpu)),
        power_milliwatts: p.ask(gpu, "nvmlDeviceGetPowerUsage", || device.power_usage()),
        power_limit_milliwatts: p.ask(gpu, "nvmlDeviceGetEnforcedPowerLimit", || device.enforced_power_limit()),
        energy_millijoules: p.ask(gpu, "nvmlDeviceGetTotalEnergyConsumption", || device.total_energy_consumption()),
        clocks_mhz: CLOCK_TYPES.map(|c| p.ask(gpu, "nvmlDeviceGetClockInfo", || device.clock_info(c))),
        fans_percent: fans,
        performance_state: p.ask(gpu, "nvmlDeviceGetPerformanceState", || device.performance_state()).and_then(pstate),
        throttle_reasons: p
            .ask(gpu, "nvmlDeviceGetCurrentClocksThrottleReasons", || device.current_throttle_reasons())
            .map(|r| r.bits()),
        pcie_link_generation: p.ask(gpu, "nvmlDeviceGetCurrPcieLinkGeneration", || device.current_pcie_link_gen()),
        pcie_link_width: p.ask(gpu, "nvmlDeviceGetCurrPcieLinkWidth", || device.current_pcie_link_width()),
        pcie_tx_bytes,
        pcie_rx_bytes,
        ecc_corrected: ecc(p, MemoryError::Corrected),
        ecc_uncorrected: ecc(p, MemoryError::Uncorrected),
        encoder_percent: p
            .ask(gpu, "nvmlDeviceGetEncoderUtilization", || device.encoder_utilization())
            .map(|u| u.utilization),
        decoder_percent: p
            .ask(gpu, "nvmlDeviceGetDecoderUtilization", || device.decoder_utilization())
            .map(|u| u.utilization),
    }
}

/// One field value as a count. A driver that does not know the field answers NOT_SUPPORTED or
/// INVALID_ARGUMENT for it: both mean no value, not an error.
fn field_u64(p: &mut Problems, gpu: Option<u32>, field: Result<FieldValueSample, NvmlError>) -> Option<u64> {
    let value = match field.and_then(|f| f.value) {
        Ok(value) => value,
        Err(NvmlError::InvalidArg) => return None,
        Err(e) => {
            p.note(gpu, "nvmlDeviceGetFieldValues", e);
            return None;
        }
    };
    match value {
        SampleValue::U32(v) => Some(u64::from(v)),
        SampleValue::U64(v) => Some(v),
        SampleValue::I64(v) => u64::try_from(v).ok(),
        SampleValue::F64(v) => (v.is_finite() && v >= 0.0).then_some(v as u64),
    }
}

fn pstate(state: PerformanceState) -> Option<u32> {
    use PerformanceState::*;
    let all =
        [Zero, One, Two, Three, Four, Five, Six, Seven, Eight, Nine, Ten, Eleven, Twelve, Thirteen, Fourteen, Fifteen];
    all.iter().position(|s| *s == state).map(|n| n as u32)
}

fn pid_memory(list: Vec<ProcessInfo>) -> Vec<(u32, Option<u64>)> {
    list.into_iter()
        .map(|p| {
            let bytes = match p.used_gpu_memory {
                UsedGpuMemory::Used(bytes) => Some(bytes),
                UsedGpuMemory::Unavailable => None,
            };
            (p.pid, bytes)
        })
        .collect()
}
