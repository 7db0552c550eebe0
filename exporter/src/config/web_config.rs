//! `--web.config.file`: the web configuration file of the Prometheus exporter-toolkit (YAML),
//! so one file serves this exporter and node_exporter alike.
//!
//! - `tls_server_config`: the certificate and key (`cert_file`/`key_file`, or inline `cert`/
//!   `key`), `client_auth_type` with `client_ca_file` (or inline `client_ca`) for mutual TLS,
//!   `min_version`/`max_version` and `prefer_server_cipher_suites`. TLS 1.2 and 1.3 are spoken
//!   (rustls with the ring provider); `TLS10`/`TLS11` as a minimum mean TLS 1.2.
//! - `http_server_config`: `http2` (offered through ALPN when TLS is on) and the security
//!   `headers` added to every response.
//! - `basic_auth_users`: user → bcrypt hash. Successful checks are cached (see [`BasicAuth`]).
//!
//! Settings this exporter cannot honour (`client_allowed_sans`, `cipher_suites`,
//! `curve_preferences`, `rate_limit`, `RequireAnyClientCert`) stop it at start rather than
//! being ignored, since each of them is meant to narrow who gets in. Every error is one
//! [`ConfigError`], `FILE:LINE: key 'x': why`, and the exporter exits with code 2. Files are
//! read once at start; relative paths are relative to the web config file.
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::de::IgnoredAny;
use serde::Deserialize;
use warp::http::{HeaderName, HeaderValue};

use crate::config::{read_limited, ConfigError, Origin};

/// The largest file this module reads (the web config, certificates, keys).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// How many verified credentials [`BasicAuth`] remembers.
const AUTH_CACHE_ENTRIES: usize = 64;

/// How many bcrypt checks run at once; more wait, and give up after [`AUTH_QUEUE_WAIT`].
const AUTH_CONCURRENCY: usize = 2;
const AUTH_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// A loaded and validated web config.
#[derive(Clone)]
pub struct WebConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// The TLS server settings, when the listeners speak TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Users and their bcrypt hashes, when requests need basic auth.
    pub basic_auth: Option<Arc<BasicAuth>>,
    /// Headers added to every response (`http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Serve HTTP/2 over TLS when the client offers it (`http_server_config.http2`).
    pub http2: bool,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("tls", &self.tls.is_some())
            .field("basic_auth_users", &self.basic_auth.as_ref().map(|a| a.users.keys().collect::<Vec<_>>()))
            .field("headers", &self.headers)
            .field("http2", &self.http2)
            .finish()
    }
}

