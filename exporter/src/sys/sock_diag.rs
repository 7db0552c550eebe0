//! Listening TCP sockets of a network namespace, from the kernel's `sock_diag` netlink
//! interface: the exporter's own, or another one entered for the purpose.
//!
//! Why not `/proc/PID/net/tcp{,6}`: the kernel makes those files by walking its
//! established-connection hash, one table for every namespace sized by RAM at boot
//! (`net.ipv4.tcp_ehash_entries`), and the first `read()` walks all of it whenever the
//! namespace has fewer rows than the buffer holds, which is the case for a pod with one
//! listener. Measured with `bench/netns_read_cost.py` on a 24 GiB machine (262,144 buckets):
//! 4.5 ms for the first read of `tcp` and `tcp6` of such a namespace, 55 µs for the same
//! namespace given a private 128-bucket hash: the time is the walk, and it grows with the
//! machine's memory. A `sock_diag` dump asked for LISTEN sockets only walks the listening
//! hash (71 µs, whatever the hash size).
//!
//! A netlink socket belongs to the namespace it was made in, so for another namespace a
//! short-lived thread enters it (`setns`, which needs `CAP_SYS_ADMIN`), makes the socket and
//! ends; the dump is then asked from the caller's thread. No thread of the exporter other than
//! that one ever changes namespace. The files stay the fallback: for a proc tree that is not
//! our own (`--path.procfs` fixtures) and when netlink or `setns` is refused (no privilege,
//! seccomp, an old kernel).
//!
//! The request is built and the answer parsed here, as bytes (the layouts are `linux/netlink.h`,
//! `linux/sock_diag.h` and `linux/inet_diag.h`, stable kernel ABI); only the socket calls are
//! `unsafe`. Every wait and every size is bounded.
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::listener::Listener;

/// `SOCK_DIAG_BY_FAMILY`: the request type of `inet_diag_req_v2`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCP_LISTEN` in the kernel's TCP state numbering.
const TCP_LISTEN: u32 = 10;
const NLMSG_HEADER: usize = 16;
/// `inet_diag_sockid`: ports, addresses, interface and cookie.
const SOCKID: usize = 48;
/// `inet_diag_msg`: family, state, timer, retrans, sockid, then expires, rqueue, wqueue, uid,
/// inode (five `u32`).
const DIAG_MSG: usize = 4 + SOCKID + 20;
/// Stop after this many sockets or this many reads, whatever the kernel keeps sending.
const MAX_LISTENERS: usize = 65_536;
const MAX_READS: usize = 4_096;

/// Every LISTEN TCP socket (IPv4 and IPv6) of this process's network namespace.
pub fn tcp_listeners() -> io::Result<Vec<Listener>> {
    dump(&open()?)
}

/// Every LISTEN TCP socket of the network namespace `ns_net` (a `/proc/PID/ns/net` file).
pub fn tcp_listeners_in(ns_net: &Path) -> io::Result<Vec<Listener>> {
    let namespace = std::fs::File::open(ns_net)?;
    let entered = std::thread::Builder::new().name("netns-diag".into()).spawn(move || {
        // SAFETY: setns on a descriptor this thread owns; it changes only this thread, which
        // ends right after making the socket.
        if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        open()
    })?;
    let socket = entered.join().map_err(|_| io::Error::other("the setns thread panicked"))??;
    dump(&socket)
}

fn dump(socket: &OwnedFd) -> io::Result<Vec<Listener>> {
    let mut found = Vec::new();
    for (seq, family) in [(1, libc::AF_INET as u8), (2, libc::AF_INET6 as u8)] {
        send(socket, &request(seq, family))?;
        receive(socket, seq, &mut found)?;
    }
    Ok(found)
}

fn open() -> io::Result<OwnedFd> {
    // SAFETY: plain system calls; the descriptor is owned by `OwnedFd` as soon as it exists.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // The kernel answers a dump at once; a second is a generous bound on a stuck one.
    let timeout = libc::timeval { tv_sec: 1, tv_usec: 0 };
    // SAFETY: `timeout` outlives the call and the length is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(socket)
}

