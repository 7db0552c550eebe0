//! Tests of `collectors/nvml/shape.rs`.
use super::*;
use crate::family::{encode_text, merge};

fn full() -> Gpu {
    Gpu {
        index: 0,
        fixed: Static {
            uuid: "GPU-1b2c3d4e-0000-1111-2222-333344445555".into(),
            name: Some("NVIDIA H100 80GB HBM3".into()),
            pci_bus_id: Some("00000000:18:00.0".into()),
            max_clocks_mhz: [Some(1980), Some(1980), Some(2619)],
        },
        now: Reading {
            utilization_percent: Some(87),
            memory_utilization_percent: Some(43),
            memory_used_bytes: Some(42_949_672_960),
            memory_total_bytes: Some(85_520_809_984),
            temperature_celsius: Some(64),
            power_milliwatts: Some(312_450),
            power_limit_milliwatts: Some(700_000),
            energy_millijoules: Some(123_456_789),
            clocks_mhz: [Some(1755), Some(1755), Some(2619)],
            fans_percent: vec![(0, 45), (1, 50)],
            performance_state: Some(0),
            throttle_reasons: Some(0x4 | 0x40),
            pcie_link_generation: Some(5),
            pcie_link_width: Some(16),
            pcie_tx_bytes: Some(1_000_000),
            pcie_rx_bytes: Some(2_000_000),
            ecc_corrected: Some(3),
            ecc_uncorrected: Some(0),
            encoder_percent: Some(10),
            decoder_percent: Some(5),
        },
    }
}

fn system() -> System {
    System { driver_version: Some("550.54.15".into()), cuda_version: Some(12040) }
}

#[test]
fn units_names_and_labels() {
    let text = encode_text(&merge(shape(&system(), &[full()])));
    for want in [
        "llm_gpu_info{gpu=\"0\",uuid=\"GPU-1b2c3d4e-0000-1111-2222-333344445555\",name=\"NVIDIA H100 80GB HBM3\",pci_bus_id=\"00000000:18:00.0\",driver_version=\"550.54.15\",cuda_version=\"12.4\"} 1\n",
        "llm_gpu_utilization_ratio{gpu=\"0\"} 0.87\n",
        "llm_gpu_memory_bandwidth_utilization_ratio{gpu=\"0\"} 0.43\n",
        "llm_gpu_memory_used_bytes{gpu=\"0\"} 42949672960\n",
        "llm_gpu_memory_total_bytes{gpu=\"0\"} 85520809984\n",
        "llm_gpu_temperature_celsius{gpu=\"0\"} 64\n",
        "llm_gpu_power_watts{gpu=\"0\"} 312.45\n",
        "llm_gpu_power_limit_watts{gpu=\"0\"} 700\n",
        "llm_gpu_energy_joules_total{gpu=\"0\"} 123456.789\n",
        "llm_gpu_clock_hertz{gpu=\"0\",clock=\"sm\"} 1755000000\n",
        "llm_gpu_clock_max_hertz{gpu=\"0\",clock=\"memory\"} 2619000000\n",
        "llm_gpu_fan_speed_ratio{gpu=\"0\",fan=\"1\"} 0.5\n",
        "llm_gpu_performance_state{gpu=\"0\"} 0\n",
        "llm_gpu_throttled{gpu=\"0\",reason=\"sw_power_cap\"} 1\n",
        "llm_gpu_throttled{gpu=\"0\",reason=\"hw_thermal_slowdown\"} 1\n",
        "llm_gpu_throttled{gpu=\"0\",reason=\"gpu_idle\"} 0\n",
        "llm_gpu_pcie_link_generation{gpu=\"0\"} 5\n",
        "llm_gpu_pcie_link_width{gpu=\"0\"} 16\n",
        "llm_gpu_pcie_bytes_total{gpu=\"0\",direction=\"rx\"} 2000000\n",
        "llm_gpu_ecc_errors_total{gpu=\"0\",type=\"uncorrected\"} 0\n",
        "llm_gpu_encoder_utilization_ratio{gpu=\"0\"} 0.1\n",
        "llm_gpu_decoder_utilization_ratio{gpu=\"0\"} 0.05\n",
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
    let samples = text.lines().filter(|l| !l.starts_with('#')).count();
    // info, 8 plain gauges and counters, 3 + 3 clocks, 2 fans, P-state, 9 reasons, link
    // generation and width, 2 directions, 2 ECC types, encoder, decoder.
    assert_eq!(samples, 1 + 8 + 6 + 2 + 1 + 9 + 2 + 2 + 2 + 2, "{text}");
}

#[test]
fn what_nvml_did_not_give_is_left_out() {
    let mut gpu = full();
    gpu.now = Reading { temperature_celsius: Some(40), ..Reading::default() };
    gpu.fixed.name = None;
    let text = encode_text(&merge(shape(&System::default(), &[gpu])));
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "llm_gpu_clock_max_hertz{gpu=\"0\",clock=\"graphics\"} 1980000000",
            "llm_gpu_clock_max_hertz{gpu=\"0\",clock=\"sm\"} 1980000000",
            "llm_gpu_clock_max_hertz{gpu=\"0\",clock=\"memory\"} 2619000000",
            "llm_gpu_info{gpu=\"0\",uuid=\"GPU-1b2c3d4e-0000-1111-2222-333344445555\",name=\"\",pci_bus_id=\"00000000:18:00.0\",driver_version=\"\",cuda_version=\"\"} 1",
            "llm_gpu_temperature_celsius{gpu=\"0\"} 40",
        ]
    );
}

#[test]
fn no_gpus_no_series() {
    assert!(merge(shape(&system(), &[])).is_empty());
}

#[test]
fn cuda_versions() {
    assert_eq!(cuda_version(12040), "12.4");
    assert_eq!(cuda_version(11080), "11.8");
    assert_eq!(cuda_version(13000), "13.0");
}

#[test]
fn process_lists_merge_per_pid_and_gpu() {
    let gpus = [
        GpuProcesses {
            gpu: 0,
            // 7 is listed twice in one list (two MIG instances) and once as graphics.
            compute: vec![(7, Some(100)), (7, Some(50)), (8, None)],
            graphics: vec![(7, Some(150)), (9, Some(10))],
            samples: vec![(7, 40), (7, 60), (10, 250)],
        },
        GpuProcesses { gpu: 1, compute: vec![(7, Some(1))], graphics: vec![], samples: vec![] },
    ];
    let users = gpu_users(&gpus);
    assert_eq!(
        users[&7],
        [
            GpuUse { gpu: 0, used_memory_bytes: Some(150), sm_utilization_ratio: Some(0.5) },
            GpuUse { gpu: 1, used_memory_bytes: Some(1), sm_utilization_ratio: None },
        ]
    );
    assert_eq!(users[&8], [GpuUse { gpu: 0, used_memory_bytes: None, sm_utilization_ratio: None }]);
    assert_eq!(users[&9], [GpuUse { gpu: 0, used_memory_bytes: Some(10), sm_utilization_ratio: None }]);
    // Only sampled (it exited, say); a ratio above 1 from a confused driver is capped.
    assert_eq!(users[&10], [GpuUse { gpu: 0, used_memory_bytes: None, sm_utilization_ratio: Some(1.0) }]);
    assert_eq!(users.len(), 4);
}
