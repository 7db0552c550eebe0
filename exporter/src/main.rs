//! `llm-exporter`: flags → config → serve. Exit codes: 0 after a clean stop, 1 when serving
//! fails (e.g. the port is taken), 2 for a bad command line, environment or config file.
use std::process::ExitCode;

use llm_exporter::config::{self, Command};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = match config::load(&args, &|var| std::env::var(var).ok()) {
        Ok(Command::Run(config)) => *config,
        Ok(Command::Help) => {
            print!("{}", config::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!(
                "llm-exporter {} (revision {}, {})",
                env!("CARGO_PKG_VERSION"),
                env!("LLM_EXPORTER_REVISION"),
                env!("LLM_EXPORTER_RUSTC")
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let variables = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    config.warnings.extend(config::unknown_env_warnings(variables));
    llm_exporter::logging::init(config.log_level, config.log_format);
    return_freed_memory();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(llm_exporter::run(config));
    // Blocking work that never returns (a hung NVML call, a stuck /proc read) must not keep the
    // process alive once a stop was asked for: give it a moment, then leave it behind.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Makes glibc give large freed buffers back to the system. By default its mmap threshold
/// grows after each large free, so a capped 16 MiB body from a misbehaving target would be
/// served from the heap next time and stay resident for good; per-thread arenas multiply that.
/// A fixed threshold and two arenas keep RSS at its baseline after such bodies.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_freed_memory() {
    // SAFETY: mallopt only changes allocator tunables; it is called before any other thread
    // exists. A refused setting (return 0) leaves the default, which is still correct.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_memory() {}
