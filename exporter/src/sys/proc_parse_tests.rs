//! Each parser on a real kernel's text, on damaged text, and on the shapes that make the
//! crate's parser panic when called without the check in front of it.
use super::*;

/// `/proc/PID/status` of a 6.x kernel.
const STATUS: &str = "Name:\tllama-server\n\
Umask:\t0022\n\
State:\tR (running)\n\
Tgid:\t4274\n\
Ngid:\t0\n\
Pid:\t4274\n\
PPid:\t4272\n\
TracerPid:\t0\n\
Uid:\t0\t0\t0\t0\n\
Gid:\t0\t0\t0\t0\n\
FDSize:\t256\n\
Groups:\t \n\
NStgid:\t4274\n\
NSpid:\t4274\n\
NSpgid:\t4272\n\
NSsid:\t16851\n\
Kthread:\t0\n\
VmPeak:\t   16564 kB\n\
VmSize:\t   16564 kB\n\
VmLck:\t       0 kB\n\
VmPin:\t       0 kB\n\
VmHWM:\t   13636 kB\n\
VmRSS:\t    5120 kB\n\
RssAnon:\t    6904 kB\n\
RssFile:\t    6732 kB\n\
RssShmem:\t       0 kB\n\
VmData:\t    7944 kB\n\
VmStk:\t     132 kB\n\
VmExe:\t       4 kB\n\
VmLib:\t    4672 kB\n\
VmPTE:\t      68 kB\n\
VmSwap:\t      64 kB\n\
HugetlbPages:\t       0 kB\n\
CoreDumping:\t0\n\
THP_enabled:\t1\n\
untag_mask:\t0xffffffffffffffff\n\
Threads:\t1\n\
SigQ:\t0/96370\n\
SigPnd:\t0000000000000000\n\
ShdPnd:\t0000000000000000\n\
SigBlk:\t0000000000000000\n\
SigIgn:\t0000000001001000\n\
SigCgt:\t0000000000000002\n\
CapInh:\t0000000000000000\n\
CapPrm:\t000001fffeffffff\n\
CapEff:\t000001fffeffffff\n\
CapBnd:\t000001fffeffffff\n\
CapAmb:\t0000000000000000\n\
NoNewPrivs:\t0\n\
Seccomp:\t0\n\
Seccomp_filters:\t0\n\
Speculation_Store_Bypass:\tvulnerable\n\
SpeculationIndirectBranch:\talways enabled\n\
Cpus_allowed:\t3\n\
Cpus_allowed_list:\t0-1\n\
Mems_allowed:\t00000000,00000001\n\
Mems_allowed_list:\t0\n\
voluntary_ctxt_switches:\t77\n\
nonvoluntary_ctxt_switches:\t9\n";

const IO: &str =
    "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";

/// `/proc/PID/limits` as a 6.x kernel writes it (the fixture tree's, from `make-basic.py`).
const LIMITS: &str = include_str!("../../tests/fixtures/proc/basic/400/limits");

/// Whether the crate's own parser panics on `text` (what the checks in front of it prevent).
fn crate_panics(parse: impl FnOnce() + std::panic::UnwindSafe) -> bool {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = std::panic::catch_unwind(parse).is_err();
    std::panic::set_hook(hook);
    panicked
}

#[test]
fn stat_with_spaces_and_parentheses_in_the_name() {
    let text = "4242 (llama (srv) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 7 0 12345 987654321 4000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
    let s = stat(text).unwrap();
    assert_eq!(s.comm, "llama (srv) x");
    assert_eq!(
        (s.state, s.ppid, s.utime, s.stime, s.threads, s.starttime, s.vsize),
        ('S', 1, 250, 75, 7, 12345, 987654321)
    );
    assert_eq!(stat("12 (x) S 1"), None, "truncated");
    assert_eq!(stat(&text.replace(" 7 0 12345", " -7 0 12345")), None, "negative thread count");
    assert_eq!(stat(""), None);
}

#[test]
fn stat_shapes_that_panic_the_crate_are_refused() {
    for text in ["1 (x)", "1 (x) ", "(x) S 1", "é(x) S 1", ")(", "1 )x( S", "1 (x)é S", "1 (x)\u{a0}S"] {
        assert_eq!(stat(text), None, "{text:?}");
    }
    let unguarded =
        |text: &'static str| crate_panics(move || drop(procfs_core::process::Stat::from_read(text.as_bytes())));
    assert!(unguarded("1 (x)") && unguarded("(x) S 1") && unguarded(")("), "the check is still needed");
}

#[test]
fn status_fields_in_bytes() {
    let fields = status(STATUS).unwrap();
    assert_eq!(
        fields,
        StatusFields {
            resident_bytes: Some(5120 * 1024),
            swap_bytes: Some(64 * 1024),
            voluntary_switches: Some(77),
            involuntary_switches: Some(9),
        }
    );
    assert_eq!(status(&STATUS.replace("VmRSS:\t    5120 kB", "VmRSS:\tlots kB")), None, "a number that is not");
    let without_pid: String = STATUS.lines().filter(|l| !l.starts_with("Pid:")).map(|l| format!("{l}\n")).collect();
    assert_eq!(status(&without_pid), None, "a field the crate requires");
    let kernel_thread =
        STATUS.lines().filter(|l| !l.starts_with("Vm") && !l.starts_with("Rss")).collect::<Vec<_>>().join("\n");
    assert_eq!(status(&kernel_thread).unwrap().resident_bytes, None, "kernel threads have no memory lines");
    let huge = STATUS.replace("VmRSS:\t    5120 kB", "VmRSS:\t18446744073709551615 kB");
    assert_eq!(status(&huge).unwrap().resident_bytes, None, "overflows as bytes");
}

