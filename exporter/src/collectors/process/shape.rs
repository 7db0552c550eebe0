//! Pure shaping of process facts into `llm_process_*` families, and workload classification.
use crate::family::{labels, Family, Labels};

use super::Selected;
use crate::config::Workload;
use crate::sys::RawProcess;

/// Training launchers and argument fragments that mark a training job.
const TRAINING_PROGRAMS: &[&str] = &["torchrun", "deepspeed", "accelerate", "horovodrun"];
const TRAINING_ARGS: &[&str] = &["train", "finetune", "pretrain", "sft", "dpo"];
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

/// The workload class of a selected process that serves no LLM (servers are `llm_inference`):
/// the rules, in order, in one place.
pub fn classify(comm: &str, args: &[String], uses_gpu: bool) -> Workload {
    let base = |a: &str| a.rsplit('/').next().unwrap_or(a).to_string();
    let program = args.first().map(|a| base(a)).unwrap_or_default();
    let trains = TRAINING_PROGRAMS.iter().any(|p| *p == comm || *p == program)
        || args.iter().skip(1).take(16).any(|a| {
            // Words of the script or module name: `train_lora.py`, `my.sft_runner`, `fine-tune`.
            let a = base(a).to_ascii_lowercase();
            a.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| TRAINING_ARGS.iter().any(|t| w.starts_with(t)))
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

/// HELP text naming the source on this platform: the proc file on Linux, the libproc call on macOS.
macro_rules! help {
    ($linux:literal, $macos:literal) => {
        if cfg!(target_os = "macos") {
            $macos
        } else {
            $linux
        }
    };
}

/// Turns the selected processes into families. `ticks_per_second` is the kernel's USER_HZ and
/// `boot_time` the epoch second the system booted (both to convert `stat` clock ticks).
pub fn shape(selected: &[Selected], ticks_per_second: f64, boot_time: Option<f64>) -> Vec<Family> {
    let mut info = Family::gauge(
        "llm_process_info",
        "Selected process: its server, workload class, container and Kubernetes pod; always 1",
    );
    let mut cpu = Family::counter(
        "llm_process_cpu_seconds_total",
        help!(
            "CPU time of the process, by mode (/proc/PID/stat)",
            "CPU time of the process, by mode (libproc proc_pidinfo PROC_PIDTASKINFO pti_total_user, pti_total_system)"
        ),
    );
    let mut rss = Family::gauge(
        "llm_process_resident_memory_bytes",
        help!(
            "Resident memory (/proc/PID/status VmRSS)",
            "Resident memory (libproc PROC_PIDTASKINFO pti_resident_size)"
        ),
    );
    let mut virt = Family::gauge(
        "llm_process_virtual_memory_bytes",
        help!(
            "Virtual memory size (/proc/PID/stat vsize)",
            "Virtual memory size (libproc PROC_PIDTASKINFO pti_virtual_size)"
        ),
    );
    let mut swap = Family::gauge("llm_process_swap_bytes", "Memory swapped out (/proc/PID/status VmSwap)");
    let mut threads = Family::gauge(
        "llm_process_threads",
        help!(
            "Threads of the process (/proc/PID/stat)",
            "Threads of the process (libproc PROC_PIDTASKINFO pti_threadnum)"
        ),
    );
    let mut fds = Family::gauge(
        "llm_process_open_fds",
        help!("Open file descriptors (/proc/PID/fd)", "Open file descriptors (libproc proc_pidinfo PROC_PIDLISTFDS)"),
    );
    let mut max_fds = Family::gauge("llm_process_max_fds", "Soft limit on open file descriptors (/proc/PID/limits)");
    let mut start =
        Family::gauge("llm_process_start_time_seconds", "Start time of the process, seconds since the epoch");
    let mut read = Family::counter(
        "llm_process_read_bytes_total",
        help!(
            "Bytes the process caused to be read from storage (/proc/PID/io)",
            "Bytes the process caused to be read from storage (libproc proc_pid_rusage ri_diskio_bytesread)"
        ),
    );
    let mut written = Family::counter(
        "llm_process_written_bytes_total",
        help!(
            "Bytes the process caused to be written to storage (/proc/PID/io)",
            "Bytes the process caused to be written to storage (libproc proc_pid_rusage ri_diskio_byteswritten)"
        ),
    );
    let mut switches = Family::counter(
        "llm_process_context_switches_total",
        help!(
            "Context switches, by type (/proc/PID/status)",
            "Context switches, by type; macOS counts both kinds together as type=\"all\" (libproc PROC_PIDTASKINFO pti_csw)"
        ),
    );
    let mut footprint = Family::gauge(
        "llm_process_memory_footprint_bytes",
        "macOS only: physical footprint, the memory Activity Monitor shows (libproc proc_pid_rusage ri_phys_footprint)",
    );
    let mut footprint_peak = Family::gauge(
        "llm_process_memory_footprint_peak_bytes",
        "macOS only: lifetime maximum of the physical footprint (libproc proc_pid_rusage ri_lifetime_max_phys_footprint)",
    );
    let mut cpu_energy = Family::counter(
        "llm_process_cpu_energy_joules_total",
        "macOS 13+ on Apple Silicon only: energy of the CPU running the process, as the kernel estimates it; not the GPU's or the Neural Engine's (libproc proc_pid_rusage ri_energy_nj)",
    );
    let mut neural = Family::gauge(
        "llm_process_neural_engine_memory_bytes",
        "macOS 13+ only: Neural Engine memory of the process, when it has any (libproc proc_pid_rusage ri_neural_footprint)",
    );
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
        info_labels.push(("namespace".into(), p.namespace.clone()));
        info_labels.push(("pod".into(), p.pod.clone()));
        info.push(info_labels, 1.0);
        if !p.no_cpu {
            cpu.push(with(("mode", "user")), p.utime_ticks as f64 / ticks_per_second);
            cpu.push(with(("mode", "system")), p.stime_ticks as f64 / ticks_per_second);
        }
        let opt = |family: &mut Family, value: Option<u64>| {
            if let Some(v) = value {
                family.push(base.clone(), v as f64);
            }
        };
        opt(&mut rss, p.resident_bytes);
        let threads_and_virtual = !p.no_threads_or_virtual;
        opt(&mut virt, threads_and_virtual.then_some(p.virtual_bytes));
        opt(&mut swap, p.swap_bytes);
        opt(&mut threads, threads_and_virtual.then_some(p.threads));
        opt(&mut fds, p.open_fds);
        opt(&mut max_fds, p.max_fds);
        opt(&mut read, p.read_bytes);
        opt(&mut written, p.written_bytes);
        opt(&mut footprint, p.footprint_bytes);
        opt(&mut footprint_peak, p.footprint_peak_bytes);
        opt(&mut neural, p.neural_footprint_bytes);
        if let Some(nj) = p.cpu_energy_nanojoules {
            cpu_energy.push(base.clone(), nj as f64 / 1e9);
        }
        if let Some(boot) = boot_time {
            start.push(base.clone(), boot + p.start_ticks as f64 / ticks_per_second);
        }
        if let Some(v) = p.voluntary_switches {
            switches.push(with(("type", "voluntary")), v as f64);
        }
        if let Some(v) = p.involuntary_switches {
            switches.push(with(("type", "involuntary")), v as f64);
        }
        if let Some(v) = p.context_switches {
            switches.push(with(("type", "all")), v as f64);
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
    vec![
        info,
        cpu,
        rss,
        virt,
        swap,
        threads,
        fds,
        max_fds,
        start,
        read,
        written,
        switches,
        gpu_mem,
        gpu_util,
        footprint,
        footprint_peak,
        cpu_energy,
        neural,
    ]
}

/// `server` (empty unless the process serves an LLM), `model` for a worker serving one model
/// of a multi-model server (left out otherwise), `process` and `pid`.
fn process_labels(s: &Selected) -> Labels {
    let pid = s.raw.pid.to_string();
    let mut l = labels([("server", s.server.as_deref().unwrap_or(""))]);
    if let Some(model) = &s.model {
        l.push(("model".into(), model.clone()));
    }
    l.extend(labels([("process", &s.raw.comm), ("pid", &pid)]));
    l
}

#[cfg(test)]
#[path = "shape_tests.rs"]
mod tests;
