//! What the NVML collector costs on 8 GPUs with 64 GPU processes, against the stand-in
//! libnvidia-ml of the tests (built here with `$CC`, default `gcc`). The stand-in answers in
//! nanoseconds, so this measures the exporter's side: `nvml-wrapper`, the blocking-thread
//! hand-off, the permit and the shaping. Prints a table comparing it with the same NVML calls
//! made directly with `nvml-wrapper` on the calling thread (the floor), all in the same run.
//!
//! Run: cargo run --release -p llm-exporter --example nvml_bench
#[path = "../tests/nvml-standin/standin.rs"]
mod standin;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llm_exporter::collectors::nvml::shape::{self, Gpu, Reading, Static, System};
use llm_exporter::collectors::nvml::{Gpus, NvmlCollector};
use llm_exporter::collectors::{self, Collector, ScrapeContext};
use llm_exporter::config::{self, Command};
use llm_exporter::family::encode_text;
use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, TemperatureSensor};
use nvml_wrapper::structs::device::FieldId;
use nvml_wrapper::Nvml;
use serde_json::json;

const GPUS: u32 = 8;
const PROCESSES_PER_GPU: u32 = 8;
const ROUNDS: u32 = 2000;
const BUDGET: Duration = Duration::from_secs(5);

/// 8 H100s, each with 8 compute processes and a utilization sample for each.
fn config() -> serde_json::Value {
    let gpus: Vec<serde_json::Value> = (0..GPUS)
        .map(|g| {
            let pids: Vec<u32> = (0..PROCESSES_PER_GPU).map(|p| 100_000 + g * PROCESSES_PER_GPU + p).collect();
            json!({
                "uuid": format!("GPU-00000000-0000-0000-0000-{g:012}"),
                "pci_bus_id": format!("00000000:{:02X}:00.0", 0x18 + g * 0x10),
                "temperature": 60 + g,
                "utilization": { "gpu": 80 + g, "memory": 40 + g },
                "power_mw": 500_000 + g * 1000,
                "energy_mj": 9_000_000_000u64 + u64::from(g),
                "pcie_tx_bytes": 1_000_000 * u64::from(g + 1),
                "pcie_rx_bytes": 3_000_000 * u64::from(g + 1),
                "compute_processes": pids.iter().map(|p| json!({ "pid": p, "used_memory": 1u64 << 30 })).collect::<Vec<_>>(),
                "process_utilization": pids.iter().map(|p| json!({ "pid": p, "sm": 10, "mem": 5, "enc": 0, "dec": 0 })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "driver_version": "550.54.15",
        "cuda_version": 12040,
        "defaults": {
            "name": "NVIDIA H100 80GB HBM3",
            "max_clocks": { "graphics": 1980, "sm": 1980, "memory": 2619 },
            "clocks": { "graphics": 1755, "sm": 1755, "memory": 2619 },
            "memory": { "total": 85520809984u64, "reserved": 566231040u64, "free": 50000000000u64, "used": 34954578944u64 },
            "power_limit_mw": 700000,
            "pstate": 0,
            "throttle_reasons": 0,
            "pcie_link_generation": 5,
            "pcie_link_width": 16,
            "ecc": { "corrected": 0, "uncorrected": 0 },
            "decoder": 0,
            "graphics_processes": []
        },
        "gpus": gpus
    })
}

/// Median and 99th percentile of `ROUNDS` runs of `f`.
async fn measure<F, Fut>(mut f: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(ROUNDS as usize);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        f().await;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

/// The calls the collector makes for the GPU series, made directly, results dropped.
fn raw_calls(nvml: &Nvml) {
    for index in 0..GPUS {
        let Ok(d) = nvml.device_by_index(index) else { continue };
        let _ = black_box(d.utilization_rates());
        let _ = black_box(d.memory_info());
        let _ = black_box(d.temperature(TemperatureSensor::Gpu));
        let _ = black_box(d.power_usage());
        let _ = black_box(d.enforced_power_limit());
        let _ = black_box(d.total_energy_consumption());
        for clock in [Clock::Graphics, Clock::SM, Clock::Memory] {
            let _ = black_box(d.clock_info(clock));
        }
        let _ = black_box(d.num_fans());
        let _ = black_box(d.performance_state());
        let _ = black_box(d.current_throttle_reasons());
        let _ = black_box(d.current_pcie_link_gen());
        let _ = black_box(d.current_pcie_link_width());
        let _ = black_box(d.field_values_for(&[FieldId(197), FieldId(198)]));
        let _ = black_box(d.total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile));
        let _ = black_box(d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile));
        let _ = black_box(d.encoder_utilization());
        let _ = black_box(d.decoder_utilization());
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return eprintln!("no temp dir: {e}"),
    };
    let library = standin::build(dir.path(), &[]);
    let config_path = dir.path().join("config.json");
    if let Err(e) = std::fs::write(&config_path, config().to_string()) {
        return eprintln!("cannot write the stand-in config: {e}");
    }
    std::env::set_var("NVML_STANDIN_CONFIG", &config_path);
    std::env::remove_var("NVML_STANDIN_LOG");

    let gpus = Gpus::new(Some(library.clone()));
    let collector = NvmlCollector::new(Arc::clone(&gpus));
    let context = ScrapeContext { budget: BUDGET, local: Arc::default() };
    // The first scrape loads NVML and reads the static facts; it is not measured.
    let first = collector.collect(&context).await.map_or(0, |f| f.iter().map(|f| f.samples.len()).sum::<usize>());
    let users = gpus.processes(BUDGET).await.map_or(0, |u| u.len());
    assert_eq!(users, (GPUS * PROCESSES_PER_GPU) as usize, "every GPU process is seen");

    let series = measure(|| async {
        let _ = black_box(collector.collect(&context).await);
    })
    .await;
    let processes = measure(|| async {
        let _ = black_box(gpus.processes(BUDGET).await);
    })
    .await;
    let hand_off = measure(|| async {
        let _ = black_box(tokio::task::spawn_blocking(|| black_box(1)).await);
    })
    .await;
    let (system, readings) = readings();
    let shaping = measure(|| async {
        black_box(shape::shape(&system, &readings));
    })
    .await;
    let whole = whole_scrape(&library).await;

    // The floor: a second handle on the same library, never dropped (its Drop would shut the
    // stand-in down under the collector's handle).
    let raw = match Nvml::builder().lib_path(library.as_os_str()).init() {
        Ok(nvml) => std::mem::ManuallyDrop::new(nvml),
        Err(e) => return eprintln!("cannot load the stand-in directly: {e}"),
    };
    let floor = measure(|| async { raw_calls(&raw) }).await;

    let us = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6);
    let per_gpu = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6 / f64::from(GPUS));
    println!(
        "nvml collector, stand-in NVML: {GPUS} GPUs, {} GPU processes, {first} GPU samples per scrape; median (p99) of {ROUNDS} rounds\n",
        GPUS * PROCESSES_PER_GPU
    );
    println!("| step | per scrape (µs) | per GPU (µs) |");
    println!("|---|---:|---:|");
    let row = |name: &str, (median, p99): (Duration, Duration)| {
        println!("| {name} | {} ({}) | {} |", us(median), us(p99), per_gpu(median));
    };
    let row_without_per_gpu = |name: &str, (median, p99): (Duration, Duration)| {
        println!("| {name} | {} ({}) | |", us(median), us(p99));
    };
    row("GPU series: `NvmlCollector::collect` (blocking hand-off, 21 NVML calls per GPU, shaping)", series);
    row("GPU users: `Gpus::processes` (process lists, utilization samples, merge)", processes);
    row("floor: the GPU series' NVML calls made directly with nvml-wrapper, nothing else", floor);
    row("shaping alone: `shape::shape` on 8 full readings (256 samples)", shaping);
    row_without_per_gpu("`spawn_blocking` round trip alone", hand_off);
    if let Some(whole) = whole {
        row_without_per_gpu("whole scrape: nvml + process collectors, scan of this machine's /proc, encoding", whole);
    }
}

