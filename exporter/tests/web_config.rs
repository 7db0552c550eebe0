//! `--web.config.file`: TLS, mutual TLS and basic auth, tested with certificates this test
//! generates and the real binary serving them.
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Exporter;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

/// A certificate authority and what it signed, written as PEM files into a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

/// A certificate and key in PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Pki {
    fn new() -> (Pki, rcgen::Certificate, KeyPair) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "llm-exporter test CA");
        let key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        let pki = Pki { dir: tempfile::tempdir().unwrap(), ca_pem: ca.pem() };
        (pki, ca, key)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::File::create(&path).and_then(|mut f| f.write_all(text.as_bytes())).unwrap();
        path
    }
}

fn leaf(names: &[&str], ca: &rcgen::Certificate, ca_key: &KeyPair) -> Leaf {
    let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca, ca_key).unwrap();
    Leaf { cert: cert.pem(), key: key.serialize_pem() }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all on disk, and the
/// web config text naming them (with `extra` appended).
fn tls_world(extra: &str) -> (Pki, Leaf, String) {
    let (pki, ca, ca_key) = Pki::new();
    let server = leaf(&["127.0.0.1", "localhost"], &ca, &ca_key);
    let client = leaf(&["scraper"], &ca, &ca_key);
    pki.write("server.crt", &server.cert);
    pki.write("server.key", &server.key);
    pki.write("ca.crt", &pki.ca_pem);
    // Relative paths: relative to the web config file.
    let config = format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{extra}");
    (pki, client, config)
}

fn start(pki: &Pki, config: &str) -> Exporter {
    let path = pki.write("web.yml", config);
    Exporter::start(&["--web.config.file", path.to_str().unwrap()])
}

fn https_client(ca_pem: Option<&str>, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30)).no_proxy().use_rustls_tls();
    if let Some(ca) = ca_pem {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
    }
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert, leaf.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

fn https(exporter: &Exporter, path: &str) -> String {
    format!("https://{}{path}", exporter.addr)
}

async fn status(request: reqwest::RequestBuilder) -> Result<u16, reqwest::Error> {
    request.send().await.map(|r| r.status().as_u16())
}

