//! The route family (RTM_GETROUTE, RTM_NEWROUTE, RTM_DELROUTE): `struct rtmsg` and the RTA_*
//! attributes. The routes are the stack's (`netdev::Stack::routes`): those Linux derives from the
//! addresses, and the routes through gateways, which are the ones a user may add and delete.

use std::net::IpAddr;

use super::wire::{self, MessageBuilder};
use super::{dump_family, Sender, NLM_F_EXCL, NLM_F_MULTI, NLM_F_REPLACE, RTM_NEWROUTE};
use crate::errno::Errno;
use crate::net::stack::netdev::{
    RouteEntry, RouteType, RTPROT_BOOT, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RT_TABLE_LOCAL, RT_TABLE_MAIN,
};
use crate::net::stack::{NicId, Stack};

/// `sizeof(struct rtmsg)`.
pub const RTMSG_LEN: usize = 12;

/// RTA_* attribute types.
pub const RTA_DST: u16 = 1;
/// See [`RTA_DST`].
pub const RTA_OIF: u16 = 4;
/// See [`RTA_DST`].
pub const RTA_GATEWAY: u16 = 5;
/// See [`RTA_DST`].
pub const RTA_PRIORITY: u16 = 6;
/// See [`RTA_DST`].
pub const RTA_PREFSRC: u16 = 7;
/// See [`RTA_DST`].
pub const RTA_TABLE: u16 = 15;
/// See [`RTA_DST`].
pub const RTA_PREF: u16 = 20;

/// RT_TABLE_UNSPEC: "the main table" in a request.
const RT_TABLE_UNSPEC: u32 = 0;
/// RTN_UNSPEC and RTN_UNICAST: the route types a request may add.
const RTN_UNSPEC: u8 = 0;
const RTN_UNICAST: u8 = 1;
/// RTM_F_CLONED: the answer to a route lookup.
const RTM_F_CLONED: u32 = 0x200;

/// The RTM_NEWROUTE message describing one route.
pub fn message(r: &RouteEntry, flags: u16, seq: u32, portid: u32) -> Vec<u8> {
    let mut hdr = [0u8; RTMSG_LEN];
    hdr[0] = wire::family_of(r.dst);
    hdr[1] = r.prefix;
    hdr[4] = r.table;
    hdr[5] = r.protocol;
    hdr[6] = r.scope;
    hdr[7] = r.kind.rtn();
    let mut b = MessageBuilder::new(RTM_NEWROUTE, flags, seq, portid).raw(&hdr).u32(RTA_TABLE, u32::from(r.table));
    if r.prefix > 0 {
        b = b.ip(RTA_DST, r.dst);
    }
    if r.metric != 0 || r.dst.is_ipv6() {
        b = b.u32(RTA_PRIORITY, r.metric);
    }
    if let Some(s) = r.prefsrc {
        b = b.ip(RTA_PREFSRC, s);
    }
    if let Some(g) = r.gateway {
        b = b.ip(RTA_GATEWAY, g);
    }
    b = b.u32(RTA_OIF, Stack::ifindex(r.nic));
    if r.dst.is_ipv6() {
        b = b.u8(RTA_PREF, 0);
    }
    b.build()
}

/// RTM_GETROUTE with NLM_F_DUMP: the routes of one family (AF_UNSPEC: both) in every table; the
/// reader filters by table (`ip route` shows main).
pub fn dump(stack: &mut Stack, m: &wire::Message<'_>, sender: &Sender) -> Vec<Vec<u8>> {
    let family = dump_family(m);
    let mut routes = stack.routes();
    // Linux dumps IPv4 then IPv6, each table main before local.
    routes.sort_by_key(|r| (r.dst.is_ipv6(), r.table == RT_TABLE_LOCAL));
    routes
        .iter()
        .filter(|r| family == 0 || family == wire::family_of(r.dst))
        .map(|r| message(r, NLM_F_MULTI, m.seq(), sender.portid))
        .collect()
}

/// A parsed route request.
struct Request {
    family: u8,
    dst_len: u8,
    table: u32,
    kind: u8,
    dst: Option<IpAddr>,
    gateway: Option<IpAddr>,
    oif: Option<NicId>,
}

fn parse(stack: &Stack, m: &wire::Message<'_>) -> Result<Request, Errno> {
    let (hdr, rest) = wire::split_family_header(m.payload(), RTMSG_LEN)?;
    let attrs = wire::attrs(rest)?;
    let family = hdr[0];
    let max = wire::prefix_max(family)?;
    let addr = |ty| wire::find_ip(&attrs, ty, family);
    let oif = match wire::find(&attrs, RTA_OIF) {
        Some(a) => Some(stack.nic_by_ifindex(i64::from(a.u32()?)).ok_or(Errno::ENODEV)?),
        None => None,
    };
    let r = Request {
        family,
        dst_len: hdr[1],
        table: match wire::find(&attrs, RTA_TABLE) {
            Some(a) => a.u32()?,
            None => u32::from(hdr[4]),
        },
        kind: hdr[7],
        dst: addr(RTA_DST)?,
        gateway: addr(RTA_GATEWAY)?,
        oif,
    };
    if r.dst_len > max {
        return Err(Errno::EINVAL);
    }
    Ok(r)
}

