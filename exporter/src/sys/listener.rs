//! A listening TCP socket as discovery sees it, the same on every platform: `linux.rs` fills
//! it from `sock_diag` or `net/tcp`, `macos.rs` from libproc's socket descriptors.
use std::net::IpAddr;

/// A listening TCP socket: its address family, the address it is bound to, its port and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub ipv6: bool,
    /// `0.0.0.0` or `::` for a wildcard bind.
    pub address: IpAddr,
    pub port: u16,
    pub inode: u64,
}

impl Listener {
    /// True when a connection to loopback reaches it: bound to a wildcard or to loopback.
    pub fn reaches_loopback(&self) -> bool {
        match self.address {
            IpAddr::V4(a) => a.is_unspecified() || a.is_loopback(),
            IpAddr::V6(a) => {
                a.is_unspecified() || a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }
}
