//! The addresses of a network namespace and the routes of ours, from the proc files the
//! kernel keeps per namespace (`/proc/PID/net/…`), so another namespace is read without
//! entering it and without privileges beyond reading `/proc/PID/net`:
//!
//! - `fib_trie`: every IPv4 route table of the namespace; an address of its own is a leaf
//!   followed by a `/32 host LOCAL` line. It does not say on which interface: an IPv4 address
//!   counts only when the namespace's `route` table leaves through an interface other than
//!   loopback for it (an address put on `lo` is reachable from nowhere else);
//! - `if_inet6`: its IPv6 addresses with their scope, flags and interface;
//! - `route`, `ipv6_route`: the main route tables, read for the exporter's own namespace to
//!   tell whether an address is on a link of this machine that is not its uplink (see
//!   [`Routes::reach`]).
//!
//! Every file is read up to [`MAX_FILE_BYTES`], and a line cut there is dropped: a table cut
//! there lacks its last entries, so an address may be missed, never invented. `route` is
//! parsed by the `procfs-core` crate; it has no parser of the other three, which are ours.
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The most read of one file: a pod's tables are a few KiB; a router's full table is not
/// something discovery needs.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// `IFA_F_DADFAILED`, `IFA_F_TENTATIVE`: an IPv6 address that is not usable (yet).
const IFA_UNUSABLE: u32 = 0x08 | 0x40;
/// `RTF_GATEWAY`: a route through a router, to another machine.
const RTF_GATEWAY: u32 = 0x0002;
/// `RTF_REJECT`: an unreachable route.
const RTF_REJECT: u32 = 0x0200;

fn read_capped(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(file) = std::fs::File::open(path) {
        // A read error leaves what was read: the tables are line based.
        let _ = file.take(MAX_FILE_BYTES).read_to_string(&mut text);
    }
    without_cut_line(text, MAX_FILE_BYTES)
}

/// `text` read up to `cap` bytes, without its last line if the cap cut it: a cut line could
/// read as another route (a mask `00FFFFFF` cut to `00FF`).
fn without_cut_line(mut text: String, cap: u64) -> String {
    if text.len() as u64 >= cap {
        text.truncate(text.rfind('\n').map_or(0, |end| end + 1));
    }
    text
}

/// The usable addresses of the network namespace whose files are in `net` (`/proc/PID/net`),
/// loopback and link-local ones and those on its loopback interface left out (none can be
/// reached from another namespace).
pub fn namespace_addresses(net: &Path) -> Vec<IpAddr> {
    let links = Routes::parse_ipv4(&read_capped(&net.join("route")));
    let ipv4 = local_ipv4(&read_capped(&net.join("fib_trie"))).into_iter().map(IpAddr::V4);
    let mut found: Vec<IpAddr> = ipv4.filter(|a| links.leave_through_a_link(*a)).collect();
    found.extend(global_ipv6(&read_capped(&net.join("if_inet6"))).into_iter().map(IpAddr::V6));
    found
}

/// The namespace's own IPv4 addresses in a `fib_trie` dump, without loopback, each once
/// (the main and local tables both list them).
pub fn local_ipv4(fib_trie: &str) -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    let mut leaf: Option<Ipv4Addr> = None;
    // Loopback and link-local (169.254/16, which every link may reuse) reach no other namespace.
    for line in fib_trie.lines() {
        let line = line.trim_start();
        if let Some(address) = line.strip_prefix("|-- ") {
            leaf = address.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(address) = leaf.filter(|a| !a.is_loopback() && !a.is_link_local() && !found.contains(a)) {
                found.push(address);
            }
        } else if !line.starts_with('/') {
            leaf = None;
        }
    }
    found
}

/// The usable global-scope addresses of an `if_inet6` table, but those on `lo`: `ADDRESS
/// IFINDEX PREFIXLEN SCOPE FLAGS NAME`, numbers in hex.
pub fn global_ipv6(if_inet6: &str) -> Vec<Ipv6Addr> {
    if_inet6
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [address, _, _, scope, flags, iface] = fields.as_slice() else { return None };
            let usable = u32::from_str_radix(flags, 16).ok()? & IFA_UNUSABLE == 0;
            (*scope == "00" && usable && *iface != "lo").then(|| hex_ipv6(address)).flatten()
        })
        .collect()
}

/// 32 hex digits, the address in network order.
fn hex_ipv6(hex: &str) -> Option<Ipv6Addr> {
    (hex.len() == 32).then(|| u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)).flatten()
}

/// One route of a main table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    network: IpAddr,
    /// 0 for a default route.
    prefix: u8,
    iface: String,
    /// The router it goes through (a gateway, an IPv6 next hop); `None` on the link itself.
    gateway: Option<IpAddr>,
    /// Leaves through a link: not through loopback, not unreachable, not a blackhole (`*`).
    on_a_link: bool,
    /// Of two routes with the same prefix the kernel takes the lower metric.
    metric: u32,
}

