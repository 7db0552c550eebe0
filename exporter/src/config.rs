//! Settings from flags, environment and a TOML file, merged and validated into [`Config`].
//!
//! Precedence is flag > environment (`LLM_EXPORTER_` + the flag name upper-cased, `.` and `-`
//! as `_`) > config file > default. Each setting, lists included, comes whole from the highest
//! layer that sets it. Any error is one [`ConfigError`] naming where the bad value came from
//! (`FILE:LINE`, a flag, or an environment variable), the key, and why. [`web_config`] reads the
//! `--web.config.file` it names; [`Workload`] is the one type the config shares with the process
//! collector, kept here so the config needs nothing from the collectors.
mod args;
mod file;
mod proxy;
mod values;
pub mod web_config;
mod workload;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use args::{unknown_env_warnings, usage, Command};
pub use proxy::{ProxyConfig, DEFAULT_PROXY_MAX_CONNECTIONS};
pub use values::{default_server_name, parse_duration, Backend, LogFormat};
pub use workload::Workload;

/// The default body cap for every target response.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 << 20;
/// Default cap on the series one target may add to a scrape.
pub const DEFAULT_MAX_SERIES_PER_TARGET: usize = 10_000;

/// The config file cap: a real one is a few KiB; `/dev/zero` must not be read for ever.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// Default `--web.read-header-timeout`.
pub const DEFAULT_READ_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `--web.idle-timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `--web.console.min-interval`: the console updates every second, so a second
/// between collections keeps it live while ten open consoles cost one collection a second.
pub const DEFAULT_CONSOLE_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Reads a UTF-8 text file of at most `max_bytes` (a config, key or certificate file), never
/// more, whatever the file grows to while it is read.
pub(crate) fn read_limited(path: &Path, max_bytes: u64) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!("{} is larger than {} KiB", path.display(), max_bytes / 1024));
    }
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

/// The validated configuration the exporter runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen_addresses: Vec<String>,
    pub telemetry_path: String,
    pub servers: Vec<ServerConfig>,
    /// Processes the config asks to watch (`[[process.match]]`).
    pub process_matches: Vec<ProcessMatch>,
    pub collectors: Collectors,
    /// Find LLM servers listening on this machine (`--[no-]discovery`).
    pub discovery: bool,
    /// Reach discovered servers of other network namespaces at their own addresses
    /// (`--[no-]discovery.namespaces`).
    pub discovery_namespaces: bool,
    /// The proc filesystem to read (`--path.procfs`), so containers and tests can point
    /// at another tree.
    pub procfs: PathBuf,
    /// The host's root filesystem (`--path.rootfs`): pod attribution reads the kubelet's
    /// `var/log/pods` and `var/log/containers` under it.
    pub rootfs: PathBuf,
    /// Load NVML from this file instead of the system's `libnvidia-ml.so.1`.
    pub nvml_library: Option<PathBuf>,
    pub scrape_timeout: Duration,
    pub log_level: log::LevelFilter,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    /// Series beyond this many per target are dropped and counted.
    pub max_series_per_target: usize,
    /// TLS and basic auth from `--web.config.file`.
    pub web_config: Option<web_config::WebConfig>,
    /// Time a client has for a request head (`--web.read-header-timeout`).
    pub read_header_timeout: Duration,
    /// Time a connection may stay silent between requests (`--web.idle-timeout`).
    pub idle_timeout: Duration,
    /// Open client connections at most (`--web.max-connections`); `None`: derived from the
    /// open files limit at start.
    pub max_connections: Option<usize>,
    /// Serve the live console at `/` (`--[no-]web.console`); off: the plain landing page.
    pub web_console: bool,
    /// A console's request reuses the most recent collection when it started less than this
    /// long ago (`--web.console.min-interval`).
    pub web_console_min_interval: Duration,
    /// Measuring proxies (`--proxy`, `[[proxy]]`); each upstream is among `servers` too.
    pub proxies: Vec<ProxyConfig>,
    /// Warnings found while loading (a key file others may read), for the log once it is set up.
    pub warnings: Vec<String>,
}

/// Which collectors run (`--[no-]collector.NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collectors {
    pub llm: bool,
    pub nvml: bool,
    pub process: bool,
}

