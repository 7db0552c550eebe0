//! A real llama-server with a tiny generated model, started through `scripts/run-llama-server.sh`
//! on a free loopback port and killed when dropped.
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::netns::Netns;

pub struct LlamaServer {
    pub pid: u32,
    pub url: String,
    /// The server's own log (stdout and stderr).
    pub log: PathBuf,
}

/// How to start a server beyond its arguments; `Launch::default()` is what `start` does.
#[derive(Default)]
pub struct Launch<'a> {
    /// Arguments for make-tiny-gguf.py (the model's size and speed).
    pub tiny_args: &'a str,
    /// The port; a free loopback port when `None`.
    pub port: Option<u16>,
    /// Run inside this network namespace.
    pub netns: Option<&'a Netns>,
    /// Environment for run-llama-server.sh (`HOST`, `NP`) and the server.
    pub env: &'a [(&'a str, &'a str)],
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
        LlamaServer::launch(args, Launch { tiny_args, ..Launch::default() })
    }

    /// [`LlamaServer::start`] with a chosen port, namespace or environment.
    pub fn launch(args: &[&str], how: Launch) -> Option<LlamaServer> {
        if !venv().join("bin/python").exists() {
            assert!(
                std::env::var_os("LLM_EXPORTER_REQUIRE_LLAMA").is_none(),
                "llama-server is not installed: run scripts/llama-server-install.sh"
            );
            eprintln!("skipped: llama-server is not installed (scripts/llama-server-install.sh)");
            return None;
        }
        let port = how
            .port
            .unwrap_or_else(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/run-llama-server.sh");
        // Two servers may share a port in two namespaces: the log is named after the process.
        let prefix = format!("llm-exporter-test-llama-{port}-");
        let log = tempfile::Builder::new().prefix(&prefix).suffix(".log").tempfile().expect("log file");
        let log = log.into_temp_path().keep().expect("keep log");
        let mut command = match how.netns {
            Some(netns) => {
                let prefix = netns.prefix();
                let mut command = Command::new(&prefix[0]);
                command.args(&prefix[1..]).arg("bash");
                command
            }
            None => Command::new("bash"),
        };
        let out = command
            .arg(script)
            .arg(port.to_string())
            .args(args)
            .env("VENV", venv())
            .env("TINY_ARGS", how.tiny_args)
            .env("LOG", &log)
            .envs(how.env.iter().copied())
            .output()
            .expect("run-llama-server.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "llama-server did not start: {}", String::from_utf8_lossy(&out.stderr));
        let (pid, url) = stdout.trim().split_once(' ').expect("PID URL");
        Some(LlamaServer { pid: pid.parse().unwrap(), url: url.to_string(), log })
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("URL with a port")
    }

    /// What the server has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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

/// What a router gets after its address unless a test says otherwise: children of two slots
/// with 1024 tokens each, on one thread.
const DEFAULT_ROUTER_ARGS: [&str; 6] = ["-c", "2048", "-np", "2", "-t", "1"];

/// A real llama-server in router mode (`--models-dir`) over copies of the tiny model, on a
/// free loopback port. Dropping it stops the router and every child it started.
pub struct LlamaRouter {
    pub pid: u32,
    pub url: String,
    pub log: PathBuf,
    pub dir: tempfile::TempDir,
    child: std::process::Child,
}

/// The tiny model the plain server makes (which also proves the install), or `None` when
/// llama-server is not installed.
fn tiny_model() -> Option<PathBuf> {
    drop(LlamaServer::start(&[], "")?);
    Some(venv().parent().expect("venv parent").join("tiny-llama.gguf"))
}

/// The pids whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let parent = |stat: &str| -> Option<u32> { stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).ok().as_deref().and_then(parent) == Some(pid)
        })
        .collect()
}

