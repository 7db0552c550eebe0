//! Config errors never echo a URL's password, and settings that contradict themselves are
//! refused at start (exit 2) rather than at bind time or in silence.
use std::collections::HashMap;

use super::values::redact_credentials;
use super::*;

fn error(list: &[&str], env: &[(&str, &str)]) -> String {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let args: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    match load(&args, &|k| env.get(k).cloned()) {
        Err(e) => e.to_string(),
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

fn file_error(text: &str) -> String {
    let f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(f.path(), text).unwrap();
    let path = f.path().to_str().unwrap().to_string();
    error(&["--config.file", &path], &[]).replace(&path, "FILE")
}

#[test]
fn a_password_in_a_url_is_never_echoed() {
    let url = "http://u:hunter2@127.0.0.1:99999";
    for e in [
        error(&["--server", url], &[]),
        error(&["--server", &format!("x={url}")], &[]),
        error(&[&format!("--server={url}/?q")], &[]),
        error(&[url], &[]),
        error(&[], &[("LLM_EXPORTER_SERVER", url)]),
        file_error(&format!("[[server]]\nname = \"x\"\nurl = \"{url}\"\n")),
        file_error(&format!("[[server]]\nname = \"x\"\nurl = \"{url}\n")),
    ] {
        assert!(!e.contains("hunter2"), "{e}");
    }
    let redacted = "'http://***@127.0.0.1:99999' is not a URL: invalid port number";
    assert_eq!(error(&["--server", url], &[]), format!("flag --server: key 'server': {redacted}"));
    assert_eq!(
        error(&[], &[("LLM_EXPORTER_SERVER", url)]),
        format!("environment LLM_EXPORTER_SERVER: key 'server': {redacted}")
    );
    let e = file_error(&format!("[[server]]\nname = \"x\"\nurl = \"{url}\"\n"));
    assert_eq!(e, format!("FILE:3: key 'server.url': {redacted}"));
}

#[test]
fn credentials_are_cut_from_every_url_in_a_text() {
    assert_eq!(redact_credentials("a http://u:p@h:1/x?y b https://k@h2 c"), "a http://***@h:1/x?y b https://***@h2 c");
    assert_eq!(redact_credentials("'http://a@b@c/'"), "'http://***@c/'");
    assert_eq!(redact_credentials("no url, x@y, ://"), "no url, x@y, ://");
    assert_eq!(redact_credentials("http://127.0.0.1:8080/a@b"), "http://127.0.0.1:8080/a@b", "@ in a path");
}

#[test]
fn a_listen_address_given_twice_is_a_config_error() {
    let e = error(&["--web.listen-address", ":18306", "--web.listen-address=:18306"], &[]);
    assert_eq!(e, "flag --web.listen-address: key 'web.listen-address': ':18306' is given twice");
    let e = error(&[], &[("LLM_EXPORTER_WEB_LISTEN_ADDRESS", ":1,:1")]);
    assert!(e.contains("is given twice"), "{e}");
    let e = file_error("[web]\nlisten_address = [\":1\", \"127.0.0.1:2\", \":1\"]\n");
    assert_eq!(e, "FILE:2: key 'web.listen_address': ':1' is given twice");
}

#[test]
fn a_switch_given_both_ways_is_refused() {
    let e = error(&["--collector.llm", "--no-collector.llm"], &[]);
    assert_eq!(
        e,
        "flag --collector.llm: key 'collector.llm': --collector.llm and --no-collector.llm are both given; give one of them"
    );
    assert!(error(&["--no-discovery", "--discovery=true"], &[]).contains("both given"));
    // The same switch twice the same way is no contradiction.
    let args: Vec<String> = ["--no-discovery", "--discovery=false"].iter().map(|s| s.to_string()).collect();
    assert!(load(&args, &|_| None).is_ok());
}

#[test]
fn an_unknown_table_is_named_once() {
    let e = file_error("[servers]\nurl = \"http://127.0.0.1:1\"\n");
    assert!(e.starts_with("FILE:1: key 'servers': unknown field `servers`"), "{e}");
    let e = file_error("[web.tls]\ncert = \"x\"\n");
    assert!(e.starts_with("FILE:1: key 'web.tls': "), "{e}");
    let e = file_error("[web]\nlisten = \":1\"\n");
    assert!(e.starts_with("FILE:2: key 'web.listen': "), "{e}");
}