/// One LLM server to scrape.
#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    pub name: String,
    pub url: reqwest::Url,
    pub backend: Backend,
    /// A Bearer key, read from `api_key_file` or `api_key_env`; never printed.
    pub api_key: Option<String>,
    pub timeout: Option<Duration>,
    /// The server's whole KV cache in tokens, when it cannot be derived from `/slots`
    /// (llama-server with `--kv-unified` shares one cache of `-c` tokens among all slots).
    pub kv_cache_tokens: Option<u64>,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("backend", &self.backend)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("kv_cache_tokens", &self.kv_cache_tokens)
            .finish()
    }
}

/// A `[[process.match]]` rule: processes it matches get the process series, and, with a
/// `backend`, are LLM servers that discovery probes on their loopback ports.
#[derive(Debug, Clone)]
pub struct ProcessMatch {
    /// Names the rule; the `server` label (`NAME:PORT`) when the rule has a backend.
    pub name: String,
    /// Exact `comm` (the kernel's 15-byte process name).
    pub comm: Option<String>,
    /// Matched against the executable's path (`/proc/PID/exe`, else `argv[0]`).
    pub exe: Option<regex::Regex>,
    /// Matched against the command line, arguments joined by spaces; never exported.
    pub cmdline: Option<regex::Regex>,
    pub backend: Option<Backend>,
    /// Overrides the workload class the rules table would give.
    pub workload: Option<Workload>,
}

impl PartialEq for ProcessMatch {
    fn eq(&self, other: &Self) -> bool {
        let pattern = |r: &Option<regex::Regex>| r.as_ref().map(|r| r.as_str().to_string());
        self.name == other.name
            && self.comm == other.comm
            && pattern(&self.exe) == pattern(&other.exe)
            && pattern(&self.cmdline) == pattern(&other.cmdline)
            && self.backend == other.backend
            && self.workload == other.workload
    }
}

/// Where a bad value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File { path: PathBuf, line: usize },
    Flag(String),
    Env(String),
}

/// A configuration error: printed as one line, and the exporter exits with code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub origin: Origin,
    pub key: String,
    pub why: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match &self.origin {
            // Line 0: the file as a whole (it cannot be read).
            Origin::File { path, line: 0 } => format!("{}: ", path.display()),
            Origin::File { path, line } => format!("{}:{line}: ", path.display()),
            Origin::Flag(flag) => format!("flag --{flag}: "),
            Origin::Env(var) => format!("environment {var}: "),
        };
        // The value in error may be a URL with a password in it.
        f.write_str(&values::redact_credentials(&format!("{origin}key '{}': {}", self.key, self.why)))
    }
}

impl std::error::Error for ConfigError {}

/// One source's settings; `None` means "not set here".
#[derive(Debug, Default)]
struct Layer {
    config_file: Option<PathBuf>,
    listen_addresses: Option<Vec<String>>,
    telemetry_path: Option<String>,
    servers: Option<Vec<ServerConfig>>,
    process_matches: Option<Vec<ProcessMatch>>,
    collector_llm: Option<bool>,
    collector_nvml: Option<bool>,
    collector_process: Option<bool>,
    discovery: Option<bool>,
    discovery_namespaces: Option<bool>,
    procfs: Option<PathBuf>,
    rootfs: Option<PathBuf>,
    nvml_library: Option<PathBuf>,
    scrape_timeout: Option<Duration>,
    log_level: Option<log::LevelFilter>,
    log_format: Option<LogFormat>,
    max_body_bytes: Option<usize>,
    max_series_per_target: Option<usize>,
    web_config_file: Option<PathBuf>,
    read_header_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_connections: Option<usize>,
    web_console: Option<bool>,
    web_console_min_interval: Option<Duration>,
    proxies: Option<Vec<ProxyConfig>>,
    /// Found while loading, logged once logging is set up.
    warnings: Vec<String>,
}