impl LlamaRouter {
    /// Starts a router over `good` copies of the tiny model and `broken` files that are not
    /// GGUF, or `None` when llama-server is not installed (see [`LlamaServer::start`]).
    pub fn start(good: &[&str], broken: &[&str], args: &[&str]) -> Option<LlamaRouter> {
        let tiny = tiny_model()?;
        let dir = tempfile::tempdir().expect("models dir");
        for name in good {
            std::fs::copy(&tiny, dir.path().join(format!("{name}.gguf"))).expect("copy model");
        }
        for name in broken {
            std::fs::write(dir.path().join(format!("{name}.gguf")), "not a gguf file\n").expect("write");
        }
        let source = ["--models-dir".to_string(), dir.path().to_str().expect("utf-8 dir").to_string()];
        Some(LlamaRouter::spawn(dir, &source, &DEFAULT_ROUTER_ARGS, args, &[]))
    }

    /// Starts a router over `names`, each a symbolic link to the tiny model (a hundred cost
    /// no disk), with `args` alone after the address (no `-c` or `-np` of the defaults).
    pub fn start_linked(names: &[String], args: &[&str]) -> Option<LlamaRouter> {
        LlamaRouter::start_linked_with_env(names, args, &[])
    }

    /// [`LlamaRouter::start_linked`] with more environment for the router (`MODEL_ENDPOINT`,
    /// `LLAMA_CACHE`).
    pub fn start_linked_with_env(names: &[String], args: &[&str], env: &[(&str, &str)]) -> Option<LlamaRouter> {
        let tiny = tiny_model()?;
        let dir = tempfile::tempdir().expect("models dir");
        for name in names {
            std::os::unix::fs::symlink(&tiny, dir.path().join(format!("{name}.gguf"))).expect("link the model");
        }
        let source = ["--models-dir".to_string(), dir.path().to_str().expect("utf-8 dir").to_string()];
        Some(LlamaRouter::spawn(dir, &source, &["-t", "1"], args, env))
    }

    /// Starts a router whose models come from a `--models-preset` INI file, which `preset`
    /// writes given the tiny model's path.
    pub fn start_preset(preset: impl FnOnce(&str) -> String, args: &[&str]) -> Option<LlamaRouter> {
        let tiny = tiny_model()?;
        let dir = tempfile::tempdir().expect("preset dir");
        let file = dir.path().join("models.ini");
        std::fs::write(&file, preset(tiny.to_str().expect("utf-8 path"))).expect("write the preset");
        let source = ["--models-preset".to_string(), file.to_str().expect("utf-8 dir").to_string()];
        Some(LlamaRouter::spawn(dir, &source, &DEFAULT_ROUTER_ARGS, args, &[]))
    }

    fn spawn(
        dir: tempfile::TempDir,
        source: &[String],
        base: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> LlamaRouter {
        let install = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/llama-server-install.sh");
        let out = Command::new("bash").arg(install).arg(venv()).output().expect("llama-server-install.sh");
        let bin = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.path().join("router.log");
        let file = std::fs::File::create(&log).expect("log");
        let child = Command::new(bin)
            .args(source)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--metrics"])
            .args(base)
            .args(args)
            .envs(env.iter().copied())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("start the router");
        let url = format!("http://127.0.0.1:{port}");
        let router = LlamaRouter { pid: child.id(), url, log, dir, child };
        for _ in 0..300 {
            let ok = Command::new("curl").args(["-fsS", &format!("{}/health", router.url)]).output();
            if ok.is_ok_and(|o| o.status.success()) {
                return router;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("the router did not answer /health: {}", router.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("URL with a port")
    }
}

impl Drop for LlamaRouter {
    /// SIGTERM to the router (which stops its children), SIGKILL after 5 s; then any child
    /// still there is killed too.
    fn drop(&mut self) {
        let children = children_of(self.pid);
        let _ = Command::new("kill").arg(self.pid.to_string()).stderr(Stdio::null()).status();
        for _ in 0..50 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in children {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
        }
    }
}
