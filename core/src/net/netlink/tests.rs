//! NETLINK_ROUTE requests against a fresh stack (lo only, or lo and an Ethernet NIC).

use std::net::IpAddr;
use std::sync::Arc;

use super::addr::{IFA_ADDRESS, IFA_LABEL, IFA_LOCAL};
use super::link::{IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU};
use super::route::{RTA_GATEWAY, RTA_OIF};
use super::wire::{attrs, find, messages, Message, MessageBuilder, NLMSG_HDRLEN};
use super::*;
use crate::net::stack::netdev::iff;
use crate::net::stack::{memory_link_pair, Stack};

const ADMIN: Sender = Sender { portid: 77, net_admin: true, cap_ack: false };
const USER: Sender = Sender { portid: 78, net_admin: false, cap_ack: false };

fn request(ty: u16, flags: u16, seq: u32, body: &[u8]) -> MessageBuilder {
    MessageBuilder::new(ty, NLM_F_REQUEST | flags, seq, 0).raw(body)
}

fn ifinfo(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut v = vec![0u8; 16];
    v[4..8].copy_from_slice(&index.to_ne_bytes());
    v[8..12].copy_from_slice(&flags.to_ne_bytes());
    v[12..16].copy_from_slice(&change.to_ne_bytes());
    v
}

fn ifaddr(family: i32, prefix: u8, index: u32) -> Vec<u8> {
    let mut v = vec![family as u8, prefix, 0, 0];
    v.extend_from_slice(&index.to_ne_bytes());
    v
}

fn rtmsg(family: i32, dst_len: u8) -> Vec<u8> {
    let mut v = vec![0u8; 12];
    v[0] = family as u8;
    v[1] = dst_len;
    v[4] = 254;
    v[5] = 3;
    v[7] = 1;
    v
}

/// Every reply message of one request, dumps flattened.
fn run(st: &mut Stack, req: &[u8], who: &Sender) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for r in process(st, req, who, false) {
        match r {
            Reply::Datagram(d) => out.push(d),
            Reply::Dump(ms) => out.extend(ms),
        }
    }
    out
}

/// The errno of an NLMSG_ERROR reply.
fn error_of(m: &[u8]) -> i32 {
    let v = Message::new_checked(m).unwrap();
    assert_eq!(v.ty(), NLMSG_ERROR);
    -i32::from_ne_bytes(v.payload()[..4].try_into().unwrap())
}

fn ack_errno(st: &mut Stack, req: &[u8], who: &Sender) -> i32 {
    let r = run(st, req, who);
    assert_eq!(r.len(), 1, "one ack");
    error_of(&r[0])
}

#[test]
fn link_dump_describes_lo_then_done() {
    let mut st = Stack::new();
    let r = run(&mut st, &request(RTM_GETLINK, NLM_F_DUMP, 5, &[0]).build(), &USER);
    assert_eq!(r.len(), 2);
    let m = Message::new_checked(&r[0]).unwrap();
    assert_eq!((m.ty(), m.flags(), m.seq(), m.pid()), (RTM_NEWLINK, NLM_F_MULTI, 5, USER.portid));
    let p = m.payload();
    assert_eq!(u16::from_ne_bytes([p[2], p[3]]), 772);
    assert_eq!(i32::from_ne_bytes(p[4..8].try_into().unwrap()), 1);
    let flags = u32::from_ne_bytes(p[8..12].try_into().unwrap());
    assert_eq!(flags, iff::UP | iff::LOOPBACK | iff::RUNNING | iff::LOWER_UP);
    let a = attrs(&p[16..]).unwrap();
    assert_eq!(find(&a, IFLA_IFNAME).unwrap().str(15).unwrap(), "lo");
    assert_eq!(find(&a, IFLA_MTU).unwrap().u32().unwrap(), st.nics()[0].mtu() as u32);
    assert_eq!(find(&a, IFLA_ADDRESS).unwrap().data, &[0; 6]);
    // Family AF_INET6: IPv6's own, shorter form.
    let r6 = run(&mut st, &request(RTM_GETLINK, NLM_F_DUMP, 6, &[libc::AF_INET6 as u8]).build(), &USER);
    let m6 = Message::new_checked(&r6[0]).unwrap();
    assert_eq!(m6.payload()[0], libc::AF_INET6 as u8);
    let a6 = attrs(&m6.payload()[16..]).unwrap();
    assert_eq!(find(&a6, IFLA_ADDRESS).unwrap().data, &[0; 6]);
    assert!(find(&a6, super::link::IFLA_QDISC).is_none());
    let d = Message::new_checked(&r[1]).unwrap();
    assert_eq!((d.ty(), d.flags(), d.seq(), d.len()), (NLMSG_DONE, NLM_F_MULTI, 5, 20));
}

