//! Command-line flags and their `LLM_EXPORTER_*` environment twins, in the style of the
//! Prometheus exporter-toolkit (`--web.listen-address`, `--[no-]collector.llm`, …).
use std::path::PathBuf;

use super::values::*;
use super::{ConfigError, Layer, Origin, ServerConfig};

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Box<super::Config>),
    Help,
    Version,
}

pub(super) enum Parsed {
    Run(Box<Layer>),
    Help,
    Version,
}

#[derive(Clone, Copy, PartialEq)]
enum Arity {
    Value,
    Repeated,
    Switch,
}

/// Every flag: name, arity, help text.
const FLAGS: &[(&str, Arity, &str)] = &[
    ("config.file", Arity::Value, "TOML config file (servers, API key files, timeouts)"),
    ("web.listen-address", Arity::Repeated, "address to listen on, HOST:PORT or :PORT; repeatable (default :10931)"),
    ("web.telemetry-path", Arity::Value, "path under which to expose metrics (default /metrics)"),
    ("web.config.file", Arity::Value, "exporter-toolkit web config (YAML): TLS, client certificates, basic auth"),
    ("web.read-header-timeout", Arity::Value, "time a client has to send a request head (default 10s)"),
    ("web.idle-timeout", Arity::Value, "time a connection may stay idle between requests (default 60s)"),
    (
        "web.max-connections",
        Arity::Value,
        "open client connections at most (default 1024, lowered to fit the open files limit)",
    ),
    ("web.console", Arity::Switch, "serve the live console at / (default on; off: a plain page with links)"),
    (
        "web.console.min-interval",
        Arity::Value,
        "a console reuses the last collection when it started less than this long ago (default 1s)",
    ),
    ("server", Arity::Repeated, "[NAME=]URL of an LLM server to scrape; repeatable"),
    (
        "proxy",
        Arity::Repeated,
        "LISTEN=UPSTREAM: a measuring proxy on LISTEN (PORT for loopback, or HOST:PORT) in front of the LLM server at UPSTREAM, which is scraped too; repeatable",
    ),
    ("collector.llm", Arity::Switch, "scrape LLM servers (default on; --no-collector.llm turns it off)"),
    ("collector.nvml", Arity::Switch, "GPU series through NVML (default on)"),
    ("collector.process", Arity::Switch, "per-process series of LLM servers and GPU users (default on)"),
    ("discovery", Arity::Switch, "find LLM servers listening on this machine's loopback (default on)"),
    (
        "discovery.namespaces",
        Arity::Switch,
        "also scrape discovered servers of other network namespaces (containers, pods) at their own addresses (default on)",
    ),
    ("path.procfs", Arity::Value, "proc filesystem to read (default /proc)"),
    (
        "path.rootfs",
        Arity::Value,
        "host root filesystem; Kubernetes pod names are read from its var/log/pods and var/log/containers (default /)",
    ),
    ("nvml.library", Arity::Value, "load NVML from this file (default: the system's libnvidia-ml.so.1)"),
    ("scrape.timeout", Arity::Value, "whole-scrape deadline (default 5s); Prometheus' own timeout header lowers it"),
    ("log.level", Arity::Value, "debug, info, warn or error (default info)"),
    ("log.format", Arity::Value, "logfmt or json (default logfmt)"),
];

/// The `--help` text.
pub fn usage() -> String {
    let mut out = String::from(
        "usage: llm-exporter [FLAGS]\n\nA Prometheus exporter for machines that serve LLMs.\n\
         Every flag can also be set as LLM_EXPORTER_<FLAG> (upper-cased, '.' and '-' as '_');\n\
         repeatable flags take a comma-separated list there. Precedence: flag > environment >\n\
         config file > default.\n\nflags:\n",
    );
    for (name, arity, help) in FLAGS {
        let shown = match arity {
            Arity::Switch => format!("--[no-]{name}"),
            _ => format!("--{name} VALUE"),
        };
        out.push_str(&format!("  {shown:<32} {help}\n"));
    }
    out.push_str("  --version                        print the version and exit\n");
    out.push_str("  -h, --help                       print this help and exit\n");
    out
}

pub(super) fn parse(args: &[String]) -> Result<Parsed, ConfigError> {
    let mut layer = Layer::default();
    // Each switch given so far and its value: one given both ways is refused, not decided by
    // its order on the command line.
    let mut switches: Vec<(&str, bool)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--version" => return Ok(Parsed::Version),
            _ => {}
        }
        let flag_error = |why: String| ConfigError {
            origin: Origin::Flag(arg.trim_start_matches('-').to_string()),
            key: arg.trim_start_matches('-').split('=').next().unwrap_or_default().to_string(),
            why,
        };
        let Some(body) = arg.strip_prefix("--") else {
            return Err(flag_error(format!("unexpected argument '{arg}' (see --help)")));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let (name, negated) = match name.strip_prefix("no-") {
            Some(n) if FLAGS.iter().any(|f| f.0 == n && f.1 == Arity::Switch) => (n, true),
            _ => (name, false),
        };
        let Some(&(name, arity, _)) = FLAGS.iter().find(|f| f.0 == name) else {
            return Err(flag_error(format!("unknown flag --{name} (see --help)")));
        };
        let value = match (arity, inline) {
            (Arity::Switch, None) => (!negated).to_string(),
            (Arity::Switch, Some(v)) if !negated => v,
            (_, Some(v)) => v,
            (_, None) if i < args.len() => {
                i += 1;
                args[i - 1].clone()
            }
            _ => return Err(flag_error("needs a value".into())),
        };
        if let (Arity::Switch, Ok(on)) = (arity, parse_bool(&value)) {
            if switches.iter().any(|&(n, before)| n == name && before != on) {
                return Err(ConfigError {
                    origin: Origin::Flag(name.to_string()),
                    key: name.to_string(),
                    why: format!("--{name} and --no-{name} are both given; give one of them"),
                });
            }
            switches.push((name, on));
        }
        set(&mut layer, name, &value).map_err(|why| ConfigError {
            origin: Origin::Flag(name.to_string()),
            key: name.to_string(),
            why,
        })?;
    }
    Ok(Parsed::Run(Box::new(layer)))
}