fn send(socket: &OwnedFd, message: &[u8]) -> io::Result<()> {
    // SAFETY: an all-zero `sockaddr_nl` is valid (family set below; pid 0 is the kernel).
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: the buffer and the address outlive the call; lengths are their sizes.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn receive(socket: &OwnedFd, seq: u32, found: &mut Vec<Listener>) -> io::Result<()> {
    let mut buffer = vec![0u8; 32 * 1024];
    for _ in 0..MAX_READS {
        // SAFETY: the buffer outlives the call and the length is its size.
        let read = unsafe { libc::recv(socket.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len(), 0) };
        if read < 0 {
            return Err(io::Error::last_os_error());
        }
        let read = read as usize;
        match parse(&buffer[..read.min(buffer.len())], seq, found) {
            Parsed::More if found.len() < MAX_LISTENERS => continue,
            Parsed::More | Parsed::Done => return Ok(()),
            Parsed::Error(errno) => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
    Ok(())
}

/// The dump request for one address family: `nlmsghdr` followed by `inet_diag_req_v2`
/// (family, protocol, extensions, padding, state mask, an all-zero `inet_diag_sockid`).
pub fn request(seq: u32, family: u8) -> Vec<u8> {
    let length = NLMSG_HEADER + 8 + SOCKID;
    let mut message = Vec::with_capacity(length);
    message.extend_from_slice(&(length as u32).to_ne_bytes());
    message.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    message.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    message.extend_from_slice(&seq.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
    message.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    message.resize(length, 0);
    message
}

/// What one datagram of the answer said.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Sockets (or nothing) so far; the dump goes on.
    More,
    /// `NLMSG_DONE`: the dump is complete.
    Done,
    /// `NLMSG_ERROR` with this errno.
    Error(i32),
}

/// Parses one datagram of a `sock_diag` answer into `found`. Messages of another sequence
/// number, of another type or too short are skipped; a length that points past the end ends
/// the datagram.
pub fn parse(datagram: &[u8], seq: u32, found: &mut Vec<Listener>) -> Parsed {
    let mut rest = datagram;
    while rest.len() >= NLMSG_HEADER {
        let length = u32_at(rest, 0) as usize;
        if length < NLMSG_HEADER || length > rest.len() {
            break;
        }
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let message = &rest[..length];
        let payload = &message[NLMSG_HEADER..];
        if u32_at(rest, 8) == seq {
            match kind {
                k if k == libc::NLMSG_DONE as u16 => return Parsed::Done,
                k if k == libc::NLMSG_ERROR as u16 => {
                    let errno = if payload.len() >= 4 {
                        i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]])
                    } else {
                        0
                    };
                    return if errno == 0 { Parsed::Done } else { Parsed::Error(-errno) };
                }
                SOCK_DIAG_BY_FAMILY => found.extend(listener(payload)),
                _ => {}
            }
        }
        // Messages are padded to 4 bytes.
        rest = &rest[((length + 3) & !3).min(rest.len())..];
    }
    Parsed::More
}

