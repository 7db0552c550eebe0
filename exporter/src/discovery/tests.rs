//! The scan's own rules: workers, ambiguous addresses, why a server is not reached.
use super::*;

#[test]
fn a_router_child_names_its_model() {
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let child = "llama-server --host 127.0.0.1 --port 0 --alias alpha --model models/alpha.gguf";
    assert_eq!(worker_model(&args(child)).as_deref(), Some("alpha"));
    assert_eq!(worker_model(&args("llama-server -m /srv/m/qwen-7b.gguf --port 0")).as_deref(), Some("qwen-7b.gguf"));
    assert_eq!(worker_model(&args("llama-server --port 0")), None);
    assert_eq!(worker_model(&args("llama-server --alias")), None);
}

#[test]
fn an_address_two_namespaces_claim_is_scraped_in_neither() {
    let server = |pid: u32, at: &str| LocalServer {
        pid,
        process: "vllm".into(),
        backend: "vllm",
        port: Some(8000),
        target: Some(at.parse().unwrap()),
        name: format!("vllm@{at}"),
        configured: false,
        kv: None,
    };
    let mut view = LocalView {
        servers: vec![server(1, "10.88.0.5:8000"), server(2, "10.88.0.5:8000"), server(3, "10.88.0.6:8000")],
        ..LocalView::default()
    };
    let at = |index: usize, netns: &str, address: &str| Elsewhere {
        index,
        base: "vllm".into(),
        netns: Some(netns.into()),
        address: address.parse().unwrap(),
    };
    // 1 and 2 in two namespaces with one address; 3 alone.
    let elsewhere = [at(0, "net:[1]", "10.88.0.5"), at(1, "net:[2]", "10.88.0.5"), at(2, "net:[3]", "10.88.0.6")];
    drop_ambiguous(&mut view, &elsewhere);
    let left: Vec<(&str, bool)> = view.servers.iter().map(|s| (s.name.as_str(), s.target.is_some())).collect();
    assert_eq!(left, [("vllm", false), ("vllm", false), ("vllm@10.88.0.6:8000", true)]);
    assert_eq!(view.skipped.len(), 2);
    assert!(view.skipped[0].why.contains("an address another network namespace claims too"));
}

#[test]
fn servers_by_name_and_by_command_line() {
    let none = Vec::new;
    assert_eq!(server_backend("llama-server", none), Some("llamacpp"));
    assert_eq!(server_backend("ollama", none), Some("ollama"));
    assert_eq!(server_backend("bash", || panic!("cmdline is read only for interpreters")), None);
    let args = |a: &[&str]| {
        let v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        move || v
    };
    assert_eq!(
        server_backend("python3", args(&["/usr/bin/python3", "-m", "vllm.entrypoints.openai.api_server"])),
        Some("vllm")
    );
    assert_eq!(
        server_backend("python3.11", args(&["python", "-m", "sglang.launch_server", "--model", "x"])),
        Some("sglang")
    );
    assert_eq!(server_backend("python3", args(&["/opt/venv/bin/vllm", "serve", "m"])), Some("vllm"));
    assert_eq!(server_backend("text-generation", args(&["/usr/local/bin/text-generation-launcher"])), Some("tgi"));
    assert_eq!(server_backend("containerd-shim", || panic!("a cut name of no known program")), None);
    assert_eq!(server_backend("python3", args(&["python", "train.py"])), None);
    assert_eq!(server_backend("python3", args(&["python", "my_lms_tool.py", "lms"])), None);
    assert_eq!(
        server_backend("python3.12", args(&["python3.12", "-m", "mlx_lm.server", "--port", "8080"])),
        Some("mlx")
    );
    assert_eq!(
        server_backend("python3", args(&["/opt/homebrew/bin/python3", "/Users/me/venv/bin/mlx_lm.server"])),
        Some("mlx")
    );
    // pip's console script, run straight from its shebang: comm is the script's name.
    assert_eq!(server_backend("mlx_lm.server", || panic!("the name says it")), Some("mlx"));
}

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/basic")
}

fn rule(name: &str) -> ProcessMatch {
    ProcessMatch { name: name.into(), comm: None, exe: None, cmdline: None, backend: None, workload: None }
}

#[test]
fn scan_of_a_fixture_tree() {
    let configured: Vec<ServerConfig> = Vec::new();
    let view = scan(&fixture(), &configured, &[], true);
    let found: Vec<(u32, &str, &str, Option<u16>, bool)> = view
        .servers
        .iter()
        .map(|s| (s.pid, s.name.as_str(), s.backend, s.port, s.target.is_some_and(|t| t.is_ipv6())))
        .collect();
    // 201 and 202 are ollama's runners (workers), 500 a zombie, 600 gone before its stat was read.
    assert_eq!(
        found,
        [
            (100, "llama-server:8080", "llamacpp", Some(8080), false),
            (200, "ollama:11434", "ollama", Some(11434), true),
            (300, "vllm:8000", "vllm", Some(8000), false),
        ]
    );
    assert_eq!(view.workers, [201, 202]);
    assert!(view.matched.is_empty());
    let mut cache = HashMap::new();
    assert_eq!(view.server_of(&fixture(), 201, &mut cache).map(|s| s.pid), Some(200));
    assert_eq!(view.server_of(&fixture(), 202, &mut cache).map(|s| s.pid), Some(200));
    assert_eq!(view.server_of(&fixture(), 400, &mut cache), None);
}

#[test]
fn configured_servers_lend_their_name_and_rules_select_processes() {
    let url = "http://localhost:8080/".parse().unwrap();
    let configured = [ServerConfig {
        name: "chat".into(),
        url,
        backend: crate::config::Backend::Llamacpp,
        api_key: None,
        timeout: None,
        kv_cache_tokens: None,
    }];
    let by_exe = ProcessMatch {
        exe: Some(regex::Regex::new("^/opt/embed/").unwrap()),
        workload: Some(Workload::GpuCompute),
        ..rule("embed")
    };
    let as_server =
        ProcessMatch { comm: Some("bash".into()), backend: Some(crate::config::Backend::Llamacpp), ..rule("shell") };
    let by_cmdline = ProcessMatch { cmdline: Some(regex::Regex::new("--iters 100$").unwrap()), ..rule("job") };
    let view = scan(&fixture(), &configured, &[by_exe, as_server, by_cmdline], true);
    let names: Vec<(&str, bool)> = view.servers.iter().map(|s| (s.name.as_str(), s.configured)).collect();
    assert_eq!(names, [("chat", true), ("ollama:11434", false), ("vllm:8000", false), ("shell", false)]);
    let mut matched: Vec<_> = view.matched.into_iter().collect();
    matched.sort_unstable_by_key(|m| m.0);
    assert_eq!(matched, [(400, None), (700, Some(Workload::GpuCompute)), (800, None)]);
}