#[tokio::test]
async fn tls_serves_every_path_and_refuses_plain_http_and_untrusted_clients() {
    let (pki, _, config) = tls_world("");
    let exporter = start(&pki, &config);
    let client = https_client(Some(&pki.ca_pem), None);
    let response = client.get(https(&exporter, "/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("llm_exporter_build_info"));
    for path in ["/", "/-/healthy", "/-/ready"] {
        assert_eq!(status(client.get(https(&exporter, path))).await.unwrap(), 200, "{path}");
    }
    // Plain HTTP to the TLS port gets no answer, only a closed connection.
    assert!(status(common::client().get(exporter.url("/metrics"))).await.is_err());
    // A client that does not trust the CA refuses the server.
    assert!(status(https_client(None, None).get(https(&exporter, "/metrics"))).await.is_err());
    // A connection that never starts its handshake holds nobody else up.
    let _idle = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
    assert_eq!(status(client.get(https(&exporter, "/metrics"))).await.unwrap(), 200);
    assert!(exporter.log().iter().any(|l| l.contains("TLS")), "{:?}", exporter.log());
}

#[tokio::test]
async fn mutual_tls_needs_a_client_certificate_from_the_ca() {
    let (pki, client_leaf, config) =
        tls_world("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n");
    let exporter = start(&pki, &config);
    let (_, other_ca, other_key) = Pki::new();
    let stranger = leaf(&["stranger"], &other_ca, &other_key);

    let trusted = https_client(Some(&pki.ca_pem), Some(&client_leaf));
    assert_eq!(status(trusted.get(https(&exporter, "/metrics"))).await.unwrap(), 200);
    let anonymous = https_client(Some(&pki.ca_pem), None);
    assert!(status(anonymous.get(https(&exporter, "/metrics"))).await.is_err());
    let foreign = https_client(Some(&pki.ca_pem), Some(&stranger));
    assert!(status(foreign.get(https(&exporter, "/metrics"))).await.is_err());
    // The refused clients cost nothing to the trusted one.
    assert_eq!(status(trusted.get(https(&exporter, "/-/healthy"))).await.unwrap(), 200);
}

#[tokio::test]
async fn basic_auth_guards_the_landing_page_and_metrics_but_not_health() {
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let (pki, _, config) = tls_world(&format!("basic_auth_users:\n  alice: {hash}\n"));
    let exporter = start(&pki, &config);
    let client = https_client(Some(&pki.ca_pem), None);
    for path in ["/", "/metrics", "/-/console/metrics", "/-/console/console.js"] {
        let url = https(&exporter, path);
        let denied = client.get(&url).send().await.unwrap();
        assert_eq!(denied.status(), 401, "{path} without credentials");
        let challenge = denied.headers().get("www-authenticate").unwrap().to_str().unwrap();
        assert!(challenge.starts_with("Basic "), "{challenge}");
        assert_eq!(status(client.get(&url).basic_auth("alice", Some("wrong"))).await.unwrap(), 401);
        assert_eq!(status(client.get(&url).basic_auth("mallory", Some("s3cret"))).await.unwrap(), 401);
        assert_eq!(status(client.get(&url).basic_auth("alice", None::<&str>)).await.unwrap(), 401);
        assert_eq!(status(client.get(&url).bearer_auth("s3cret")).await.unwrap(), 401);
        // Twice: the second is answered from the cache of verified credentials.
        for _ in 0..2 {
            assert_eq!(status(client.get(&url).basic_auth("alice", Some("s3cret"))).await.unwrap(), 200);
        }
    }
    for path in ["/-/healthy", "/-/ready"] {
        assert_eq!(status(client.get(https(&exporter, path))).await.unwrap(), 200, "{path}");
    }
    // Neither the password nor the hash reaches the log.
    let log = exporter.log().join("\n");
    assert!(!log.contains("s3cret") && !log.contains(&hash), "{log}");
}

#[tokio::test]
async fn basic_auth_works_without_tls() {
    let (pki, _, _) = Pki::new();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let exporter = start(&pki, &format!("basic_auth_users:\n  prometheus: {hash}\n"));
    let client = common::client();
    assert_eq!(status(client.get(exporter.url("/metrics"))).await.unwrap(), 401);
    assert_eq!(status(client.get(exporter.url("/metrics")).basic_auth("prometheus", Some("pw"))).await.unwrap(), 200);
    // Credentials come before the method: HEAD and POST need them too.
    for path in ["/", "/metrics"] {
        let url = exporter.url(path);
        assert_eq!(status(client.head(&url)).await.unwrap(), 401, "HEAD {path}");
        assert_eq!(status(client.head(&url).basic_auth("prometheus", Some("pw"))).await.unwrap(), 200, "HEAD {path}");
        assert_eq!(status(client.post(&url)).await.unwrap(), 401, "POST {path}");
        assert_eq!(status(client.post(&url).basic_auth("prometheus", Some("pw"))).await.unwrap(), 405, "POST {path}");
    }
    assert_eq!(status(client.post(exporter.url("/-/healthy"))).await.unwrap(), 405);
}

#[test]
fn a_bad_web_config_is_one_line_naming_file_line_and_key_and_exit_2() {
    let (pki, _, _) = Pki::new();
    let cases = [
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
            ":2: key 'tls_server_config.cert_file'",
        ),
        ("basic_auth_users:\n  alice: plaintext\n", ":2: key 'basic_auth_users.alice'"),
        ("tls_server_config:\n  cert_fiel: a\n", ":2: key 'tls_server_config.cert_fiel'"),
    ];
    for (text, want) in cases {
        let path = pki.write("bad.yml", text);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_llm-exporter"))
            .args(["--web.listen-address", "127.0.0.1:0", "--web.config.file"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{text:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains(&format!("{}{want}", display(&path))), "{stderr}");
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
