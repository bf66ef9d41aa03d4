//! The stack's NICs as Linux's network device layer shows them to `ifconfig`, `ip` and `route`:
//! interface indexes, IFF_* flags, IPv4 address labels and broadcast addresses, and the routing
//! tables Linux derives from the addresses (`ip route show table all`) with the default gateways.
//!
//! Both the SIOC* ioctls and NETLINK_ROUTE work through these methods, so the two views agree.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{errno, NicId, Stack};
use crate::errno::Errno;

/// Linux's IFF_* interface flags (include/uapi/linux/if.h).
pub mod iff {
    /// Administratively up.
    pub const UP: u32 = 0x1;
    /// Has a broadcast address.
    pub const BROADCAST: u32 = 0x2;
    /// The loopback interface.
    pub const LOOPBACK: u32 = 0x8;
    /// Resources allocated (carrier, for a NIC without carrier detection).
    pub const RUNNING: u32 = 0x40;
    /// Supports multicast.
    pub const MULTICAST: u32 = 0x1000;
    /// The driver signals the link is up (netlink only).
    pub const LOWER_UP: u32 = 0x10000;
}

/// The transmit queue length Linux gives new devices, loopback included.
pub const DEFAULT_TXQUEUELEN: u32 = 1000;
/// The routing table numbers of Linux (`RT_TABLE_MAIN`, `RT_TABLE_LOCAL`).
pub const RT_TABLE_MAIN: u8 = 254;
/// See [`RT_TABLE_MAIN`].
pub const RT_TABLE_LOCAL: u8 = 255;
/// Route origins (`RTPROT_KERNEL`: derived from an address; `RTPROT_BOOT`: added by a user).
pub const RTPROT_KERNEL: u8 = 2;
/// See [`RTPROT_KERNEL`].
pub const RTPROT_BOOT: u8 = 3;
/// Route scopes (`RT_SCOPE_*`).
pub const RT_SCOPE_UNIVERSE: u8 = 0;
/// See [`RT_SCOPE_UNIVERSE`].
pub const RT_SCOPE_LINK: u8 = 253;
/// See [`RT_SCOPE_UNIVERSE`].
pub const RT_SCOPE_HOST: u8 = 254;
/// The metric Linux gives IPv6 prefix routes and IPv6 gateways added by hand.
const IP6_RT_PRIO_ADDRCONF: u32 = 256;
/// See [`IP6_RT_PRIO_ADDRCONF`].
const IP6_RT_PRIO_USER: u32 = 1024;
/// Longest interface name or label, without its NUL (IFNAMSIZ - 1).
pub const IFNAMSIZ_MAX: usize = 15;

/// What an address has beyond smoltcp's `addr/prefix`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrInfo {
    /// The IPv4 label (`eth0:1`); the NIC's name when `None`.
    pub label: Option<String>,
    /// The IPv4 broadcast address.
    pub broadcast: Option<Ipv4Addr>,
}

/// One address of one NIC, as `ip addr` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    /// The NIC.
    pub nic: NicId,
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
    /// IPv4 broadcast address, when it has one.
    pub broadcast: Option<Ipv4Addr>,
    /// IPv4 label (the NIC's name unless set).
    pub label: String,
    /// An IPv4 address on the subnet of an earlier one (IFA_F_SECONDARY).
    pub secondary: bool,
}

impl IfAddr {
    /// The RT_SCOPE_* of the address: host for loopback addresses, link for IPv6 link-local.
    pub fn scope(&self) -> u8 {
        match self.addr {
            a if a.is_loopback() => RT_SCOPE_HOST,
            IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => RT_SCOPE_LINK,
            _ => RT_SCOPE_UNIVERSE,
        }
    }
}

/// What a route does (`RTN_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteType {
    /// A gateway or a directly connected network.
    Unicast,
    /// An address of this host.
    Local,
    /// A broadcast address of a directly connected network.
    Broadcast,
}

impl RouteType {
    /// Its RTN_* number.
    pub fn rtn(self) -> u8 {
        match self {
            RouteType::Unicast => 1,
            RouteType::Local => 2,
            RouteType::Broadcast => 3,
        }
    }
}

/// One route of the main or local table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    /// RT_TABLE_MAIN or RT_TABLE_LOCAL.
    pub table: u8,
    /// What it is.
    pub kind: RouteType,
    /// The destination network (the unspecified address for a default route).
    pub dst: IpAddr,
    /// The destination's prefix length.
    pub prefix: u8,
    /// The next hop, for a gateway route.
    pub gateway: Option<IpAddr>,
    /// The NIC packets leave by.
    pub nic: NicId,
    /// The source address the route prefers.
    pub prefsrc: Option<IpAddr>,
    /// RTPROT_KERNEL or RTPROT_BOOT.
    pub protocol: u8,
    /// RT_SCOPE_*.
    pub scope: u8,
    /// The metric (RTA_PRIORITY).
    pub metric: u32,
}

