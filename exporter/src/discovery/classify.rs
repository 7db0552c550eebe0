//! Which process is an LLM server, and of which backend: known program names, interpreter
//! modules, the user's `[[process.match]]` rules, and the model a router's child serves. A new
//! backend whose server runs as its own program or Python module is one line here.
use std::path::Path;

use super::model_id;
use crate::config::ProcessMatch;
use crate::sys;

/// Known server programs by `comm` or `argv[0]` base name, with the backend they speak.
const PROGRAMS: &[(&str, &str)] = &[
    ("llama-server", "llamacpp"),
    ("llama-swap", "llamaswap"),
    ("llamafile", "llamacpp"),
    ("koboldcpp", "koboldcpp"),
    ("ollama", "ollama"),
    // Ollama's model runner before 0.5.2 (a worker of its `ollama`; `comm` is cut to 15 bytes).
    ("ollama_llama_server", "ollama"),
    ("vllm", "vllm"),
    ("text-generation-launcher", "tgi"),
    ("text-generation-router", "tgi"),
    ("text-generation-server", "tgi"),
    ("lms", "lmstudio"),
    ("LM Studio", "lmstudio"),
];

/// Modules that make an interpreter (`python -m MODULE`, or a script path containing it) a server.
const MODULES: &[(&str, &str)] = &[
    ("vllm.entrypoints", "vllm"),
    ("sglang.launch_server", "sglang"),
    ("sglang.srt", "sglang"),
    ("text_generation_server", "tgi"),
    ("mlx_lm.server", "mlx"),
];

/// True when `comm` is a server program's own name (not an interpreter running one).
pub fn is_server_program(comm: &str) -> bool {
    PROGRAMS.iter().any(|(name, _)| *name == comm)
}

/// The backend of a server program, judged from its `comm` and command line.
pub fn server_backend(comm: &str, cmdline: impl FnOnce() -> Vec<String>) -> Option<&'static str> {
    if let Some((_, backend)) = PROGRAMS.iter().find(|(name, _)| *name == comm) {
        return Some(backend);
    }
    // A module's console script (`mlx_lm.server` installed by pip) runs under the script's name.
    if let Some((_, backend)) = MODULES.iter().find(|(module, _)| *module == comm) {
        return Some(backend);
    }
    // Interpreters hide the program, and comm is cut at 15 bytes: look at the command line,
    // but only where it can tell something (it is read for every such process on every scrape).
    let interpreter = comm.starts_with("python") || comm.starts_with("uv") || comm == "node";
    // macOS framework builds of Python re-execute as `Python.app`, so the name is `Python`.
    #[cfg(target_os = "macos")]
    let interpreter = interpreter || comm == "Python";
    let cut_program = comm.len() == 15 && PROGRAMS.iter().any(|(name, _)| name.len() > 15 && name.starts_with(comm));
    if !interpreter && !cut_program {
        return None;
    }
    let args = cmdline();
    let argv0 = args.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("");
    if let Some((_, backend)) = PROGRAMS.iter().find(|(name, _)| *name == argv0) {
        return Some(backend);
    }
    args.iter().take(8).find_map(|arg| {
        let arg = arg.rsplit('/').next().unwrap_or(arg);
        PROGRAMS
            .iter()
            .find(|(name, _)| *name == arg && arg != "lms")
            .or_else(|| MODULES.iter().find(|(module, _)| arg.starts_with(module)))
            .map(|(_, backend)| *backend)
    })
}

/// True when every condition the rule gives holds. The executable and the command line are
/// read only when the rule asks for them and its `comm` (if any) already matched.
pub fn rule_matches(rule: &ProcessMatch, root: &Path, pid: u32, comm: &str) -> bool {
    if rule.comm.as_deref().is_some_and(|c| c != comm) {
        return false;
    }
    let mut args = None;
    let mut args = || args.get_or_insert_with(|| sys::read_cmdline(root, pid)).clone();
    if let Some(exe) = &rule.exe {
        let path = sys::read_exe(root, pid).or_else(|| args().into_iter().next());
        if !path.is_some_and(|p| exe.is_match(&p)) {
            return false;
        }
    }
    rule.cmdline.as_ref().is_none_or(|re| re.is_match(&args().join(" ")))
}

/// The model a llama-server child of a router (llama.cpp `--models-dir`, llama-swap) serves,
/// from its command line: `--alias` (the router's model id), else the file name of `--model`.
pub fn worker_model(args: &[String]) -> Option<String> {
    let value = |names: &[&str]| {
        let at = args.iter().skip(1).position(|a| names.contains(&a.as_str()))? + 2;
        args.get(at).filter(|v| !v.is_empty())
    };
    let model = match value(&["-a", "--alias"]) {
        Some(alias) => alias.as_str(),
        None => value(&["-m", "--model"])?.rsplit(['/', '\\']).next()?,
    };
    Some(model_id::label(model))
}