#[test]
fn link_get_by_name_and_index() {
    let mut st = Stack::new();
    let (a, _b) = memory_link_pair();
    st.add_ethernet("eth0", [2, 0, 0, 0, 0, 1], Arc::new(a));
    let req = request(RTM_GETLINK, 0, 1, &ifinfo(0, 0, 0)).str(IFLA_IFNAME, "eth0").build();
    let r = run(&mut st, &req, &USER);
    assert_eq!(r.len(), 1);
    let m = Message::new_checked(&r[0]).unwrap();
    assert_eq!((m.ty(), m.flags()), (RTM_NEWLINK, 0));
    assert_eq!(i32::from_ne_bytes(m.payload()[4..8].try_into().unwrap()), 2);
    let flags = u32::from_ne_bytes(m.payload()[8..12].try_into().unwrap());
    assert_eq!(flags, iff::BROADCAST | iff::MULTICAST, "a new NIC is down");
    let a = attrs(&m.payload()[16..]).unwrap();
    assert_eq!(find(&a, IFLA_ADDRESS).unwrap().data, &[2, 0, 0, 0, 0, 1]);
    assert_eq!(ack_errno(&mut st, &request(RTM_GETLINK, 0, 2, &ifinfo(9, 0, 0)).build(), &USER), libc::ENODEV);
    assert_eq!(ack_errno(&mut st, &request(RTM_GETLINK, 0, 2, &ifinfo(0, 0, 0)).build(), &USER), libc::EINVAL);
    assert_eq!(ack_errno(&mut st, &request(RTM_GETLINK, 0, 2, &[0; 4]).build(), &USER), libc::EINVAL);
    // NLM_F_ACK on a GET: the answer, then the ack.
    let r = run(&mut st, &request(RTM_GETLINK, NLM_F_ACK, 3, &ifinfo(1, 0, 0)).build(), &USER);
    assert_eq!(r.len(), 2);
    assert_eq!(error_of(&r[1]), 0);
}

#[test]
fn link_set_up_down_mtu_and_mac() {
    let mut st = Stack::new();
    let (a, _b) = memory_link_pair();
    st.add_ethernet("eth0", [2, 0, 0, 0, 0, 1], Arc::new(a));
    let down = request(RTM_NEWLINK, NLM_F_ACK, 1, &ifinfo(1, 0, iff::UP)).build();
    assert_eq!(ack_errno(&mut st, &down, &USER), libc::EPERM);
    assert!(st.nics()[0].is_up());
    assert_eq!(ack_errno(&mut st, &down, &ADMIN), 0);
    assert!(!st.nics()[0].is_up());
    let up = request(RTM_SETLINK, NLM_F_ACK, 2, &ifinfo(0, iff::UP, iff::UP)).str(IFLA_IFNAME, "eth0").build();
    assert_eq!(ack_errno(&mut st, &up, &ADMIN), 0);
    assert!(st.nics()[1].is_up());
    let mtu = request(RTM_NEWLINK, NLM_F_ACK, 3, &ifinfo(2, 0, 0)).u32(IFLA_MTU, 9000).build();
    assert_eq!(ack_errno(&mut st, &mtu, &ADMIN), libc::EINVAL);
    let mtu = request(RTM_NEWLINK, NLM_F_ACK, 3, &ifinfo(2, 0, 0)).u32(IFLA_MTU, 1500).build();
    assert_eq!(ack_errno(&mut st, &mtu, &ADMIN), 0);
    let mac = request(RTM_NEWLINK, NLM_F_ACK, 4, &ifinfo(2, 0, 0)).attr(IFLA_ADDRESS, &[2, 1, 2, 3, 4, 5]).build();
    assert_eq!(ack_errno(&mut st, &mac, &ADMIN), 0);
    assert_eq!(st.nics()[1].mac(), Some([2, 1, 2, 3, 4, 5]));
    let bad = request(RTM_NEWLINK, NLM_F_ACK, 4, &ifinfo(2, 0, 0)).attr(IFLA_ADDRESS, &[1, 1, 2, 3, 4, 5]).build();
    assert_eq!(ack_errno(&mut st, &bad, &ADMIN), libc::EADDRNOTAVAIL);
    let lo = request(RTM_NEWLINK, NLM_F_ACK, 4, &ifinfo(1, 0, 0)).attr(IFLA_ADDRESS, &[2, 1, 2, 3, 4, 5]).build();
    assert_eq!(ack_errno(&mut st, &lo, &ADMIN), libc::EOPNOTSUPP);
    let create = request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE, 5, &ifinfo(0, 0, 0)).str(IFLA_IFNAME, "dummy0").build();
    assert_eq!(ack_errno(&mut st, &create, &ADMIN), libc::EOPNOTSUPP);
    let missing = request(RTM_NEWLINK, NLM_F_ACK, 5, &ifinfo(0, 0, 0)).str(IFLA_IFNAME, "dummy0").build();
    assert_eq!(ack_errno(&mut st, &missing, &ADMIN), libc::ENODEV);
}