/// The request's destination network: RTA_DST (host bits cleared, as Linux's fib keys), or the
/// unspecified address of its family.
fn destination(r: &Request) -> IpAddr {
    match r.dst {
        Some(d) => crate::net::stack::netdev::network(d, r.dst_len),
        None if r.family == libc::AF_INET6 as u8 => IpAddr::from([0u8; 16]),
        None => IpAddr::from([0u8; 4]),
    }
}

/// Whether a request names a route the stack derived from an address (which it keeps while the
/// address is there).
fn is_derived(stack: &mut Stack, r: &Request) -> bool {
    let Some(dst) = r.dst else { return false };
    stack.routes().iter().any(|e| {
        e.gateway.is_none()
            && e.prefix == r.dst_len
            && e.dst == crate::net::stack::netdev::network(dst, r.dst_len)
            && r.oif.is_none_or(|o| o == e.nic)
    })
}

/// RTM_NEWROUTE: a route through a gateway in the main table (`ip route add default via G`, `ip route
/// add NET via G [dev D]`). Routes without a gateway are EOPNOTSUPP (the stack routes by its
/// addresses and gateways only), or EEXIST for one the stack derived already.
pub fn add(stack: &mut Stack, m: &wire::Message<'_>) -> Result<(), Errno> {
    let r = parse(stack, m)?;
    if r.table != RT_TABLE_UNSPEC && r.table != u32::from(RT_TABLE_MAIN) {
        return Err(Errno::EOPNOTSUPP);
    }
    if r.kind != RTN_UNSPEC && r.kind != RTN_UNICAST {
        return Err(Errno::EOPNOTSUPP);
    }
    match r.gateway {
        Some(g) => {
            let replace = m.flags() & NLM_F_REPLACE != 0 && m.flags() & NLM_F_EXCL == 0;
            stack.add_gateway_route(destination(&r), r.dst_len, g, r.oif, replace).map(|_| ())
        }
        None if is_derived(stack, &r) => Err(Errno::EEXIST),
        // A route to a network without a gateway (`ip route add NET dev D`): not modelled.
        None => Err(Errno::EOPNOTSUPP),
    }
}

/// RTM_DELROUTE: removes a gateway route (ESRCH when none matches); the routes derived from
/// addresses go with their address (EOPNOTSUPP).
pub fn del(stack: &mut Stack, m: &wire::Message<'_>) -> Result<(), Errno> {
    let r = parse(stack, m)?;
    let dst = destination(&r);
    match stack.remove_gateway_route(dst, r.dst_len, r.gateway, r.oif) {
        Err(Errno::ESRCH) if r.gateway.is_none() && is_derived(stack, &r) => Err(Errno::EOPNOTSUPP),
        other => other,
    }
}

/// RTM_GETROUTE for one destination (`ip route get D`): the route a packet to it takes.
pub fn get(stack: &mut Stack, m: &wire::Message<'_>, sender: &Sender) -> Result<Vec<u8>, Errno> {
    let r = parse(stack, m)?;
    let dst = r.dst.ok_or(Errno::EINVAL)?;
    let nic = match r.oif {
        Some(o) => o,
        None => stack.route(dst)?,
    };
    let on_link = dst.is_loopback() || stack.nics()[nic].on_link(dst);
    let gateway = if on_link {
        None
    } else {
        let net = crate::net::stack::netdev::network;
        let routes = stack.gateway_routes();
        let via =
            routes.iter().filter(|g| g.nic == nic && g.dst.is_ipv4() == dst.is_ipv4() && net(dst, g.prefix) == g.dst);
        via.max_by_key(|g| g.prefix).map(|g| g.gateway)
    };
    let local = stack.nics().iter().any(|n| n.owns(dst)) || dst.is_loopback();
    let entry = RouteEntry {
        table: if local { RT_TABLE_LOCAL } else { RT_TABLE_MAIN },
        kind: if local { RouteType::Local } else { RouteType::Unicast },
        dst,
        prefix: if dst.is_ipv4() { 32 } else { 128 },
        gateway,
        nic: if local { 0 } else { nic },
        prefsrc: if local { Some(dst) } else { stack.nics()[nic].source_for(dst) },
        protocol: RTPROT_BOOT,
        scope: if on_link && !local { RT_SCOPE_LINK } else { RT_SCOPE_UNIVERSE },
        metric: 0,
    };
    let mut msg = message(&entry, 0, m.seq(), sender.portid);
    // rtm_flags sits after the eight one-byte fields of struct rtmsg.
    let at = wire::NLMSG_HDRLEN + 8;
    msg[at..at + 4].copy_from_slice(&RTM_F_CLONED.to_ne_bytes());
    Ok(msg)
}
