//! The TOML config file. Every value keeps its span, so an error names `FILE:LINE` and the key.
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::values::*;
use super::{ConfigError, Layer, Origin, ProcessMatch, ServerConfig, Workload};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    web: Option<Web>,
    scrape: Option<Scrape>,
    log: Option<Log>,
    collector: Option<Collector>,
    discovery: Option<Discovery>,
    path: Option<Paths>,
    nvml: Option<Nvml>,
    #[serde(default)]
    server: Vec<Server>,
    process: Option<Process>,
    #[serde(default)]
    proxy: Vec<super::proxy::ProxyTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Process {
    #[serde(default, rename = "match")]
    matches: Vec<Match>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Match {
    name: Spanned<String>,
    comm: Option<Spanned<String>>,
    exe_regex: Option<Spanned<String>>,
    cmdline_regex: Option<Spanned<String>>,
    backend: Option<Spanned<String>>,
    workload: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Web {
    listen_address: Option<Spanned<Vec<String>>>,
    telemetry_path: Option<Spanned<String>>,
    config_file: Option<String>,
    read_header_timeout: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    max_connections: Option<Spanned<i64>>,
    console: Option<bool>,
    console_min_interval: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scrape {
    timeout: Option<Spanned<String>>,
    max_body_size: Option<Spanned<Size>>,
    max_series_per_target: Option<Spanned<i64>>,
}

/// A byte size written as a string with a unit (`"16MiB"`) or as a plain integer of bytes.
#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(i64),
    Text(String),
}

impl Size {
    fn text(&self) -> String {
        match self {
            Size::Bytes(n) => n.to_string(),
            Size::Text(s) => s.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Log {
    level: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Collector {
    llm: Option<bool>,
    nvml: Option<bool>,
    process: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Discovery {
    enabled: Option<bool>,
    namespaces: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Paths {
    procfs: Option<String>,
    rootfs: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Nvml {
    library: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Server {
    name: Spanned<String>,
    url: Spanned<String>,
    backend: Option<Spanned<String>>,
    api_key_file: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    kv_cache_tokens: Option<Spanned<i64>>,
}

/// Parses and validates a config file into a settings layer.
pub(super) fn parse(path: &Path, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
    let err = |span: Range<usize>, key: &str, why: String| ConfigError {
        origin: Origin::File { path: path.to_path_buf(), line: line_of(text, span.start) },
        key: key.to_string(),
        why,
    };
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let key = key_of_error(text, span.start, e.message());
        err(span, &key, e.message().trim().to_string())
    })?;
    // Checks one optional spanned value with a parser, keeping the span for the error.
    macro_rules! check {
        ($value:expr, $key:literal, $parse:expr) => {
            match $value {
                Some(v) => Some($parse(v.get_ref().as_str()).map_err(|why| err(v.span(), $key, why))?),
                None => None,
            }
        };
    }

    let mut layer = Layer::default();
    if let Some(web) = file.web {
        if let Some(list) = web.listen_address {
            for (i, addr) in list.get_ref().iter().enumerate() {
                check_listen_address(addr)
                    .and_then(|_| check_listen_address_once(&list.get_ref()[..i], addr))
                    .map_err(|why| err(list.span(), "web.listen_address", why))?;
            }
            layer.listen_addresses = Some(list.into_inner());
        }
        layer.telemetry_path = check!(web.telemetry_path, "web.telemetry_path", |s: &str| {
            check_telemetry_path(s).map(|_| s.to_string())
        });
        // Relative to the config file, like api_key_file.
        layer.web_config_file = web.config_file.map(|f| path.parent().unwrap_or(Path::new(".")).join(f));
        layer.read_header_timeout = check!(web.read_header_timeout, "web.read_header_timeout", parse_duration);
        layer.idle_timeout = check!(web.idle_timeout, "web.idle_timeout", parse_duration);
        if let Some(max) = web.max_connections {
            let n = parse_max_connections(&max.get_ref().to_string())
                .map_err(|why| err(max.span(), "web.max_connections", why))?;
            layer.max_connections = Some(n);
        }
        layer.web_console = web.console;
        layer.web_console_min_interval = check!(web.console_min_interval, "web.console_min_interval", parse_duration);
    }
    if let Some(scrape) = file.scrape {
        layer.scrape_timeout = check!(scrape.timeout, "scrape.timeout", parse_duration);
        if let Some(size) = scrape.max_body_size {
            let bytes =
                parse_bytes(&size.get_ref().text()).map_err(|why| err(size.span(), "scrape.max_body_size", why))?;
            layer.max_body_bytes = Some(bytes);
        }
        if let Some(max) = scrape.max_series_per_target {
            let n = *max.get_ref();
            let n = usize::try_from(n).ok().filter(|n| (1..=10_000_000).contains(n)).ok_or_else(|| {
                err(max.span(), "scrape.max_series_per_target", format!("{n} is not between 1 and 10000000"))
            })?;
            layer.max_series_per_target = Some(n);
        }
    }
    if let Some(log) = file.log {
        layer.log_level = check!(log.level, "log.level", parse_log_level);
        layer.log_format = check!(log.format, "log.format", parse_log_format);
    }
    if let Some(c) = file.collector {
        (layer.collector_llm, layer.collector_nvml, layer.collector_process) = (c.llm, c.nvml, c.process);
    }
    if let Some(d) = file.discovery {
        layer.discovery = d.enabled;
        layer.discovery_namespaces = d.namespaces;
    }
    if let Some(p) = file.path {
        layer.procfs = p.procfs.map(PathBuf::from);
        layer.rootfs = p.rootfs.map(PathBuf::from);
    }
    layer.nvml_library = file.nvml.and_then(|n| n.library).map(PathBuf::from);
    if !file.server.is_empty() {
        let mut servers: Vec<ServerConfig> = Vec::with_capacity(file.server.len());
        for s in file.server {
            let name = s.name.get_ref().clone();
            check_server_name(&name).map_err(|why| err(s.name.span(), "server.name", why))?;
            if servers.iter().any(|o| o.name == name) {
                return Err(err(s.name.span(), "server.name", format!("server name '{name}' is used twice")));
            }
            let url = parse_target_url(s.url.get_ref()).map_err(|why| err(s.url.span(), "server.url", why))?;
            let backend = check!(&s.backend, "server.backend", Backend::parse).unwrap_or(Backend::Auto);
            let timeout = check!(&s.timeout, "server.timeout", parse_duration);
            let key_from_file =
                check!(&s.api_key_file, "server.api_key_file", |p: &str| read_key_file(path, p, &mut layer.warnings));
            let key_from_env = check!(&s.api_key_env, "server.api_key_env", |var: &str| env(var)
                .filter(|k| !k.trim().is_empty())
                .map(|k| k.trim().to_string())
                .ok_or_else(|| format!("environment variable {var} is not set or empty")));
            if let (Some(_), Some(v)) = (&key_from_file, &s.api_key_env) {
                return Err(err(v.span(), "server.api_key_env", "set api_key_file or api_key_env, not both".into()));
            }
            let api_key = key_from_file.or(key_from_env);
            let kv_cache_tokens = match &s.kv_cache_tokens {
                Some(v) => Some(u64::try_from(*v.get_ref()).ok().filter(|n| *n > 0).ok_or_else(|| {
                    err(
                        v.span(),
                        "server.kv_cache_tokens",
                        format!("{} is not a positive number of tokens", v.get_ref()),
                    )
                })?),
                None => None,
            };
            servers.push(ServerConfig { name, url, backend, api_key, timeout, kv_cache_tokens });
        }
        layer.servers = Some(servers);
    }
    if !file.proxy.is_empty() {
        let origin = |offset: usize| Origin::File { path: path.to_path_buf(), line: line_of(text, offset) };
        layer.proxies = Some(super::proxy::from_tables(file.proxy, &err, &origin)?);
    }
    if let Some(process) = file.process {
        let mut matches: Vec<ProcessMatch> = Vec::with_capacity(process.matches.len());
        for m in process.matches {
            let name = m.name.get_ref().clone();
            check_server_name(&name).map_err(|why| err(m.name.span(), "process.match.name", why))?;
            if matches.iter().any(|o| o.name == name) {
                return Err(err(m.name.span(), "process.match.name", format!("match name '{name}' is used twice")));
            }
            if m.comm.is_none() && m.exe_regex.is_none() && m.cmdline_regex.is_none() {
                let why = "give at least one of comm, exe_regex, cmdline_regex".to_string();
                return Err(err(m.name.span(), "process.match", why));
            }
            let comm = check!(&m.comm, "process.match.comm", |c: &str| match c.len() {
                1..=15 => Ok(c.to_string()),
                _ => Err(format!("'{c}' cannot be a comm: the kernel keeps 1 to 15 bytes")),
            });
            matches.push(ProcessMatch {
                name,
                comm,
                exe: check!(&m.exe_regex, "process.match.exe_regex", parse_regex),
                cmdline: check!(&m.cmdline_regex, "process.match.cmdline_regex", parse_regex),
                backend: check!(&m.backend, "process.match.backend", Backend::parse),
                workload: check!(&m.workload, "process.match.workload", Workload::parse),
            });
        }
        layer.process_matches = Some(matches);
    }
    Ok(layer)
}

/// Reads an API key file (relative paths are relative to the config file). The key is the
/// file's content without surrounding whitespace; the content never appears in an error.
fn read_key_file(config_path: &Path, key_path: &str, warnings: &mut Vec<String>) -> Result<String, String> {
    let full = config_path.parent().unwrap_or(Path::new(".")).join(key_path);
    let text = super::read_limited(&full, 64 * 1024)?;
    let Some(key) = first_key(&text) else {
        return Err(format!("{} holds no key (a line that is neither blank nor a # comment)", full.display()));
    };
    if std::fs::metadata(&full).is_ok_and(|meta| world_readable(&meta)) {
        warnings.push(format!("API key file {} is readable by every user; chmod o-r it", full.display()));
    }
    Ok(key.to_string())
}

/// The first key of a key file in llama-server's `--api-key-file` format: one key per line,
/// lines starting with `#` are comments; blank lines are skipped too.
fn first_key(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|line| !line.is_empty() && !line.starts_with('#'))
}

#[cfg(unix)]
fn world_readable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o004 != 0
}

#[cfg(not(unix))]
fn world_readable(_: &std::fs::Metadata) -> bool {
    false
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The key a TOML or serde error is about: the field named in backticks (`unknown field
/// \`x\``, `missing field \`x\``), else the key written on the error's line, prefixed with
/// the table the line sits in.
fn key_of_error(text: &str, offset: usize, message: &str) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let named = message.split('`').nth(1).filter(|_| message.contains("field `"));
    // An unknown table is reported at its own header, which names it in full.
    if line.starts_with('[') && message.contains("unknown field `") {
        return line.trim_matches(['[', ']', ' ']).to_string();
    }
    let key = match named {
        Some(field) => field.to_string(),
        None if line.starts_with('[') => return line.trim_matches(['[', ']', ' ']).to_string(),
        None => line.split('=').next().unwrap_or("").trim().trim_matches('"').to_string(),
    };
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(['[', ']', ' ']).to_string());
    // A "missing field" error points at the table header itself.
    let table = if line.starts_with('[') { Some(line.trim_matches(['[', ']', ' ']).to_string()) } else { table };
    match table {
        Some(t) if !key.is_empty() => format!("{t}.{key}"),
        _ => key,
    }
}

#[cfg(test)]
mod key_file_tests {
    use super::first_key;

    #[test]
    fn the_first_key_of_a_llama_server_key_file() {
        assert_eq!(first_key("s3cret\n"), Some("s3cret"));
        assert_eq!(first_key("# keys for the chat server\n\n  \nk-first\r\nk-second\n#k-old\n"), Some("k-first"));
        for empty in ["", "\n\n", "# only a comment\n", "  \r\n#x\n"] {
            assert_eq!(first_key(empty), None, "{empty:?}");
        }
    }
}
