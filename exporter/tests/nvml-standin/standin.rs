//! Builds the stand-in libnvidia-ml (`standin.c` beside this file) for the tests and the bench.
//! Included with `#[path]` by `tests/nvml_standin.rs` and `examples/nvml_bench.rs`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// This directory: the C source, the JSON fixtures and their expected outputs.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("nvml-standin")
}

/// Compiles the stand-in into `out/libnvidia-ml.so.1` with `$CC` (default `gcc`). The symbols
/// in `hidden` are left out of its exports (a linker version script), as an older driver's
/// library lacks newer functions.
pub fn build(out: &Path, hidden: &[&str]) -> PathBuf {
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".to_string());
    let library = out.join("libnvidia-ml.so.1");
    let mut command = Command::new(&cc);
    command.args(["-shared", "-fPIC", "-O2", "-o"]).arg(&library).arg(dir().join("standin.c"));
    if !hidden.is_empty() {
        let script = out.join("standin.map");
        let text = format!("{{ global: nvml*; local: {}; *; }};\n", hidden.join("; "));
        std::fs::write(&script, text).unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        command.arg(format!("-Wl,--version-script={}", script.display()));
    }
    let status = command.status().unwrap_or_else(|e| panic!("cannot run {cc} to build the NVML stand-in: {e}"));
    assert!(status.success(), "{cc} failed to build the NVML stand-in");
    library
}
