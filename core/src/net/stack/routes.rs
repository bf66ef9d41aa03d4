//! Routes through gateways (`ip route add NET via G`, `route add -net ... gw G`, the default
//! gateways): kept in the smoltcp routing table of the NIC they leave by, which picks the most
//! specific one for each packet; [`Stack::gateway_nic`] makes the same choice for a new connection.

use std::net::IpAddr;

use smoltcp::iface::Route;
use smoltcp::wire::{IpAddress, IpCidr};

use super::netdev::network;
use super::{errno, NicId, Stack};
use crate::errno::Errno;

/// One route through a gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayRoute {
    /// The NIC it leaves by.
    pub nic: NicId,
    /// The destination network (unspecified for a default route).
    pub dst: IpAddr,
    /// Its prefix length (0: the default route).
    pub prefix: u8,
    /// The next hop.
    pub gateway: IpAddr,
}

impl Stack {
    /// Every gateway route, IPv4 first, NIC by NIC.
    pub fn gateway_routes(&mut self) -> Vec<GatewayRoute> {
        let mut out = Vec::new();
        for ipv6 in [false, true] {
            for (id, n) in self.nics.iter_mut().enumerate() {
                n.iface.routes_mut().update(|routes| {
                    for r in routes.iter().filter(|r| matches!(r.cidr, IpCidr::Ipv6(_)) == ipv6) {
                        out.push(GatewayRoute {
                            nic: id,
                            dst: r.cidr.address().into(),
                            prefix: r.cidr.prefix_len(),
                            gateway: r.via_router.into(),
                        });
                    }
                });
            }
        }
        out
    }

    /// The default gateways, as (NIC, gateway) pairs, IPv4 first.
    pub fn default_gateways(&mut self) -> Vec<(NicId, IpAddr)> {
        self.gateway_routes().into_iter().filter(|r| r.prefix == 0).map(|r| (r.nic, r.gateway)).collect()
    }

    /// Adds a route to `dst/prefix` through `gateway` (`ip route add`, SIOCADDRT): on `oif` or the up
    /// NIC whose network holds the gateway. EINVAL for host bits in `dst` or a bad prefix,
    /// ENETUNREACH when no up NIC reaches the gateway (ENETDOWN when `oif` is down), EEXIST when a
    /// route to that network exists unless `replace`, ENOSPC when the NIC's table is full.
    pub fn add_gateway_route(
        &mut self,
        dst: IpAddr,
        prefix: u8,
        gateway: IpAddr,
        oif: Option<NicId>,
        replace: bool,
    ) -> Result<NicId, Errno> {
        let max = if dst.is_ipv4() { 32 } else { 128 };
        if prefix > max || dst.is_ipv4() != gateway.is_ipv4() || network(dst, prefix) != dst {
            return Err(Errno::EINVAL);
        }
        if gateway.is_unspecified() || gateway.is_multicast() {
            return Err(Errno::EINVAL);
        }
        let id = match oif {
            Some(id) => {
                let n = self.nics.get(id).ok_or(Errno::ENODEV)?;
                if !n.is_up() {
                    return Err(Errno(libc::ENETDOWN));
                }
                if !n.on_link(gateway) {
                    return Err(errno::ENETUNREACH);
                }
                id
            }
            None => self.nics.iter().position(|n| n.is_up() && n.on_link(gateway)).ok_or(errno::ENETUNREACH)?,
        };
        let existing: Vec<GatewayRoute> =
            self.gateway_routes().into_iter().filter(|r| r.dst == dst && r.prefix == prefix).collect();
        if !existing.is_empty() && !replace {
            return Err(Errno::EEXIST);
        }
        for r in existing {
            self.drop_route(r);
        }
        let cidr = IpCidr::new(IpAddress::from(dst), prefix);
        let route = Route { cidr, via_router: IpAddress::from(gateway), preferred_until: None, expires_at: None };
        let mut full = false;
        self.nics[id].iface.routes_mut().update(|routes| full = routes.push(route).is_err());
        if full {
            return Err(Errno::ENOSPC);
        }
        Ok(id)
    }

    /// Removes the route to `dst/prefix` that matches `gateway` and `oif` when they are given (ESRCH
    /// when none does, as Linux's `route del` and `ip route del` report).
    pub fn remove_gateway_route(
        &mut self,
        dst: IpAddr,
        prefix: u8,
        gateway: Option<IpAddr>,
        oif: Option<NicId>,
    ) -> Result<(), Errno> {
        let found = self.gateway_routes().into_iter().find(|r| {
            r.dst == dst
                && r.prefix == prefix
                && gateway.is_none_or(|g| g == r.gateway)
                && oif.is_none_or(|o| o == r.nic)
        });
        match found {
            Some(r) => {
                self.drop_route(r);
                Ok(())
            }
            None => Err(Errno::ESRCH),
        }
    }

