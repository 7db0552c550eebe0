//! A real llama-server with a tiny generated model, started through `scripts/run-llama-server.sh`
//! on a free loopback port and killed when dropped.
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct LlamaServer {
    pub pid: u32,
    pub url: String,
}

/// Where `scripts/llama-server-install.sh` puts the build.
fn venv() -> PathBuf {
    match std::env::var_os("LLAMA_VENV") {
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/llm-exporter/llama-venv"),
    }
}

impl LlamaServer {
    /// Starts a server, or returns `None` when llama-server is not installed and the test may be
    /// skipped. `scripts/test` sets `LLM_EXPORTER_REQUIRE_LLAMA=1`, which makes a missing
    /// install a failure instead.
    pub fn start(args: &[&str], tiny_args: &str) -> Option<LlamaServer> {
        if !venv().join("bin/python").exists() {
            assert!(
                std::env::var_os("LLM_EXPORTER_REQUIRE_LLAMA").is_none(),
                "llama-server is not installed: run scripts/llama-server-install.sh"
            );
            eprintln!("skipped: llama-server is not installed (scripts/llama-server-install.sh)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/run-llama-server.sh");
        let log = std::env::temp_dir().join(format!("llm-exporter-test-llama-{port}.log"));
        let out = Command::new("bash")
            .arg(script)
            .arg(port.to_string())
            .args(args)
            .env("VENV", venv())
            .env("TINY_ARGS", tiny_args)
            .env("LOG", &log)
            .output()
            .expect("run-llama-server.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "llama-server did not start: {}", String::from_utf8_lossy(&out.stderr));
        let (pid, url) = stdout.trim().split_once(' ').expect("PID URL");
        Some(LlamaServer { pid: pid.parse().unwrap(), url: url.to_string() })
    }
}

impl Drop for LlamaServer {
    /// SIGTERM, then SIGKILL if it is still there after 5 s: llama-server shuts down
    /// gracefully on the first signal and can hang there with a request in flight.
    fn drop(&mut self) {
        let pid = self.pid.to_string();
        let signal = |args: &[&str]| Command::new("kill").args(args).arg(&pid).stderr(Stdio::null()).status();
        let _ = signal(&[]);
        for _ in 0..50 {
            if !signal(&["-0"]).is_ok_and(|s| s.success()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = signal(&["-KILL"]);
    }
}
