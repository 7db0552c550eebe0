//! Test harness: fake LLM servers on loopback, the real exporter binary on a port chosen at
//! run time, and helpers to read its output. Everything started here stops when dropped, also
//! when a test fails.
#![allow(dead_code)]

pub mod llama;
pub mod netns;
pub mod proxy;
pub mod pyservers;

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use warp::Filter;

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// How a fake server answers one path.
#[derive(Clone)]
pub enum Answer {
    Body(String),
    Status(u16),
    /// Waits, then answers with the body.
    Slow(Duration, String),
    /// A 200 whose body is this many bytes of `#` comment lines.
    Huge(usize),
    /// Whatever the test has put there by the time of the request: a 200 with the body, or a
    /// 404 when `None` (a server replaced by another on the same port).
    Live(Arc<Mutex<Option<String>>>),
}

impl Answer {
    /// A [`Answer::Live`] and the handle that changes it.
    pub fn live(body: Option<String>) -> (Answer, Arc<Mutex<Option<String>>>) {
        let cell = Arc::new(Mutex::new(body));
        (Answer::Live(Arc::clone(&cell)), cell)
    }
}

/// A loopback HTTP server that plays an LLM server from canned answers and counts requests.
pub struct FakeServer {
    pub addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeServer {
    /// Starts a fake server on a free loopback port; `api_key` makes every path demand it.
    pub async fn start(routes: Vec<(&str, Answer)>, api_key: Option<&str>) -> FakeServer {
        let routes: Arc<HashMap<String, Answer>> =
            Arc::new(routes.into_iter().map(|(p, a)| (p.to_string(), a)).collect());
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let want_auth = api_key.map(|k| format!("Bearer {k}"));
        let counted = Arc::clone(&hits);
        let filter = warp::path::full().and(warp::header::optional::<String>("authorization")).then(
            move |path: warp::path::FullPath, auth: Option<String>| {
                let routes = Arc::clone(&routes);
                let hits = Arc::clone(&counted);
                let want_auth = want_auth.clone();
                async move {
                    *hits.lock().unwrap().entry(path.as_str().to_string()).or_default() += 1;
                    if want_auth.is_some() && auth != want_auth {
                        return reply(401, "{\"error\":{\"code\":401,\"message\":\"Invalid API Key\"}}".into());
                    }
                    match routes.get(path.as_str()).cloned() {
                        None => reply(404, "not found".into()),
                        Some(Answer::Body(b)) => reply(200, b),
                        Some(Answer::Status(code)) => reply(code, "{\"error\":\"status\"}".into()),
                        Some(Answer::Slow(d, b)) => {
                            tokio::time::sleep(d).await;
                            reply(200, b)
                        }
                        Some(Answer::Live(cell)) => match cell.lock().unwrap().clone() {
                            Some(b) => reply(200, b),
                            None => reply(404, "404 page not found".into()),
                        },
                        Some(Answer::Huge(n)) => {
                            let line = "# padding padding padding padding padding padding padding padding\n";
                            reply(200, line.repeat(n / line.len() + 1))
                        }
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(
            warp::serve(filter)
                .incoming(listener)
                .graceful(async {
                    let _ = stopped.await;
                })
                .run(),
        );
        FakeServer { addr, hits, stop: Some(stop) }
    }

    /// A fake llama-server answering from the captured 2026 in-flight bodies.
    pub async fn llama(api_key: Option<&str>) -> FakeServer {
        FakeServer::start(
            vec![
                ("/metrics", Answer::Body(fixture("llamacpp_2026_real_metrics_inflight.txt"))),
                ("/slots", Answer::Body(fixture("llamacpp_2026_real_slots_inflight.json"))),
                ("/props", Answer::Body(fixture("llamacpp_2026_real_props.json"))),
            ],
            api_key,
        )
        .await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn reply(code: u16, body: String) -> warp::reply::Response {
    let status = warp::http::StatusCode::from_u16(code).unwrap();
    warp::reply::with_status(body, status).into_response()
}

use warp::Reply;

/// A loopback port that accepts connections and never answers.
pub struct Blackhole {
    pub addr: SocketAddr,
    _task: tokio::task::JoinHandle<()>,
}

impl Blackhole {
    pub async fn start() -> Blackhole {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Blackhole { addr, _task: task }
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self._task.abort();
    }
}

/// A loopback address nobody listens on: bound, then released.
pub fn refused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// The exporter binary, running on a loopback port it picked itself.
pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    stderr: Arc<std::fs::File>,
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

impl Exporter {
    pub fn start(args: &[&str]) -> Exporter {
        Exporter::start_with_env(args, &[])
    }

    /// Starts the exporter on a free loopback port. Unless `args` say otherwise, discovery and
    /// NVML are off, so a test sees only the servers it started (tests run side by side, and
    /// some start real llama-servers that discovery would find).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Exporter {
        Exporter::start_customized(args, env, |_| {})
    }

    /// Starts the exporter under `wrapper` (a command that runs it, such as
    /// [`netns::Netns::prefix`]); the address it reports is then the wrapper's world's.
    pub fn start_wrapped(wrapper: &[String], args: &[&str], env: &[(&str, &str)]) -> Exporter {
        Exporter::start_full(wrapper, args, env, |_| {})
    }

    /// Like [`Exporter::start_with_env`], with a last say on the command (limits, …).
    pub fn start_customized(args: &[&str], env: &[(&str, &str)], customize: impl FnOnce(&mut Command)) -> Exporter {
        Exporter::start_full(&[], args, env, customize)
    }

    fn start_full(
        wrapper: &[String],
        args: &[&str],
        env: &[(&str, &str)],
        customize: impl FnOnce(&mut Command),
    ) -> Exporter {
        STARTED.fetch_add(1, Ordering::Relaxed);
        let mentions = |flags: &[&str]| args.iter().any(|a| flags.iter().any(|f| a.split('=').next() == Some(*f)));
        let mut isolation = Vec::new();
        if !mentions(&["--discovery", "--no-discovery"]) {
            isolation.push("--no-discovery");
        }
        if !mentions(&["--nvml.library", "--collector.nvml", "--no-collector.nvml"]) {
            isolation.push("--no-collector.nvml");
        }
        // EXPORTER_UNDER_TEST runs the tests on another build (a release binary for numbers).
        let binary = std::env::var("EXPORTER_UNDER_TEST").unwrap_or_else(|_| env!("CARGO_BIN_EXE_llm-exporter").into());
        let program: Vec<&String> = wrapper.iter().chain([&binary]).collect();
        let mut command = Command::new(program[0]);
        // The exporter reads LLM_EXPORTER_* settings: the test's own environment (a developer's
        // settings, LLM_EXPORTER_REQUIRE_LLAMA) must not reach it, only what the test passes.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("LLM_EXPORTER_")) {
                command.env_remove(name);
            }
        }
        command
            .args(&program[1..])
            .args(["--web.listen-address", "127.0.0.1:0"])
            .args(isolation)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        customize(&mut command);
        let mut child = command.spawn().expect("start llm-exporter");
        let stderr = Arc::new(std::fs::File::from(std::os::fd::OwnedFd::from(child.stderr.take().unwrap())));
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (sink, source) = (Arc::clone(&log), Arc::clone(&stderr));
        std::thread::spawn(move || read_log(&source, &sink, &tx));
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!("exporter did not start: {:?}", log.lock().unwrap());
            }
        };
        Exporter { child, addr, log, stderr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `kB` field of the exporter's `/proc/PID/status` (`VmRSS:`, `VmHWM:`), in bytes.
    pub fn status_bytes(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok());
        kib.unwrap_or(0.0) * 1024.0
    }

    /// Scrapes the telemetry path and returns the body; panics unless 200 or when a series
    /// appears twice.
    pub async fn scrape(&self) -> String {
        let response = client().get(self.url("/metrics")).send().await.expect("scrape");
        assert_eq!(response.status(), 200);
        let body = response.text().await.unwrap();
        assert_unique_series(&body);
        body
    }

    /// Every line the exporter has written so far. The exporter writes a line before it answers
    /// the request that caused it; this waits (up to 10 s) until the pipe holds no unread byte,
    /// so a line written before a scrape returned is always here.
    pub fn log(&self) -> Vec<String> {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.log.lock().unwrap();
            // Under the lock the reader is not between a read and its push.
            if unread_bytes(&self.stderr) == 0 || std::time::Instant::now() > until {
                return lines.clone();
            }
            drop(lines);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends `signal` (`libc::SIGTERM`, …) to the exporter.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill only sends a signal to our own child, which has not been reaped yet.
        let sent = unsafe { libc::kill(self.pid() as i32, signal) };
        assert_eq!(sent, 0, "kill({}, {signal})", self.pid());
    }

    /// Waits up to `deadline` for the exporter to exit; its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + deadline;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Waits up to `deadline` for a log line containing `text`.
    pub fn wait_for_log(&self, text: &str, deadline: Duration) -> bool {
        let until = std::time::Instant::now() + deadline;
        while std::time::Instant::now() < until {
            if self.log().iter().any(|l| l.contains(text)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The log once a line holds `needle`, or after 10 s: for lines the exporter may write in
    /// the background, after the answer that a test waited for.
    pub fn log_with(&self, needle: &str) -> String {
        for _ in 0..200 {
            let log = self.log().join("\n");
            if log.contains(needle) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.log().join("\n")
    }
}

/// Bytes waiting in a pipe (0 once it is closed or on an error).
fn unread_bytes(pipe: &std::fs::File) -> usize {
    let mut bytes: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to a pointer we own; the fd is kept open by the Arc.
    let ok = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut bytes) } == 0;
    if ok {
        usize::try_from(bytes).unwrap_or(0)
    } else {
        0
    }
}

/// Reads the exporter's stderr into `sink` line by line. Each read and the push of its lines
/// happen under the lock, which lets [`Exporter::log`] know when nothing is in flight.
fn read_log(stderr: &std::fs::File, sink: &Mutex<Vec<String>>, listening: &std::sync::mpsc::Sender<String>) {
    let mut partial = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut ready = libc::pollfd { fd: stderr.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd we own; -1 waits until data or hang-up.
        if unsafe { libc::poll(&mut ready, 1, -1) } < 0 {
            continue;
        }
        let mut lines = sink.lock().unwrap();
        let n = match (&*stderr).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => 0,
        };
        partial.extend_from_slice(&buf[..n]);
        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&partial[..end]).into_owned();
            partial.drain(..=end);
            if let Some(addr) = line.split("listening on ").nth(1).and_then(|r| r.split(',').next()) {
                let _ = listening.send(addr.to_string());
            }
            lines.push(line);
        }
        if n == 0 {
            if !partial.is_empty() {
                lines.push(String::from_utf8_lossy(&partial).into_owned());
            }
            return;
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client whose own timeout bounds every test request.
pub fn client() -> reqwest::Client {
    // A safety net only: on a loaded 2-core machine a scrape of the hostile targets takes tens of seconds.
    reqwest::Client::builder().timeout(Duration::from_secs(90)).no_proxy().build().unwrap()
}

/// Series (name and label set, in any label order) that appear more than once in `body`.
pub fn duplicate_series(body: &str) -> Vec<String> {
    let parsed = promtext::parse(body);
    let mut seen = std::collections::HashSet::new();
    let mut twice = Vec::new();
    for sample in parsed.families.iter().flat_map(|f| f.samples.iter()) {
        let mut labels: Vec<String> = sample.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        labels.sort_unstable();
        let series = format!("{}{{{}}}", sample.name, labels.join(","));
        if !seen.insert(series.clone()) {
            twice.push(series);
        }
    }
    twice
}

/// Panics when a series appears twice: Prometheus rejects such a scrape.
pub fn assert_unique_series(body: &str) {
    let twice = duplicate_series(body);
    assert!(twice.is_empty(), "series exported more than once: {twice:?}");
}

/// Every sample in `body` whose name is `name` and whose labels include `want`.
pub fn values(body: &str, name: &str, want: &[(&str, &str)]) -> Vec<f64> {
    let parsed = promtext::parse(body);
    assert!(parsed.errors.is_empty(), "exporter output does not parse: {:?}", parsed.errors);
    parsed
        .families
        .iter()
        .flat_map(|f| f.samples.iter())
        .filter(|s| s.name == name && want.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value)
        .collect()
}

/// The one value of `name{want}`; panics if there is not exactly one.
pub fn value(body: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    let found = values(body, name, want);
    assert_eq!(found.len(), 1, "{name}{want:?}: {found:?} in\n{body}");
    found[0]
}

/// How a raw TCP target misbehaves, below what an HTTP framework would let us write.
#[derive(Clone, Copy, Debug)]
pub enum Misbehaviour {
    /// Sends the status line and headers, then nothing, forever.
    HeadersThenHang,
    /// A chunked 200 whose chunks never end.
    EndlessBody,
    /// One byte of body per 100 ms, never finishing.
    Drip,
    /// A small gzip body that expands to 64 MiB, labelled `Content-Encoding: gzip`.
    GzipBomb,
    /// Accepts, then resets the connection.
    Reset,
}

/// A loopback TCP server that misbehaves on every connection; stopped when dropped.
pub struct RawServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    pub async fn start(how: Misbehaviour) -> RawServer {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bomb: Arc<Vec<u8>> = Arc::new(match how {
            Misbehaviour::GzipBomb => {
                use std::io::Write;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                let zeros = vec![b'0'; 1 << 20];
                for _ in 0..64 {
                    gz.write_all(&zeros).unwrap();
                }
                gz.finish().unwrap()
            }
            _ => Vec::new(),
        });
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let bomb = Arc::clone(&bomb);
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
                    let ok = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
                    match how {
                        Misbehaviour::HeadersThenHang => {
                            let _ = socket.write_all(format!("{ok}Content-Length: 100\r\n\r\n").as_bytes()).await;
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Misbehaviour::EndlessBody => {
                            let _ =
                                socket.write_all(format!("{ok}Transfer-Encoding: chunked\r\n\r\n").as_bytes()).await;
                            let chunk = format!("{:x}\r\n{}\r\n", 8192, "# x\n".repeat(2048));
                            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                        }
                        Misbehaviour::Drip => {
                            let _ = socket.write_all(format!("{ok}Content-Length: 100000\r\n\r\n").as_bytes()).await;
                            while socket.write_all(b"#").await.is_ok() {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                        Misbehaviour::GzipBomb => {
                            // Connection: close, or the client may send its next request on a
                            // socket this server is about to close, and fail differently.
                            let head = format!(
                                "{ok}Content-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                bomb.len()
                            );
                            let _ = socket.write_all(head.as_bytes()).await;
                            let _ = socket.write_all(&bomb).await;
                        }
                        Misbehaviour::Reset => {
                            let _ = socket.set_zero_linger();
                            drop(socket);
                        }
                    }
                });
            }
        });
        RawServer { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
