//! The address family (RTM_GETADDR, RTM_NEWADDR, RTM_DELADDR): `struct ifaddrmsg` and the IFA_*
//! attributes, IPv4 and IPv6.

use std::net::IpAddr;

use super::wire::{self, MessageBuilder};
use super::{dump_family, Sender, NLM_F_EXCL, NLM_F_MULTI, NLM_F_REPLACE};
use crate::errno::Errno;
use crate::net::stack::netdev::{IfAddr, IFNAMSIZ_MAX};
use crate::net::stack::{errno as net_errno, Stack};

/// `sizeof(struct ifaddrmsg)`.
pub const IFADDRMSG_LEN: usize = 8;

/// IFA_* attribute types.
pub const IFA_ADDRESS: u16 = 1;
/// See [`IFA_ADDRESS`].
pub const IFA_LOCAL: u16 = 2;
/// See [`IFA_ADDRESS`].
pub const IFA_LABEL: u16 = 3;
/// See [`IFA_ADDRESS`].
pub const IFA_BROADCAST: u16 = 4;
/// See [`IFA_ADDRESS`].
pub const IFA_CACHEINFO: u16 = 6;
/// See [`IFA_ADDRESS`].
pub const IFA_FLAGS: u16 = 8;

/// IFA_F_* address flags.
const IFA_F_SECONDARY: u32 = 0x01;
const IFA_F_PERMANENT: u32 = 0x80;
/// `ifa_cacheinfo`'s lifetime for an address that never expires (INFINITY_LIFE_TIME).
const FOREVER: u32 = u32::MAX;

/// The RTM_NEWADDR message describing one address.
pub fn message(a: &IfAddr, flags: u16, seq: u32, portid: u32) -> Vec<u8> {
    let ifa_flags = IFA_F_PERMANENT | if a.secondary { IFA_F_SECONDARY } else { 0 };
    let mut hdr = [0u8; IFADDRMSG_LEN];
    hdr[0] = wire::family_of(a.addr);
    hdr[1] = a.prefix;
    hdr[2] = ifa_flags as u8;
    hdr[3] = a.scope();
    hdr[4..8].copy_from_slice(&Stack::ifindex(a.nic).to_ne_bytes());
    let mut cacheinfo = Vec::with_capacity(16);
    for v in [FOREVER, FOREVER, 0, 0] {
        cacheinfo.extend_from_slice(&v.to_ne_bytes());
    }
    let mut b = MessageBuilder::new(super::RTM_NEWADDR, flags, seq, portid).raw(&hdr).ip(IFA_ADDRESS, a.addr);
    if a.addr.is_ipv4() {
        b = b.ip(IFA_LOCAL, a.addr);
        if let Some(brd) = a.broadcast {
            b = b.ip(IFA_BROADCAST, brd.into());
        }
        b = b.str(IFA_LABEL, &a.label);
    }
    b.u32(IFA_FLAGS, ifa_flags).attr(IFA_CACHEINFO, &cacheinfo).build()
}

/// RTM_GETADDR with NLM_F_DUMP: the addresses of one family (AF_UNSPEC: both), IPv4 first as Linux
/// dumps family by family.
pub fn dump(stack: &Stack, m: &wire::Message<'_>, sender: &Sender) -> Vec<Vec<u8>> {
    let family = dump_family(m);
    let addrs = stack.if_addrs();
    let mut out = Vec::new();
    for want in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        if family != 0 && family != want {
            continue;
        }
        for a in addrs.iter().filter(|a| wire::family_of(a.addr) == want) {
            out.push(message(a, NLM_F_MULTI, m.seq(), sender.portid));
        }
    }
    out
}

/// A parsed RTM_NEWADDR or RTM_DELADDR.
struct Request<'a> {
    family: u8,
    prefix: u8,
    index: u32,
    local: Option<IpAddr>,
    address: Option<IpAddr>,
    broadcast: Option<IpAddr>,
    label: Option<&'a str>,
}