#[test]
fn io_bytes() {
    assert_eq!(io(IO), Some((4096, 8192)));
    assert_eq!(io(&IO.replace("read_bytes: 4096\n", "")), None, "truncated");
    let non_ascii = "é 1\n";
    assert_eq!(io(&format!("{IO}{non_ascii}")), None);
    assert!(crate_panics(|| drop(Io::from_buf_read(non_ascii.as_bytes()))), "the check is still needed");
}

#[test]
fn open_files_limit() {
    assert_eq!(max_open_files(LIMITS), Some(1024));
    let unlimited = LIMITS.replace("Max open files            1024 ", "Max open files            unlimited");
    assert_eq!(max_open_files(&unlimited), None);
    assert_eq!(
        max_open_files("Max open files            1024                 524288               files\n"),
        None,
        "rows missing"
    );
    let short_row = format!("{LIMITS}x y\n");
    assert_eq!(max_open_files(&short_row), None);
    assert_eq!(max_open_files(&format!("{LIMITS}\n\n")), None, "an empty line has no words");
    assert!(crate_panics(|| drop(Limits::from_buf_read("x y\n".as_bytes()))), "the check is still needed");
}

#[test]
fn cgroup_paths_of_each_hierarchy() {
    assert_eq!(
        cgroup_paths("12:memory:/docker/abc\n0::/system.slice/x.scope\n"),
        ["/docker/abc", "/system.slice/x.scope"]
    );
    assert!(cgroup_paths("garbage\n").is_empty());
    assert_eq!(cgroup_paths("0::/a:b\n"), ["/a:b"], "a colon in the path");
}

#[test]
fn socket_inodes_of_fd_links() {
    assert_eq!(socket_inode("socket:[55123]"), Some(55123));
    for link in
        ["pipe:[5]", "socket:[", "socket:[x]", "/dev/null", "anon_inode:[eventfd]", "socket:[99999999999999999999]"]
    {
        assert_eq!(socket_inode(link), None, "{link}");
    }
}

#[test]
fn boot_time_of_proc_stat() {
    let text = "cpu  1 2 3 4 5 6 7 0 0 0\ncpu0 1 2 3 4 5 6 7 0 0 0\nintr 1 0\nctxt 99\nbtime 1700000000\nprocesses 1000\nprocs_running 1\nprocs_blocked 0\n";
    assert_eq!(boot_time(text), Some(1_700_000_000));
    assert_eq!(boot_time(&text.replace("btime 1700000000\n", "")), None);
    assert_eq!(boot_time(&text.replace("btime 1700000000", "btime soon")), None);
}

#[test]
fn listen_rows_v4_and_v6() {
    let v4 = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 55123 1 0000000000000000 100 0 0 10 0";
    let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    assert_eq!(listeners(v4, false), [Listener { ipv6: false, address: localhost, port: 8080, inode: 55123 }]);
    assert!(listeners(v4, false)[0].reaches_loopback());
    assert!(listeners(&v4.replace("0100007F", "00000000"), false)[0].reaches_loopback());
    let lan = listeners(&v4.replace("0100007F", "0500000A"), false);
    assert_eq!(lan[0].address, std::net::IpAddr::from([10, 0, 0, 5]));
    assert!(!lan[0].reaches_loopback());
    assert!(listeners(&v4.replace(" 0A ", " 01 "), false).is_empty(), "established");
    let v6 = "   0: 00000000000000000000000001000000:2B67 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0";
    let loopback6 = std::net::Ipv6Addr::LOCALHOST.into();
    assert_eq!(listeners(v6, true), [Listener { ipv6: true, address: loopback6, port: 11111, inode: 777 }]);
    let mapped = v6.replace("00000000000000000000000001000000", "0000000000000000FFFF00000100007F");
    assert!(listeners(&mapped, true)[0].reaches_loopback());
    let doc = v6.replace("00000000000000000000000001000000", "B80D0120000000000000000002000000");
    assert_eq!(listeners(&doc, true)[0].address, "2001:db8::2".parse::<std::net::IpAddr>().unwrap());
    assert!(listeners("garbage", false).is_empty());
    assert!(listeners(&v4.replace("0100007F", "0100007Fé"), false).is_empty());
    assert!(listeners(&v4.replace("0100007F", "0100007"), false).is_empty(), "odd hex length");
    assert!(is_listen_row(v4) && !is_listen_row("0A") && !is_listen_row(""));
}

#[test]
fn sockstat_in_use_counts() {
    let v4 = "sockets: used 290\nTCP: inuse 7 orphan 0 tw 2 alloc 9 mem 1\nUDP: inuse 1 mem 0\n";
    assert_eq!(sockstat_in_use(v4, "TCP:"), Some(7));
    assert_eq!(sockstat_in_use("TCP6: inuse 3\nUDP6: inuse 1\n", "TCP6:"), Some(3));
    assert_eq!(sockstat_in_use("TCP: inuse\n", "TCP:"), None, "truncated");
    assert_eq!(sockstat_in_use("TCP: inuse x9\n", "TCP:"), None);
    assert_eq!(sockstat_in_use("UDP: inuse 1\n", "TCP:"), None);
    assert_eq!(sockstat_in_use(&format!("TCP: inuse {}\n", "9".repeat(40)), "TCP:"), None, "huge");
}
