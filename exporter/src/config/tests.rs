use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use super::*;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn run_with(list: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match load(&args(list), &|k| env.get(k).cloned())? {
        Command::Run(config) => Ok(*config),
        other => panic!("expected a run, got {other:?}"),
    }
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn file_error(text: &str) -> String {
    let f = config_file(text);
    let path = f.path().to_str().unwrap().to_string();
    let e = run_with(&["--config.file", &path], &[]).unwrap_err();
    e.to_string().replace(&path, "FILE")
}

#[test]
fn defaults_follow_the_design() {
    let c = run_with(&[], &[]).unwrap();
    assert_eq!(c.listen_addresses, vec![":10931"]);
    assert_eq!(c.telemetry_path, "/metrics");
    assert_eq!(c.scrape_timeout, Duration::from_secs(5));
    assert!(c.collectors.llm);
    assert!(c.servers.is_empty());
    assert_eq!(c.max_body_bytes, 16 << 20);
}

#[test]
fn flags_in_both_spellings() {
    let c = run_with(
        &[
            "--server",
            "llama=http://127.0.0.1:8080",
            "--server=http://[::1]:9000/",
            "--no-collector.llm",
            "--scrape.timeout=1m30s",
            "--web.listen-address",
            "127.0.0.1:1",
            "--web.listen-address=:2",
            "--log.format",
            "json",
        ],
        &[],
    )
    .unwrap();
    let names: Vec<&str> = c.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["llama", "[::1]:9000"], "an IPv6 host keeps its brackets");
    assert!(!c.collectors.llm);
    assert_eq!(c.scrape_timeout, Duration::from_secs(90));
    assert_eq!(c.listen_addresses, ["127.0.0.1:1", ":2"]);
    assert_eq!(c.log_format, LogFormat::Json);
}

#[test]
fn help_and_version() {
    assert!(matches!(load(&args(&["--help"]), &|_| None), Ok(Command::Help)));
    assert!(matches!(load(&args(&["--version"]), &|_| None), Ok(Command::Version)));
    assert!(usage().contains("--[no-]collector.llm"));
}

#[test]
fn precedence_is_flag_then_env_then_file_then_default() {
    let f = config_file("[scrape]\ntimeout = \"7s\"\n[log]\nlevel = \"warn\"\nformat = \"json\"\n");
    let path = f.path().to_str().unwrap();
    let env = [
        ("LLM_EXPORTER_SCRAPE_TIMEOUT", "3s"),
        ("LLM_EXPORTER_LOG_LEVEL", "debug"),
        ("LLM_EXPORTER_CONFIG_FILE", path),
    ];
    let c = run_with(&["--scrape.timeout", "2s"], &env).unwrap();
    assert_eq!(c.scrape_timeout, Duration::from_secs(2));
    assert_eq!(c.log_level, log::LevelFilter::Debug);
    assert_eq!(c.log_format, LogFormat::Json);
    let c = run_with(&[], &env).unwrap();
    assert_eq!(c.scrape_timeout, Duration::from_secs(3));
}

#[test]
fn env_lists_and_booleans() {
    let c = run_with(
        &[],
        &[("LLM_EXPORTER_SERVER", "a=http://h:1, b=http://h:2"), ("LLM_EXPORTER_COLLECTOR_LLM", "false")],
    )
    .unwrap();
    assert_eq!(c.servers.len(), 2);
    assert!(!c.collectors.llm);
    let e = run_with(&[], &[("LLM_EXPORTER_SCRAPE_TIMEOUT", "soon")]).unwrap_err();
    assert_eq!(e.to_string(), "environment LLM_EXPORTER_SCRAPE_TIMEOUT: key 'scrape.timeout': 'soon' is not a duration like 5s, 500ms or 1m30s");
}

#[test]
fn bad_flags_name_the_flag() {
    let e = run_with(&["--server", "x=ftp://h/"], &[]).unwrap_err();
    assert_eq!(e.to_string(), "flag --server: key 'server': URL scheme 'ftp' is not http or https");
    let e = run_with(&["--server", "a=http://h:1", "--server", "a=http://h:2"], &[]).unwrap_err();
    assert_eq!(e.to_string(), "flag --server: key 'server': server name 'a' is used twice");
    assert!(run_with(&["--bogus"], &[]).unwrap_err().to_string().contains("unknown flag --bogus"));
    assert!(run_with(&["--scrape.timeout"], &[]).unwrap_err().to_string().contains("needs a value"));
    assert!(run_with(&["--server", "http://user:pw@h/"], &[]).unwrap_err().to_string().contains("credentials"));
}

