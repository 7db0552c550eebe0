//! Tests of `config/web_config.rs`.
use super::*;

fn parse_str(text: &str) -> Result<WebConfig, String> {
    parse(Path::new("web.yml"), text).map_err(|e| e.to_string())
}

#[test]
fn empty_and_auth_only_files_serve_plain_http() {
    let empty = parse_str("").unwrap();
    assert!(empty.tls.is_none() && empty.basic_auth.is_none());
    let comments = parse_str("# nothing here\n").unwrap();
    assert!(comments.tls.is_none());
    let hash = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";
    let auth = parse_str(&format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    assert!(auth.tls.is_none());
    assert!(auth.basic_auth.is_some());
    let empty_tls = parse_str("tls_server_config: {}\n").unwrap();
    assert!(empty_tls.tls.is_none());
}

#[test]
fn errors_name_the_line_and_key() {
    let cases = [
        ("tls_server_config:\n  cert_file: a\n  bogus: 1\n", "web.yml:3: key 'tls_server_config.bogus'"),
        (
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
            "web.yml:4: key 'tls_server_config.client_auth_type'",
        ),
        ("basic_auth_users:\n  alice: secret\n", "web.yml:2: key 'basic_auth_users.alice'"),
        ("basic_auth_users:\n  bob: [1]\n", "web.yml:2: key 'basic_auth_users.bob'"),
        ("tls_server_config:\n  key_file: k.pem\n", "web.yml:1: key 'tls_server_config': missing cert_file"),
        (
            "tls_server_config:\n  cert_file: missing.pem\n  key_file: k.pem\n",
            "web.yml:2: key 'tls_server_config.cert_file': cannot read",
        ),
        ("rate_limit:\n  interval: 1s\n", "web.yml:1: key 'rate_limit': is not supported"),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "web.yml:3: key 'http_server_config.headers.X-Frame-Options'",
        ),
        ("http_server_config:\n  headers:\n    Server: me\n", "web.yml:3: key 'http_server_config.headers.Server'"),
        ("basic_auth_users: [\n", "web.yml:1: key 'basic_auth_users'"),
        ("tls_server_config:\n  cert_file: a\n   key_file: b\n", "web.yml:3: key '"),
    ];
    for (text, want) in cases {
        let got = parse_str(text).err().unwrap_or_else(|| panic!("{text:?} parsed"));
        assert!(got.starts_with(want), "{text:?}: {got}");
    }
}

#[test]
fn bcrypt_hashes_are_checked_for_shape() {
    assert!(check_bcrypt_hash("$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG").is_ok());
    assert!(check_bcrypt_hash("$2b$04$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG").is_ok());
    assert!(check_bcrypt_hash("$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7z").is_err());
    assert!(check_bcrypt_hash("$2y$99$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG").is_err());
    assert!(check_bcrypt_hash("$1$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG").is_err());
    assert!(check_bcrypt_hash("plain").is_err());
    assert!(check_bcrypt_hash("$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7Esimh€7zG").is_err());
}

#[test]
fn basic_credentials_are_parsed() {
    let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:pa:ss"));
    assert_eq!(parse_basic(header.as_bytes()), Some(("alice".into(), b"pa:ss".to_vec())));
    let lower = format!("basic  {}", base64::engine::general_purpose::STANDARD.encode("a:"));
    assert_eq!(parse_basic(lower.as_bytes()), Some(("a".into(), Vec::new())));
    assert_eq!(parse_basic(b"Bearer abc"), None);
    assert_eq!(parse_basic(b"Basic !!!"), None);
    let no_colon = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice"));
    assert_eq!(parse_basic(no_colon.as_bytes()), None);
}

#[tokio::test]
async fn verified_credentials_are_cached_and_the_cache_is_bounded() {
    let hash = bcrypt::hash("right", 4).unwrap();
    let auth = BasicAuth::new(BTreeMap::from([("alice".to_string(), hash)])).unwrap();
    let header = |user: &str, password: &str| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    };
    assert!(!auth.allows(None).await);
    assert!(!auth.allows(Some(&header("alice", "wrong"))).await);
    assert!(!auth.allows(Some(&header("mallory", "right"))).await);
    assert!(auth.lock().order.is_empty(), "failures are never cached");
    assert!(auth.allows(Some(&header("alice", "right"))).await);
    assert_eq!(auth.lock().order.len(), 1);
    assert!(auth.allows(Some(&header("alice", "right"))).await);
    assert_eq!(auth.lock().order.len(), 1);
    // Fill the memory past its bound by hand; the next success trims it, oldest first.
    auth.lock().set.clear();
    auth.lock().order.clear();
    for i in 0..AUTH_CACHE_ENTRIES + 5 {
        let user = format!("u{i}");
        let digest = auth.digest(&user, b"x");
        let mut verified = auth.lock();
        verified.set.insert(digest);
        verified.order.push_back(digest);
    }
    assert!(auth.allows(Some(&header("alice", "right"))).await);
    let verified = auth.lock();
    assert!(verified.order.len() <= AUTH_CACHE_ENTRIES);
    assert_eq!(verified.set.len(), verified.order.len());
}

#[test]
fn key_lines_follow_indentation() {
    let text = "# c\ntls_server_config:\n  cert_file: a\n  key_file: b\nbasic_auth_users:\n  \"bob\": x\n  alice: y\n";
    assert_eq!(line_of_key(text, &["tls_server_config", "key_file"]), 4);
    assert_eq!(line_of_key(text, &["basic_auth_users", "alice"]), 7);
    assert_eq!(line_of_key(text, &["basic_auth_users", "bob"]), 6);
    assert_eq!(line_of_key(text, &["basic_auth_users", "carol"]), 5);
    assert_eq!(line_of_key(text, &["nothing"]), 0);
    assert_eq!(key_at_line(text, 3).as_deref(), Some("tls_server_config.cert_file"));
}
