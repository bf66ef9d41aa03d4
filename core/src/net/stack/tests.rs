//! Two guests' stacks joined by an in-memory wire, and one stack's loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use smoltcp::time::Duration;

use super::*;

const A4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

struct Pair {
    a: Stack,
    b: Stack,
    /// The wire ends: `la` is a's (what it sends b receives), `lb` is b's.
    la: MemoryLink,
    lb: MemoryLink,
}

fn guest(name_ip4: Ipv4Addr, ip6: Ipv6Addr, mac_last: u8, link: MemoryLink) -> Stack {
    let mut s = Stack::new();
    let id = s.add_ethernet("eth0", [0xfe, 0xfd, 10, 0, 0, mac_last], Arc::new(link));
    let nic = s.nic_mut(id).unwrap();
    nic.add_address(name_ip4.into(), 24).unwrap();
    nic.add_address(ip6.into(), 64).unwrap();
    nic.set_up(true);
    s
}

fn pair() -> Pair {
    let (la, lb) = memory_link_pair();
    Pair { a: guest(A4, A6, 1, la.clone()), b: guest(B4, B6, 2, lb.clone()), la, lb }
}

impl Pair {
    /// Polls both stacks until `done` holds (panics after 60 s of wall time).
    fn run(&mut self, mut done: impl FnMut(&mut Stack, &mut Stack) -> bool) {
        let start = StdInstant::now();
        loop {
            self.a.poll(self.a.clock().now());
            self.b.poll(self.b.clock().now());
            if done(&mut self.a, &mut self.b) {
                return;
            }
            assert!(start.elapsed() < StdDuration::from_secs(60), "timed out");
        }
    }
}

fn sa(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

fn echo_request(ident: u16, seq: u16, v6: bool) -> Vec<u8> {
    let mut m = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(b"umvm ping payload");
    m
}

fn ping(from: &mut Pair, a_to_b: bool, dst: IpAddr, ident: u16) {
    let s = if a_to_b { &mut from.a } else { &mut from.b };
    let v6 = dst.is_ipv6();
    let id = s.socket(v6, Protocol::Icmp);
    s.icmp_send_to(id, &echo_request(ident, 7, v6), dst).unwrap();
    let mut reply = None;
    from.run(|a, b| {
        let s = if a_to_b { a } else { b };
        let mut buf = [0u8; 256];
        if let Ok(m) = s.icmp_recv_from(id, &mut buf) {
            reply = Some((buf[..m.len].to_vec(), m.from));
            return true;
        }
        false
    });
    let (msg, from_addr) = reply.unwrap();
    assert_eq!(msg[0], if v6 { 129 } else { 0 }, "an echo reply");
    assert_eq!(u16::from_be_bytes([msg[4], msg[5]]), ident);
    assert_eq!(u16::from_be_bytes([msg[6], msg[7]]), 7);
    assert_eq!(&msg[8..], b"umvm ping payload");
    assert_eq!(from_addr.ip(), dst);
}

#[test]
fn arp_then_ping_both_ways() {
    let mut p = pair();
    ping(&mut p, true, B4.into(), 0x1234);
    // a's first frame was a broadcast ARP request: b counted it as multicast.
    assert!(p.b.nics()[1].counters().multicast >= 1);
    ping(&mut p, false, A4.into(), 0x4321);
    ping(&mut p, true, B6.into(), 0x5555);
    assert!(p.a.proc_net_dev().contains("  eth0:"));
    assert!(p.a.proc_net_dev().contains("    lo:"));
}

/// A deterministic byte stream and its FNV-1a checksum.
fn pattern(seed: &mut u64, buf: &mut [u8]) {
    for b in buf.iter_mut() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *b = *seed as u8;
    }
}

fn fnv(h: &mut u64, data: &[u8]) {
    for &b in data {
        *h ^= u64::from(b);
        *h = h.wrapping_mul(0x100000001b3);
    }
}

