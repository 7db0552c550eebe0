//! Tests of `collectors/process/shape.rs`.
use super::*;
use crate::family::encode_text;
use crate::gpu_use::GpuUse;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn workload_rules() {
    assert_eq!(classify("torchrun", &args(&["/usr/bin/torchrun", "x.py"]), true), Workload::MlTraining);
    assert_eq!(classify("python3", &args(&["python3", "scripts/train_lora.py"]), true), Workload::MlTraining);
    assert_eq!(classify("python3", &args(&["python3", "-m", "my.sft_runner"]), false), Workload::MlTraining);
    assert_eq!(classify("Xorg", &args(&["/usr/lib/xorg/Xorg", ":0"]), true), Workload::Graphics);
    assert_eq!(classify("python3", &args(&["python3", "bench.py"]), true), Workload::GpuCompute);
    assert_eq!(classify("python3", &args(&["python3", "restrain.py"]), false), Workload::Other);
    assert_eq!(classify("bash", &[], false), Workload::Other);
}

#[test]
fn one_process_with_a_gpu() {
    let raw = RawProcess {
        pid: 42,
        ppid: 1,
        comm: "llama-server".into(),
        utime_ticks: 250,
        stime_ticks: 50,
        start_ticks: 1000,
        threads: 8,
        virtual_bytes: 1 << 30,
        resident_bytes: Some(1 << 20),
        open_fds: Some(12),
        container: "3f2a1b4c5d6e".into(),
        ..RawProcess::default()
    };
    let gpus = vec![
        GpuUse { gpu: 0, used_memory_bytes: Some(4 << 30), sm_utilization_ratio: Some(0.5) },
        GpuUse { gpu: 1, used_memory_bytes: Some(1 << 30), sm_utilization_ratio: None },
    ];
    let selected = [Selected { raw, server: Some("chat".into()), model: None, workload: Workload::LlmInference, gpus }];
    let text = encode_text(&crate::family::merge(shape(&selected, 100.0, Some(1.7e9))));
    let l = r#"server="chat",process="llama-server",pid="42""#;
    for want in [
        format!(
            "llm_process_info{{{l},workload=\"llm_inference\",container=\"3f2a1b4c5d6e\",namespace=\"\",pod=\"\"}} 1\n"
        ),
        format!("llm_process_cpu_seconds_total{{{l},mode=\"user\"}} 2.5\n"),
        format!("llm_process_cpu_seconds_total{{{l},mode=\"system\"}} 0.5\n"),
        format!("llm_process_start_time_seconds{{{l}}} 1700000010\n"),
        format!("llm_process_resident_memory_bytes{{{l}}} 1048576\n"),
        format!("llm_process_gpu_memory_bytes{{{l},gpu=\"0\"}} 4294967296\n"),
        format!("llm_process_gpu_memory_bytes{{{l},gpu=\"1\"}} 1073741824\n"),
        format!("llm_process_gpu_utilization_ratio{{{l},gpu=\"0\"}} 0.5\n"),
    ] {
        assert!(text.contains(&want), "missing {want} in\n{text}");
    }
    // Facts that could not be read are left out, not zero.
    for absent in ["llm_process_swap_bytes", "llm_process_read_bytes_total", "gpu=\"1\"} 0"] {
        assert!(!text.contains(absent), "{absent} should be absent in\n{text}");
    }
}

#[test]
fn what_a_mac_adds_and_what_it_could_not_read() {
    // As macos_shape fills it: microseconds, the start since the epoch.
    let raw = RawProcess {
        pid: 7,
        comm: "llama-server".into(),
        utime_ticks: 90_000_000,
        start_ticks: 1_764_547_200_250_000,
        no_threads_or_virtual: true,
        resident_bytes: Some(4096),
        context_switches: Some(99),
        footprint_bytes: Some(8192),
        footprint_peak_bytes: Some(16384),
        cpu_energy_nanojoules: Some(1_500_000_000_000),
        neural_footprint_bytes: Some(1 << 28),
        ..RawProcess::default()
    };
    let selected = [Selected { raw, server: None, model: None, workload: Workload::Other, gpus: Vec::new() }];
    let text = encode_text(&crate::family::merge(shape(&selected, 1e6, Some(0.0))));
    let l = r#"server="",process="llama-server",pid="7""#;
    for want in [
        format!("llm_process_cpu_seconds_total{{{l},mode=\"user\"}} 90\n"),
        format!("llm_process_start_time_seconds{{{l}}} 1764547200.25\n"),
        format!("llm_process_context_switches_total{{{l},type=\"all\"}} 99\n"),
        format!("llm_process_memory_footprint_bytes{{{l}}} 8192\n"),
        format!("llm_process_memory_footprint_peak_bytes{{{l}}} 16384\n"),
        format!("llm_process_cpu_energy_joules_total{{{l}}} 1500\n"),
        format!("llm_process_neural_engine_memory_bytes{{{l}}} 268435456\n"),
        "# TYPE llm_process_cpu_energy_joules_total counter\n".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want} in\n{text}");
    }
    for absent in ["llm_process_threads", "llm_process_virtual_memory_bytes"] {
        assert!(!text.contains(absent), "{absent} should be absent in\n{text}");
    }
    let unread = RawProcess { pid: 8, no_cpu: true, no_threads_or_virtual: true, ..RawProcess::default() };
    let selected = [Selected { raw: unread, server: None, model: None, workload: Workload::Other, gpus: Vec::new() }];
    let text = encode_text(&crate::family::merge(shape(&selected, 1e6, Some(0.0))));
    assert!(!text.contains("llm_process_cpu_seconds_total"), "{text}");
}
