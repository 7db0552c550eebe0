//! What the layers above `sys/` make of the macOS facts `sys/macos_shape.rs` shapes: the series
//! a process of another user gets, no energy series on an Intel Mac, and discovery matching a
//! configured server to a dual-stack `[::]` listener. Unit-tested on any host, like the shaping.
use std::net::Ipv6Addr;

use super::shape::shape;
use super::Selected;
use crate::config::Workload;
use crate::discovery::netns;
use crate::family::{encode_text, merge};
use crate::sys::macos_shape::{
    listed_fds, listener, proc_facts, raw_process, KinfoFacts, Rusage, RusageInfoV6, SocketFacts, TaskFacts, Timebase,
    INI_IPV4, INI_IPV6, MAXCOMLEN, RUSAGE_INFO_V6, SOCKINFO_TCP, TSI_S_LISTEN,
};
use crate::sys::RawProcess;

/// `EPERM`, the kernel's answer to another user's process wherever it checks the caller's user.
const EPERM: i32 = 1;

/// The series text of one process, as this collector shapes it on macOS (microseconds, the
/// start since the epoch).
fn series(raw: RawProcess) -> String {
    let selected =
        [Selected { raw, server: Some("ollama".into()), model: None, workload: Workload::LlmInference, gpus: vec![] }];
    encode_text(&merge(shape(&selected, 1e6, Some(0.0))))
}

fn ollama_kinfo() -> KinfoFacts {
    let mut p_comm = [0u8; MAXCOMLEN + 1];
    p_comm[..6].copy_from_slice(b"ollama");
    KinfoFacts { p_stat: 3, e_ppid: 1, p_comm, start_tvsec: 1_764_547_200, start_tvusec: 250_000 }
}

/// Ollama run as a LaunchDaemon (user `_ollama`) while the exporter runs as you: task info,
/// usage record and descriptors are refused with EPERM; `kinfo_proc` and the path answer.
#[test]
fn another_users_process_gets_exactly_its_info_and_start_time() {
    let facts = proc_facts(&ollama_kinfo(), Some("/Applications/Ollama.app/Contents/Resources/ollama"));
    let open_fds = listed_fds(0, EPERM, 8).map(|n| n as u64);
    let text = series(raw_process(88, &facts, None, None, open_fds, Some(Timebase { numer: 125, denom: 3 })));
    let names: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split('{').next()).collect();
    assert_eq!(names, ["llm_process_info", "llm_process_start_time_seconds"], "{text}");
    let start = r#"llm_process_start_time_seconds{server="ollama",process="ollama",pid="88"} 1764547200.25"#;
    assert!(text.contains(start), "{text}");
}

/// An Intel Mac: a V6 usage record whose `ri_energy_nj` its kernel never fills.
#[test]
fn no_cpu_energy_series_on_an_intel_mac() {
    let task = TaskFacts { pti_threadnum: 4, ..TaskFacts::default() };
    let rusage =
        |nj| Rusage { flavor: RUSAGE_INFO_V6, info: RusageInfoV6 { ri_energy_nj: nj, ..RusageInfoV6::default() } };
    let one = Some(Timebase { numer: 1, denom: 1 });
    let facts = proc_facts(&ollama_kinfo(), None);
    let intel = series(raw_process(9, &facts, Some(&task), Some(&rusage(0)), Some(3), one));
    assert!(!intel.contains("energy"), "{intel}");
    let apple = series(raw_process(9, &facts, Some(&task), Some(&rusage(2_500_000_000)), Some(3), one));
    assert!(apple.contains(r#"llm_process_cpu_energy_joules_total{server="ollama",process="ollama",pid="9"} 2.5"#));
}

/// Ollama with `OLLAMA_HOST=[::]:11434`: a `::` bind without IPV6_V6ONLY, flags INI_IPV4|INI_IPV6.
/// A server configured at `[::1]` or `127.0.0.1` is that process, not a second server.
#[test]
fn a_configured_server_matches_a_dual_stack_listener() {
    let socket = SocketFacts {
        fd: 7,
        soi_kind: SOCKINFO_TCP,
        tcpsi_state: TSI_S_LISTEN,
        insi_lport: i32::from(11434u16.to_be()),
        insi_vflag: INI_IPV4 | INI_IPV6,
        ..SocketFacts::default()
    };
    let listening: Vec<_> = listener(&socket).into_iter().collect();
    assert_eq!(listening.first().map(|l| (l.ipv6, l.address)), Some((true, Ipv6Addr::UNSPECIFIED.into())));
    for url in ["http://[::1]:11434", "http://127.0.0.1:11434", "http://localhost:11434"] {
        let url = reqwest::Url::parse(url).expect("a valid URL");
        assert!(netns::serves(&url, &listening, &mut |_| true), "{url}");
    }
}