/// Connects a's socket to a listener on b's `port`; returns (client on a, server side on b).
fn connect_pair(p: &mut Pair, port: u16) -> (SocketId, SocketId) {
    let l = p.b.socket(false, Protocol::Tcp);
    p.b.bind(l, sa(Ipv4Addr::UNSPECIFIED, port)).unwrap();
    p.b.tcp_listen(l, 8).unwrap();
    let c = p.a.socket(false, Protocol::Tcp);
    p.a.tcp_connect(c, sa(B4, port)).unwrap();
    let mut server = None;
    p.run(|a, b| {
        if server.is_none() {
            server = b.tcp_accept(l).ok().map(|(s, _)| s);
        }
        server.is_some() && a.readiness(c).writable
    });
    (c, server.unwrap())
}

fn transfer(p: &mut Pair, c: SocketId, s: SocketId, total: usize) -> (u64, u64, f64) {
    let (mut sent, mut got) = (0usize, 0usize);
    let (mut hs, mut hr) = (0xcbf29ce484222325u64, 0xcbf29ce484222325u64);
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut out = vec![0u8; 64 * 1024];
    let mut pending = 0..0;
    let mut inbuf = vec![0u8; 64 * 1024];
    let start = StdInstant::now();
    p.run(|a, b| {
        loop {
            if pending.is_empty() && sent < total {
                let n = out.len().min(total - sent);
                pattern(&mut seed, &mut out[..n]);
                fnv(&mut hs, &out[..n]);
                sent += n;
                pending = 0..n;
            }
            if pending.is_empty() {
                break;
            }
            match a.tcp_send(c, &out[pending.clone()]) {
                Ok(n) => pending.start += n,
                Err(e) => {
                    assert_eq!(e, Errno::EAGAIN);
                    break;
                }
            }
        }
        if sent == total && pending.is_empty() {
            let _ = a.tcp_shutdown(c, false, true);
        }
        loop {
            match b.tcp_recv(s, &mut inbuf) {
                Ok(0) => return true,
                Ok(n) => {
                    fnv(&mut hr, &inbuf[..n]);
                    got += n;
                }
                Err(e) => {
                    assert_eq!(e, Errno::EAGAIN);
                    return false;
                }
            }
        }
    });
    assert_eq!(got, total);
    (hs, hr, total as f64 / start.elapsed().as_secs_f64() / 1e6)
}

#[test]
fn tcp_10mb_transfer_with_checksum() {
    let mut p = pair();
    let (c, s) = connect_pair(&mut p, 5001);
    assert_eq!(p.b.peer_addr(s).unwrap().ip(), IpAddr::from(A4));
    assert_eq!(p.a.peer_addr(c).unwrap(), sa(B4, 5001));
    let (hs, hr, mbps) = transfer(&mut p, c, s, 10 << 20);
    assert_eq!(hs, hr, "checksums differ");
    eprintln!("in-memory TCP transfer, 10 MiB: {mbps:.1} MB/s");
    // The reader saw EOF; closing its end finishes the connection: a's side leaves LAST-ACK/TIME-WAIT.
    assert!(p.b.readiness(s).rdhup);
    p.b.close(s);
    p.a.close(c);
    p.run(|a, _| a.smoltcp_socket_count() <= 1);
}

#[test]
fn fifty_parallel_tcp_connections() {
    let mut p = pair();
    let l = p.b.socket(false, Protocol::Tcp);
    p.b.bind(l, sa(B4, 7000)).unwrap();
    p.b.tcp_listen(l, 64).unwrap();
    let clients: Vec<SocketId> = (0..50)
        .map(|_| {
            let c = p.a.socket(false, Protocol::Tcp);
            p.a.tcp_connect(c, sa(B4, 7000)).unwrap();
            c
        })
        .collect();
    let mut servers = Vec::new();
    let mut sent = [false; 50];
    let mut echoed = vec![Vec::new(); 50];
    p.run(|a, b| {
        while let Ok((s, _)) = b.tcp_accept(l) {
            servers.push(s);
        }
        for (i, &c) in clients.iter().enumerate() {
            if !sent[i] && a.readiness(c).writable {
                a.tcp_send(c, format!("hello from client {i:02}").as_bytes()).unwrap();
                sent[i] = true;
            }
        }
        let mut buf = [0u8; 64];
        for &s in &servers {
            if let Ok(n) = b.tcp_recv(s, &mut buf) {
                b.tcp_send(s, &buf[..n]).unwrap();
            }
        }
        for (i, &c) in clients.iter().enumerate() {
            if let Ok(n) = a.tcp_recv(c, &mut buf) {
                echoed[i].extend_from_slice(&buf[..n]);
            }
        }
        echoed.iter().all(|e| e.len() == 20)
    });
    assert_eq!(servers.len(), 50);
    for (i, e) in echoed.iter().enumerate() {
        assert_eq!(e, format!("hello from client {i:02}").as_bytes());
    }
    let ports: std::collections::BTreeSet<u16> = clients.iter().map(|c| p.a.local_addr(*c).unwrap().port()).collect();
    assert_eq!(ports.len(), 50, "distinct ephemeral ports");
}