/// What the stand-in's GPUs read as, for shaping alone.
fn readings() -> (System, Vec<Gpu>) {
    let fixed = Static {
        uuid: "GPU-00000000-0000-0000-0000-000000000000".into(),
        name: Some("NVIDIA H100 80GB HBM3".into()),
        pci_bus_id: Some("00000000:18:00.0".into()),
        max_clocks_mhz: [Some(1980), Some(1980), Some(2619)],
    };
    let now = Reading {
        utilization_percent: Some(80),
        memory_utilization_percent: Some(40),
        memory_used_bytes: Some(34954578944),
        memory_total_bytes: Some(85520809984),
        temperature_celsius: Some(60),
        power_milliwatts: Some(500_000),
        power_limit_milliwatts: Some(700_000),
        energy_millijoules: Some(9_000_000_000),
        clocks_mhz: [Some(1755), Some(1755), Some(2619)],
        fans_percent: Vec::new(),
        performance_state: Some(0),
        throttle_reasons: Some(0),
        pcie_link_generation: Some(5),
        pcie_link_width: Some(16),
        pcie_tx_bytes: Some(1_000_000),
        pcie_rx_bytes: Some(3_000_000),
        ecc_corrected: Some(0),
        ecc_uncorrected: Some(0),
        encoder_percent: None,
        decoder_percent: Some(0),
    };
    let gpus = (0..GPUS).map(|index| Gpu { index, fixed: fixed.clone(), now: now.clone() }).collect();
    (System { driver_version: Some("550.54.15".into()), cuda_version: Some(12040) }, gpus)
}

/// A whole collection as the server runs it (NVML and process collectors, no LLM servers).
async fn whole_scrape(library: &Path) -> Option<(Duration, Duration)> {
    let args: Vec<String> = ["--nvml.library", &library.display().to_string(), "--no-collector.llm", "--no-discovery"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let config = match config::load(&args, &|_| None) {
        Ok(Command::Run(config)) => config,
        _ => return None,
    };
    let plan = collectors::from_config(&config).ok()?;
    let scraper = llm_exporter::scrape::Scraper::new(plan.collectors, plan.scanner);
    let _ = scraper.collect(BUDGET).await;
    Some(
        measure(|| async {
            black_box(encode_text(&scraper.collect(BUDGET).await));
        })
        .await,
    )
}