impl Layer {
    /// Fills every unset field of `self` from `lower`.
    fn over(self, lower: Layer) -> Layer {
        Layer {
            config_file: self.config_file.or(lower.config_file),
            listen_addresses: self.listen_addresses.or(lower.listen_addresses),
            telemetry_path: self.telemetry_path.or(lower.telemetry_path),
            servers: self.servers.or(lower.servers),
            process_matches: self.process_matches.or(lower.process_matches),
            collector_llm: self.collector_llm.or(lower.collector_llm),
            collector_nvml: self.collector_nvml.or(lower.collector_nvml),
            collector_process: self.collector_process.or(lower.collector_process),
            discovery: self.discovery.or(lower.discovery),
            discovery_namespaces: self.discovery_namespaces.or(lower.discovery_namespaces),
            procfs: self.procfs.or(lower.procfs),
            rootfs: self.rootfs.or(lower.rootfs),
            nvml_library: self.nvml_library.or(lower.nvml_library),
            scrape_timeout: self.scrape_timeout.or(lower.scrape_timeout),
            log_level: self.log_level.or(lower.log_level),
            log_format: self.log_format.or(lower.log_format),
            max_body_bytes: self.max_body_bytes.or(lower.max_body_bytes),
            max_series_per_target: self.max_series_per_target.or(lower.max_series_per_target),
            web_config_file: self.web_config_file.or(lower.web_config_file),
            read_header_timeout: self.read_header_timeout.or(lower.read_header_timeout),
            idle_timeout: self.idle_timeout.or(lower.idle_timeout),
            max_connections: self.max_connections.or(lower.max_connections),
            web_console: self.web_console.or(lower.web_console),
            web_console_min_interval: self.web_console_min_interval.or(lower.web_console_min_interval),
            proxies: self.proxies.or(lower.proxies),
            warnings: [self.warnings, lower.warnings].concat(),
        }
    }

    fn into_config(self) -> Config {
        Config {
            listen_addresses: self.listen_addresses.unwrap_or_else(|| vec![":10931".into()]),
            telemetry_path: self.telemetry_path.unwrap_or_else(|| "/metrics".into()),
            servers: self.servers.unwrap_or_default(),
            process_matches: self.process_matches.unwrap_or_default(),
            collectors: Collectors {
                llm: self.collector_llm.unwrap_or(true),
                nvml: self.collector_nvml.unwrap_or(true),
                process: self.collector_process.unwrap_or(true),
            },
            discovery: self.discovery.unwrap_or(true),
            discovery_namespaces: self.discovery_namespaces.unwrap_or(true),
            procfs: self.procfs.unwrap_or_else(|| PathBuf::from("/proc")),
            rootfs: self.rootfs.unwrap_or_else(|| PathBuf::from("/")),
            nvml_library: self.nvml_library,
            scrape_timeout: self.scrape_timeout.unwrap_or(Duration::from_secs(5)),
            log_level: self.log_level.unwrap_or(log::LevelFilter::Info),
            log_format: self.log_format.unwrap_or(LogFormat::Logfmt),
            max_body_bytes: self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            max_series_per_target: self.max_series_per_target.unwrap_or(DEFAULT_MAX_SERIES_PER_TARGET),
            web_config: None,
            read_header_timeout: self.read_header_timeout.unwrap_or(DEFAULT_READ_HEADER_TIMEOUT),
            idle_timeout: self.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT),
            max_connections: self.max_connections,
            web_console: self.web_console.unwrap_or(true),
            web_console_min_interval: self.web_console_min_interval.unwrap_or(DEFAULT_CONSOLE_MIN_INTERVAL),
            proxies: self.proxies.unwrap_or_default(),
            warnings: self.warnings,
        }
    }
}

/// Parses the command line (without the program name) and the environment into a command.
/// `env` is a lookup so tests need not touch the process environment.
pub fn load(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Command, ConfigError> {
    let flags = match args::parse(args)? {
        args::Parsed::Run(layer) => *layer,
        args::Parsed::Help => return Ok(Command::Help),
        args::Parsed::Version => return Ok(Command::Version),
    };
    let env_layer = args::from_env(env)?;
    let merged = flags.over(env_layer);
    let merged = match merged.config_file.clone() {
        Some(path) => {
            let text = read_limited(&path, MAX_CONFIG_FILE_BYTES).map_err(|why| ConfigError {
                origin: Origin::File { path: path.clone(), line: 0 },
                key: "config.file".into(),
                why,
            })?;
            merged.over(file::parse(&path, &text, env)?)
        }
        None => merged,
    };
    let duplicate = merged.servers.as_ref().and_then(|servers| {
        servers
            .iter()
            .enumerate()
            .find_map(|(i, s)| servers[..i].iter().any(|o| o.name == s.name).then(|| s.name.clone()))
    });
    if let Some(name) = duplicate {
        return Err(ConfigError {
            origin: Origin::Flag("server".into()),
            key: "server".into(),
            why: format!("server name '{name}' is used twice"),
        });
    }
    let web_config = merged.web_config_file.as_deref().map(web_config::load).transpose()?;
    let mut config = merged.into_config();
    proxy::link(&mut config.proxies, &mut config.servers)?;
    Ok(Command::Run(Box::new(Config { web_config, ..config })))
}

#[cfg(test)]
mod echo_and_conflict_tests;
#[cfg(test)]
mod tests;
