//! Pure shaping of process facts into `llm_process_*` families, and workload classification.
use crate::family::{labels, Family, Labels};

use super::{RawProcess, Selected, Workload};

/// Training launchers and argument fragments that mark a training job.
const TRAINING_PROGRAMS: &[&str] = &["torchrun", "deepspeed", "accelerate", "horovodrun"];
const TRAINING_ARGS: &[&str] = &["train", "finetune", "fine_tune", "pretrain", "sft", "dpo"];
/// Display servers, compositors and other programs that use a GPU to draw.
const GRAPHICS_PROGRAMS: &[&str] = &[
    "Xorg",
    "Xwayland",
    "gnome-shell",
    "kwin_wayland",
    "kwin_x11",
    "sway",
    "weston",
    "Hyprland",
    "mutter",
    "steam",
    "firefox",
    "chrome",
    "chromium",
    "blender",
    "obs",
];

/// The workload class of a selected process: the rules, in order, in one place.
pub fn classify(is_server: bool, comm: &str, args: &[String], uses_gpu: bool) -> Workload {
    let base = |a: &str| a.rsplit('/').next().unwrap_or(a).to_string();
    if is_server {
        return Workload::LlmInference;
    }
    let program = args.first().map(|a| base(a)).unwrap_or_default();
    let trains = TRAINING_PROGRAMS.iter().any(|p| *p == comm || *p == program)
        || args.iter().skip(1).take(16).any(|a| {
            let a = base(a).to_ascii_lowercase();
            TRAINING_ARGS
                .iter()
                .any(|t| a.starts_with(t) || a.contains(&format!("_{t}")) || a.contains(&format!("-{t}")))
        });
    if trains {
        return Workload::MlTraining;
    }
    if GRAPHICS_PROGRAMS.iter().any(|p| *p == comm || *p == program) {
        return Workload::Graphics;
    }
    if uses_gpu {
        Workload::GpuCompute
    } else {
        Workload::Other
    }
}

/// Turns the selected processes into families. `ticks_per_second` is the kernel's USER_HZ and
/// `boot_time` the epoch second the system booted (both to convert `stat` clock ticks).
pub fn shape(selected: &[Selected], ticks_per_second: f64, boot_time: Option<f64>) -> Vec<Family> {
    let mut info =
        Family::gauge("llm_process_info", "Selected process: its server, workload class and container; always 1");
    let mut cpu = Family::counter("llm_process_cpu_seconds_total", "CPU time of the process, by mode (/proc/PID/stat)");
    let mut rss = Family::gauge("llm_process_resident_memory_bytes", "Resident memory (/proc/PID/status VmRSS)");
    let mut virt = Family::gauge("llm_process_virtual_memory_bytes", "Virtual memory size (/proc/PID/stat vsize)");
    let mut swap = Family::gauge("llm_process_swap_bytes", "Memory swapped out (/proc/PID/status VmSwap)");
    let mut threads = Family::gauge("llm_process_threads", "Threads of the process (/proc/PID/stat)");
    let mut fds = Family::gauge("llm_process_open_fds", "Open file descriptors (/proc/PID/fd)");
    let mut max_fds = Family::gauge("llm_process_max_fds", "Soft limit on open file descriptors (/proc/PID/limits)");
    let mut start =
        Family::gauge("llm_process_start_time_seconds", "Start time of the process, seconds since the epoch");
    let mut read = Family::counter(
        "llm_process_read_bytes_total",
        "Bytes the process caused to be read from storage (/proc/PID/io)",
    );
    let mut written = Family::counter(
        "llm_process_written_bytes_total",
        "Bytes the process caused to be written to storage (/proc/PID/io)",
    );
    let mut switches =
        Family::counter("llm_process_context_switches_total", "Context switches, by type (/proc/PID/status)");
    let mut gpu_mem = Family::gauge(
        "llm_process_gpu_memory_bytes",
        "GPU memory used by the process, per GPU (NVML running processes)",
    );
    let mut gpu_util = Family::gauge(
        "llm_process_gpu_utilization_ratio",
        "Share of the GPU's SM time the process used since the previous scrape, 0 to 1 (NVML process utilization)",
    );
    for s in selected {
        let p: &RawProcess = &s.raw;
        let base = process_labels(s);
        let with = |extra: (&'static str, &str)| {
            let mut l = base.clone();
            l.push((extra.0.into(), extra.1.to_string()));
            l
        };
        let mut info_labels = base.clone();
        info_labels.push(("workload".into(), s.workload.as_str().to_string()));
        info_labels.push(("container".into(), p.container.clone()));
        info.push(info_labels, 1.0);
        cpu.push(with(("mode", "user")), p.utime_ticks as f64 / ticks_per_second);
        cpu.push(with(("mode", "system")), p.stime_ticks as f64 / ticks_per_second);
        let opt = |family: &mut Family, value: Option<u64>| {
            if let Some(v) = value {
                family.push(base.clone(), v as f64);
            }
        };
        opt(&mut rss, p.resident_bytes);
        opt(&mut virt, Some(p.virtual_bytes));
        opt(&mut swap, p.swap_bytes);
        opt(&mut threads, Some(p.threads));
        opt(&mut fds, p.open_fds);
        opt(&mut max_fds, p.max_fds);
        opt(&mut read, p.read_bytes);
        opt(&mut written, p.written_bytes);
        if let Some(boot) = boot_time {
            start.push(base.clone(), boot + p.start_ticks as f64 / ticks_per_second);
        }
        if let Some(v) = p.voluntary_switches {
            switches.push(with(("type", "voluntary")), v as f64);
        }
        if let Some(v) = p.involuntary_switches {
            switches.push(with(("type", "involuntary")), v as f64);
        }
        for g in &s.gpus {
            let gpu = g.gpu.to_string();
            if let Some(bytes) = g.used_memory_bytes {
                gpu_mem.push(with(("gpu", &gpu)), bytes as f64);
            }
            if let Some(ratio) = g.sm_utilization_ratio {
                gpu_util.push(with(("gpu", &gpu)), ratio);
            }
        }
    }
    // Families left empty (no GPU users, say) are dropped when the scrape merges families.
    vec![info, cpu, rss, virt, swap, threads, fds, max_fds, start, read, written, switches, gpu_mem, gpu_util]
}

/// `server` (empty unless the process serves an LLM), `process` and `pid`.
fn process_labels(s: &Selected) -> Labels {
    let pid = s.raw.pid.to_string();
    labels([("server", s.server.as_deref().unwrap_or("")), ("process", &s.raw.comm), ("pid", &pid)])
}