#[test]
fn udp_echo() {
    let mut p = pair();
    let srv = p.b.socket(false, Protocol::Udp);
    p.b.bind(srv, sa(Ipv4Addr::UNSPECIFIED, 7)).unwrap();
    let cli = p.a.socket(false, Protocol::Udp);
    assert_eq!(p.a.udp_send_to(cli, b"x", None), Err(errno::EDESTADDRREQ));
    p.a.udp_send_to(cli, b"echo me", Some(sa(B4, 7))).unwrap();
    let mut back = None;
    p.run(|a, b| {
        let mut buf = [0u8; 64];
        if let Ok(m) = b.udp_recv_from(srv, &mut buf) {
            assert_eq!(m.from.ip(), IpAddr::from(A4));
            b.udp_send_to(srv, &buf[..m.len], Some(m.from)).unwrap();
        }
        if let Ok(m) = a.udp_recv_from(cli, &mut buf) {
            back = Some((buf[..m.len].to_vec(), m.from));
            return true;
        }
        false
    });
    assert_eq!(back.unwrap(), (b"echo me".to_vec(), sa(B4, 7)));
    // A second bind of the same port fails; an address nobody owns is not available.
    let other = p.b.socket(false, Protocol::Udp);
    assert_eq!(p.b.bind(other, sa(B4, 7)), Err(errno::EADDRINUSE));
    assert_eq!(p.b.bind(other, sa(Ipv4Addr::new(10, 9, 9, 9), 7)), Err(errno::EADDRNOTAVAIL));
    assert_eq!(p.b.udp_send_to(other, b"x", Some(sa(Ipv4Addr::new(192, 0, 2, 1), 9))), Err(errno::ENETUNREACH));
}

#[test]
fn listen_backlog_and_accept() {
    let mut p = pair();
    let l = p.b.socket(false, Protocol::Tcp);
    p.b.bind(l, sa(B4, 80)).unwrap();
    p.b.tcp_listen(l, 2).unwrap();
    assert_eq!(p.b.tcp_accept(l), Err(Errno::EAGAIN));
    assert!(!p.b.readiness(l).readable);
    let cs: Vec<SocketId> = (0..3)
        .map(|_| {
            let c = p.a.socket(false, Protocol::Tcp);
            p.a.tcp_connect(c, sa(B4, 80)).unwrap();
            c
        })
        .collect();
    // All three (backlog + 1, as Linux) complete their handshake before anyone accepts.
    p.run(|a, _| cs.iter().all(|c| a.readiness(*c).writable));
    assert!(p.b.readiness(l).readable);
    let mut peers = Vec::new();
    while let Ok((s, peer)) = p.b.tcp_accept(l) {
        assert_eq!(p.b.local_addr(s).unwrap(), sa(B4, 80));
        peers.push(peer);
    }
    assert_eq!(peers.len(), 3);
    let mut local: Vec<SocketAddr> = cs.iter().map(|c| p.a.local_addr(*c).unwrap()).collect();
    local.sort();
    peers.sort();
    assert_eq!(local, peers);
    assert!(!p.b.readiness(l).readable);
    // A second listener on the port is refused.
    let l2 = p.b.socket(false, Protocol::Tcp);
    assert_eq!(p.b.bind(l2, sa(Ipv4Addr::UNSPECIFIED, 80)), Err(errno::EADDRINUSE));
}