/// The network part of `addr/prefix`.
pub fn network(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & v4_mask(prefix))),
        IpAddr::V6(a) => {
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix.min(128))) };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

/// The IPv4 netmask of a prefix length.
pub fn v4_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

/// The prefix length of an IPv4 netmask; None unless its ones are contiguous.
pub fn v4_prefix(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// The classful prefix length `ifconfig ADDR` gives (Linux's inet_abc_len): None for a class D or E.
pub fn classful_prefix(addr: Ipv4Addr) -> Option<u8> {
    let a = u32::from(addr);
    match addr.octets()[0] {
        _ if a == 0 => Some(0),
        0..=127 => Some(8),
        128..=191 => Some(16),
        192..=223 => Some(24),
        _ => None,
    }
}

/// The broadcast address of an IPv4 network with a broadcast (prefix below 31).
pub fn v4_broadcast(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    (prefix < 31).then(|| Ipv4Addr::from(u32::from(addr) | !v4_mask(prefix)))
}

impl Stack {
    /// A NIC's interface index: `lo` is 1, the others follow in order.
    pub fn ifindex(id: NicId) -> u32 {
        id as u32 + 1
    }

    /// The NIC with this interface index.
    pub fn nic_by_ifindex(&self, index: i64) -> Option<NicId> {
        let id = usize::try_from(index).ok()?.checked_sub(1)?;
        self.nics.get(id).filter(|n| !n.is_removed()).map(|_| id)
    }

    /// A NIC's IFF_* flags as SIOCGIFFLAGS reports them (netlink adds [`iff::LOWER_UP`] when running).
    pub fn if_flags(&self, id: NicId) -> u32 {
        let Some(n) = self.nics.get(id) else { return 0 };
        let mut f = if n.is_loopback() { iff::LOOPBACK } else { iff::BROADCAST | iff::MULTICAST };
        if n.is_up() {
            f |= iff::UP;
        }
        if n.is_running() {
            f |= iff::RUNNING;
        }
        f
    }

    /// Brings a NIC up or down (SIOCSIFFLAGS, `ip link set up/down`). As Linux (without
    /// keep_addr_on_down), a NIC going down loses its IPv6 addresses and the gateways through it, and
    /// `lo` coming up gets ::1 back.
    pub fn set_if_up(&mut self, id: NicId, up: bool) -> Result<(), Errno> {
        let nic = self.nics.get_mut(id).filter(|n| !n.is_removed()).ok_or(Errno::ENODEV)?;
        let was = nic.is_up();
        nic.set_up(up);
        if was && !up {
            nic.iface.routes_mut().update(|routes| routes.clear());
            for (a, _) in nic.addresses().into_iter().filter(|(a, _)| a.is_ipv6()) {
                let _ = nic.remove_address(a);
                self.addr_info.remove(&(id, a));
            }
        }
        if !was && up && nic.is_loopback() && !nic.owns(Ipv6Addr::LOCALHOST.into()) {
            nic.add_address(Ipv6Addr::LOCALHOST.into(), 128)?;
        }
        Ok(())
    }

    /// Every address of every NIC, NIC by NIC, in Linux's order: IPv4 primaries then secondaries, in
    /// the order they were added; IPv6 by decreasing scope, the newest first.
    pub fn if_addrs(&self) -> Vec<IfAddr> {
        let mut out = Vec::new();
        let rank = |a: &IfAddr| match a.scope() {
            RT_SCOPE_HOST => 0,
            RT_SCOPE_LINK => 1,
            _ => 2,
        };
        for id in 0..self.nics.len() {
            let all = self.if_addrs_as_added(id);
            let (mut v4, mut v6): (Vec<IfAddr>, Vec<IfAddr>) = all.into_iter().partition(|a| a.addr.is_ipv4());
            v4.sort_by_key(|a| a.secondary);
            v6.reverse();
            v6.sort_by_key(|a| std::cmp::Reverse(rank(a)));
            out.extend(v4);
            out.extend(v6);
        }
        out
    }

    /// One NIC's addresses in the order they were added.
    fn if_addrs_as_added(&self, nic: NicId) -> Vec<IfAddr> {
        let mut out = Vec::new();
        for (id, n) in self.nics.iter().enumerate().filter(|(id, _)| *id == nic) {
            let addrs = n.addresses();
            for (i, &(addr, prefix)) in addrs.iter().enumerate() {
                let info = self.addr_info.get(&(id, addr)).cloned().unwrap_or_default();
                let secondary = addr.is_ipv4()
                    && addrs[..i].iter().any(|&(a, p)| a.is_ipv4() && p == prefix && network(a, p) == network(addr, p));
                out.push(IfAddr {
                    nic: id,
                    addr,
                    prefix,
                    broadcast: info.broadcast.filter(|_| addr.is_ipv4()),
                    label: info.label.unwrap_or_else(|| n.name().to_owned()),
                    secondary,
                });
            }
        }
        out
    }

    /// Adds an address with its IPv4 broadcast and label (EEXIST if the NIC has it; ENODEV for no
    /// such NIC; EINVAL for a bad prefix or a label too long).
    pub fn add_if_addr(
        &mut self,
        id: NicId,
        addr: IpAddr,
        prefix: u8,
        broadcast: Option<Ipv4Addr>,
        label: Option<&str>,
    ) -> Result<(), Errno> {
        if label.is_some_and(|l| l.is_empty() || l.len() > IFNAMSIZ_MAX) {
            return Err(Errno::EINVAL);
        }
        let nic = self.nics.get_mut(id).ok_or(Errno::ENODEV)?;
        nic.add_address(addr, prefix)?;
        let label = label.filter(|l| *l != nic.name()).map(str::to_owned);
        self.addr_info.insert((id, addr), AddrInfo { label, broadcast: broadcast.filter(|_| addr.is_ipv4()) });
        Ok(())
    }

    /// Removes an address (EADDRNOTAVAIL if the NIC does not have it).
    pub fn remove_if_addr(&mut self, id: NicId, addr: IpAddr) -> Result<(), Errno> {
        self.nics.get_mut(id).ok_or(Errno::ENODEV)?.remove_address(addr)?;
        self.addr_info.remove(&(id, addr));
        Ok(())
    }

    /// Changes an IPv4 address's broadcast address.
    pub fn set_if_broadcast(&mut self, id: NicId, addr: IpAddr, broadcast: Option<Ipv4Addr>) -> Result<(), Errno> {
        if !self.nics.get(id).is_some_and(|n| n.owns(addr)) {
            return Err(errno::EADDRNOTAVAIL);
        }
        self.addr_info.entry((id, addr)).or_default().broadcast = broadcast;
        Ok(())
    }

    /// The routes of the main and local tables, as Linux derives them from the addresses of up NICs
    /// (a network route in main, or in local for the loopback; a local route for each address; the
    /// broadcast route of each IPv4 network) plus the gateway routes, in Linux's order.
    pub fn routes(&mut self) -> Vec<RouteEntry> {
        let mut out = Vec::new();
        let addrs = self.if_addrs();
        for a in addrs.iter().filter(|a| self.nics[a.nic].is_up()) {
            let lo = self.nics[a.nic].is_loopback();
            let net = network(a.addr, a.prefix);
            let host = if a.addr.is_ipv4() { 32 } else { 128 };
            let base = RouteEntry {
                table: RT_TABLE_MAIN,
                kind: RouteType::Unicast,
                dst: net,
                prefix: a.prefix,
                gateway: None,
                nic: a.nic,
                prefsrc: Some(a.addr),
                protocol: RTPROT_KERNEL,
                scope: RT_SCOPE_LINK,
                metric: 0,
            };
            match a.addr {
                IpAddr::V4(v4) => {
                    if a.prefix < 32 && !a.secondary {
                        if lo {
                            out.push(RouteEntry {
                                table: RT_TABLE_LOCAL,
                                kind: RouteType::Local,
                                scope: RT_SCOPE_HOST,
                                ..base.clone()
                            });
                        } else {
                            out.push(base.clone());
                        }
                    }
                    out.push(RouteEntry {
                        table: RT_TABLE_LOCAL,
                        kind: RouteType::Local,
                        dst: a.addr,
                        prefix: 32,
                        scope: RT_SCOPE_HOST,
                        ..base.clone()
                    });
                    if let Some(b) = v4_broadcast(v4, a.prefix).filter(|_| !a.secondary) {
                        out.push(RouteEntry {
                            table: RT_TABLE_LOCAL,
                            kind: RouteType::Broadcast,
                            dst: b.into(),
                            prefix: 32,
                            ..base.clone()
                        });
                    }
                }
                IpAddr::V6(_) => {
                    if a.prefix < host && !lo {
                        out.push(RouteEntry {
                            prefsrc: None,
                            scope: RT_SCOPE_UNIVERSE,
                            metric: IP6_RT_PRIO_ADDRCONF,
                            ..base.clone()
                        });
                    }
                    out.push(RouteEntry {
                        table: RT_TABLE_LOCAL,
                        kind: RouteType::Local,
                        dst: a.addr,
                        prefix: host,
                        prefsrc: None,
                        scope: RT_SCOPE_UNIVERSE,
                        ..base.clone()
                    });
                }
            }
        }
        for g in self.gateway_routes() {
            let metric = if g.gateway.is_ipv6() { IP6_RT_PRIO_USER } else { 0 };
            out.push(RouteEntry {
                table: RT_TABLE_MAIN,
                kind: RouteType::Unicast,
                dst: g.dst,
                prefix: g.prefix,
                gateway: Some(g.gateway),
                nic: g.nic,
                prefsrc: None,
                protocol: RTPROT_BOOT,
                scope: RT_SCOPE_UNIVERSE,
                metric,
            });
        }
        // Linux walks its tables in address order (IPv6's default route last).
        out.sort_by_key(|r| {
            let key = match r.dst {
                IpAddr::V4(a) => u128::from(u32::from(a)),
                IpAddr::V6(_) if r.prefix == 0 => u128::MAX,
                IpAddr::V6(a) => u128::from(a),
            };
            (r.dst.is_ipv6(), r.table == RT_TABLE_LOCAL, key)
        });
        out
    }

    /// /proc/net/route: the IPv4 unicast routes of the main table, in Linux's format.
    pub fn proc_net_route(&mut self) -> String {
        let mut s =
            format!("{:<127}\n", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT");
        for r in self.routes() {
            let (IpAddr::V4(dst), RT_TABLE_MAIN, RouteType::Unicast) = (r.dst, r.table, r.kind) else { continue };
            let gw = match r.gateway {
                Some(IpAddr::V4(g)) => g,
                _ => Ipv4Addr::UNSPECIFIED,
            };
            // RTF_UP, and RTF_GATEWAY for a gateway route.
            let flags = if r.gateway.is_some() { 0x3 } else { 0x1 };
            // Linux prints the network-order words as host-order (little-endian) integers.
            let le = |a: Ipv4Addr| u32::from_le_bytes(a.octets());
            let line = format!(
                "{}\t{:08X}\t{:08X}\t{:04X}\t{}\t{}\t{}\t{:08X}\t{}\t{}\t{}",
                self.nics[r.nic].name(),
                le(dst),
                le(gw),
                flags,
                0,
                0,
                r.metric,
                le(Ipv4Addr::from(v4_mask(r.prefix))),
                0,
                0,
                0
            );
            s.push_str(&format!("{line:<127}\n"));
        }
        s
    }

    /// /proc/net/if_inet6: every IPv6 address, in Linux's format.
    pub fn proc_net_if_inet6(&self) -> String {
        let mut s = String::new();
        // Linux walks a hash table here; for a few addresses that is the order they were added.
        for a in (0..self.nics.len()).flat_map(|id| self.if_addrs_as_added(id)) {
            let IpAddr::V6(v6) = a.addr else { continue };
            let scope = match a.scope() {
                RT_SCOPE_HOST => 0x10,
                RT_SCOPE_LINK => 0x20,
                _ => 0,
            };
            let hex: String = v6.octets().iter().map(|b| format!("{b:02x}")).collect();
            // IFA_F_PERMANENT: no address here expires.
            s.push_str(&format!(
                "{hex} {:02x} {:02x} {:02x} {:02x} {:>8}\n",
                Stack::ifindex(a.nic),
                a.prefix,
                scope,
                0x80,
                self.nics[a.nic].name()
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_classes() {
        assert_eq!(v4_prefix(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(v4_prefix(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(v4_prefix(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(v4_prefix(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(classful_prefix(Ipv4Addr::new(10, 1, 2, 3)), Some(8));
        assert_eq!(classful_prefix(Ipv4Addr::new(172, 16, 0, 1)), Some(16));
        assert_eq!(classful_prefix(Ipv4Addr::new(192, 168, 0, 1)), Some(24));
        assert_eq!(classful_prefix(Ipv4Addr::new(224, 0, 0, 1)), None);
        assert_eq!(v4_broadcast(Ipv4Addr::new(10, 9, 8, 7), 24), Some(Ipv4Addr::new(10, 9, 8, 255)));
        assert_eq!(v4_broadcast(Ipv4Addr::new(10, 9, 8, 7), 31), None);
        assert_eq!(network("fe80::1:2".parse().unwrap(), 64), "fe80::".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn loopback_routes_and_proc_files_match_linux() {
        let mut st = Stack::new();
        assert_eq!(st.if_flags(0), iff::UP | iff::LOOPBACK | iff::RUNNING);
        // Linux keeps lo's routes in the local table: main (and /proc/net/route) is empty.
        let header =
            format!("{:<127}\n", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT");
        assert_eq!(st.proc_net_route(), header);
        assert_eq!(st.proc_net_if_inet6(), "00000000000000000000000000000001 01 80 10 80       lo\n");
        let local: Vec<_> = st.routes().into_iter().map(|r| (r.kind, r.dst, r.prefix)).collect();
        assert_eq!(
            local,
            vec![
                (RouteType::Local, "127.0.0.0".parse().unwrap(), 8),
                (RouteType::Local, "127.0.0.1".parse().unwrap(), 32),
                (RouteType::Broadcast, "127.255.255.255".parse().unwrap(), 32),
                (RouteType::Local, "::1".parse().unwrap(), 128),
            ]
        );
        st.add_if_addr(0, "10.9.8.7".parse().unwrap(), 24, None, None).unwrap();
        st.add_default_route("10.9.8.1".parse().unwrap(), None, false).unwrap();
        assert_eq!(st.add_default_route("10.9.8.2".parse().unwrap(), None, false), Err(Errno::EEXIST));
        let want = format!("{header}{:<127}\n", "lo\t00000000\t0108090A\t0003\t0\t0\t0\t00000000\t0\t0\t0");
        assert_eq!(st.proc_net_route(), want);
        assert_eq!(st.remove_default_route(false, Some("10.9.8.2".parse().unwrap()), None), Err(Errno::ESRCH));
        st.remove_default_route(false, None, None).unwrap();
        assert_eq!(st.proc_net_route(), header);
        assert_eq!(st.add_default_route("10.1.1.1".parse().unwrap(), None, false), Err(errno::ENETUNREACH));
        // Down takes the gateways through the NIC with it, as Linux flushes their routes.
        st.add_default_route("10.9.8.1".parse().unwrap(), None, false).unwrap();
        st.set_if_up(0, false).unwrap();
        assert!(st.default_gateways().is_empty());
        st.set_if_up(0, true).unwrap();
        assert!(st.default_gateways().is_empty());
    }

    #[test]
    fn secondary_addresses_labels_and_down_nics() {
        let mut st = Stack::new();
        st.add_if_addr(0, "127.0.0.2".parse().unwrap(), 8, None, Some("lo:1")).unwrap();
        let a = st.if_addrs();
        assert_eq!(a[0].label, "lo");
        assert!(!a[0].secondary);
        let second = a.iter().find(|a| a.addr == "127.0.0.2".parse::<IpAddr>().unwrap()).unwrap();
        assert!(second.secondary);
        assert_eq!(second.label, "lo:1");
        assert_eq!(st.add_if_addr(0, "127.0.0.2".parse().unwrap(), 8, None, None), Err(Errno::EEXIST));
        assert_eq!(
            st.add_if_addr(0, "127.0.0.3".parse().unwrap(), 8, None, Some("a-very-long-label")),
            Err(Errno::EINVAL)
        );
        st.remove_if_addr(0, "127.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(st.remove_if_addr(0, "127.0.0.2".parse().unwrap()), Err(errno::EADDRNOTAVAIL));
        st.add_if_addr(0, "fd00::2".parse().unwrap(), 64, None, None).unwrap();
        st.set_if_up(0, false).unwrap();
        assert_eq!(st.if_flags(0), iff::LOOPBACK);
        assert!(st.routes().is_empty());
        // Down loses the IPv6 addresses; lo up gets ::1 back.
        assert_eq!(st.nics()[0].addresses(), vec![("127.0.0.1".parse().unwrap(), 8)]);
        st.set_if_up(0, true).unwrap();
        assert_eq!(st.nics()[0].addresses(), vec![("127.0.0.1".parse().unwrap(), 8), ("::1".parse().unwrap(), 128)]);
        st.set_if_up(0, false).unwrap();
        assert_eq!(st.set_if_up(5, true), Err(Errno::ENODEV));
        assert_eq!(st.nic_by_ifindex(1), Some(0));
        assert_eq!(st.nic_by_ifindex(0), None);
        assert_eq!(st.nic_by_ifindex(-1), None);
        assert_eq!(st.nic_by_ifindex(2), None);
    }
}