/// The environment layer: `LLM_EXPORTER_WEB_LISTEN_ADDRESS=:9000`, `LLM_EXPORTER_SERVER=a=URL,b=URL`.
pub(super) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
    let mut layer = Layer::default();
    for &(name, arity, _) in FLAGS {
        let var = env_var_name(name);
        let Some(value) = env(&var) else { continue };
        let values: Vec<&str> = match arity {
            Arity::Repeated => value.split(',').map(str::trim).filter(|v| !v.is_empty()).collect(),
            _ => vec![value.as_str()],
        };
        for v in values {
            set(&mut layer, name, v).map_err(|why| ConfigError {
                origin: Origin::Env(var.clone()),
                key: name.to_string(),
                why,
            })?;
        }
        // Checked again once merged with the servers: errors then name the variable.
        for proxy in layer.proxies.iter_mut().flatten().filter(|_| name == "proxy") {
            proxy.origin = Origin::Env(var.clone());
        }
    }
    Ok(layer)
}

/// A warning for each `LLM_EXPORTER_*` variable among `names` that sets nothing (a typo
/// would otherwise be ignored in silence), naming the closest real one.
pub fn unknown_env_warnings(names: impl IntoIterator<Item = String>) -> Vec<String> {
    // Set by build.rs for the compiler; `cargo run` and `cargo test` pass them on at run time.
    const BUILD_VARIABLES: [&str; 2] = ["LLM_EXPORTER_REVISION", "LLM_EXPORTER_RUSTC"];
    let known: Vec<String> = FLAGS.iter().map(|(flag, ..)| env_var_name(flag)).collect();
    let mut warnings: Vec<String> = names
        .into_iter()
        .filter(|name| name.starts_with("LLM_EXPORTER_") && !known.contains(name))
        .filter(|name| !BUILD_VARIABLES.contains(&name.as_str()))
        .map(|name| {
            let closest = known.iter().min_by_key(|k| edit_distance(k, &name)).map(String::as_str).unwrap_or("");
            format!("environment {name} is not a setting of llm-exporter and is ignored (did you mean {closest}?)")
        })
        .collect();
    warnings.sort();
    warnings
}

/// Levenshtein distance over bytes (the names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// `web.listen-address` → `LLM_EXPORTER_WEB_LISTEN_ADDRESS`.
pub fn env_var_name(flag: &str) -> String {
    let upper: String = flag.chars().map(|c| if c == '.' || c == '-' { '_' } else { c.to_ascii_uppercase() }).collect();
    format!("LLM_EXPORTER_{upper}")
}

fn set(layer: &mut Layer, name: &str, value: &str) -> Result<(), String> {
    match name {
        "config.file" => layer.config_file = Some(PathBuf::from(value)),
        "web.listen-address" => {
            check_listen_address(value)?;
            let addresses = layer.listen_addresses.get_or_insert_with(Vec::new);
            check_listen_address_once(addresses, value)?;
            addresses.push(value.to_string());
        }
        "web.telemetry-path" => {
            check_telemetry_path(value)?;
            layer.telemetry_path = Some(value.to_string());
        }
        "web.config.file" => layer.web_config_file = Some(PathBuf::from(value)),
        "web.read-header-timeout" => layer.read_header_timeout = Some(parse_duration(value)?),
        "web.idle-timeout" => layer.idle_timeout = Some(parse_duration(value)?),
        "web.max-connections" => layer.max_connections = Some(parse_max_connections(value)?),
        "web.console" => layer.web_console = Some(parse_bool(value)?),
        "web.console.min-interval" => layer.web_console_min_interval = Some(parse_duration(value)?),
        "server" => {
            let (name, url) = parse_server_flag(value)?;
            let servers = layer.servers.get_or_insert_with(Vec::new);
            if servers.iter().any(|s| s.name == name) {
                return Err(format!("server name '{name}' is used twice"));
            }
            servers.push(ServerConfig {
                name,
                url,
                backend: Backend::Auto,
                api_key: None,
                timeout: None,
                kv_cache_tokens: None,
            });
        }
        "proxy" => {
            let origin = Origin::Flag("proxy".into());
            layer.proxies.get_or_insert_with(Vec::new).push(super::proxy::parse_proxy_flag(value, origin)?);
        }
        "collector.llm" => layer.collector_llm = Some(parse_bool(value)?),
        "collector.nvml" => layer.collector_nvml = Some(parse_bool(value)?),
        "collector.process" => layer.collector_process = Some(parse_bool(value)?),
        "discovery" => layer.discovery = Some(parse_bool(value)?),
        "discovery.namespaces" => layer.discovery_namespaces = Some(parse_bool(value)?),
        "path.procfs" => layer.procfs = Some(PathBuf::from(value)),
        "path.rootfs" => layer.rootfs = Some(PathBuf::from(value)),
        "nvml.library" => layer.nvml_library = Some(PathBuf::from(value)),
        "scrape.timeout" => layer.scrape_timeout = Some(parse_duration(value)?),
        "log.level" => layer.log_level = Some(parse_log_level(value)?),
        "log.format" => layer.log_format = Some(parse_log_format(value)?),
        _ => return Err(format!("unknown setting {name}")),
    }
    Ok(())
}
