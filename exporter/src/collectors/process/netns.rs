//! Which local server a URL reaches: network namespaces and local addresses.
//!
//! A server found through its process is reachable at this exporter's loopback only when its
//! socket is in the exporter's own network namespace: another namespace (a container, a pod,
//! `unshare -n`) has a loopback of its own, and the same port there is another server. The
//! namespaces are compared through the proc root (`ns/net` links of `self` and of the PID),
//! so `--path.procfs` trees work the same way.
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use reqwest::Url;

use super::listener::Listener;

/// The exporter's own network namespace, as its proc root names it.
pub struct OwnNetns {
    root: PathBuf,
    own: Option<PathBuf>,
}

impl OwnNetns {
    pub fn new(root: &Path) -> OwnNetns {
        OwnNetns { root: root.to_path_buf(), own: std::fs::read_link(root.join("self/ns/net")).ok() }
    }

    /// True when `pid` shares the exporter's network namespace, or when that cannot be told (a
    /// fixture tree, another user's process: then its sockets cannot be read either).
    pub fn contains(&self, pid: u32) -> bool {
        let theirs = std::fs::read_link(self.root.join(pid.to_string()).join("ns/net")).ok();
        match (&self.own, theirs) {
            (Some(own), Some(theirs)) => *own == theirs,
            _ => true,
        }
    }
}

/// True when a server at `url` is the process listening on `listeners` (sockets of the
/// exporter's own namespace). The URL's host must be an IP address or `localhost`; a socket
/// bound to that address, or a wildcard socket of the same family (`::` also takes IPv4)
/// on the same port, serves it, the wildcard only when `is_local` says the address is one
/// of this machine's.
pub fn serves(url: &Url, listeners: &[Listener], is_local: &mut dyn FnMut(IpAddr) -> bool) -> bool {
    let Some(port) = url.port_or_known_default() else { return false };
    let host = url.host_str().unwrap_or("");
    let addresses: Vec<IpAddr> = match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(address) => vec![address],
        Err(_) if host == "localhost" => vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()],
        Err(_) => return false,
    };
    listeners.iter().filter(|l| l.port == port).any(|l| {
        addresses.iter().any(|&address| match l.address {
            bound if bound.is_unspecified() => {
                (l.ipv6 || address.is_ipv4()) && (address.is_loopback() || is_local(address))
            }
            bound => canonical(bound) == canonical(address),
        })
    })
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The IP addresses of the exporter's network namespace (`getifaddrs`).
pub fn local_addresses() -> Vec<IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a list it allocates; it is freed below, once.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: every entry of the list is valid until freeifaddrs.
        let e = unsafe { &*entry };
        if !e.ifa_addr.is_null() {
            // SAFETY: `ifa_addr` points at a sockaddr whose family says its real type.
            let address = unsafe {
                match i32::from((*e.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let a = &*(e.ifa_addr as *const libc::sockaddr_in);
                        Some(IpAddr::from(a.sin_addr.s_addr.to_ne_bytes()))
                    }
                    libc::AF_INET6 => {
                        Some(IpAddr::from((*(e.ifa_addr as *const libc::sockaddr_in6)).sin6_addr.s6_addr))
                    }
                    _ => None,
                }
            };
            found.extend(address);
        }
        entry = e.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is not used after this.
    unsafe { libc::freeifaddrs(list) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(address: &str, port: u16) -> Listener {
        let address: IpAddr = address.parse().unwrap();
        Listener { ipv6: address.is_ipv6(), address, port, inode: 1 }
    }

    fn url(u: &str) -> Url {
        u.parse().unwrap()
    }

    #[test]
    fn configured_urls_match_their_listener() {
        let mut local = |a: IpAddr| a == "192.0.2.2".parse::<IpAddr>().unwrap();
        let specific = [listener("192.0.2.2", 8080)];
        assert!(serves(&url("http://192.0.2.2:8080/"), &specific, &mut local));
        assert!(!serves(&url("http://192.0.2.2:8081/"), &specific, &mut local));
        assert!(!serves(&url("http://127.0.0.1:8080/"), &specific, &mut local), "not bound to loopback");
        let wildcard = [listener("0.0.0.0", 8080)];
        assert!(serves(&url("http://192.0.2.2:8080/"), &wildcard, &mut local));
        assert!(serves(&url("http://localhost:8080/"), &wildcard, &mut local));
        assert!(!serves(&url("http://192.0.2.9:8080/"), &wildcard, &mut local), "another machine");
        assert!(!serves(&url("http://[::1]:8080/"), &wildcard, &mut local), "IPv4 only");
        let v6_wildcard = [listener("::", 8080)];
        assert!(serves(&url("http://192.0.2.2:8080/"), &v6_wildcard, &mut local));
        assert!(serves(&url("http://[::1]:8080/"), &v6_wildcard, &mut local));
        let mapped = [listener("::ffff:192.0.2.2", 8080)];
        assert!(serves(&url("http://192.0.2.2:8080/"), &mapped, &mut local));
        assert!(!serves(&url("http://gpu-box:8080/"), &wildcard, &mut local), "names are not resolved");
        assert!(serves(&url("http://127.0.0.1/"), &[listener("127.0.0.1", 80)], &mut local));
    }

    #[test]
    fn our_namespace_and_addresses() {
        let own = OwnNetns::new(Path::new("/proc"));
        assert!(own.contains(std::process::id()));
        assert!(OwnNetns::new(Path::new("/nonexistent")).contains(1), "unknown counts as ours");
        let addresses = local_addresses();
        assert!(addresses.contains(&IpAddr::from([127, 0, 0, 1])), "{addresses:?}");
    }
}
