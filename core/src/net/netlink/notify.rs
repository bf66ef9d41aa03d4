//! rtnetlink notifications (Linux's rtmsg_ifinfo, rtmsg_ifa and rtmsg_fib): what a socket that joined
//! RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_IFADDR or RTNLGRP_IPV6_ROUTE
//! (bind's nl_groups or NETLINK_ADD_MEMBERSHIP) reads when the stack's links, addresses or routes
//! change: `ip monitor`, routing daemons and network managers follow the machine this way.
//!
//! Rather than a hook at every place the stack changes, a configuration change (a netlink request, an
//! SIOCSIF* or SIOCADDRT ioctl, a card plugged in or out) takes a [`Snapshot`] before and after, and
//! [`changes`] turns the difference into the messages Linux would multicast: RTM_NEWLINK for a link
//! whose name, flags, MTU or address changed (RTM_DELLINK when it went), RTM_NEWADDR/RTM_DELADDR and
//! RTM_NEWROUTE/RTM_DELROUTE for each address and route that came or went, including the local-table
//! routes Linux derives from addresses. Snapshots are taken only while some socket listens.

use std::collections::{BTreeMap, BTreeSet};

use super::{addr, link, route, RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE};
use crate::net::stack::Stack;

/// rtnetlink multicast groups (`RTNLGRP_*`), numbered from 1 as NETLINK_ADD_MEMBERSHIP takes them.
pub const RTNLGRP_LINK: u32 = 1;
/// See [`RTNLGRP_LINK`].
pub const RTNLGRP_IPV4_IFADDR: u32 = 5;
/// See [`RTNLGRP_LINK`].
pub const RTNLGRP_IPV4_ROUTE: u32 = 7;
/// See [`RTNLGRP_LINK`].
pub const RTNLGRP_IPV6_IFADDR: u32 = 9;
/// See [`RTNLGRP_LINK`].
pub const RTNLGRP_IPV6_ROUTE: u32 = 11;

/// The bind(2) bitmap bit of group `group` (`RTMGRP_*`).
pub fn group_bit(group: u32) -> u32 {
    1 << (group - 1)
}

/// What a link looks like to a listener: a change in any of these is an RTM_NEWLINK (counters are
/// not: Linux does not announce traffic).
#[derive(Clone, PartialEq, Eq)]
struct LinkLook {
    name: String,
    flags: u32,
    mtu: usize,
    mac: Option<[u8; 6]>,
}

/// The stack's links, addresses and routes as netlink describes them.
pub struct Snapshot {
    /// By ifindex: how it looks, and its RTM_NEWLINK message.
    links: BTreeMap<u32, (LinkLook, Vec<u8>)>,
    /// (group, RTM_NEWADDR message); a message is the whole identity of an address.
    addrs: BTreeSet<(u32, Vec<u8>)>,
    /// (group, RTM_NEWROUTE message).
    routes: BTreeSet<(u32, Vec<u8>)>,
}

/// Takes a snapshot of `stack`.
pub fn snapshot(stack: &mut Stack) -> Snapshot {
    let links = (0..stack.nics().len())
        .filter(|&id| !stack.nics()[id].is_removed())
        .map(|id| {
            let n = &stack.nics()[id];
            let look = LinkLook {
                name: n.name().to_owned(),
                flags: link::netlink_flags(stack, id),
                mtu: n.mtu(),
                mac: n.mac(),
            };
            (Stack::ifindex(id), (look, link::message(stack, id, 0, 0, 0)))
        })
        .collect();
    let addrs = stack
        .if_addrs()
        .iter()
        .map(|a| {
            let g = if a.addr.is_ipv4() { RTNLGRP_IPV4_IFADDR } else { RTNLGRP_IPV6_IFADDR };
            (g, addr::message(a, 0, 0, 0))
        })
        .collect();
    let routes = stack
        .routes()
        .iter()
        .map(|r| {
            let g = if r.dst.is_ipv4() { RTNLGRP_IPV4_ROUTE } else { RTNLGRP_IPV6_ROUTE };
            (g, route::message(r, 0, 0, 0))
        })
        .collect();
    Snapshot { links, addrs, routes }
}

/// `message` (an RTM_NEW* built with no flags) as the matching RTM_DEL*.
fn retyped(message: &[u8], ty: u16) -> Vec<u8> {
    let mut m = message.to_vec();
    m[4..6].copy_from_slice(&ty.to_ne_bytes());
    m
}

/// The notifications that take a listener from `before` to `after`, each with its group: links
/// first, then addresses, then routes, what went before what came, as Linux tears down an address's
/// routes before it announces the next.
pub fn changes(before: &Snapshot, after: &Snapshot) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    for (index, (look, msg)) in &after.links {
        if before.links.get(index).map(|(l, _)| l) != Some(look) {
            out.push((RTNLGRP_LINK, msg.clone()));
        }
    }
    for (index, (_, msg)) in &before.links {
        if !after.links.contains_key(index) {
            out.push((RTNLGRP_LINK, retyped(msg, RTM_DELLINK)));
        }
    }
    for (set_before, set_after, del) in
        [(&before.addrs, &after.addrs, RTM_DELADDR), (&before.routes, &after.routes, RTM_DELROUTE)]
    {
        out.extend(set_before.difference(set_after).map(|(g, m)| (*g, retyped(m, del))));
        out.extend(set_after.difference(set_before).cloned());
    }
    debug_assert!(out.iter().all(|(_, m)| {
        let ty = u16::from_ne_bytes([m[4], m[5]]);
        [RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE].contains(&ty)
    }));
    out
}
