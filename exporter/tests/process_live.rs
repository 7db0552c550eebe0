//! The process collector and discovery on this machine's real /proc, with a real llama-server.
mod common;

use common::llama::{Launch, LlamaServer};
use common::netns::Netns;
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

/// A port free on this machine's loopback now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn servers_in_another_network_namespace_are_not_scraped_at_our_loopback() {
    let Some(host) = LlamaServer::start(&[], "") else { return };
    let Some(netns) = Netns::new(&[]) else { return };
    let port = host.port();
    let inside = |port| Launch { port: Some(port), netns: Some(&netns), ..Launch::default() };
    // One on the same port as the host's server, one on a port nothing on the host uses.
    let Some(twin) = LlamaServer::launch(&[], inside(port)) else { return };
    let lone_port = free_port();
    let Some(lone) = LlamaServer::launch(&[], inside(lone_port)) else { return };
    complete_once(&host.url).await;
    let exporter = Exporter::start(&["--discovery", "--log.level=debug"]);
    for _ in 0..2 {
        // Exporter::scrape also checks that no series appears twice.
        let body = exporter.scrape().await;
        let at = |port: u16| format!("llama-server:{port}");
        assert_eq!(values(&body, "llm_server_up", &[("server", &at(port))]), [1.0], "the host's server, once");
        assert_eq!(value(&body, "llm_generation_tokens_total", &[("server", &at(port))]), 4.0, "the host's values");
        assert!(values(&body, "llm_server_up", &[("server", &at(lone_port))]).is_empty(), "no false down");
        for pid in [twin.pid, lone.pid] {
            let pid = pid.to_string();
            assert_eq!(value(&body, "llm_process_info", &[("pid", &pid), ("server", "llama-server")]), 1.0);
        }
    }
    let twin_line = format!("(pid {}) listens only on the loopback of its own network namespace", twin.pid);
    let log = exporter.log_with(&twin_line);
    assert_eq!(log.matches(&twin_line).count(), 1, "logged once: {log}");
}

#[tokio::test]
async fn servers_in_another_network_namespace_are_scraped_at_its_own_address() {
    // The exporter's "node"; a "pod" joined to it by a veth pair; a "rootless" namespace, made
    // in a user namespace of its own, joined the same way; an "island" with no link. All are
    // private to this test: no address or route is added where other tests run.
    let (Some(node), Some(pod), Some(island)) = (Netns::new(&[]), Netns::new(&[]), Netns::new(&[])) else { return };
    let Some(rootless) = Netns::in_own_user_namespace() else { return };
    node.link(&pod, "198.51.100.1/24", "198.51.100.2/24").unwrap_or_else(|e| panic!("{e}"));
    node.link(&rootless, "198.51.101.1/24", "198.51.101.2/24").unwrap_or_else(|e| panic!("{e}"));
    let [open_port, private_port, alone_port, rootless_port] = free_ports();
    let launch = |port, netns, host| Launch { port: Some(port), netns: Some(netns), env: host, ..Launch::default() };
    let any = &[("HOST", "0.0.0.0")][..];
    let Some(open) = LlamaServer::launch(&[], launch(open_port, &pod, any)) else { return };
    let Some(private) = LlamaServer::launch(&[], launch(private_port, &pod, &[])) else { return };
    let Some(alone) = LlamaServer::launch(&[], launch(alone_port, &island, any)) else { return };
    let Some(claimed) = LlamaServer::launch(&[], launch(rootless_port, &rootless, any)) else { return };
    let request = r#"{"prompt": "Hi", "n_predict": 4, "ignore_eos": true}"#;
    pod.run(&["curl", "-fsS", "-d", request, &format!("http://127.0.0.1:{open_port}/completion")])
        .unwrap_or_else(|e| panic!("{e}"));
    // Other tests' servers may run beside these: only this test's ports are looked at.
    let scraped_at = |body: &str, port: u16| -> Vec<String> {
        let needle = format!(":{port}\"");
        body.lines().filter(|l| l.starts_with("llm_server_up{") && l.contains(&needle)).map(String::from).collect()
    };

    let exporter = Exporter::start_wrapped(&node.prefix(), &["--discovery", "--log.level=debug"], &[]);
    let name = format!("llama-server@198.51.100.2:{open_port}");
    for _ in 0..2 {
        let body = node.get(&exporter.url("/metrics"));
        assert_unique_series(&body);
        assert_eq!(value(&body, "llm_server_up", &[("server", &name)]), 1.0, "{body}");
        assert_eq!(value(&body, "llm_generation_tokens_total", &[("server", &name)]), 4.0, "the pod's own values");
        assert_eq!(value(&body, "llm_process_info", &[("server", &name), ("pid", &open.pid.to_string())]), 1.0);
        for (pid, port) in [(private.pid, private_port), (alone.pid, alone_port), (claimed.pid, rootless_port)] {
            assert_eq!(scraped_at(&body, port), Vec::<String>::new(), "not a target, so no false down");
            assert_eq!(value(&body, "llm_process_info", &[("server", "llama-server"), ("pid", &pid.to_string())]), 1.0);
        }
    }
    for (pid, why) in [
        (private.pid, "listens only on the loopback of its own network namespace"),
        (alone.pid, "at no address on a link of this machine to local containers"),
        (claimed.pid, "in a network namespace of another user namespace"),
    ] {
        let line = format!("(pid {pid}) ");
        let log = exporter.log_with(&line);
        assert_eq!(log.lines().filter(|l| l.contains(&line) && l.contains(why)).count(), 1, "logged once: {log}");
    }

    // Turned off, the pod's server is a process only.
    let off = Exporter::start_wrapped(&node.prefix(), &["--discovery", "--no-discovery.namespaces"], &[]);
    let body = node.get(&off.url("/metrics"));
    assert_eq!(scraped_at(&body, open_port), Vec::<String>::new());
    assert_eq!(value(&body, "llm_process_info", &[("server", "llama-server"), ("pid", &open.pid.to_string())]), 1.0);
}