#[test]
fn connect_to_closed_port_is_refused() {
    let mut p = pair();
    let c = p.a.socket(false, Protocol::Tcp);
    p.a.tcp_connect(c, sa(B4, 9)).unwrap();
    assert_eq!(p.a.tcp_connect(c, sa(B4, 9)), Err(errno::EALREADY));
    p.run(|a, _| a.readiness(c).error);
    assert!(p.a.readiness(c).hup);
    assert_eq!(p.a.take_error(c), Some(errno::ECONNREFUSED));
    assert_eq!(p.a.take_error(c), None);
    assert_eq!(p.a.tcp_send(c, b"x"), Err(errno::EPIPE));
    // On the loopback too.
    let c = p.a.socket(true, Protocol::Tcp);
    p.a.tcp_connect(c, sa(Ipv6Addr::LOCALHOST, 9)).unwrap();
    p.a.poll(p.a.clock().now());
    assert_eq!(p.a.take_error(c), Some(errno::ECONNREFUSED));
    // No route at all.
    let c = p.a.socket(false, Protocol::Tcp);
    assert_eq!(p.a.tcp_connect(c, sa(Ipv4Addr::new(192, 0, 2, 1), 80)), Err(errno::ENETUNREACH));
}

#[test]
fn loopback_tcp_and_udp() {
    let mut s = Stack::new();
    let l = s.socket(false, Protocol::Tcp);
    s.bind(l, sa(Ipv4Addr::LOCALHOST, 8080)).unwrap();
    s.tcp_listen(l, 4).unwrap();
    let c = s.socket(false, Protocol::Tcp);
    s.tcp_connect(c, sa(Ipv4Addr::LOCALHOST, 8080)).unwrap();
    let mut server = None;
    let start = StdInstant::now();
    let mut got = Vec::new();
    let mut sent = false;
    while got.len() < 5 {
        s.poll(s.clock().now());
        if server.is_none() {
            server = s.tcp_accept(l).ok().map(|x| x.0);
        }
        if !sent && s.readiness(c).writable {
            s.tcp_send(c, b"hello").unwrap();
            sent = true;
        }
        if let Some(srv) = server {
            let mut buf = [0u8; 16];
            if let Ok(n) = s.tcp_recv(srv, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        assert!(start.elapsed() < StdDuration::from_secs(10));
    }
    assert_eq!(got, b"hello");

    let u1 = s.socket(true, Protocol::Udp);
    s.bind(u1, sa(Ipv6Addr::LOCALHOST, 5353)).unwrap();
    let u2 = s.socket(true, Protocol::Udp);
    s.udp_send_to(u2, b"dgram", Some(sa(Ipv6Addr::LOCALHOST, 5353))).unwrap();
    s.poll(s.clock().now());
    let mut buf = [0u8; 3];
    let m = s.udp_recv_from(u1, &mut buf).unwrap();
    assert_eq!((m.len, m.full_len, &buf[..]), (3, 5, &b"dgr"[..]), "truncated as Linux does");
    assert_eq!(m.from.port(), s.local_addr(u2).unwrap().port());
    assert_eq!(s.udp_recv_from(u1, &mut buf), Err(Errno::EAGAIN));
    let lo = s.nics()[0].counters();
    assert!(lo.rx_packets > 0 && lo.rx_packets == lo.tx_packets);
}

fn eth_frame(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 9]);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn bad_frames_are_dropped_and_counted() {
    let mut p = pair();
    let mac = p.b.nics()[1].mac().unwrap();
    let before = p.b.nics()[1].counters();
    p.la.send(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]); // runt
    p.la.send(&eth_frame(mac, 0x0800, &[0x45; 3000])); // oversized
    p.la.send(&eth_frame(mac, 0x0800, &[0x45, 0, 0, 20, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8])); // garbage IPv4
    p.la.send(&eth_frame(mac, 0x88cc, &[0; 46])); // LLDP: wrong ethertype
    p.b.poll(p.b.clock().now());
    let after = p.b.nics()[1].counters();
    assert_eq!(after.rx_errors - before.rx_errors, 3);
    assert_eq!(after.rx_length_errors - before.rx_length_errors, 2);
    assert_eq!(after.rx_dropped - before.rx_dropped, 1);
    assert_eq!(after.rx_packets, before.rx_packets);
    // Random frames of every kind: never a panic, and the stack still answers afterwards.
    let mut seed = 0x1234_5678_9abc_def0u64;
    for i in 0..3000 {
        let mut body = vec![0u8; (i * 7) % 1600];
        pattern(&mut seed, &mut body);
        if body.len() > 2 && i % 3 == 0 {
            body[0] = 0x45; // looks like IPv4
        }
        let ethertype = [0x0800, 0x0806, 0x86dd, 0x1234][i % 4];
        p.la.send(&eth_frame(if i % 2 == 0 { mac } else { [0xff; 6] }, ethertype, &body));
        if i % 500 == 0 {
            p.b.poll(p.b.clock().now());
        }
    }
    let lb = p.lb.clone();
    p.run(|_, _| lb.pending() == 0);
    ping(&mut p, true, B4.into(), 0x0bad);
    assert!(p.b.proc_net_dev().contains("eth0"));
}

