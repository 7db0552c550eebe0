//! The measuring proxies: `--proxy LISTEN=UPSTREAM` (repeatable; `LLM_EXPORTER_PROXY`, comma
//! separated) and the config file's `[[proxy]]` tables (`listen`, `upstream`, `server`,
//! `backend`, `max_connections`, `response_timeout`). Each proxy's upstream is also scraped, under the name of the
//! configured server at the same URL, else the proxy's `server` (default: `HOST:PORT` of the
//! upstream), so the proxy's series join the server's own.
use serde::Deserialize;
use toml::Spanned;

use super::values::{
    check_listen_address, check_server_name, default_server_name, parse_duration, parse_target_url, Backend,
};
use super::{ConfigError, Origin, ServerConfig};

/// Client connections one proxy keeps open at most, by default.
pub const DEFAULT_PROXY_MAX_CONNECTIONS: usize = 4096;
/// Time the upstream has to send a response head. Long: a non-streamed answer's head comes
/// only when the whole answer is generated, and a first request may wait for a model to load
/// (minutes for a large one from a slow disk).
pub const DEFAULT_PROXY_RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// One measuring proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// `HOST:PORT` to listen on (loopback unless a host was given).
    pub listen: String,
    pub upstream: reqwest::Url,
    /// The `server` label: the upstream's name as a scrape target.
    pub server: String,
    pub backend: Backend,
    pub max_connections: usize,
    /// Time the upstream has to send a response head; then the client gets a 504.
    pub response_timeout: std::time::Duration,
    /// Where it was set, for errors found when it is matched with the servers.
    pub origin: Origin,
    /// `server` was given (not derived from the upstream).
    pub named: bool,
}

/// `--proxy LISTEN=UPSTREAM`.
pub fn parse_proxy_flag(s: &str, origin: Origin) -> Result<ProxyConfig, String> {
    let (listen, upstream) =
        s.split_once('=').ok_or_else(|| format!("'{s}' is not LISTEN=UPSTREAM (e.g. 11434=http://127.0.0.1:11435)"))?;
    let upstream = parse_upstream(upstream)?;
    Ok(ProxyConfig {
        listen: parse_proxy_listen(listen)?,
        server: default_server_name(&upstream),
        upstream,
        backend: Backend::Auto,
        max_connections: DEFAULT_PROXY_MAX_CONNECTIONS,
        response_timeout: DEFAULT_PROXY_RESPONSE_TIMEOUT,
        origin,
        named: false,
    })
}

/// `PORT` and `:PORT` listen on loopback; `HOST:PORT` where told (`0.0.0.0:PORT` for all).
pub fn parse_proxy_listen(s: &str) -> Result<String, String> {
    let s = s.trim();
    let listen = match s.strip_prefix(':').unwrap_or(s).parse::<u16>() {
        Ok(port) => format!("127.0.0.1:{port}"),
        Err(_) => s.to_string(),
    };
    check_listen_address(&listen).map_err(|_| format!("'{s}' is not PORT or HOST:PORT"))?;
    Ok(listen)
}

fn parse_upstream(s: &str) -> Result<reqwest::Url, String> {
    let url = parse_target_url(s.trim())?;
    if url.scheme() != "http" {
        return Err(format!("'{s}': the proxy speaks plain http to its upstream"));
    }
    Ok(url)
}

/// A `[[proxy]]` table of the config file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProxyTable {
    listen: Spanned<String>,
    upstream: Spanned<String>,
    server: Option<Spanned<String>>,
    backend: Option<Spanned<String>>,
    max_connections: Option<Spanned<i64>>,
    response_timeout: Option<Spanned<String>>,
}