impl PartialEq for WebConfig {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && self.tls.is_some() == other.tls.is_some()
            && self.basic_auth.as_ref().map(|a| &a.users) == other.basic_auth.as_ref().map(|a| &a.users)
            && self.headers == other.headers
            && self.http2 == other.http2
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<ClientAuth>,
    client_ca_file: Option<String>,
    min_version: Option<TlsVersion>,
    max_version: Option<TlsVersion>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<IgnoredAny>,
    cipher_suites: Option<IgnoredAny>,
    curve_preferences: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// Go's `tls.ClientAuthType` names, as the exporter-toolkit takes them.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
enum ClientAuth {
    NoClientCert,
    /// Asks for a certificate and never looks at it: the same as `NoClientCert` here.
    RequestClientCert,
    /// Demands a certificate but does not verify it; refused, as it only looks like security.
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

/// Reads, parses and validates the web config file, including the certificate, key and CA
/// files it names.
pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
    let text = read_limited(path, MAX_FILE_BYTES).map_err(|why| ConfigError {
        origin: Origin::File { path: path.to_path_buf(), line: 0 },
        key: "web.config.file".into(),
        why,
    })?;
    parse(path, &text)
}

/// Parses and validates a web config; `path` names it in errors and anchors relative paths.
pub fn parse(path: &Path, text: &str) -> Result<WebConfig, ConfigError> {
    let err = |keys: &[&str], why: String| ConfigError {
        origin: Origin::File { path: path.to_path_buf(), line: line_of_key(text, keys) },
        key: keys.join("."),
        why,
    };
    let file: Option<FileConfig> = serde_norway::from_str(text).map_err(|e| yaml_error(path, text, &e))?;
    let Some(file) = file else {
        // An empty file: plain HTTP and no auth, as with the exporter-toolkit.
        return Ok(WebConfig {
            path: path.to_path_buf(),
            tls: None,
            basic_auth: None,
            headers: Vec::new(),
            http2: true,
        });
    };
    if file.rate_limit.is_some() {
        return Err(err(&["rate_limit"], "is not supported by llm-exporter".into()));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let http = file.http_server_config;
    let http2 = http.as_ref().and_then(|h| h.http2).unwrap_or(true);
    let mut headers = Vec::new();
    for (name, value) in http.and_then(|h| h.headers).unwrap_or_default() {
        let keys = ["http_server_config", "headers", name.as_str()];
        headers.push(check_header(&name, &value).map_err(|why| err(&keys, why))?);
    }
    let tls = match file.tls_server_config {
        Some(tls) => build_tls(tls, base, http2, &err)?.map(Arc::new),
        None => None,
    };
    let basic_auth = match file.basic_auth_users {
        Some(users) if !users.is_empty() => {
            for (user, hash) in &users {
                let keys = ["basic_auth_users", user.as_str()];
                if user.is_empty() || user.contains(':') {
                    return Err(err(&keys, "a user name must be non-empty and without ':'".into()));
                }
                check_bcrypt_hash(hash).map_err(|why| err(&keys, why))?;
            }
            let auth = BasicAuth::new(users).map_err(|why| err(&["basic_auth_users"], why))?;
            Some(Arc::new(auth))
        }
        _ => None,
    };
    Ok(WebConfig { path: path.to_path_buf(), tls, basic_auth, headers, http2 })
}

type ErrFn<'a> = dyn Fn(&[&str], String) -> ConfigError + 'a;

/// Builds the rustls server config. `None` when the section sets nothing, as the
/// exporter-toolkit then serves plain HTTP.
fn build_tls(
    tls: TlsFile,
    base: &Path,
    http2: bool,
    err: &ErrFn<'_>,
) -> Result<Option<rustls::ServerConfig>, ConfigError> {
    const SECTION: &str = "tls_server_config";
    let unsupported = |key: &str| err(&[SECTION, key], "is not supported by llm-exporter".into());
    if tls.client_allowed_sans.is_some() {
        return Err(unsupported("client_allowed_sans"));
    }
    if tls.cipher_suites.is_some() {
        return Err(unsupported("cipher_suites"));
    }
    if tls.curve_preferences.is_some() {
        return Err(unsupported("curve_preferences"));
    }
    let nothing_set = tls.cert.is_none()
        && tls.cert_file.is_none()
        && tls.key.is_none()
        && tls.key_file.is_none()
        && tls.client_ca.is_none()
        && tls.client_ca_file.is_none()
        && tls.client_auth_type.is_none();
    if nothing_set {
        return Ok(None);
    }
    let cert_pem = pem_source(tls.cert, tls.cert_file, "cert", base, err)?
        .ok_or_else(|| err(&[SECTION], "missing cert_file (or cert)".into()))?;
    let key_pem = pem_source(tls.key, tls.key_file, "key", base, err)?
        .ok_or_else(|| err(&[SECTION], "missing key_file (or key)".into()))?;
    let ca_pem = pem_source(tls.client_ca, tls.client_ca_file, "client_ca", base, err)?;

    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem.bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| err(&[SECTION, &cert_pem.key], format!("{}: not a PEM certificate: {e}", cert_pem.name)))?;
    if chain.is_empty() {
        return Err(err(&[SECTION, &cert_pem.key], format!("{}: no PEM certificate in it", cert_pem.name)));
    }
    // The key's content never appears in an error, only its name.
    let key = PrivateKeyDer::from_pem_slice(&key_pem.bytes)
        .map_err(|e| err(&[SECTION, &key_pem.key], format!("{}: no PEM private key in it ({e})", key_pem.name)))?;

    let versions: Vec<&'static rustls::SupportedProtocolVersion> = {
        let min = tls.min_version.unwrap_or(TlsVersion::TLS12);
        let max = tls.max_version.unwrap_or(TlsVersion::TLS13);
        if max < TlsVersion::TLS12 {
            return Err(err(&[SECTION, "max_version"], "llm-exporter speaks TLS 1.2 and 1.3 only".into()));
        }
        if min > max {
            return Err(err(&[SECTION, "min_version"], "is above max_version".into()));
        }
        let mut v = Vec::new();
        if min <= TlsVersion::TLS12 {
            v.push(&rustls::version::TLS12);
        }
        if max == TlsVersion::TLS13 {
            v.push(&rustls::version::TLS13);
        }
        v
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| err(&[SECTION, "min_version"], e.to_string()))?;