impl Route {
    fn new(network: IpAddr, prefix: u8, iface: &str, flags: u32, gateway: Option<IpAddr>, metric: u32) -> Route {
        let on_a_link = !["lo", "*"].contains(&iface) && flags & RTF_REJECT == 0;
        Route { network, prefix, iface: iface.to_string(), gateway, on_a_link, metric }
    }

    fn covers(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(a)) => within(u32::from(net).into(), u32::from(a).into(), 32, self.prefix),
            (IpAddr::V6(net), IpAddr::V6(a)) => within(u128::from(net), u128::from(a), 128, self.prefix),
            _ => false,
        }
    }
}

/// The main routes of a namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    /// The routes in the `route` and `ipv6_route` files of a `net/` directory.
    pub fn read(net: &Path) -> Routes {
        let mut routes = Routes::parse_ipv4(&read_capped(&net.join("route")));
        routes.routes.extend(Routes::parse_ipv6(&read_capped(&net.join("ipv6_route"))).routes);
        routes
    }

    /// `/proc/net/route`, parsed by the `procfs-core` crate; a table it cannot read whole gives
    /// no route (an address is then missed, never invented).
    pub fn parse_ipv4(text: &str) -> Routes {
        use procfs_core::FromBufRead;
        let Ok(table) = procfs_core::net::RouteEntries::from_buf_read(text.as_bytes()) else {
            return Routes::default();
        };
        let routes = table.0.into_iter().map(|r| {
            let prefix = u32::from(r.mask).leading_ones() as u8;
            let flags = u32::from(r.flags);
            let gateway = (flags & RTF_GATEWAY != 0).then_some(IpAddr::V4(r.gateway));
            Route::new(r.destination.into(), prefix, &r.iface, flags, gateway, r.metrics)
        });
        Routes { routes: routes.collect() }
    }

    /// `/proc/net/ipv6_route`: `DESTINATION PREFIXLEN SOURCE SRCLEN NEXTHOP METRIC REFCNT USE
    /// FLAGS IFACE`, addresses as 32 hex digits in network order.
    pub fn parse_ipv6(text: &str) -> Routes {
        let routes = text.lines().filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [destination, prefix, _, _, next_hop, metric, _, _, flags, iface] = fields.as_slice() else {
                return None;
            };
            let prefix = u8::from_str_radix(prefix, 16).ok().filter(|p| *p <= 128)?;
            let network = hex_ipv6(destination)?;
            let flags = u32::from_str_radix(flags, 16).ok()?;
            let gateway = hex_ipv6(next_hop).filter(|h| !h.is_unspecified()).map(IpAddr::V6);
            let metric = u32::from_str_radix(metric, 16).ok()?;
            (!network.is_multicast()).then(|| Route::new(network.into(), prefix, iface, flags, gateway, metric))
        });
        Routes { routes: routes.collect() }
    }

    /// True when `address` is on a link of this machine that leads to local containers, not
    /// off the machine: a route on the link itself (no gateway), that is not the default route,
    /// and whose interface carries no default route (the uplink, on which an address could be
    /// another machine's). `is_own` tells this machine's addresses: a gateway that is one of them
    /// is no router. A bridge of containers or pods (`docker0`, `podman0`, `cni0`), a pod's own
    /// veth (`cali…`) and Cilium's route through `cilium_host` pass; the LAN and everything
    /// behind a router do not.
    pub fn reach(&self, address: IpAddr, is_own: &mut dyn FnMut(IpAddr) -> bool) -> bool {
        let uplinks: Vec<&str> =
            self.routes.iter().filter(|r| r.prefix == 0 && r.on_a_link).map(|r| r.iface.as_str()).collect();
        self.taken(address).is_some_and(|r| {
            // A gateway of this machine's own inside the route's network (Cilium's route to this
            // node's pods through `cilium_host`) is still this machine; through the same
            // gateway to another network (Cilium's routes to other nodes' pods) it is not.
            let local = r.gateway.is_none_or(|g| r.covers(g) && is_own(g));
            r.on_a_link && r.prefix > 0 && local && !uplinks.contains(&r.iface.as_str())
        })
    }

    /// True when traffic for `address` leaves through a link, by any route, the default too.
    pub fn leave_through_a_link(&self, address: IpAddr) -> bool {
        self.taken(address).is_some_and(|r| r.on_a_link)
    }

    /// The route the kernel takes to `address` in the main table: the longest prefix that
    /// covers it, of those the lowest metric.
    fn taken(&self, address: IpAddr) -> Option<&Route> {
        let covering = self.routes.iter().filter(|r| r.covers(address));
        covering.min_by_key(|r| (std::cmp::Reverse(r.prefix), r.metric))
    }
}

