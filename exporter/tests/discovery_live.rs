//! Discovery on this machine's live /proc, scan after scan: what it keeps between scans never
//! hides a change. The server is a Python process started as `llama-server` (a symlink to the
//! interpreter), so the kernel names it so; it listens when the test says.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use common::netns::Netns;
use llm_exporter::discovery;

/// A process named `llama-server` holding a TCP socket bound to a free loopback port, which
/// starts listening on it when told, and opens and listens on a second socket when told again.
struct LateListener {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
}

const SCRIPT: &str = r#"
import socket, sys
first = socket.socket(); first.bind(("127.0.0.1", 0)); print(first.getsockname()[1], flush=True)
sys.stdin.readline(); first.listen(); print("listening", flush=True)
sys.stdin.readline()
second = socket.socket(); second.bind(("127.0.0.1", 0)); second.listen(); print(second.getsockname()[1], flush=True)
sys.stdin.readline()
"#;

impl LateListener {
    fn start(prefix: &[String]) -> (LateListener, u16) {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("llama-server");
        std::os::unix::fs::symlink(which_python(), &program).unwrap();
        let mut command = Command::new(prefix.first().map_or(program.as_os_str(), |p| p.as_ref()));
        command.args(prefix.iter().skip(1)).args(prefix.first().map(|_| program.as_os_str()));
        let mut child = command.args(["-c", SCRIPT]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let (stdin, stdout) = (child.stdin.take().unwrap(), BufReader::new(child.stdout.take().unwrap()));
        let mut server = LateListener { child, stdin, stdout, _dir: dir };
        let port = server.line().parse().unwrap();
        (server, port)
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    /// Tells it to take its next step and waits until it has.
    fn step(&mut self) -> String {
        self.stdin.write_all(b"\n").unwrap();
        self.line()
    }
}

impl Drop for LateListener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The interpreter itself, not a launcher's shim that would look for a program of the
/// symlink's name.
fn which_python() -> std::path::PathBuf {
    let out = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().into()
}

/// The port discovery gives the server `pid` now.
fn port_of(pid: u32) -> Option<u16> {
    let view = discovery::scan(Path::new("/proc"), &[], &[], true);
    view.servers.iter().find(|s| s.pid == pid).and_then(|s| s.port)
}

#[test]
fn a_server_that_starts_listening_is_found_at_the_next_scan() {
    let (mut server, port) = LateListener::start(&[]);
    let pid = server.child.id();
    for _ in 0..3 {
        assert_eq!(port_of(pid), None, "a bound socket that does not listen is no port");
    }
    // listen() on the socket it already held: no socket opened, so only the namespace's
    // count of TCP sockets in use tells that something changed.
    assert_eq!(server.step(), "listening");
    assert_eq!(port_of(pid), Some(port));
    assert_eq!(port_of(pid), Some(port), "kept");
    // A second listening socket, a new inode: the lower of the two ports is the one scraped.
    let second: u16 = server.step().parse().unwrap();
    assert_eq!(port_of(pid), Some(port.min(second)));
}

#[test]
fn the_listeners_of_another_namespace_are_read_inside_it() {
    let Some(pod) = Netns::new(&[]) else { return };
    let (mut server, port) = LateListener::start(&pod.prefix());
    assert_eq!(server.step(), "listening");
    // The python process is the child that nsenter execs into: the same PID.
    let pid = server.child.id();
    let mut tables = llm_exporter::sys::SocketTables::new(Path::new("/proc"));
    let ports: Vec<u16> = tables.listeners(pid).iter().map(|l| l.port).collect();
    assert_eq!(ports, vec![port], "only the pod's own listener, none of ours");
    let ns = format!("/proc/{pid}/ns/net");
    match llm_exporter::sys::sock_diag::tcp_listeners_in(Path::new(&ns)) {
        Ok(listeners) => assert_eq!(listeners.iter().map(|l| l.port).collect::<Vec<_>>(), vec![port]),
        Err(e) => assert!(!is_root(), "root may enter a namespace: {e}"),
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}