    let auth = tls.client_auth_type.unwrap_or(ClientAuth::NoClientCert);
    let auth_key = [SECTION, "client_auth_type"];
    let builder = match auth {
        ClientAuth::NoClientCert | ClientAuth::RequestClientCert => {
            if let Some(ca) = &ca_pem {
                let why = format!("{} is set but client_auth_type is {auth:?}, so it would not be used", ca.key);
                return Err(err(&[SECTION, &ca.key], why));
            }
            builder.with_no_client_auth()
        }
        ClientAuth::RequireAnyClientCert => {
            let why = "RequireAnyClientCert accepts any certificate without verifying it and is not supported; \
                       use RequireAndVerifyClientCert with client_ca_file";
            return Err(err(&auth_key, why.into()));
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let ca = ca_pem.ok_or_else(|| err(&auth_key, format!("{auth:?} needs client_ca_file (or client_ca)")))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&ca.bytes) {
                let cert =
                    cert.map_err(|e| err(&[SECTION, &ca.key], format!("{}: not a PEM certificate: {e}", ca.name)))?;
                roots
                    .add(cert)
                    .map_err(|e| err(&[SECTION, &ca.key], format!("{}: not a usable CA certificate: {e}", ca.name)))?;
            }
            if roots.is_empty() {
                return Err(err(&[SECTION, &ca.key], format!("{}: no PEM certificate in it", ca.name)));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier =
                if auth == ClientAuth::VerifyClientCertIfGiven { verifier.allow_unauthenticated() } else { verifier };
            let verifier = verifier.build().map_err(|e| err(&[SECTION, &ca.key], e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| err(&[SECTION, &key_pem.key], format!("{} with {}: {e}", key_pem.name, cert_pem.name)))?;
    config.ignore_client_order = tls.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = if http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    Ok(Some(config))
}

/// PEM bytes from an inline value or a file, with the key and a name for errors.
struct Pem {
    bytes: Vec<u8>,
    key: String,
    name: String,
}

fn pem_source(
    inline: Option<String>,
    file: Option<String>,
    key: &str,
    base: &Path,
    err: &ErrFn<'_>,
) -> Result<Option<Pem>, ConfigError> {
    const SECTION: &str = "tls_server_config";
    let file_key = format!("{key}_file");
    match (inline, file) {
        (Some(_), Some(_)) => Err(err(&[SECTION, key], format!("set {key} or {file_key}, not both"))),
        (Some(text), None) => Ok(Some(Pem { bytes: text.into_bytes(), key: key.to_string(), name: key.to_string() })),
        (None, Some(file)) => {
            let full = base.join(&file);
            let text = read_limited(&full, MAX_FILE_BYTES).map_err(|why| err(&[SECTION, &file_key], why))?;
            Ok(Some(Pem { bytes: text.into_bytes(), key: file_key, name: full.display().to_string() }))
        }
        (None, None) => Ok(None),
    }
}

/// The response headers the exporter-toolkit allows, with its checks on their values.
fn check_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    const ALLOWED: [&str; 5] = [
        "Content-Security-Policy",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "X-XSS-Protection",
        "Strict-Transport-Security",
    ];
    let Some(canonical) = ALLOWED.iter().find(|a| a.eq_ignore_ascii_case(name)) else {
        return Err(format!("header {name} cannot be set here; allowed: {}", ALLOWED.join(", ")));
    };
    let lower = value.to_ascii_lowercase();
    match *canonical {
        "X-Frame-Options" if lower != "deny" && lower != "sameorigin" => {
            return Err(format!("'{value}' is not deny or sameorigin"));
        }
        "X-Content-Type-Options" if lower != "nosniff" => return Err(format!("'{value}' is not nosniff")),
        _ => {}
    }
    let name = HeaderName::from_bytes(canonical.as_bytes()).map_err(|e| e.to_string())?;
    let value = HeaderValue::from_str(value).map_err(|_| format!("'{value}' is not a valid header value"))?;
    Ok((name, value))
}

/// Checks the shape of a bcrypt hash (`$2y$10$` + 53 characters) without running bcrypt,
/// so a bad hash stops the exporter at start instead of failing every login.
fn check_bcrypt_hash(hash: &str) -> Result<(), String> {
    const ALPHABET: &str = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let bad =
        || "is not a bcrypt hash ($2a$, $2b$ or $2y$, a cost, 53 characters); see docs/src/security.md".to_string();
    let rest = ["$2a$", "$2b$", "$2y$"].iter().find_map(|p| hash.strip_prefix(p)).ok_or_else(bad)?;
    let (cost, body) = rest.split_once('$').ok_or_else(bad)?;
    if cost.len() != 2 || body.len() != 53 || !body.chars().all(|c| ALPHABET.contains(c)) {
        return Err(bad());
    }
    let cost: u32 = cost.parse().map_err(|_| bad())?;
    if !(4..=31).contains(&cost) {
        return Err(format!("bcrypt cost {cost} is outside 4 to 31"));
    }
    Ok(())
}

/// Basic auth against bcrypt hashes.
///
/// bcrypt is slow on purpose (about 50 ms at cost 10), too slow to pay on every scrape. A
/// successful check is remembered as a salted SHA-256 digest of user and password (never
/// the password itself); a later request with the same pair is accepted from that memory.
/// The memory holds at most [`AUTH_CACHE_ENTRIES`] pairs and forgets the oldest first; failed
/// checks are never remembered, so guessing costs a full bcrypt every time. bcrypt runs on the
/// blocking pool, at most [`AUTH_CONCURRENCY`] at a time, so guessing cannot starve scrapes.
/// A user that does not exist is checked against another user's hash, so the answer takes as
/// long as for a wrong password.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    salt: [u8; 32],
    verified: Mutex<Verified>,
    slots: tokio::sync::Semaphore,
}

#[derive(Default)]
struct Verified {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl BasicAuth {
    fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, String> {
        let mut salt = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
            .map_err(|_| "cannot get random bytes from the system".to_string())?;
        Ok(BasicAuth {
            users,
            salt,
            verified: Mutex::new(Verified::default()),
            slots: tokio::sync::Semaphore::new(AUTH_CONCURRENCY),
        })
    }