#[test]
fn a_full_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "s3cret\n").unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[web]\nlisten_address = [\"127.0.0.1:0\"]\ntelemetry_path = \"/m\"\n\n[collector]\nllm = true\n\n\
         [[server]]\nname = \"big\"\nurl = \"http://127.0.0.1:8080\"\nbackend = \"llamacpp\"\napi_key_file = \"key\"\ntimeout = \"2s\"\n\n\
         [[server]]\nname = \"env\"\nurl = \"https://10.1.2.3/\"\napi_key_env = \"MY_KEY\"\n",
    )
    .unwrap();
    let c = run_with(&["--config.file", path.to_str().unwrap()], &[("MY_KEY", "k2")]).unwrap();
    assert_eq!(c.telemetry_path, "/m");
    assert_eq!(c.servers[0].api_key.as_deref(), Some("s3cret"));
    assert_eq!(c.servers[0].timeout, Some(Duration::from_secs(2)));
    assert_eq!(c.servers[1].api_key.as_deref(), Some("k2"));
    assert!(!format!("{:?}", c.servers).contains("s3cret"), "keys never show in Debug output");
}

#[test]
fn file_errors_name_file_line_and_key() {
    assert_eq!(
        file_error("[scrape]\ntimeout = \"5s\"\ntiemout = \"1s\"\n"),
        "FILE:3: key 'scrape.tiemout': unknown field `tiemout`, expected one of `timeout`, `max_body_size`, `max_series_per_target`"
    );
    assert_eq!(
        file_error("[scrape]\ntimeout = \"5 seconds\"\n"),
        "FILE:2: key 'scrape.timeout': '5 seconds' is not a duration like 5s, 500ms or 1m30s"
    );
    assert_eq!(
        file_error("[[server]]\nname = \"a\"\nurl = \"gopher://x\"\n"),
        "FILE:3: key 'server.url': URL scheme 'gopher' is not http or https"
    );
    assert_eq!(
        file_error("[[server]]\nname = \"a\"\nurl = \"http://x\"\n[[server]]\nname = \"a\"\nurl = \"http://y\"\n"),
        "FILE:5: key 'server.name': server name 'a' is used twice"
    );
    assert_eq!(file_error("[[server]]\nname = \"a\"\n"), "FILE:1: key 'server.url': missing field `url`");
    assert_eq!(
        file_error("[[server]]\nname = \"a\"\nurl = \"http://x\"\nbackend = \"foo\"\n"),
        "FILE:4: key 'server.backend': unknown backend 'foo' (known: auto, llamacpp, vllm, sglang, tgi, ollama, llamaswap, mlx)"
    );
    assert_eq!(
        file_error("[collector]\nllm = \"yes\"\n"),
        "FILE:2: key 'collector.llm': invalid type: string \"yes\", expected a boolean"
    );
    assert!(file_error("[[server]]\nname = \"a\"\nurl = \"http://x\"\napi_key_file = \"/nonexistent/key\"\n")
        .starts_with("FILE:4: key 'server.api_key_file': cannot read"));
    assert!(file_error("this is not toml\n").starts_with("FILE:1: key 'this is not toml'"));
}

#[test]
fn a_missing_config_file_is_an_error() {
    let e = run_with(&["--config.file", "/nonexistent/llm-exporter.toml"], &[]).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/llm-exporter.toml: key 'config.file': cannot read"), "{e}");
}

