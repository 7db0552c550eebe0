//! Which local server a URL reaches, and where a server of another network namespace can be
//! reached: namespaces, their addresses, and the routes of ours.
//!
//! A server found through its process is reachable at this exporter's loopback only when its
//! socket is in the exporter's own network namespace: another namespace (a container, a pod,
//! `unshare -n`) has a loopback of its own, and the same port there is another server. Such a
//! server is scraped at an address of its own namespace instead, when it listens there and
//! that address is on a link of this machine that leads to local containers (a pod IP on this
//! node, a container bridge address; see [`Routes::reach`]): never through a router or the
//! uplink, where the same address could be another machine's.
//!
//! A namespace's addresses are whatever its owner put there. Only a network namespace owned
//! by the exporter's own user namespace is believed: one made by root (a container runtime,
//! the kubelet), not one made by an unprivileged user in a user namespace of their own
//! (`unshare -rn`, a rootless container), who could give it the address of another machine on
//! a link of this one. The owner is asked of the kernel (`NS_GET_USERNS` on `ns/net`, Linux
//! 4.9 and later; where that fails the namespace is not believed). The namespaces are found
//! through the proc root (`ns/net` of `self` and of the PID), so `--path.procfs` trees work
//! the same way.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use reqwest::Url;

use super::ns_addresses::{namespace_addresses, Routes};
use crate::sys::Listener;

/// The network namespaces one discovery scan meets: the exporter's own, with its addresses
/// and routes, and the reachable addresses of each other one, each read once.
pub struct Namespaces {
    root: PathBuf,
    own: Option<PathBuf>,
    /// The exporter's user namespace, as (device, inode) of its nsfs file.
    own_user: Option<(u64, u64)>,
    own_addresses: Option<Vec<IpAddr>>,
    routes: Option<Routes>,
    theirs: HashMap<PathBuf, Vec<IpAddr>>,
}

impl Namespaces {
    pub fn new(root: &Path) -> Namespaces {
        Namespaces {
            root: root.to_path_buf(),
            own: std::fs::read_link(root.join("self/ns/net")).ok(),
            own_user: namespace_id(&root.join("self/ns/user")),
            own_addresses: None,
            routes: None,
            theirs: HashMap::new(),
        }
    }

    /// The network namespace of `pid`, as the kernel names it (`net:[4026531840]`).
    pub fn link(&self, pid: u32) -> Option<PathBuf> {
        std::fs::read_link(self.root.join(pid.to_string()).join("ns/net")).ok()
    }

    /// True when `pid`'s network namespace is owned by the exporter's own user namespace, so
    /// its addresses are believed (see the module doc).
    pub fn is_trusted(&self, pid: u32) -> bool {
        let theirs = owner_of_network_namespace(&self.root.join(pid.to_string()).join("ns/net"));
        theirs.is_some() && theirs == self.own_user
    }

    /// True when `pid` shares the exporter's network namespace, or when that cannot be told (a
    /// fixture tree, another user's process: then its sockets cannot be read either).
    pub fn is_own(&self, pid: u32) -> bool {
        match (&self.own, self.link(pid)) {
            (Some(own), Some(theirs)) => *own == theirs,
            _ => true,
        }
    }

    /// True when a connection to `address` from here stays in the exporter's namespace:
    /// loopback or one of its addresses.
    pub fn is_own_address(&mut self, address: IpAddr) -> bool {
        is_among(self.own_addresses.get_or_insert_with(local_addresses), address)
    }

