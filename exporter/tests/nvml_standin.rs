//! GPU series through the real `nvml-wrapper` path, against a stand-in libnvidia-ml built from
//! C at test time (`tests/nvml-standin/standin.c`) and loaded with `--nvml.library`. The
//! stand-in answers from the JSON fixtures beside it; `UPDATE_GOLDEN=1` rewrites the
//! `*.expected` files, whose diff is then reviewed.
mod common;
#[path = "nvml-standin/standin.rs"]
mod standin;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{client, value, values};

/// A stand-in library built into a temporary directory, with its config and call log there.
struct Standin {
    dir: tempfile::TempDir,
    library: PathBuf,
}

impl Standin {
    /// Builds the stand-in (without the `hidden` symbols) and writes `fixture` as its config,
    /// each `(from, to)` of `replace` applied.
    fn new(fixture: &str, hidden: &[&str], replace: &[(&str, String)]) -> Standin {
        let dir = tempfile::tempdir().unwrap();
        let library = standin::build(dir.path(), hidden);
        let standin = Standin { dir, library };
        standin.configure(fixture, replace);
        standin
    }

    fn configure(&self, fixture: &str, replace: &[(&str, String)]) {
        let mut text = std::fs::read_to_string(standin::dir().join(fixture)).unwrap();
        for (from, to) in replace {
            text = text.replace(from, to);
        }
        // Write, then rename, so a concurrent nvmlInit_v2 never reads half a file.
        let fresh = self.dir.path().join("config.json.new");
        std::fs::write(&fresh, text).unwrap();
        std::fs::rename(fresh, self.config()).unwrap();
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// The stand-in's call log: one line per call (see `standin.c`).
    fn calls(&self) -> Vec<String> {
        let log = self.dir.path().join("calls.log");
        std::fs::read_to_string(log).unwrap_or_default().lines().map(str::to_string).collect()
    }

    fn count(&self, call: &str) -> usize {
        self.calls().iter().filter(|l| *l == call).count()
    }

    fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![("NVML_STANDIN_CONFIG", self.config()), ("NVML_STANDIN_LOG", self.dir.path().join("calls.log"))]
    }

    /// The exporter with this stand-in and the LLM collector and discovery off.
    fn exporter(&self, args: &[&str]) -> Running {
        let library = self.library.to_str().unwrap();
        let mut all = vec!["--nvml.library", library, "--no-collector.llm", "--no-discovery"];
        all.extend_from_slice(args);
        Running::start(&all, &self.env())
    }
}

