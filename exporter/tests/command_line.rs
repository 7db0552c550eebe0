//! The binary's command line: bad settings are one line on stderr and exit code 2.
use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llm-exporter")).args(args).envs(env.iter().copied()).output().unwrap()
}

fn one_error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "exit code");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(stderr.lines().count(), 1, "exactly one line: {stderr}");
    stderr.trim_end().to_string()
}

#[test]
fn bad_config_files_exit_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line, key) in [
        ("[scrape]\ntimeout = \"5s\"\nbogus = 1\n", 3, "scrape.bogus"),
        ("[[server]]\nname = \"a\"\nurl = \"file:///etc/passwd\"\n", 3, "server.url"),
        (
            "[[server]]\nname = \"a\"\nurl = \"http://h\"\n\n[[server]]\nname = \"a\"\nurl = \"http://i\"\n",
            6,
            "server.name",
        ),
        ("[log]\nlevel = \"loud\"\n", 2, "log.level"),
        ("[[server]]\nname = \"bad name\"\nurl = \"http://h\"\n", 2, "server.name"),
    ] {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        let line_text = one_error_line(&run(&["--config.file", path.to_str().unwrap()], &[]));
        let want = format!("error: {}:{line}: key '{key}': ", path.display());
        assert!(line_text.starts_with(&want), "{line_text}\nwant prefix {want}");
    }
}

#[test]
fn bad_flags_and_environment_exit_2() {
    let e = one_error_line(&run(&["--server", "x=ftp://h"], &[]));
    assert_eq!(e, "error: flag --server: key 'server': URL scheme 'ftp' is not http or https");
    let e = one_error_line(&run(&[], &[("LLM_EXPORTER_SCRAPE_TIMEOUT", "0s")]));
    assert_eq!(e, "error: environment LLM_EXPORTER_SCRAPE_TIMEOUT: key 'scrape.timeout': '0s' must be more than 0 and at most 24h");
    one_error_line(&run(&["--what"], &[]));
}

#[test]
fn help_and_version_exit_0() {
    let out = run(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config.file",
        "--web.listen-address",
        "--web.telemetry-path",
        "--server",
        "--[no-]collector.llm",
        "--scrape.timeout",
        "--log.level",
        "--log.format",
        "--version",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    let out = run(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(concat!("llm-exporter ", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn a_taken_port_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["--web.listen-address", &addr], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("cannot listen on {addr}")));
}