#[test]
fn addresses_add_dump_and_delete() {
    let mut st = Stack::new();
    let a: IpAddr = "10.9.8.7".parse().unwrap();
    let add = request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 1, &ifaddr(libc::AF_INET, 24, 1))
        .ip(IFA_LOCAL, a)
        .ip(IFA_ADDRESS, a)
        .str(IFA_LABEL, "lo:x")
        .build();
    assert_eq!(ack_errno(&mut st, &add, &USER), libc::EPERM);
    assert_eq!(ack_errno(&mut st, &add, &ADMIN), 0);
    assert_eq!(ack_errno(&mut st, &add, &ADMIN), libc::EEXIST);
    let r = run(&mut st, &request(RTM_GETADDR, NLM_F_DUMP, 2, &[libc::AF_INET as u8]).build(), &USER);
    assert_eq!(r.len(), 3, "127.0.0.1, 10.9.8.7, done");
    let m = Message::new_checked(&r[1]).unwrap();
    assert_eq!(&m.payload()[..4], &[libc::AF_INET as u8, 24, 0x80, 0]);
    let at = attrs(&m.payload()[8..]).unwrap();
    assert_eq!(find(&at, IFA_LOCAL).unwrap().ip().unwrap(), a);
    assert_eq!(find(&at, IFA_LABEL).unwrap().str(15).unwrap(), "lo:x");
    let r6 = run(&mut st, &request(RTM_GETADDR, NLM_F_DUMP, 3, &[libc::AF_INET6 as u8]).build(), &USER);
    assert_eq!(r6.len(), 2, "::1, done");
    let all = run(&mut st, &request(RTM_GETADDR, NLM_F_DUMP, 3, &[]).build(), &USER);
    assert_eq!(all.len(), 4);
    let del = request(RTM_DELADDR, NLM_F_ACK, 4, &ifaddr(libc::AF_INET, 24, 1)).ip(IFA_LOCAL, a).build();
    assert_eq!(ack_errno(&mut st, &del, &ADMIN), 0);
    assert_eq!(ack_errno(&mut st, &del, &ADMIN), libc::EADDRNOTAVAIL);
    let six: IpAddr = "fd00::5".parse().unwrap();
    let add6 = request(RTM_NEWADDR, NLM_F_ACK, 5, &ifaddr(libc::AF_INET6, 64, 1)).ip(IFA_ADDRESS, six).build();
    assert_eq!(ack_errno(&mut st, &add6, &ADMIN), 0);
    assert!(st.nics()[0].owns(six));
    let del6 = request(RTM_DELADDR, NLM_F_ACK, 6, &ifaddr(libc::AF_INET6, 64, 1)).ip(IFA_ADDRESS, six).build();
    assert_eq!(ack_errno(&mut st, &del6, &ADMIN), 0);
    // Wrong sizes and families.
    let v6_in_v4 = request(RTM_NEWADDR, NLM_F_ACK, 7, &ifaddr(libc::AF_INET, 24, 1)).ip(IFA_LOCAL, six).build();
    assert_eq!(ack_errno(&mut st, &v6_in_v4, &ADMIN), libc::EINVAL);
    let prefix = request(RTM_NEWADDR, NLM_F_ACK, 7, &ifaddr(libc::AF_INET, 33, 1)).ip(IFA_LOCAL, a).build();
    assert_eq!(ack_errno(&mut st, &prefix, &ADMIN), libc::EINVAL);
    let nodev = request(RTM_NEWADDR, NLM_F_ACK, 7, &ifaddr(libc::AF_INET, 24, 9)).ip(IFA_LOCAL, a).build();
    assert_eq!(ack_errno(&mut st, &nodev, &ADMIN), libc::ENODEV);
    let short = request(RTM_NEWADDR, NLM_F_ACK, 7, &[2, 24]).build();
    assert_eq!(ack_errno(&mut st, &short, &ADMIN), libc::EINVAL);
    let noaddr = request(RTM_NEWADDR, NLM_F_ACK, 7, &ifaddr(libc::AF_INET, 24, 1)).build();
    assert_eq!(ack_errno(&mut st, &noaddr, &ADMIN), libc::EINVAL);
    let packet = request(RTM_NEWADDR, NLM_F_ACK, 7, &ifaddr(libc::AF_PACKET, 24, 1)).build();
    assert_eq!(ack_errno(&mut st, &packet, &ADMIN), libc::EOPNOTSUPP);
}