#[test]
fn poll_deadline_is_honoured() {
    // A lone guest whose wire goes nowhere.
    let (la, _far) = memory_link_pair();
    let mut a = guest(A4, A6, 1, la);
    let t0 = a.clock().now();
    assert_eq!(a.poll(t0), None, "an idle stack has no timer");
    let c = a.socket(false, Protocol::Tcp);
    a.set_connect_timeout(StdDuration::from_secs(5));
    a.tcp_connect(c, sa(B4, 80)).unwrap();
    let d1 = a.poll(t0).expect("a pending connect has a timer");
    assert!(d1 >= t0 + Duration::from_millis(100), "no busy loop: next poll {d1} at {t0}");
    let sent = a.nics()[1].counters().tx_packets;
    assert_eq!(sent, 1, "one ARP request");
    // Polling before the deadline does nothing; at it, the ARP request is retried.
    let mid = t0 + Duration::from_micros((d1 - t0).total_micros() / 2);
    assert!(a.poll(mid).is_some_and(|d| d >= d1));
    assert_eq!(a.nics()[1].counters().tx_packets, sent);
    let mut t = d1;
    let mut polls = 0;
    while t < t0 + Duration::from_secs(6) {
        t = a.poll(t).unwrap_or(t0 + Duration::from_secs(6)).max(t + Duration::from_millis(1));
        polls += 1;
    }
    assert!(a.nics()[1].counters().tx_packets > sent, "retried");
    assert!(polls < 30, "{polls} polls in 6 s: a busy loop");
    a.poll(t);
    assert_eq!(a.take_error(c), Some(errno::ETIMEDOUT));
    assert_eq!(a.poll(t + Duration::from_secs(1)), None, "nothing left to time");
}

#[test]
fn an_idle_connection_sleeps() {
    let mut p = pair();
    let (c, s) = connect_pair(&mut p, 6000);
    // Let the delayed ACKs go out, then neither side needs waking.
    std::thread::sleep(StdDuration::from_millis(50));
    p.run(|_, _| true);
    let now = p.a.clock().now();
    assert!(p.a.poll(now).is_none_or(|d| d > now + Duration::from_secs(1)));
    let _ = (c, s);
}

/// The frames a sent so far (taken off the wire: b never sees them).
fn frames_from_a(p: &mut Pair) -> Vec<Vec<u8>> {
    p.a.poll(p.a.clock().now());
    std::iter::from_fn(|| p.lb.recv()).collect()
}

