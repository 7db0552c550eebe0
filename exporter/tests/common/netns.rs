//! A private network namespace for one test, held open by a `sleep` process and gone when
//! dropped: its own loopback (up), and the addresses a test puts on it. Where namespaces cannot
//! be made (not root) the test is skipped, unless `LLM_EXPORTER_REQUIRE_NETNS` is set
//! (`scripts/test` sets it for root), which makes that a failure.
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Netns {
    holder: Child,
}

impl Netns {
    /// A new namespace with `addresses` (`192.0.2.2`) on its loopback, or `None` where this
    /// machine does not allow it (not root, no `unshare`): the test is then skipped.
    pub fn new(addresses: &[&str]) -> Option<Netns> {
        Netns::make(addresses, false)
    }

    /// A namespace made in a user namespace of its own (`unshare -r -n`, as by an unprivileged
    /// user). What the test runs in it is entered by root with `nsenter --net` alone, so it
    /// runs in the machine's user namespace: only the owner of the network namespace tells.
    pub fn in_own_user_namespace() -> Option<Netns> {
        Netns::make(&[], true)
    }

    fn make(addresses: &[&str], own_user_namespace: bool) -> Option<Netns> {
        let flags: &[&str] = if own_user_namespace { &["--user", "--map-root-user", "--net"] } else { &["--net"] };
        let holder = match Command::new("unshare").args(flags).args(["sleep", "900"]).stderr(Stdio::null()).spawn() {
            Ok(child) => child,
            Err(e) => return skipped(&format!("unshare: {e}")),
        };
        let netns = Netns { holder };
        // unshare execs sleep once the namespace exists: until then the link is still ours.
        let own = std::fs::read_link("/proc/self/ns/net").ok();
        for _ in 0..250 {
            let theirs = std::fs::read_link(format!("/proc/{}/ns/net", netns.pid())).ok();
            if theirs.is_some() && theirs != own {
                let mut setup = vec![vec!["ip", "link", "set", "lo", "up"]];
                let with_prefix: Vec<String> = addresses.iter().map(|a| format!("{a}/32")).collect();
                setup.extend(with_prefix.iter().map(|a| vec!["ip", "addr", "add", a.as_str(), "dev", "lo"]));
                for command in setup {
                    if let Err(e) = netns.run(&command) {
                        return skipped(&e);
                    }
                }
                return Some(netns);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        skipped("unshare -n did not make a namespace (not root?)")
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// Joins this namespace and `other` with a veth pair, `here` (`198.51.100.1/24`) on this
    /// end and `there` on the other: `other` is then routed from here, as a pod is from its
    /// node. Both ends go when the namespaces do.
    pub fn link(&self, other: &Netns, here: &str, there: &str) -> Result<(), String> {
        let (near, far) = (format!("vh{}", other.pid()), format!("vp{}", other.pid()));
        let to = other.pid().to_string();
        self.run(&["ip", "link", "add", &near, "type", "veth", "peer", "name", &far, "netns", &to])?;
        self.run(&["ip", "addr", "add", here, "dev", &near])?;
        self.run(&["ip", "link", "set", &near, "up"])?;
        other.run(&["ip", "addr", "add", there, "dev", &far])?;
        other.run(&["ip", "link", "set", &far, "up"]).map(drop)
    }

    /// `nsenter` into this namespace: put it before a command to run that command inside.
    pub fn prefix(&self) -> Vec<String> {
        vec!["nsenter".into(), format!("--net=/proc/{}/ns/net", self.pid()), "--".into()]
    }

    /// Runs a command inside and returns its stdout, or why it failed.
    pub fn run(&self, command: &[&str]) -> Result<String, String> {
        let prefix = self.prefix();
        let out = Command::new(&prefix[0])
            .args(&prefix[1..])
            .args(command)
            .output()
            .map_err(|e| format!("{command:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{command:?}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// GETs a URL from inside (curl), so a test reaches an exporter started in here.
    pub fn get(&self, url: &str) -> String {
        self.run(&["curl", "-fsS", "--max-time", "30", url]).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn skipped(why: &str) -> Option<Netns> {
    let required = std::env::var_os("LLM_EXPORTER_REQUIRE_NETNS").is_some_and(|v| !v.is_empty());
    assert!(!required, "no private network namespace: {why}");
    eprintln!("skipped: no private network namespace ({why})");
    None
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