    /// The addresses of `pid`'s namespace (another one) that a connection from here reaches:
    /// not loopback or link-local, not also an address of ours, and on a link of this machine
    /// to local containers ([`Routes::reach`]).
    pub fn reachable(&mut self, pid: u32) -> Vec<IpAddr> {
        let key = self.link(pid).unwrap_or_else(|| PathBuf::from(format!("pid {pid}")));
        if let Some(found) = self.theirs.get(&key) {
            return found.clone();
        }
        let candidates = namespace_addresses(&self.root.join(pid.to_string()).join("net"));
        let routes = self.routes.get_or_insert_with(|| Routes::read(&self.root.join("self/net")));
        let own = self.own_addresses.get_or_insert_with(local_addresses);
        let mut is_own = |a: IpAddr| is_among(own, a);
        let found: Vec<IpAddr> =
            candidates.into_iter().filter(|&a| !is_among(own, a) && routes.reach(a, &mut is_own)).collect();
        self.theirs.insert(key, found.clone());
        found
    }
}

/// True when `address` is loopback or one of `own` (this namespace's addresses).
fn is_among(own: &[IpAddr], address: IpAddr) -> bool {
    let address = canonical(address);
    address.is_loopback() || own.contains(&address)
}

/// (device, inode) of a namespace file: what tells two namespaces apart.
fn namespace_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The user namespace that owns the network namespace `ns_net` (`/proc/PID/ns/net`), as
/// (device, inode), from the kernel's `NS_GET_USERNS`.
#[cfg(target_os = "linux")]
fn owner_of_network_namespace(ns_net: &Path) -> Option<(u64, u64)> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    /// `_IO(0xb7, 0x1)` of `linux/nsfs.h`.
    const NS_GET_USERNS: libc::c_ulong = 0xb701;
    let net = std::fs::File::open(ns_net).ok()?;
    // SAFETY: an ioctl on a descriptor this function owns; it returns a new descriptor or -1.
    let owner = unsafe { libc::ioctl(net.as_raw_fd(), NS_GET_USERNS as _) };
    if owner < 0 {
        return None;
    }
    // SAFETY: `owner` is a fresh descriptor nobody else owns.
    let owner = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(owner) });
    let meta = owner.metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// No network namespaces elsewhere: nothing to believe.
#[cfg(not(target_os = "linux"))]
fn owner_of_network_namespace(_: &Path) -> Option<(u64, u64)> {
    None
}

/// Where a server of another namespace is scraped: its lowest port that listens on one of
/// `reachable` (its namespace's addresses this exporter reaches), at that address. A wildcard
/// socket takes the first address of its family; `::` takes IPv4 only when the namespace has
/// no IPv6 address (most pods), as the socket may be IPv6-only.
pub fn reachable_target(listening: &[Listener], reachable: &[IpAddr]) -> Option<SocketAddr> {
    let first = |v4: bool| reachable.iter().copied().find(|a| a.is_ipv4() == v4);
    listening
        .iter()
        .filter_map(|l| {
            let address = match l.address {
                bound if bound.is_unspecified() && !l.ipv6 => first(true),
                bound if bound.is_unspecified() => first(false).or_else(|| first(true)),
                bound => Some(canonical(bound)).filter(|b| reachable.contains(b)),
            }?;
            Some(SocketAddr::new(address, l.port))
        })
        .min_by_key(|target| target.port())
}

/// Where a server of the exporter's own namespace is scraped: its lowest port that loopback
/// reaches, at `127.0.0.1`, or at `[::1]` when only IPv6 sockets listen on that port.
pub fn loopback_target(listening: &[Listener]) -> Option<SocketAddr> {
    let reached: Vec<&Listener> = listening.iter().filter(|l| l.reaches_loopback()).collect();
    let port = reached.iter().map(|l| l.port).min()?;
    let ipv6_only = reached.iter().filter(|l| l.port == port).all(|l| l.ipv6);
    let address: IpAddr = if ipv6_only { Ipv6Addr::LOCALHOST.into() } else { [127, 0, 0, 1].into() };
    Some(SocketAddr::new(address, port))
}