fn parse<'a>(m: &wire::Message<'a>) -> Result<Request<'a>, Errno> {
    let (hdr, rest) = wire::split_family_header(m.payload(), IFADDRMSG_LEN)?;
    let attrs = wire::attrs(rest)?;
    let family = hdr[0];
    let max = wire::prefix_max(family)?;
    let addr_of = |ty| wire::find_ip(&attrs, ty, family);
    let r = Request {
        family,
        prefix: hdr[1],
        index: u32::from_ne_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]),
        local: addr_of(IFA_LOCAL)?,
        address: addr_of(IFA_ADDRESS)?,
        broadcast: addr_of(IFA_BROADCAST)?,
        label: wire::find(&attrs, IFA_LABEL).map(|a| a.str(IFNAMSIZ_MAX)).transpose()?,
    };
    if r.prefix > max {
        return Err(Errno::EINVAL);
    }
    Ok(r)
}

/// RTM_NEWADDR: adds an address to a NIC (`ip addr add A/P [brd B] [label L] dev D`). EEXIST when
/// the NIC has it (unless NLM_F_REPLACE without NLM_F_EXCL, which updates broadcast and label).
pub fn add(stack: &mut Stack, m: &wire::Message<'_>) -> Result<(), Errno> {
    let r = parse(m)?;
    // Linux checks the address before the device; IPv4 wants IFA_LOCAL.
    let addr = if r.family == libc::AF_INET as u8 { r.local } else { r.local.or(r.address) };
    let addr = addr.ok_or(Errno::EINVAL)?;
    let id = stack.nic_by_ifindex(i64::from(r.index)).ok_or(Errno::ENODEV)?;
    // A peer address (point-to-point) differs from the local one: not modelled.
    if r.local.is_some() && r.address.is_some_and(|a| Some(a) != r.local) {
        return Err(Errno::EOPNOTSUPP);
    }
    let broadcast = match r.broadcast {
        Some(IpAddr::V4(b)) => Some(b),
        _ => None,
    };
    if stack.nics()[id].owns(addr) {
        if m.flags() & NLM_F_EXCL != 0 || m.flags() & NLM_F_REPLACE == 0 {
            return Err(Errno::EEXIST);
        }
        stack.remove_if_addr(id, addr)?;
    }
    stack.add_if_addr(id, addr, r.prefix, broadcast, r.label)
}

/// RTM_DELADDR: removes the first address of the NIC that matches what the request gives (IFA_LOCAL,
/// IFA_LABEL, IFA_ADDRESS with the prefix), as Linux's inet_rtm_deladdr picks it; EADDRNOTAVAIL when
/// none does. Removing a primary IPv4 address removes its secondaries too (Linux's default, without
/// promote_secondaries).
pub fn del(stack: &mut Stack, m: &wire::Message<'_>) -> Result<(), Errno> {
    let r = parse(m)?;
    let id = stack.nic_by_ifindex(i64::from(r.index)).ok_or(Errno::ENODEV)?;
    if r.family == libc::AF_INET6 as u8 && r.local.or(r.address).is_none() {
        return Err(Errno::EINVAL);
    }
    let addrs: Vec<IfAddr> = stack.if_addrs().into_iter().filter(|a| a.nic == id).collect();
    let victim = addrs
        .iter()
        .find(|a| {
            wire::family_of(a.addr) == r.family
                && r.local.is_none_or(|l| l == a.addr)
                && r.label.is_none_or(|l| a.addr.is_ipv6() || l == a.label)
                && r.address.is_none_or(|x| {
                    r.prefix == a.prefix
                        && crate::net::stack::netdev::network(x, a.prefix)
                            == crate::net::stack::netdev::network(a.addr, a.prefix)
                })
        })
        .cloned()
        .ok_or(net_errno::EADDRNOTAVAIL)?;
    stack.remove_if_addr(id, victim.addr)?;
    if victim.addr.is_ipv4() && !victim.secondary {
        let net = crate::net::stack::netdev::network(victim.addr, victim.prefix);
        for a in addrs.iter().filter(|a| {
            a.secondary && a.prefix == victim.prefix && crate::net::stack::netdev::network(a.addr, a.prefix) == net
        }) {
            stack.remove_if_addr(id, a.addr)?;
        }
    }
    Ok(())
}