    /// True when the `Authorization` header holds Basic credentials of a configured user.
    pub async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(|v| parse_basic(v.as_bytes())) else {
            return false;
        };
        let digest = self.digest(&user, &password);
        if self.lock().set.contains(&digest) {
            return true;
        }
        let known = self.users.get(&user);
        // Same work for an unknown user: check against some other hash, then refuse.
        let Some(hash) = known.or_else(|| self.users.values().next()).cloned() else {
            return false;
        };
        let Ok(Ok(_permit)) = tokio::time::timeout(AUTH_QUEUE_WAIT, self.slots.acquire()).await else {
            return false;
        };
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if !(matches && known.is_some()) {
            return false;
        }
        let mut verified = self.lock();
        if verified.set.insert(digest) {
            verified.order.push_back(digest);
            while verified.order.len() > AUTH_CACHE_ENTRIES {
                if let Some(old) = verified.order.pop_front() {
                    verified.set.remove(&old);
                }
            }
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Verified> {
        self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn digest(&self, user: &str, password: &[u8]) -> [u8; 32] {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(&self.salt);
        context.update(&(user.len() as u64).to_le_bytes());
        context.update(user.as_bytes());
        context.update(password);
        let mut out = [0u8; 32];
        out.copy_from_slice(context.finish().as_ref());
        out
    }
}

/// `Basic base64(user:password)` → (user, password bytes).
fn parse_basic(header: &[u8]) -> Option<(String, Vec<u8>)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// A serde_norway error as a [`ConfigError`]: the line from its location, the key from the
/// path it names (`tls_server_config.client_auth_type: unknown variant …`) plus the field of
/// an unknown or missing field, else the key written on that line.
fn yaml_error(path: &Path, text: &str, e: &serde_norway::Error) -> ConfigError {
    let line = e.location().map_or(0, |l| l.line());
    let mut message = e.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    let (prefix, why) = match message.split_once(": ") {
        Some((p, rest)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "._-[]".contains(c)) => {
            (Some(p.to_string()), rest.to_string())
        }
        _ => (None, message.clone()),
    };
    let field = why.split('`').nth(1).filter(|_| why.contains("field `"));
    let key = match (prefix, field) {
        (Some(p), Some(f)) => format!("{p}.{f}"),
        (Some(p), None) => p,
        (None, Some(f)) => f.to_string(),
        (None, None) => key_at_line(text, line).unwrap_or_default(),
    };
    ConfigError { origin: Origin::File { path: path.to_path_buf(), line }, key, why }
}

/// The `key:` entries of a block-style YAML document with their line numbers and paths.
fn keyed_lines(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let content = raw.trim_start();
        if content.is_empty() || content.starts_with('#') || content.starts_with("- ") || content == "-" {
            continue;
        }
        let indent = raw.len() - content.len();
        let Some(key) = yaml_key(content) else { continue };
        while stack.last().is_some_and(|(level, _)| *level >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        out.push((i + 1, stack.iter().map(|(_, k)| k.clone()).collect()));
    }
    out
}

/// The key of a `key: value` line (plain, single- or double-quoted).
fn yaml_key(content: &str) -> Option<String> {
    let (key, rest) = match content.chars().next()? {
        q @ ('"' | '\'') => {
            let end = content[1..].find(q)? + 1;
            (&content[1..end], &content[end + 1..])
        }
        _ => {
            let colon = content.find(": ").or_else(|| content.strip_suffix(':').map(|s| s.len()))?;
            (&content[..colon], &content[colon..])
        }
    };
    rest.trim_start().starts_with(':').then(|| key.trim().to_string())
}

/// The line of the key path `keys`, else of its longest present parent; 0 when none is found.
fn line_of_key(text: &str, keys: &[&str]) -> usize {
    let lines = keyed_lines(text);
    (1..=keys.len())
        .rev()
        .find_map(|n| lines.iter().find(|(_, path)| path.iter().map(String::as_str).eq(keys[..n].iter().copied())))
        .map_or(0, |(line, _)| *line)
}

/// The dotted key path written on `line`.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    keyed_lines(text).into_iter().find(|(l, _)| *l == line).map(|(_, path)| path.join("."))
}

#[cfg(test)]
#[path = "web_config_tests.rs"]
mod tests;