/// True when a server at `url` is the process listening on `listeners`. The URL's host must be
/// an IP address or `localhost`, one that `is_theirs` says reaches the listeners' namespace
/// (loopback and this machine's addresses for our own; the reachable addresses for another);
/// a socket bound to that address, or a wildcard socket of the same family (`::` also takes
/// IPv4) on the same port, serves it.
pub fn serves(url: &Url, listeners: &[Listener], is_theirs: &mut dyn FnMut(IpAddr) -> bool) -> bool {
    let Some(port) = url.port_or_known_default() else { return false };
    let host = url.host_str().unwrap_or("");
    let addresses: Vec<IpAddr> = match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(address) => vec![address],
        Err(_) if host == "localhost" => vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()],
        Err(_) => return false,
    };
    listeners.iter().filter(|l| l.port == port).any(|l| {
        addresses.iter().any(|&address| {
            let bound = match l.address {
                bound if bound.is_unspecified() => l.ipv6 || address.is_ipv4(),
                bound => canonical(bound) == canonical(address),
            };
            bound && is_theirs(address)
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
        let mut local = |a: IpAddr| a.is_loopback() || canonical(a) == "192.0.2.2".parse::<IpAddr>().unwrap();
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

        // Another namespace: only its reachable addresses, never our loopback.
        let mut pod = |a: IpAddr| a == "198.51.100.2".parse::<IpAddr>().unwrap();
        assert!(serves(&url("http://198.51.100.2:8080/"), &wildcard, &mut pod));
        assert!(!serves(&url("http://localhost:8080/"), &wildcard, &mut pod));
        assert!(!serves(&url("http://127.0.0.1:8080/"), &[listener("127.0.0.1", 8080)], &mut pod));
    }

    #[test]
    fn targets_in_our_namespace_and_in_another() {
        assert_eq!(loopback_target(&[listener("0.0.0.0", 9000), listener("::", 8080)]), Some(addr("[::1]:8080")));
        assert_eq!(loopback_target(&[listener("0.0.0.0", 8080), listener("::", 8080)]), Some(addr("127.0.0.1:8080")));
        assert_eq!(loopback_target(&[listener("::1", 8080)]), Some(addr("[::1]:8080")));
        assert_eq!(loopback_target(&[listener("192.0.2.2", 8080)]), None);

        let reachable: Vec<IpAddr> = vec!["2001:db8::2".parse().unwrap(), "198.51.100.2".parse().unwrap()];
        let target = |l: &[Listener]| reachable_target(l, &reachable);
        assert_eq!(target(&[listener("0.0.0.0", 8000)]), Some(addr("198.51.100.2:8000")));
        assert_eq!(target(&[listener("::", 8000)]), Some(addr("[2001:db8::2]:8000")), "IPv6 first");
        assert_eq!(reachable_target(&[listener("::", 8000)], &reachable[1..]), Some(addr("198.51.100.2:8000")));
        assert_eq!(reachable_target(&[listener("0.0.0.0", 8000)], &reachable[..1]), None, "no IPv4 address");
        assert_eq!(target(&[listener("127.0.0.1", 8000), listener("::1", 8001)]), None, "their loopback");
        assert_eq!(target(&[listener("198.51.100.9", 8000)]), None, "not an address of theirs we reach");
        assert_eq!(
            target(&[listener("::ffff:198.51.100.2", 9000), listener("2001:db8::2", 8001)]),
            Some(addr("[2001:db8::2]:8001"))
        );
        assert_eq!(target(&[]), None);
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn our_namespace_and_addresses() {
        let mut own = Namespaces::new(Path::new("/proc"));
        assert!(own.is_own(std::process::id()));
        assert!(own.is_own_address("127.0.0.2".parse().unwrap()));
        assert!(own.is_own_address("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!own.is_own_address("198.51.100.77".parse().unwrap()));
        assert!(Namespaces::new(Path::new("/nonexistent")).is_own(1), "unknown counts as ours");
        assert!(own.is_trusted(std::process::id()));
        assert!(!Namespaces::new(Path::new("/nonexistent")).is_trusted(1), "unknown is not believed");
        let addresses = local_addresses();
        assert!(addresses.contains(&IpAddr::from([127, 0, 0, 1])), "{addresses:?}");
    }
}
