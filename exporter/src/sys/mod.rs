//! The one interface to the operating system's process table that discovery and the process
//! collector use, picked with `cfg`: `linux.rs` (a proc filesystem) or `macos.rs` (libproc).
//! Both give the same functions, with the same signatures, and fill the same structs; the
//! `root` argument is the proc root on Linux and is not used on macOS.
//!
//! | function | what it gives |
//! |---|---|
//! | `list_pids(root)` | every PID, ascending |
//! | `read_comm(root, pid)` | the short program name, the `process` label |
//! | `read_cmdline(root, pid)` | the first arguments, for classification only |
//! | `read_exe(root, pid)` | the executable's path |
//! | `read_environ(root, pid, keys)` | the named environment entries, where readable |
//! | `read_stat(root, pid)` | state and parent ([`Stat`]) |
//! | `read_process(root, pid)` | everything the series need ([`RawProcess`]) |
//! | `socket_inodes(root, pid)` | ids of the process's sockets |
//! | `SocketTables::new(root).listeners(pid)` | the LISTEN sockets [`Listener`] that process sees |
//! | `process_root(root, pid)` | the directory where the process's own `/` is read |
//!
//! The structs they fill are plain data (`raw_process.rs`, `listener.rs`); on Linux the
//! listening sockets come from netlink (`sock_diag.rs`), on macOS the libproc records are
//! turned into them by pure, tested code (`macos_shape.rs`, and `macos_clock.rs` for the unit
//! of CPU times); on Linux the text of `/proc` files is parsed by `proc_parse.rs` (the
//! `procfs-core` crate). Nothing here imports from the
//! code that uses it.
#[cfg(target_os = "linux")]
pub mod linux;
mod listener;
#[cfg(target_os = "macos")]
pub mod macos;
#[cfg(any(target_os = "macos", test))]
pub mod macos_clock;
#[cfg(any(target_os = "macos", test))]
pub mod macos_shape;
#[cfg(target_os = "linux")]
pub mod proc_parse;
mod raw_process;
#[cfg(target_os = "linux")]
pub mod sock_diag;

pub use listener::Listener;
pub use raw_process::RawProcess;

#[cfg(target_os = "linux")]
pub use linux::{
    list_pids, read_cmdline, read_comm, read_environ, read_exe, read_process, socket_inodes, SocketTables, Stat,
};

#[cfg(target_os = "macos")]
pub use macos::{
    list_pids, read_cmdline, read_comm, read_environ, read_exe, read_process, read_stat, socket_inodes, SocketTables,
};
#[cfg(target_os = "macos")]
pub use macos_shape::Stat;

/// State and parent of a process (`/proc/PID/stat`), or `None` if it is gone.
#[cfg(target_os = "linux")]
pub fn read_stat(root: &std::path::Path, pid: u32) -> Option<Stat> {
    proc_parse::stat(&linux::read_small(&root.join(pid.to_string()).join("stat"))?)
}

/// Where the files `pid` sees are read, so that a process in a container is looked up in its
/// own files: `/proc/PID/root` (a plain directory in a fixture tree).
#[cfg(target_os = "linux")]
pub fn process_root(root: &std::path::Path, pid: u32) -> std::path::PathBuf {
    root.join(pid.to_string()).join("root")
}

/// Where the files `pid` sees are read: macOS has no per-process root to go through.
#[cfg(target_os = "macos")]
pub fn process_root(_root: &std::path::Path, _pid: u32) -> std::path::PathBuf {
    std::path::PathBuf::from("/")
}