    fn drop_route(&mut self, r: GatewayRoute) {
        let cidr = IpCidr::new(IpAddress::from(r.dst), r.prefix);
        self.nics[r.nic].iface.routes_mut().update(|routes| routes.retain(|x| x.cidr != cidr));
    }

    /// Sets the default gateway of the gateway's family ([`Stack::add_gateway_route`] to the
    /// unspecified network).
    pub fn add_default_route(&mut self, gateway: IpAddr, oif: Option<NicId>, replace: bool) -> Result<NicId, Errno> {
        let any = if gateway.is_ipv4() { IpAddr::from([0u8; 4]) } else { IpAddr::from([0u8; 16]) };
        self.add_gateway_route(any, 0, gateway, oif, replace)
    }

    /// Removes the default gateway of one family ([`Stack::remove_gateway_route`]).
    pub fn remove_default_route(
        &mut self,
        ipv6: bool,
        gateway: Option<IpAddr>,
        oif: Option<NicId>,
    ) -> Result<(), Errno> {
        let any = if ipv6 { IpAddr::from([0u8; 16]) } else { IpAddr::from([0u8; 4]) };
        self.remove_gateway_route(any, 0, gateway, oif)
    }

    /// The up, non-loopback NIC whose most specific gateway route covers `dst` and whose gateway it
    /// reaches: where [`Stack::route`] sends what is not on a local network.
    pub fn gateway_nic(&mut self, dst: IpAddr) -> Option<NicId> {
        let best = self
            .gateway_routes()
            .into_iter()
            .filter(|r| {
                let n = &self.nics[r.nic];
                r.dst.is_ipv4() == dst.is_ipv4()
                    && n.is_up()
                    && !n.is_loopback()
                    && network(dst, r.prefix) == r.dst
                    && n.on_link(r.gateway)
            })
            .max_by_key(|r| r.prefix)?;
        Some(best.nic)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::net::stack::memory_link_pair;

    #[test]
    fn most_specific_gateway_route_wins() {
        let mut st = Stack::new();
        let (a, _a2) = memory_link_pair();
        let (b, _b2) = memory_link_pair();
        let e0 = st.add_ethernet("eth0", [2, 0, 0, 0, 0, 1], Arc::new(a));
        let e1 = st.add_ethernet("eth1", [2, 0, 0, 0, 0, 2], Arc::new(b));
        for (id, addr) in [(e0, "10.0.0.5"), (e1, "10.1.0.5")] {
            st.add_if_addr(id, addr.parse().unwrap(), 24, None, None).unwrap();
            st.set_if_up(id, true).unwrap();
        }
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        st.add_default_route(ip("10.0.0.1"), None, false).unwrap();
        assert_eq!(st.add_gateway_route(ip("172.16.0.0"), 12, ip("10.1.0.1"), None, false), Ok(e1));
        assert_eq!(st.add_gateway_route(ip("172.16.0.0"), 12, ip("10.1.0.2"), None, false), Err(Errno::EEXIST));
        assert_eq!(st.add_gateway_route(ip("172.16.0.1"), 12, ip("10.1.0.1"), None, false), Err(Errno::EINVAL));
        assert_eq!(st.add_gateway_route(ip("172.16.0.0"), 12, ip("10.2.0.1"), None, false), Err(errno::ENETUNREACH));
        assert_eq!(st.add_gateway_route(ip("172.16.0.0"), 12, ip("10.1.0.1"), Some(e0), true), Err(errno::ENETUNREACH));
        assert_eq!(st.gateway_nic(ip("172.17.3.4")), Some(e1));
        assert_eq!(st.route(ip("172.17.3.4")), Ok(e1));
        assert_eq!(st.route(ip("8.8.8.8")), Ok(e0));
        assert_eq!(st.route(ip("10.1.0.9")), Ok(e1));
        assert_eq!(st.remove_gateway_route(ip("172.16.0.0"), 12, Some(ip("10.1.0.9")), None), Err(Errno::ESRCH));
        st.remove_gateway_route(ip("172.16.0.0"), 12, None, None).unwrap();
        assert_eq!(st.route(ip("172.17.3.4")), Ok(e0));
        st.set_if_up(e0, false).unwrap();
        assert_eq!(st.route(ip("172.17.3.4")), Err(errno::ENETUNREACH));
        assert!(st.gateway_routes().is_empty());
    }
}