/// Checks the `[[proxy]]` tables; `err` turns a span, key and reason into the file's error.
pub(super) fn from_tables(
    tables: Vec<ProxyTable>,
    err: &dyn Fn(std::ops::Range<usize>, &str, String) -> ConfigError,
    line_origin: &dyn Fn(usize) -> Origin,
) -> Result<Vec<ProxyConfig>, ConfigError> {
    let mut proxies = Vec::with_capacity(tables.len());
    for t in tables {
        let listen = parse_proxy_listen(t.listen.get_ref()).map_err(|why| err(t.listen.span(), "proxy.listen", why))?;
        let upstream =
            parse_upstream(t.upstream.get_ref()).map_err(|why| err(t.upstream.span(), "proxy.upstream", why))?;
        let mut proxy = parse_proxy_flag(&format!("{listen}={upstream}"), line_origin(t.listen.span().start))
            .map_err(|why| err(t.listen.span(), "proxy", why))?;
        if let Some(name) = &t.server {
            check_server_name(name.get_ref()).map_err(|why| err(name.span(), "proxy.server", why))?;
            proxy.server = name.get_ref().clone();
            proxy.named = true;
        }
        if let Some(backend) = &t.backend {
            proxy.backend =
                Backend::parse(backend.get_ref()).map_err(|why| err(backend.span(), "proxy.backend", why))?;
        }
        if let Some(max) = &t.max_connections {
            let n = usize::try_from(*max.get_ref()).ok().filter(|n| (1..=1_000_000).contains(n));
            proxy.max_connections = n.ok_or_else(|| {
                err(max.span(), "proxy.max_connections", format!("{} is not between 1 and 1000000", max.get_ref()))
            })?;
        }
        if let Some(timeout) = &t.response_timeout {
            proxy.response_timeout =
                parse_duration(timeout.get_ref()).map_err(|why| err(timeout.span(), "proxy.response_timeout", why))?;
        }
        proxies.push(proxy);
    }
    Ok(proxies)
}

