//! Records the git revision and the compiler version for `llm_exporter_build_info`.
//! `LLM_EXPORTER_REVISION` in the build's environment (the Dockerfile's build argument, where
//! there is no `.git`) takes the place of `git rev-parse`.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LLM_EXPORTER_REVISION");
    let given = std::env::var("LLM_EXPORTER_REVISION").ok().filter(|r| !r.trim().is_empty());
    let revision = match given {
        Some(revision) => revision.trim().to_string(),
        None => {
            // Only watched when read: a missing .git/HEAD would rebuild the crate every time.
            println!("cargo:rerun-if-changed=../.git/HEAD");
            println!("cargo:rerun-if-changed=../.git/refs/heads");
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| "unknown".into())
        }
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=LLM_EXPORTER_REVISION={revision}");
    println!("cargo:rustc-env=LLM_EXPORTER_RUSTC={rustc_version}");
}