/// True when the first `prefix` of `bits` bits of `network` and `address` agree.
fn within(network: u128, address: u128, bits: u8, prefix: u8) -> bool {
    let shift = u32::from(bits.saturating_sub(prefix.min(bits)));
    network.checked_shr(shift).unwrap_or(0) == address.checked_shr(shift).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod's namespace: a veth with 198.51.100.2/24 and 2001:db8::2/64, captured.
    const FIB_TRIE: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 198.51.100.0/24 2 0 2
        +-- 198.51.100.0/30 2 0 2
           |-- 198.51.100.0
              /24 link UNICAST
           |-- 198.51.100.2
              /32 host LOCAL
        |-- 198.51.100.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     +-- 198.51.100.0/24 2 0 2
           |-- 198.51.100.2
              /32 host LOCAL
";
    const IF_INET6: &str = "00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000034c2e0fffe836a95 02 40 20 c0       vp
20010db8000000000000000000000002 02 40 00 82       vp
20010db8000000000000000000000009 02 40 00 c0       vp
20010db8000000000000000000000077 01 80 00 80       lo
";
    /// The exporter's namespace: the other end of the veth.
    const ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
vh\t006433C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
vh\t806433C6\t026433C6\t0003\t0\t0\t0\t80FFFFFF\t0\t0\t0
cilium_host\t000A000A\t070A000A\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0
cilium_host\t000B000A\t070A000A\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t000C000A\t00000000\t0001\t0\t0\t200\t00FFFFFF\t0\t0\t0
br1\t000C000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
lo\t0000000B\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0
wg0\t0000000C\t0100000C\t0003\t0\t0\t0\t000000FF\t0\t0\t0
*\t406433C6\t00000000\t0001\t0\t0\t0\tC0FFFFFF\t0\t0\t0
";
    const IPV6_ROUTE: &str = "\
20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001       vh
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001       vh
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001       vh
20010db8000100000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000201       vh
";

    #[test]
    fn addresses_of_a_namespace() {
        assert_eq!(local_ipv4(FIB_TRIE), [Ipv4Addr::new(198, 51, 100, 2)]);
        let v6: Ipv6Addr = "2001:db8::2".parse().unwrap();
        assert_eq!(global_ipv6(IF_INET6), [v6], "link-local, loopback, tentative and lo's are left out");
        assert!(local_ipv4("").is_empty() && global_ipv6("garbage\n1 2 3 4 5 6\n").is_empty());
    }

    /// The tables hold addresses as words in host byte order, written here for little-endian
    /// machines (every target this project builds for).
    #[cfg(target_endian = "little")]
    #[test]
    fn only_specific_routes_reach() {
        let mut routes = Routes::parse_ipv4(ROUTE);
        routes.routes.extend(Routes::parse_ipv6(IPV6_ROUTE).routes);
        let own = |a: IpAddr| ["198.51.100.1", "10.0.10.7"].iter().any(|o| a == o.parse::<IpAddr>().unwrap());
        let reach = |a: &str| routes.reach(a.parse().unwrap(), &mut own.clone());
        assert!(reach("198.51.100.2") && reach("198.51.100.63"));
        assert!(!reach("198.51.100.70"), "a blackhole inside the link's network");
        assert!(!reach("198.51.100.200"), "the longest prefix goes through a gateway");
        assert!(reach("10.0.10.9"), "through a gateway that is this machine's own address, inside the route");
        assert!(!reach("10.0.11.9"), "the same gateway to another network: another node's pods");
        assert!(reach("10.0.12.9"), "the lower metric of two routes: the bridge, not the uplink");
        assert!(!reach("203.0.113.7"), "only the default route leads there");
        assert!(!reach("10.0.0.5"), "on the uplink's own network: could be another machine");
        assert!(!reach("11.0.0.5"), "through loopback");
        assert!(!reach("12.0.0.5"), "through a gateway");
        assert!(reach("2001:db8::2"));
        assert!(!reach("2001:db8:1::2"), "an unreachable route");
        assert!(!reach("2001:db9::2") && !reach("ff02::1"));
        assert!(routes.leave_through_a_link("203.0.113.7".parse().unwrap()), "the default route is a link");
        assert!(!routes.leave_through_a_link("2001:db8:1::2".parse().unwrap()));
        assert_eq!(Routes::parse_ipv4("header\nbad line\nvh zz 0 0 0 0 0 zz\n"), Routes::default());
        let cut = "header\nvh\t006433C6\t00000000\t0001\t0\t0\t0\t00FF".to_string();
        let len = cut.len() as u64;
        assert_eq!(without_cut_line(cut.clone(), len), "header\n", "a cut mask is no /8");
        assert_eq!(without_cut_line(cut.clone(), len + 1), cut, "not cut");
        assert!(!Routes::parse_ipv4("").leave_through_a_link("198.51.100.2".parse().unwrap()), "only lo");
    }

    #[test]
    fn prefixes() {
        assert!(within(0xC633_6400, 0xC633_64FF, 32, 24));
        assert!(!within(0xC633_6400, 0xC633_65FF, 32, 24));
        assert!(within(1, 1, 32, 32) && !within(1, 2, 32, 32));
        assert!(within(0, u128::MAX, 128, 0), "a zero prefix, the default route, takes everything");
    }
}