/// The exporter binary on a loopback port it picked, with its PID (for its thread count).
struct Running {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(args: &[&str], env: &[(&str, PathBuf)]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_llm-exporter"))
            .args(["--web.listen-address", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start llm-exporter");
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1).and_then(|r| r.split(',').next()) {
                    let _ = tx.send(addr.to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("exporter did not start: {:?}", log.lock().unwrap());
        };
        Running { child, addr: addr.parse().unwrap(), log }
    }

    async fn scrape(&self) -> String {
        let response = client().get(format!("http://{}/metrics", self.addr)).send().await.expect("scrape");
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    fn threads(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
    }

    /// The log lines (timestamps left out) that say the NVML collector failed.
    fn about_nvml_failing(&self) -> Vec<String> {
        let lines = self.log.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains("collector nvml failed"))
            .map(|l| l.split_once(' ').map_or(l.as_str(), |(_, rest)| rest).to_string())
            .collect()
    }

    /// Log lines written by the NVML collector itself.
    fn nvml_log(&self) -> Vec<String> {
        let lines = self.log.lock().unwrap();
        lines.iter().filter(|l| l.contains("source=llm_exporter::collectors::nvml ")).cloned().collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `llm_gpu_*` families of a body, HELP and TYPE lines included.
fn gpu_families(body: &str) -> String {
    let gpu =
        |l: &str| l.starts_with("llm_gpu_") || l.starts_with("# HELP llm_gpu_") || l.starts_with("# TYPE llm_gpu_");
    body.lines().filter(|l| gpu(l)).map(|l| format!("{l}\n")).collect()
}

/// Compares with `tests/nvml-standin/NAME.expected`, or rewrites it under `UPDATE_GOLDEN=1`.
fn assert_expected(name: &str, got: &str) {
    let path = standin::dir().join(format!("{name}.expected"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if want != got {
        let missing: Vec<&str> = want.lines().filter(|l| !got.lines().any(|g| g == *l)).collect();
        let extra: Vec<&str> = got.lines().filter(|l| !want.lines().any(|w| w == *l)).collect();
        panic!("{name}: output differs from {}\nmissing: {missing:#?}\nextra: {extra:#?}", path.display());
    }
}

fn nvml_success(body: &str) -> f64 {
    value(body, "llm_exporter_collector_success", &[("collector", "nvml")])
}

async fn exactly_the_expected_series(fixture: &str, expected: &str) {
    let standin = Standin::new(fixture, &[], &[]);
    let exporter = standin.exporter(&["--no-collector.process"]);
    let first = exporter.scrape().await;
    assert_eq!(nvml_success(&first), 1.0, "{:?}", exporter.log.lock().unwrap());
    assert_expected(expected, &gpu_families(&first));
    let second = exporter.scrape().await;
    assert_eq!(gpu_families(&second), gpu_families(&first), "a second scrape of the same GPUs differs");
    assert!(exporter.nvml_log().iter().all(|l| l.contains("level=info")), "{:?}", exporter.nvml_log());
}

#[tokio::test]
async fn zero_gpus_give_no_gpu_series() {
    exactly_the_expected_series("zero-gpus.json", "zero-gpus").await;
}

#[tokio::test]
async fn one_gpu_gives_exactly_the_expected_series() {
    exactly_the_expected_series("one-gpu.json", "one-gpu").await;
}

#[tokio::test]
async fn eight_gpus_give_exactly_the_expected_series() {
    exactly_the_expected_series("eight-gpus.json", "eight-gpus").await;
}

#[tokio::test]
async fn nvml_is_initialised_once_and_static_facts_are_read_once() {
    let standin = Standin::new("one-gpu.json", &[], &[]);
    let exporter = standin.exporter(&["--no-collector.process"]);
    for _ in 0..3 {
        assert_eq!(nvml_success(&exporter.scrape().await), 1.0);
    }
    assert_eq!(standin.count("nvmlInit_v2"), 1);
    assert_eq!(standin.count("nvmlSystemGetDriverVersion"), 1);
    for fact in ["uuid 0", "name 0", "pci_bus_id 0"] {
        assert_eq!(standin.count(fact), 1, "{fact}");
    }
    assert_eq!(standin.count("max_clocks 0"), 3, "three clock domains, once");
    for dynamic in ["temperature 0", "power_mw 0", "pstate 0"] {
        assert_eq!(standin.count(dynamic), 3, "{dynamic}");
    }
    assert_eq!(standin.count("nvmlShutdown"), 0);
}

#[tokio::test]
async fn not_supported_answers_leave_their_series_out_without_an_error() {
    let standin = Standin::new("not-supported.json", &[], &[]);
    let exporter = standin.exporter(&["--no-collector.process"]);
    let body = exporter.scrape().await;
    assert_eq!(nvml_success(&body), 1.0);
    assert_expected("not-supported", &gpu_families(&body));
    let gpu0 = [("gpu", "0")];
    assert_eq!(value(&body, "llm_gpu_fan_speed_ratio", &[("gpu", "0"), ("fan", "0")]), 0.62);
    assert!(values(&body, "llm_gpu_fan_speed_ratio", &[("gpu", "0"), ("fan", "1")]).is_empty());
    assert!(values(&body, "llm_gpu_clock_max_hertz", &[("gpu", "0"), ("clock", "memory")]).is_empty());
    assert_eq!(values(&body, "llm_gpu_clock_max_hertz", &gpu0).len(), 2);
    assert_eq!(values(&body, "llm_gpu_pcie_bytes_total", &gpu0), [4096.0]);
    for absent in [
        "llm_gpu_energy_joules_total",
        "llm_gpu_throttled",
        "llm_gpu_ecc_errors_total",
        "llm_gpu_decoder_utilization_ratio",
    ] {
        assert!(values(&body, absent, &gpu0).is_empty(), "{absent}");
    }
    // GPU 1 answers little more than who it is.
    let gpu1: Vec<&str> = body.lines().filter(|l| l.contains("{gpu=\"1\"")).collect();
    assert_eq!(gpu1.len(), 3, "{gpu1:#?}");
    assert!(exporter.nvml_log().iter().all(|l| !l.contains("level=warn")), "{:?}", exporter.nvml_log());
}

#[tokio::test]
async fn an_error_on_one_gpu_leaves_the_others_intact() {
    let standin = Standin::new("errors.json", &[], &[]);
    let exporter = standin.exporter(&["--no-collector.process"]);
    let body = exporter.scrape().await;
    assert_eq!(nvml_success(&body), 1.0);
    assert_expected("errors", &gpu_families(&body));
    // GPU 0 is whole; GPU 1 lacks only the series whose calls failed.
    let whole = gpu_families(&body).lines().filter(|l| l.contains("{gpu=\"0\"")).count();
    assert_eq!(whole, 1 + 7 + 3 + 3 + 1, "info, 7 plain, clocks, max clocks, P-state");
    for (name, extra) in [
        ("llm_gpu_temperature_celsius", None),
        ("llm_gpu_power_watts", None),
        ("llm_gpu_clock_hertz", Some(("clock", "sm"))),
    ] {
        let mut want = vec![("gpu", "1")];
        want.extend(extra);
        assert!(values(&body, name, &want).is_empty(), "{name}");
        want[0] = ("gpu", "0");
        assert_eq!(values(&body, name, &want).len(), 1, "{name}");
    }
    assert_eq!(value(&body, "llm_gpu_clock_hertz", &[("gpu", "1"), ("clock", "memory")]), 1593e6);
    // GPU 2 lost its handle and GPU 3 its UUID: left out of this scrape, not the others.
    assert!(!body.contains("gpu=\"2\"") && !body.contains("gpu=\"3\""));
    let second = exporter.scrape().await;
    assert_eq!(gpu_families(&second), gpu_families(&body));
    // Five failed calls a scrape (three on GPU 1, GPU 2's handle, GPU 3's UUID), counted.
    assert_eq!(value(&body, "llm_exporter_scrape_errors_total", &[("collector", "nvml")]), 5.0);
    assert_eq!(value(&second, "llm_exporter_scrape_errors_total", &[("collector", "nvml")]), 10.0);
    // Each failing call is logged once, however many scrapes it fails in.
    let log = exporter.nvml_log();
    for call in [
        "GPU 1: nvmlDeviceGetTemperature failed",
        "GPU 1: nvmlDeviceGetPowerUsage failed",
        "GPU 1: nvmlDeviceGetClockInfo failed",
        "GPU 2: nvmlDeviceGetHandleByIndex_v2 failed",
        "GPU 3: nvmlDeviceGetUUID failed",
    ] {
        assert_eq!(log.iter().filter(|l| l.contains(call)).count(), 1, "{call} in {log:#?}");
    }
    assert!(log.iter().all(|l| !l.contains("GPU 0")), "{log:#?}");
}

#[tokio::test]
async fn a_hung_call_fails_the_scrape_in_time_and_later_scrapes_add_no_threads() {
    let standin = Standin::new("hang.json", &[], &[]);
    let exporter = standin.exporter(&["--no-collector.process", "--scrape.timeout", "1s"]);
    let start = Instant::now();
    let body = exporter.scrape().await;
    let took = start.elapsed();
    // The bound: within --scrape.timeout (with generous slack for a loaded machine).
    assert!(took < Duration::from_secs(3), "the hung scrape took {took:?}");
    assert_eq!(nvml_success(&body), 0.0);
    assert_eq!(values(&body, "llm_exporter_build_info", &[]).len(), 1, "other series are served");
    let threads = exporter.threads();
    for _ in 0..20 {
        let body = exporter.scrape().await;
        assert_eq!(nvml_success(&body), 0.0);
    }
    let after = exporter.threads();
    assert!(after <= threads, "threads grew from {threads} to {after}");
    // Logged when it hung and when it first reported busy; not once per scrape.
    let about = exporter.about_nvml_failing();
    assert_eq!(about.len(), 2, "{about:#?}");
    assert!(about[0].contains("an NVML call did not return"), "{about:#?}");
    assert!(about[1].contains("busy: an earlier NVML call has not returned yet"), "{about:#?}");
    // A stop is not held up by the stuck call.
    let pid = exporter.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let mut exporter = exporter;
    let mut exited = false;
    for _ in 0..100 {
        if exporter.child.try_wait().unwrap().is_some() {
            exited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(exited, "the exporter did not exit within 10 s of SIGTERM");
}

/// The exporter without NVML: the collector fails, everything else is served, one log line.
async fn unavailable(args: &[&str], reason: &str) {
    let mut all = vec!["--no-collector.llm", "--no-discovery"];
    all.extend_from_slice(args);
    let exporter = Running::start(&all, &[]);
    for _ in 0..3 {
        let body = exporter.scrape().await;
        assert_eq!(nvml_success(&body), 0.0);
        assert_eq!(value(&body, "llm_exporter_collector_success", &[("collector", "process")]), 1.0);
        assert_eq!(values(&body, "llm_exporter_build_info", &[]).len(), 1);
        assert!(body.lines().any(|l| l.starts_with("process_resident_memory_bytes ")));
        assert!(!body.contains("llm_gpu_"));
    }
    let about = exporter.about_nvml_failing();
    assert_eq!(about.len(), 1, "{about:#?}");
    assert!(about[0].contains("level=warn") && about[0].contains("NVML is unavailable"), "{about:#?}");
    assert!(about[0].contains(reason), "{about:#?}");
}

#[tokio::test]
async fn no_library_at_all_is_reported_once_and_costs_only_gpu_series() {
    // SAFETY: dlopen and dlclose with a valid C string; the handle is closed at once.
    let handle = unsafe { libc::dlopen(c"libnvidia-ml.so.1".as_ptr(), libc::RTLD_LAZY) };
    if !handle.is_null() {
        unsafe { libc::dlclose(handle) };
        eprintln!("skipped: this machine has a libnvidia-ml.so.1");
        return;
    }
    unavailable(&["--collector.nvml"], "libnvidia-ml.so.1").await;
}

#[tokio::test]
async fn a_wrong_library_path_is_reported_once_and_costs_only_gpu_series() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-libnvidia-ml.so");
    unavailable(&["--nvml.library", missing.to_str().unwrap()], "no-such-libnvidia-ml.so").await;
}

#[tokio::test]
async fn a_file_that_is_no_library_is_reported_once() {
    let not_a_library = standin::dir().join("one-gpu.json");
    unavailable(&["--nvml.library", not_a_library.to_str().unwrap()], "cannot load the NVML library").await;
}

#[tokio::test]
async fn a_missing_symbol_costs_only_its_series() {
    let hidden = ["nvmlDeviceGetPowerUsage", "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetProcessUtilization"];
    let standin = Standin::new("one-gpu.json", &hidden, &[]);
    let exporter = standin.exporter(&[]);
    for _ in 0..2 {
        assert_eq!(nvml_success(&exporter.scrape().await), 1.0);
    }
    let lost = ["llm_gpu_power_watts", "llm_gpu_memory_used_bytes", "llm_gpu_memory_total_bytes"];
    let want: String = std::fs::read_to_string(standin::dir().join("one-gpu.expected"))
        .unwrap()
        .lines()
        .filter(|l| !lost.iter().any(|name| l.split([' ', '{']).any(|w| w == *name)))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(gpu_families(&exporter.scrape().await), want);
    let log = exporter.nvml_log();
    for symbol in hidden {
        let lines: Vec<&String> = log.iter().filter(|l| l.contains(&format!("lacks {symbol}"))).collect();
        assert_eq!(lines.len(), 1, "{symbol} in {log:#?}");
    }
    assert!(log.iter().all(|l| !l.contains("failed")), "{log:#?}");
}

#[tokio::test]
async fn a_driver_loaded_later_is_picked_up() {
    let standin = Standin::new("driver-not-loaded.json", &[], &[]);
    let exporter = standin.exporter(&["--no-collector.process"]);
    assert_eq!(nvml_success(&exporter.scrape().await), 0.0);
    standin.configure("one-gpu.json", &[]);
    // The retry comes after a backoff of 1 s; poll for it rather than time it.
    let mut body = String::new();
    for _ in 0..120 {
        body = exporter.scrape().await;
        if nvml_success(&body) == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(nvml_success(&body), 1.0, "{:#?}", exporter.log.lock().unwrap());
    assert_eq!(gpu_families(&body), std::fs::read_to_string(standin::dir().join("one-gpu.expected")).unwrap());
    let about = exporter.about_nvml_failing();
    assert_eq!(about.len(), 1, "{about:#?}");
    assert!(about[0].contains("NVML is unavailable") && about[0].contains("DRIVER_NOT_LOADED"), "{about:#?}");
    let log = exporter.nvml_log();
    assert_eq!(log.iter().filter(|l| l.contains("NVML loaded")).count(), 1, "{log:#?}");
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a copy of `sleep` under the name `name` in `dir`, so its comm is `name`.
fn sleeper(dir: &Path, name: &str) -> Process {
    let sleep = ["/bin/sleep", "/usr/bin/sleep"].into_iter().find(|p| Path::new(p).exists()).expect("sleep");
    let program = dir.join(name);
    std::fs::copy(sleep, &program).unwrap();
    Process(Command::new(&program).arg("300").stdin(Stdio::null()).spawn().unwrap())
}

#[tokio::test]
async fn gpu_memory_of_a_discovered_server_carries_its_server_label() {
    let programs = tempfile::tempdir().unwrap();
    let server = sleeper(programs.path(), "llama-server");
    let other = sleeper(programs.path(), "sleep");
    let (server_pid, other_pid) = (server.0.id().to_string(), other.0.id().to_string());
    let replace = [("\"$SERVER_PID\"", server_pid.clone()), ("\"$OTHER_PID\"", other_pid.clone())];
    let standin = Standin::new("gpu-users.json", &[], &replace);
    let exporter = standin.exporter(&[]);
    // It listens on no port, so its server label is its process name alone.
    let who = [("server", "llama-server"), ("process", "llama-server"), ("pid", server_pid.as_str())];
    let on = |gpu| [who[0], who[1], who[2], ("gpu", gpu)];
    let mut lasts = Vec::new();
    for _ in 0..2 {
        let body = exporter.scrape().await;
        assert_eq!(value(&body, "llm_process_info", &[who[0], who[2], ("workload", "llm_inference")]), 1.0);
        assert_eq!(value(&body, "llm_process_gpu_memory_bytes", &on("0")), 21474836480.0);
        // Listed as compute and as graphics with the same memory: counted once.
        assert_eq!(value(&body, "llm_process_gpu_memory_bytes", &on("1")), 1073741824.0);
        assert_eq!(value(&body, "llm_process_gpu_utilization_ratio", &on("0")), 0.64);
        assert!(values(&body, "llm_process_gpu_utilization_ratio", &on("1")).is_empty());
        // A GPU user that serves no model: no server label, its memory unknown to NVML.
        let other = [("server", ""), ("process", "sleep"), ("pid", other_pid.as_str())];
        assert_eq!(value(&body, "llm_process_info", &[other[0], other[1], other[2], ("workload", "gpu_compute")]), 1.0);
        assert!(values(&body, "llm_process_gpu_memory_bytes", &[("pid", other_pid.as_str())]).is_empty());
        assert_eq!(value(&body, "llm_exporter_collector_success", &[("collector", "nvml")]), 1.0);
        lasts = standin.calls().into_iter().filter(|l| l.starts_with("lastSeen 0 ")).collect();
    }
    // Utilization is asked for since the previous read: from 0 the first time, then from the
    // one timestamp kept (each read makes two calls, one for the count).
    assert_eq!(lasts.len(), 4, "{lasts:?}");
    assert_eq!(lasts[0], "lastSeen 0 0");
    let since: u64 = lasts[2].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(since > 1_600_000_000_000_000, "a microsecond timestamp: {since}");
}