/// Ports free on this machine's loopback now, all different.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> =
        (0..N).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

async fn complete_once(url: &str) {
    let body = serde_json::json!({"prompt": "Hi", "n_predict": 4, "ignore_eos": true}).to_string();
    let response = client().post(format!("{url}/completion")).body(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_configured_server_on_a_local_non_loopback_address_keeps_its_name_for_the_process() {
    let Some(netns) = Netns::new(&["192.0.2.2"]) else { return };
    let (bound_port, wildcard_port) = (free_port(), free_port());
    let launch = |port, host| Launch { port: Some(port), netns: Some(&netns), env: host, ..Launch::default() };
    let Some(bound) = LlamaServer::launch(&[], launch(bound_port, &[("HOST", "192.0.2.2")])) else { return };
    let Some(wildcard) = LlamaServer::launch(&[], launch(wildcard_port, &[("HOST", "0.0.0.0")])) else { return };
    let ext = format!("ext=http://192.0.2.2:{bound_port}");
    let any = format!("any=http://192.0.2.2:{wildcard_port}");
    let exporter = Exporter::start_wrapped(&netns.prefix(), &["--discovery", "--server", &ext, "--server", &any], &[]);
    let body = netns.get(&exporter.url("/metrics"));
    assert_unique_series(&body);
    for (name, llama) in [("ext", &bound), ("any", &wildcard)] {
        assert_eq!(value(&body, "llm_server_up", &[("server", name)]), 1.0, "{name}");
        assert_eq!(value(&body, "llm_process_info", &[("server", name), ("pid", &llama.pid.to_string())]), 1.0);
    }
    // The wildcard server is one server, named by the config, not also `llama-server:PORT`.
    assert_eq!(values(&body, "llm_server_up", &[]).len(), 2, "{body}");

    // Without the config, the one bound to 192.0.2.2 only is not scraped, and the log says why once.
    let plain = Exporter::start_wrapped(&netns.prefix(), &["--discovery", "--log.level=debug"], &[]);
    for _ in 0..2 {
        let body = netns.get(&plain.url("/metrics"));
        assert_unique_series(&body);
        let pid = bound.pid.to_string();
        assert_eq!(value(&body, "llm_process_info", &[("server", "llama-server"), ("pid", &pid)]), 1.0);
        assert_eq!(value(&body, "llm_server_up", &[("server", &format!("llama-server:{wildcard_port}"))]), 1.0);
        assert_eq!(values(&body, "llm_server_up", &[]).len(), 1, "{body}");
    }
    let why = format!("listens on 192.0.2.2:{bound_port}, none of them on loopback: not scraped");
    let log = plain.log_with(&why);
    assert_eq!(log.matches(&why).count(), 1, "{log}");
}

/// A process group this test started, killed (by its id) when dropped.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.0.id()) {
            // SAFETY: kill has no memory preconditions; the group is the one this test started.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn an_ollama_runner_on_this_machine_is_named_from_the_manifests_its_root_shows() {
    use std::os::unix::process::CommandExt;
    // A stand-in Ollama: a shell copied as `ollama` (so `comm` says ollama) that starts a child
    // `ollama … runner --model MODELS/blobs/sha256-HEX`, as Ollama starts its runners.
    let dir = tempfile::tempdir().unwrap();
    let ollama = dir.path().join("ollama");
    std::fs::copy("/bin/sh", &ollama).unwrap();
    let models = dir.path().join("models");
    let tag = models.join("manifests/registry.ollama.ai/library/tiny/latest");
    std::fs::create_dir_all(tag.parent().unwrap()).unwrap();
    let digest = "5e".repeat(32);
    let layer = format!(r#"{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{digest}"}}"#);
    std::fs::write(&tag, format!(r#"{{"schemaVersion":2,"layers":[{layer}]}}"#)).unwrap();
    let blob = models.join(format!("blobs/sha256-{digest}"));
    let script = r#""$0" -c 'sleep 30; :' runner --model "$1" --port 0 & wait"#;
    let server = std::process::Command::new(&ollama)
        .args(["-c", script, ollama.to_str().unwrap(), blob.to_str().unwrap()])
        .process_group(0)
        .spawn()
        .unwrap();
    let server_pid = server.id().to_string();
    let _group = Group(server);

    let exporter = Exporter::start(&["--discovery", "--no-collector.llm"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let body = exporter.scrape().await;
        let runner: Vec<&str> = body
            .lines()
            .filter(|l| l.starts_with("llm_process_info{") && l.contains(r#"model="tiny:latest""#))
            .collect();
        if let [line] = runner.as_slice() {
            assert!(line.starts_with(r#"llm_process_info{server="ollama",model="tiny:latest",process="ollama",pid=""#));
            assert!(!line.contains(&format!(r#"pid="{server_pid}""#)), "the runner, not the server: {line}");
            let server = [("server", "ollama"), ("pid", server_pid.as_str())];
            assert_eq!(value(&body, "llm_process_info", &server), 1.0, "the server itself has no model");
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no runner named tiny:latest in:\n{body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
