//! The process collector and discovery on this machine's real /proc, with a real llama-server.
mod common;

use common::llama::LlamaServer;
use common::*;

/// (utime + stime in ticks, RSS in bytes, threads) of `pid`, read the way the kernel shows them.
fn own_reading(pid: u32) -> (u64, f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let threads = fields[17].parse().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap();
    (ticks, rss_kib * 1024.0, threads)
}

fn ticks_per_second() -> f64 {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test]
async fn a_real_llama_server_is_found_with_no_flags_and_its_process_agrees_with_proc() {
    let Some(llama) = LlamaServer::start(&[], "") else { return };
    let port = llama.url.rsplit(':').next().unwrap();
    let name = format!("llama-server:{port}");
    let pid = llama.pid.to_string();
    // No --server: discovery finds it (NVML is off only because the test machine has no GPU).
    let exporter = Exporter::start(&["--discovery"]);

    let before = own_reading(llama.pid);
    let body = exporter.scrape().await;
    let after = own_reading(llama.pid);

    assert_eq!(value(&body, "llm_server_up", &[("server", &name), ("backend", "llamacpp")]), 1.0);
    assert_eq!(value(&body, "llm_slots", &[("server", &name), ("state", "idle")]), 4.0);
    let info = [("server", name.as_str()), ("process", "llama-server"), ("pid", pid.as_str())];
    assert_eq!(value(&body, "llm_process_info", &[info[0], info[1], info[2], ("workload", "llm_inference")]), 1.0);

    // CPU seconds lie between the two readings, give or take one tick per core.
    let tick = 1.0 / ticks_per_second();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let user = value(&body, "llm_process_cpu_seconds_total", &[info[0], info[2], ("mode", "user")]);
    let system = value(&body, "llm_process_cpu_seconds_total", &[info[0], info[2], ("mode", "system")]);
    let (low, high) = (before.0 as f64 * tick - cores * tick, after.0 as f64 * tick + cores * tick);
    assert!((low..=high).contains(&(user + system)), "cpu {} not in {low}..{high}", user + system);

    let rss = value(&body, "llm_process_resident_memory_bytes", &info);
    assert!((before.1.min(after.1)..=before.1.max(after.1)).contains(&rss), "rss {rss}, /proc {before:?} {after:?}");
    let threads = value(&body, "llm_process_threads", &info);
    assert!((before.2.min(after.2)..=before.2.max(after.2)).contains(&threads), "threads {threads}");
    assert!(value(&body, "llm_process_open_fds", &info) >= 3.0);
    assert!(value(&body, "llm_process_start_time_seconds", &info) > 1.0e9);
}

#[tokio::test]
async fn a_configured_server_keeps_its_name_for_the_process_too() {
    let Some(llama) = LlamaServer::start(&[], "") else { return };
    let url = llama.url.replace("127.0.0.1", "localhost");
    let exporter = Exporter::start(&["--discovery", "--server", &format!("chat={url}")]);
    let body = exporter.scrape().await;
    let port = llama.url.rsplit(':').next().unwrap();
    assert_eq!(value(&body, "llm_server_up", &[("server", "chat")]), 1.0);
    assert!(values(&body, "llm_server_up", &[("server", &format!("llama-server:{port}"))]).is_empty(), "one server");
    let pid = llama.pid.to_string();
    assert_eq!(value(&body, "llm_process_info", &[("server", "chat"), ("pid", &pid)]), 1.0);
}