/// Gives each proxy the name of the server configured at its upstream's URL, or adds its
/// upstream to the servers; two proxies on one address, or a name that another URL already
/// has, are errors.
pub(super) fn link(proxies: &mut [ProxyConfig], servers: &mut Vec<ServerConfig>) -> Result<(), ConfigError> {
    let same =
        |a: &reqwest::Url, b: &reqwest::Url| a.as_str().trim_end_matches('/') == b.as_str().trim_end_matches('/');
    for i in 0..proxies.len() {
        let (earlier, rest) = proxies.split_at_mut(i);
        let proxy = &mut rest[0];
        let fail = |key: &str, why: String| ConfigError { origin: proxy.origin.clone(), key: key.into(), why };
        if earlier.iter().any(|p| p.listen == proxy.listen) {
            return Err(fail("proxy.listen", format!("two proxies listen on {}", proxy.listen)));
        }
        if let Some(server) = servers.iter().find(|s| same(&s.url, &proxy.upstream)) {
            if proxy.named && server.name != proxy.server {
                let why = format!("the server at {} is named '{}' already", proxy.upstream, server.name);
                return Err(fail("proxy.server", why));
            }
            proxy.server = server.name.clone();
            if proxy.backend == Backend::Auto {
                proxy.backend = server.backend;
            }
        } else if servers.iter().any(|s| s.name == proxy.server) {
            let why = format!("server name '{}' is configured at another URL", proxy.server);
            return Err(fail("proxy.server", why));
        } else {
            servers.push(ServerConfig {
                name: proxy.server.clone(),
                url: proxy.upstream.clone(),
                backend: proxy.backend,
                api_key: None,
                timeout: None,
                kv_cache_tokens: None,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::{load, Command, Config};

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let lookup = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        match load(&args, &lookup).map_err(|e| e.to_string())? {
            Command::Run(config) => Ok(*config),
            other => panic!("{other:?}"),
        }
    }

    fn with_file(text: &str) -> Result<Config, String> {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let path = f.path().to_str().unwrap().to_string();
        run(&["--config.file", &path], &[]).map_err(|e| e.replace(&path, "FILE"))
    }

    #[test]
    fn a_flag_adds_a_loopback_proxy_and_scrapes_its_upstream() {
        let c = run(&["--proxy", "11434=http://127.0.0.1:11435"], &[]).unwrap();
        assert_eq!(c.proxies.len(), 1);
        assert_eq!(c.proxies[0].listen, "127.0.0.1:11434");
        assert_eq!(c.proxies[0].server, "127.0.0.1:11435");
        assert_eq!(c.servers.len(), 1);
        assert_eq!(c.servers[0].name, "127.0.0.1:11435");
        let c = run(&[], &[("LLM_EXPORTER_PROXY", ":8080=http://127.0.0.1:8081, 0.0.0.0:9000=http://h:9001")]).unwrap();
        let listens: Vec<&str> = c.proxies.iter().map(|p| p.listen.as_str()).collect();
        assert_eq!(listens, ["127.0.0.1:8080", "0.0.0.0:9000"]);
    }

    #[test]
    fn a_proxy_takes_the_name_of_the_server_at_its_upstream() {
        let c = run(&["--server", "ollama=http://127.0.0.1:11435/", "--proxy", "11434=http://127.0.0.1:11435"], &[])
            .unwrap();
        assert_eq!(c.proxies[0].server, "ollama");
        assert_eq!(c.servers.len(), 1);
        let c = with_file(
            "[[server]]\nname = \"o\"\nurl = \"http://127.0.0.1:11435\"\nbackend = \"ollama\"\n\n\
             [[proxy]]\nlisten = \"11434\"\nupstream = \"http://127.0.0.1:11435\"\n",
        )
        .unwrap();
        assert_eq!((c.proxies[0].server.as_str(), c.proxies[0].backend.as_str()), ("o", "ollama"));
        let c =
            with_file("[[proxy]]\nlisten = \"1\"\nupstream = \"http://h:2\"\nserver = \"s\"\nmax_connections = 8\n")
                .unwrap();
        assert_eq!((c.servers[0].name.as_str(), c.proxies[0].max_connections), ("s", 8));
        assert_eq!(c.proxies[0].response_timeout, super::DEFAULT_PROXY_RESPONSE_TIMEOUT);
        let c =
            with_file("[[proxy]]\nlisten = \"1\"\nupstream = \"http://h:2\"\nresponse_timeout = \"90s\"\n").unwrap();
        assert_eq!(c.proxies[0].response_timeout, std::time::Duration::from_secs(90));
    }

    #[test]
    fn bad_proxies_name_where_and_why() {
        let flag = |v: &str| run(&["--proxy", v], &[]).unwrap_err();
        assert_eq!(
            flag("11434"),
            "flag --proxy: key 'proxy': '11434' is not LISTEN=UPSTREAM (e.g. 11434=http://127.0.0.1:11435)"
        );
        assert_eq!(flag("x=http://h:1"), "flag --proxy: key 'proxy': 'x' is not PORT or HOST:PORT");
        assert!(flag("1=https://h:1").contains("plain http"));
        let twice = run(&["--proxy", "1=http://a:1", "--proxy", "1=http://b:1"], &[]).unwrap_err();
        assert_eq!(twice, "flag --proxy: key 'proxy.listen': two proxies listen on 127.0.0.1:1");
        let twice = run(&[], &[("LLM_EXPORTER_PROXY", "1=http://a:1,1=http://b:1")]).unwrap_err();
        assert_eq!(twice, "environment LLM_EXPORTER_PROXY: key 'proxy.listen': two proxies listen on 127.0.0.1:1");
        let file = |t: &str| with_file(t).unwrap_err();
        assert_eq!(
            file("[[proxy]]\nlisten = \"1\"\nupstream = \"ftp://h\"\n"),
            "FILE:3: key 'proxy.upstream': URL scheme 'ftp' is not http or https"
        );
        assert_eq!(
            file("[[proxy]]\nlisten = \"1\"\nupstream = \"http://h:1\"\nbackend = \"x\"\n")
                .split(" (known")
                .next()
                .unwrap(),
            "FILE:4: key 'proxy.backend': unknown backend 'x'"
        );
        assert_eq!(
            file("[[proxy]]\nlisten = \"1\"\nupstream = \"http://h:1\"\nresponse_timeout = \"0s\"\n"),
            "FILE:4: key 'proxy.response_timeout': '0s' must be more than 0 and at most 24h"
        );
        assert!(file("[[proxy]]\nlisten = \"1\"\nupstream = \"http://h:1\"\nlisen = 2\n")
            .starts_with("FILE:4: key 'proxy.lisen'"));
        assert_eq!(
            file("[[server]]\nname = \"a\"\nurl = \"http://h:1\"\n[[proxy]]\nlisten = \"1\"\nupstream = \"http://h:1\"\nserver = \"b\"\n"),
            "FILE:5: key 'proxy.server': the server at http://h:1/ is named 'a' already"
        );
    }
}