#[test]
fn default_routes_add_dump_delete() {
    let mut st = Stack::new();
    st.add_if_addr(0, "10.9.8.7".parse().unwrap(), 24, None, None).unwrap();
    let gw: IpAddr = "10.9.8.1".parse().unwrap();
    let add = request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, 1, &rtmsg(libc::AF_INET, 0))
        .ip(RTA_GATEWAY, gw)
        .build();
    assert_eq!(ack_errno(&mut st, &add, &ADMIN), 0);
    assert_eq!(ack_errno(&mut st, &add, &ADMIN), libc::EEXIST);
    let r = run(&mut st, &request(RTM_GETROUTE, NLM_F_DUMP, 2, &rtmsg(libc::AF_INET, 0)).build(), &USER);
    let main: Vec<_> =
        r[..r.len() - 1].iter().map(|m| Message::new_checked(m).unwrap()).filter(|m| m.payload()[4] == 254).collect();
    assert_eq!(main.len(), 1, "lo's routes are in the local table; main has the gateway");
    let at = attrs(&main[0].payload()[12..]).unwrap();
    assert_eq!(find(&at, RTA_GATEWAY).unwrap().ip().unwrap(), gw);
    assert_eq!(find(&at, RTA_OIF).unwrap().u32().unwrap(), 1);
    let del = request(RTM_DELROUTE, NLM_F_ACK, 3, &rtmsg(libc::AF_INET, 0)).build();
    assert_eq!(ack_errno(&mut st, &del, &ADMIN), 0);
    assert_eq!(ack_errno(&mut st, &del, &ADMIN), libc::ESRCH);
    let far = request(RTM_NEWROUTE, NLM_F_ACK, 4, &rtmsg(libc::AF_INET, 0))
        .ip(RTA_GATEWAY, "1.2.3.4".parse().unwrap())
        .build();
    assert_eq!(ack_errno(&mut st, &far, &ADMIN), libc::ENETUNREACH);
    let net = request(RTM_NEWROUTE, NLM_F_ACK, 5, &rtmsg(libc::AF_INET, 16))
        .ip(super::route::RTA_DST, "10.1.0.0".parse().unwrap())
        .ip(RTA_GATEWAY, gw)
        .build();
    assert_eq!(ack_errno(&mut st, &net, &ADMIN), 0);
    assert!(st.gateway_routes().iter().any(|r| r.prefix == 16 && r.gateway == gw));
    let del_net = request(RTM_DELROUTE, NLM_F_ACK, 5, &rtmsg(libc::AF_INET, 16))
        .ip(super::route::RTA_DST, "10.1.0.0".parse().unwrap())
        .build();
    assert_eq!(ack_errno(&mut st, &del_net, &ADMIN), 0);
    assert_eq!(ack_errno(&mut st, &del_net, &ADMIN), libc::ESRCH);
    // A network without a gateway: not modelled; one derived from an address: exists.
    let dev_route = request(RTM_NEWROUTE, NLM_F_ACK, 5, &rtmsg(libc::AF_INET, 16))
        .ip(super::route::RTA_DST, "10.1.0.0".parse().unwrap())
        .build();
    assert_eq!(ack_errno(&mut st, &dev_route, &ADMIN), libc::EOPNOTSUPP);
    let get = request(RTM_GETROUTE, 0, 6, &rtmsg(libc::AF_INET, 32))
        .ip(super::route::RTA_DST, "127.0.0.1".parse().unwrap())
        .build();
    let r = run(&mut st, &get, &USER);
    assert_eq!(Message::new_checked(&r[0]).unwrap().ty(), RTM_NEWROUTE);
}

