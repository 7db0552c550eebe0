//! `llm-exporter`: flags → config → serve. Exit codes: 0 after a clean stop, 1 when serving
//! fails (e.g. the port is taken), 2 for a bad command line, environment or config file.
use std::process::ExitCode;

use llm_exporter::config::{self, Command};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config::load(&args, &|var| std::env::var(var).ok()) {
        Ok(Command::Run(config)) => config,
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
    llm_exporter::logging::init(config.log_level, config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(llm_exporter::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