#[test]
fn durations_and_sizes() {
    assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
    assert_eq!(parse_duration("1h1m1s").unwrap(), Duration::from_secs(3661));
    assert_eq!(parse_duration("2.5s").unwrap(), Duration::from_millis(2500));
    for bad in ["", "5", "s", "0s", "-1s", "5d", "25h", "1..5s"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    assert_eq!(values::parse_bytes("16MiB").unwrap(), 16 << 20);
    assert!(values::parse_bytes("0").is_err());
    assert!(values::parse_bytes("99999999999999GiB").is_err());
}

#[test]
fn process_match_rules() {
    let f = config_file(
        "[[process.match]]\nname = \"embed\"\nexe_regex = \"^/opt/embed/\"\nworkload = \"gpu_compute\"\n\n\
         [[process.match]]\nname = \"mine\"\ncomm = \"my-server\"\nbackend = \"llamacpp\"\n",
    );
    let c = run_with(&["--config.file", f.path().to_str().unwrap()], &[]).unwrap();
    let rules: Vec<_> = c
        .process_matches
        .iter()
        .map(|m| (m.name.as_str(), m.exe.as_ref().map(|r| r.as_str()), m.workload, m.backend))
        .collect();
    assert_eq!(
        rules,
        [
            ("embed", Some("^/opt/embed/"), Some(Workload::GpuCompute), None),
            ("mine", None, None, Some(Backend::Llamacpp)),
        ]
    );
    assert_eq!(
        file_error("[[process.match]]\nname = \"x\"\nexe_regex = \"(unclosed\"\n"),
        "FILE:3: key 'process.match.exe_regex': bad regular expression: error: unclosed group"
    );
    assert_eq!(
        file_error("[[process.match]]\nname = \"x\"\ncomm = \"a\"\nworkload = \"mining\"\n"),
        "FILE:4: key 'process.match.workload': 'mining' is not one of llm_inference, ml_training, gpu_compute, graphics, other"
    );
    assert_eq!(
        file_error("[[process.match]]\nname = \"x\"\n"),
        "FILE:2: key 'process.match': give at least one of comm, exe_regex, cmdline_regex"
    );
    assert_eq!(
        file_error("[[process.match]]\nname = \"x\"\ncomm = \"a-name-longer-than-15\"\n"),
        "FILE:3: key 'process.match.comm': 'a-name-longer-than-15' cannot be a comm: the kernel keeps 1 to 15 bytes"
    );
    assert_eq!(
        file_error("[[process.match]]\nname = \"x\"\ncomm = \"a\"\npid = 4\n"),
        "FILE:4: key 'process.match.pid': unknown field `pid`, expected one of `name`, `comm`, `exe_regex`, `cmdline_regex`, `backend`, `workload`"
    );
}

#[test]
fn an_endless_or_huge_config_file_is_refused_without_reading_it_all() {
    let e = run_with(&["--config.file", "/dev/zero"], &[]).unwrap_err();
    assert_eq!(e.to_string(), "/dev/zero: key 'config.file': /dev/zero is larger than 1024 KiB");
    let big = config_file(&format!("# {}\n", "x".repeat(2 << 20)));
    let path = big.path().to_str().unwrap().to_string();
    let e = run_with(&["--config.file", &path], &[]).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{path}: key 'config.file': ")) && e.ends_with("larger than 1024 KiB"), "{e}");
}

#[test]
fn a_target_url_is_a_base_url_with_a_real_port() {
    for (url, why) in [
        ("http://127.0.0.1:8080/llama?x=1", "has a query or fragment"),
        ("http://127.0.0.1:8080/#top", "has a query or fragment"),
        ("http://127.0.0.1:0", "has port 0"),
    ] {
        let e = run_with(&["--server", &format!("x={url}")], &[]).unwrap_err().to_string();
        assert!(e.starts_with("flag --server: ") && e.contains(why), "{url}: {e}");
    }
    let e = file_error("[[server]]\nname = \"p\"\nurl = \"http://127.0.0.1:0/\"\n");
    assert!(e.starts_with("FILE:3: key 'server.url': ") && e.contains("port 0"), "{e}");
    let c = run_with(&["--server", "x=http://127.0.0.1:8080/llama"], &[]).unwrap();
    assert_eq!(c.servers[0].url.path(), "/llama");
}

#[test]
fn a_body_size_may_be_a_plain_integer_in_the_file() {
    let f = config_file("[scrape]\nmax_body_size = 1048576\n");
    let c = run_with(&["--config.file", f.path().to_str().unwrap()], &[]).unwrap();
    assert_eq!(c.max_body_bytes, 1 << 20);
    let f = config_file("[scrape]\nmax_body_size = \"2MiB\"\n");
    let c = run_with(&["--config.file", f.path().to_str().unwrap()], &[]).unwrap();
    assert_eq!(c.max_body_bytes, 2 << 20);
    assert!(file_error("[scrape]\nmax_body_size = -1\n").starts_with("FILE:2: key 'scrape.max_body_size': "));
}

#[test]
fn unknown_environment_variables_are_named_with_the_closest_real_one() {
    let names = [
        "LLM_EXPORTER_SCRAPE_TIMOUT",
        "LLM_EXPORTER_SCRAPE_TIMEOUT",
        "PATH",
        "LLM_EXPORTER_SERVER",
        "LLM_EXPORTER_REVISION",
    ];
    let warnings = unknown_env_warnings(names.iter().map(|n| n.to_string()));
    assert_eq!(
        warnings,
        ["environment LLM_EXPORTER_SCRAPE_TIMOUT is not a setting of llm-exporter and is ignored \
          (did you mean LLM_EXPORTER_SCRAPE_TIMEOUT?)"]
    );
}

#[test]
fn connection_timeouts_and_cap_from_flag_env_and_file() {
    let c = run_with(&[], &[]).unwrap();
    assert_eq!(
        (c.read_header_timeout, c.idle_timeout, c.max_connections),
        (DEFAULT_READ_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, None)
    );
    let f = config_file("[web]\nread_header_timeout = \"3s\"\nidle_timeout = \"2m\"\nmax_connections = 50\n");
    let file = f.path().to_str().unwrap();
    let c = run_with(&["--config.file", file], &[]).unwrap();
    assert_eq!(
        (c.read_header_timeout, c.idle_timeout, c.max_connections),
        (Duration::from_secs(3), Duration::from_secs(120), Some(50))
    );
    let env = [("LLM_EXPORTER_WEB_IDLE_TIMEOUT", "5s"), ("LLM_EXPORTER_WEB_MAX_CONNECTIONS", "7")];
    let c = run_with(&["--config.file", file, "--web.read-header-timeout=1s"], &env).unwrap();
    assert_eq!(
        (c.read_header_timeout, c.idle_timeout, c.max_connections),
        (Duration::from_secs(1), Duration::from_secs(5), Some(7))
    );
    let e = run_with(&["--web.max-connections", "0"], &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "flag --web.max-connections: key 'web.max-connections': '0' is not a number of connections from 1 to 1000000"
    );
    assert_eq!(
        file_error("[web]\nmax_connections = -1\n"),
        "FILE:2: key 'web.max_connections': '-1' is not a number of connections from 1 to 1000000"
    );
    assert!(file_error("[web]\nidle_timeout = \"forever\"\n").starts_with("FILE:2: key 'web.idle_timeout': "));
}

#[test]
fn rootfs_from_flag_env_and_file() {
    assert_eq!(run_with(&[], &[]).unwrap().rootfs, std::path::PathBuf::from("/"));
    let f = config_file("[path]\nprocfs = \"/host/proc\"\nrootfs = \"/host\"\n");
    let file = f.path().to_str().unwrap();
    let c = run_with(&["--config.file", file], &[]).unwrap();
    assert_eq!((c.procfs.to_str(), c.rootfs.to_str()), (Some("/host/proc"), Some("/host")));
    let c = run_with(&["--config.file", file], &[("LLM_EXPORTER_PATH_ROOTFS", "/node")]).unwrap();
    assert_eq!(c.rootfs.to_str(), Some("/node"));
    let c = run_with(&["--path.rootfs=/flag"], &[("LLM_EXPORTER_PATH_ROOTFS", "/node")]).unwrap();
    assert_eq!(c.rootfs.to_str(), Some("/flag"));
}

#[test]
fn namespaces_discovery_from_flag_env_and_file() {
    let c = run_with(&[], &[]).unwrap();
    assert!(c.discovery && c.discovery_namespaces, "both on by default");
    let f = config_file("[discovery]\nnamespaces = false\n");
    let file = f.path().to_str().unwrap();
    let c = run_with(&["--config.file", file], &[]).unwrap();
    assert!(c.discovery && !c.discovery_namespaces, "the file turns only namespaces off");
    let c = run_with(&["--config.file", file], &[("LLM_EXPORTER_DISCOVERY_NAMESPACES", "true")]).unwrap();
    assert!(c.discovery_namespaces);
    let c = run_with(&["--no-discovery.namespaces"], &[("LLM_EXPORTER_DISCOVERY_NAMESPACES", "true")]).unwrap();
    assert!(!c.discovery_namespaces);
    assert!(file_error("[discovery]\nnamespaces = \"no\"\n").contains("discovery.namespaces"));
}

#[test]
fn console_switch_and_min_interval_from_flag_env_and_file() {
    let c = run_with(&[], &[]).unwrap();
    assert_eq!((c.web_console, c.web_console_min_interval), (true, DEFAULT_CONSOLE_MIN_INTERVAL));
    let f = config_file("[web]\nconsole = false\nconsole_min_interval = \"5s\"\n");
    let file = f.path().to_str().unwrap();
    let c = run_with(&["--config.file", file], &[]).unwrap();
    assert_eq!((c.web_console, c.web_console_min_interval), (false, Duration::from_secs(5)));
    let env = [("LLM_EXPORTER_WEB_CONSOLE_MIN_INTERVAL", "250ms")];
    let c = run_with(&["--config.file", file, "--web.console"], &env).unwrap();
    assert_eq!((c.web_console, c.web_console_min_interval), (true, Duration::from_millis(250)));
    assert!(!run_with(&["--no-web.console"], &[]).unwrap().web_console);
    assert!(
        file_error("[web]\nconsole_min_interval = \"soon\"\n").starts_with("FILE:2: key 'web.console_min_interval': ")
    );
}