#[test]
fn control_unknown_and_errors() {
    let mut st = Stack::new();
    // NOOP with an ack: acknowledged, capped.
    let r = run(&mut st, &request(NLMSG_NOOP, NLM_F_ACK, 1, &[]).build(), &USER);
    assert_eq!(error_of(&r[0]), 0);
    assert_eq!(Message::new_checked(&r[0]).unwrap().flags(), NLM_F_CAPPED);
    assert_eq!(r[0].len(), NLMSG_HDRLEN + 4 + NLMSG_HDRLEN);
    // Unknown type: EOPNOTSUPP, with the request quoted.
    let req = request(100, 0, 2, &[1, 2, 3, 4]).build();
    let r = run(&mut st, &req, &USER);
    assert_eq!(error_of(&r[0]), libc::EOPNOTSUPP);
    assert_eq!(&r[0][NLMSG_HDRLEN + 4..], &req[..]);
    let capped = Sender { cap_ack: true, ..USER };
    assert_eq!(run(&mut st, &req, &capped)[0].len(), NLMSG_HDRLEN + 4 + NLMSG_HDRLEN);
    // Not a request: no answer without NLM_F_ACK.
    assert!(run(&mut st, &MessageBuilder::new(RTM_GETLINK, NLM_F_DUMP, 3, 0).build(), &USER).is_empty());
    // Two dumps in one datagram: the second is EBUSY while the first is unread.
    let mut two = request(RTM_GETLINK, NLM_F_DUMP, 4, &[0]).build();
    two.extend(request(RTM_GETADDR, NLM_F_DUMP, 5, &[0]).build());
    let r = process(&mut st, &two, &USER, false);
    assert!(matches!(r[0], Reply::Dump(_)));
    assert!(matches!(&r[1], Reply::Datagram(d) if error_of(d) == libc::EBUSY));
    // Truncated datagrams: nothing.
    assert!(process(&mut st, &two[..10], &USER, false).is_empty());
}

#[test]
fn garbage_requests_never_panic() {
    let mut st = Stack::new();
    let (a, _b) = memory_link_pair();
    st.add_ethernet("eth0", [2, 0, 0, 0, 0, 1], Arc::new(a));
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..5000 {
        let ty = 16 + (next() % 12) as u16;
        let flags = (next() & 0x7ff) as u16 | NLM_F_REQUEST;
        let n = (next() % 64) as usize;
        let body: Vec<u8> = (0..n).map(|_| next() as u8).collect();
        let mut req = request(ty, flags, 1, &body).build();
        // Sometimes lie about the length.
        if next() % 4 == 0 {
            let len = (next() % 128) as u32;
            req[..4].copy_from_slice(&len.to_ne_bytes());
        }
        for r in process(&mut st, &req, &ADMIN, false) {
            let bytes = match r {
                Reply::Datagram(d) => d,
                Reply::Dump(ms) => ms.concat(),
            };
            assert!(messages(&bytes).count() >= 1);
        }
        st.nic_mut(0).unwrap().set_up(true);
    }
}