#[test]
fn ip_ttl_and_tcp_buffer_sizes_apply() {
    let mut p = pair();
    // ARP first, so the next UDP datagram leaves at once.
    ping(&mut p, true, B4.into(), 9);
    let u = p.a.socket(false, Protocol::Udp);
    p.a.set_hop_limit(u, Some(7)).unwrap();
    assert_eq!(p.a.sock_opts(u).hop_limit, Some(7));
    assert_eq!(p.a.set_hop_limit(u, Some(0)), Err(Errno::EINVAL));
    p.a.udp_send_to(u, b"ttl seven", Some(sa(B4, 9999))).unwrap();
    let f = frames_from_a(&mut p);
    let udp: Vec<&Vec<u8>> = f.iter().filter(|f| f[12..14] == [8, 0] && f[23] == 17).collect();
    assert_eq!(udp.len(), 1, "{f:?}");
    assert_eq!(udp[0][22], 7, "the IPv4 TTL");
    // Back to the default.
    p.a.set_hop_limit(u, None).unwrap();
    p.a.udp_send_to(u, b"ttl default", Some(sa(B4, 9999))).unwrap();
    let f = frames_from_a(&mut p);
    assert_eq!(f.iter().find(|f| f[23] == 17).unwrap()[22], 64);

    // SO_RCVBUF before connect: the SYN offers that window.
    let t = p.a.socket(false, Protocol::Tcp);
    assert_eq!(p.a.set_buffer_size(t, true, 8192), Ok(8192));
    assert_eq!(p.a.buffer_sizes(t).0, 8192);
    p.a.set_hop_limit(t, Some(9)).unwrap();
    p.a.tcp_connect(t, sa(B4, 80)).unwrap();
    let f = frames_from_a(&mut p);
    let syn = f.iter().find(|f| f[23] == 6).expect("a SYN");
    assert_eq!(syn[22], 9, "the SYN's TTL");
    let tcp = &syn[14 + 20..];
    assert_eq!(u16::from_be_bytes([tcp[14], tcp[15]]), 8192, "the SYN's window");
}

#[test]
fn an_unplugged_nic_disappears_and_the_others_keep_their_ids() {
    let (l0, _f0) = memory_link_pair();
    let (l1, _f1) = memory_link_pair();
    let mut s = Stack::new();
    let eth0 = s.add_ethernet("eth0", [2, 0, 0, 0, 0, 1], Arc::new(l0));
    let eth1 = s.add_ethernet("eth1", [2, 0, 0, 0, 0, 2], Arc::new(l1));
    s.add_if_addr(eth0, A4.into(), 24, None, None).unwrap();
    s.set_if_up(eth0, true).unwrap();
    assert_eq!(s.remove_nic(eth0), Err(Errno::EBUSY), "up, as UML's net_remove refuses an open device");
    assert_eq!(s.remove_nic(0), Err(Errno::ENODEV), "lo cannot go");
    s.set_if_up(eth0, false).unwrap();
    s.remove_nic(eth0).unwrap();
    assert_eq!(s.remove_nic(eth0), Err(Errno::ENODEV), "already gone");
    assert_eq!(s.nic_by_name("eth0"), None);
    assert_eq!(s.nic_by_ifindex(i64::from(Stack::ifindex(eth0))), None);
    assert_eq!(s.set_if_up(eth0, true), Err(Errno::ENODEV));
    assert!(s.if_addrs().iter().all(|a| a.nic != eth0), "its addresses went with it");
    assert!(!s.proc_net_dev().contains("eth0:"));
    assert_eq!(s.nic_by_name("eth1"), Some(eth1), "eth1 keeps its id");
    assert!(s.proc_net_dev().contains("eth1:"));
    // Plugged in again, it is a new interface (a new ifindex, as Linux gives).
    let (l2, _f2) = memory_link_pair();
    let again = s.add_ethernet("eth0", [2, 0, 0, 0, 0, 3], Arc::new(l2));
    assert_ne!(again, eth0);
    assert_eq!(s.nic_by_name("eth0"), Some(again));
    assert!(s.proc_net_dev().contains("eth0:"));
}

#[test]
fn unplugging_a_nic_ends_its_connections() {
    let mut p = pair();
    let (c, _s) = connect_pair(&mut p, 7300);
    assert!(!p.a.readiness(c).hup);
    p.a.set_if_up(1, false).unwrap();
    p.a.remove_nic(1).unwrap();
    let r = p.a.readiness(c);
    assert!(r.hup && r.readable, "the connection is over: {r:?}");
    // Polling the stack after the removal neither panics nor sends on the old wire.
    let before = p.lb.pending();
    let _ = p.a.poll(smoltcp::time::Instant::from_millis(0));
    assert_eq!(p.lb.pending(), before);
}