/// One `inet_diag_msg`: a LISTEN socket's family, address, port and inode.
fn listener(msg: &[u8]) -> Option<Listener> {
    if msg.len() < DIAG_MSG || u32::from(msg[1]) != TCP_LISTEN {
        return None;
    }
    let ipv6 = match i32::from(msg[0]) {
        libc::AF_INET => false,
        libc::AF_INET6 => true,
        _ => return None,
    };
    // Ports and addresses are in network byte order.
    let port = u16::from_be_bytes([msg[4], msg[5]]);
    let address = if ipv6 {
        IpAddr::from(<[u8; 16]>::try_from(&msg[8..24]).ok()?)
    } else {
        IpAddr::from(<[u8; 4]>::try_from(&msg[8..12]).ok()?)
    };
    let inode = u64::from(u32_at(msg, 4 + SOCKID + 16));
    Some(Listener { ipv6, address, port, inode })
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv6Addr, TcpListener};
    use std::os::unix::fs::MetadataExt;

    fn inode_of(listener: &TcpListener) -> u64 {
        let link = format!("/proc/self/fd/{}", listener.as_raw_fd());
        std::fs::metadata(link).map(|m| m.ino()).unwrap_or(0)
    }

    fn diag_message(seq: u32, family: u8, state: u8, port: u16, source: [u8; 16], inode: u32) -> Vec<u8> {
        let length = NLMSG_HEADER + DIAG_MSG;
        let mut m = Vec::new();
        m.extend_from_slice(&(length as u32).to_ne_bytes());
        m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&[family, state, 0, 0]);
        m.extend_from_slice(&port.to_be_bytes());
        m.extend_from_slice(&0u16.to_be_bytes());
        m.extend_from_slice(&source);
        m.resize(NLMSG_HEADER + 4 + SOCKID + 16, 0);
        m.extend_from_slice(&inode.to_ne_bytes());
        m
    }

    #[test]
    fn finds_our_own_listeners_with_their_inodes() {
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let found = tcp_listeners().unwrap();
        let port = v4.local_addr().unwrap().port();
        let expected = Listener { ipv6: false, address: [127, 0, 0, 1].into(), port, inode: inode_of(&v4) };
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
        // IPv6 may be off on the machine; check it only where it can be bound.
        if let Ok(v6) = TcpListener::bind("[::1]:0") {
            let found = tcp_listeners().unwrap();
            let port = v6.local_addr().unwrap().port();
            let expected = Listener { ipv6: true, address: Ipv6Addr::LOCALHOST.into(), port, inode: inode_of(&v6) };
            assert!(found.contains(&expected), "{expected:?} not in {found:?}");
        }
    }

    #[test]
    fn agrees_with_proc_net_tcp() {
        let held = TcpListener::bind("0.0.0.0:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let mut from_netlink = tcp_listeners().unwrap();
        let mut from_files = super::super::linux::listeners_from_files(std::path::Path::new("/proc/self/net"));
        // Listeners can come and go between the two reads on a busy machine; compare ours.
        let ours = |l: &Listener| l.port == port;
        from_netlink.retain(ours);
        from_files.retain(ours);
        assert_eq!(from_netlink, from_files);
        assert_eq!(from_netlink.len(), 1);
    }

    #[test]
    fn parses_sockets_skips_the_rest_and_stops_at_done() {
        let mut datagram =
            diag_message(7, libc::AF_INET as u8, 10, 8080, [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 42);
        datagram.extend(diag_message(
            7,
            libc::AF_INET as u8,
            10,
            9090,
            [10, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            43,
        ));
        let mut v6_any = diag_message(7, libc::AF_INET6 as u8, 10, 11434, [0; 16], 44);
        datagram.append(&mut v6_any);
        // Another sequence number and another state are not ours.
        datagram.extend(diag_message(8, libc::AF_INET as u8, 10, 1, [0; 16], 45));
        datagram.extend(diag_message(7, libc::AF_INET as u8, 1, 2, [0; 16], 46));
        let mut found = Vec::new();
        assert_eq!(parse(&datagram, 7, &mut found), Parsed::More);
        let ports: Vec<(u16, bool, u64)> = found.iter().map(|l| (l.port, l.reaches_loopback(), l.inode)).collect();
        assert_eq!(ports, [(8080, true, 42), (9090, false, 43), (11434, true, 44)]);

        let mut done = vec![0u8; 20];
        done[..4].copy_from_slice(&20u32.to_ne_bytes());
        done[4..6].copy_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        done[8..12].copy_from_slice(&7u32.to_ne_bytes());
        assert_eq!(parse(&done, 7, &mut found), Parsed::Done);
    }

    #[test]
    fn hostile_datagrams_end_without_panic() {
        let mut found = Vec::new();
        let good = diag_message(1, libc::AF_INET as u8, 10, 80, [0; 16], 1);
        for cut in 0..good.len() {
            assert_eq!(parse(&good[..cut], 1, &mut found), Parsed::More);
        }
        // A zero length, a length past the end, a short error message.
        let mut zero = good.clone();
        zero[..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(parse(&zero, 1, &mut found), Parsed::More);
        let mut long = good.clone();
        long[..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(parse(&long, 1, &mut found), Parsed::More);
        let mut error = good[..NLMSG_HEADER].to_vec();
        error[..4].copy_from_slice(&(NLMSG_HEADER as u32).to_ne_bytes());
        error[4..6].copy_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        assert_eq!(parse(&error, 1, &mut found), Parsed::Done);
        error.extend_from_slice(&(-libc::EPERM).to_ne_bytes());
        error[..4].copy_from_slice(&((NLMSG_HEADER + 4) as u32).to_ne_bytes());
        assert_eq!(parse(&error, 1, &mut found), Parsed::Error(libc::EPERM));
        assert!(found.is_empty());
    }
}
