//! Arbitrary text as every `/proc` file the exporter parses: the checks in front of the
//! `procfs-core` parsers must leave no input on which they panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use llm_exporter::sys::proc_parse;

fuzz_target!(|text: &str| {
    let _ = proc_parse::stat(text);
    let _ = proc_parse::status(text);
    let _ = proc_parse::io(text);
    let _ = proc_parse::max_open_files(text);
    let _ = proc_parse::cgroup_paths(text);
    let _ = proc_parse::socket_inode(text);
    let _ = proc_parse::boot_time(text);
    let _ = proc_parse::listeners(text, false);
    let _ = proc_parse::listeners(text, true);
    let _ = proc_parse::sockstat_in_use(text, "TCP:");
    let _ = llm_exporter::discovery::ns_addresses::Routes::parse_ipv4(text);
});
