//! A guest NIC: a smoltcp `Interface` with its device, addresses, routes and the sockets that use it.
//!
//! smoltcp lets one socket set be polled by one interface only (a socket polled through the wrong
//! interface is silenced for a second as if its neighbour were missing), so each NIC owns the smoltcp
//! sockets that send through it; the [`Stack`](super::Stack)'s socket table maps guest sockets onto them.

use std::net::IpAddr;
use std::sync::Arc;

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::Medium;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use super::device::{DevCounters, FrameDevice, FrameLink};
use super::sockets::errno;
use crate::errno::Errno;

/// The IP MTU of an Ethernet NIC (UML's default too).
pub const ETHERNET_MTU: usize = 1500;

/// One network interface of a guest.
pub struct Nic {
    name: String,
    pub(crate) iface: Interface,
    pub(crate) device: FrameDevice,
    pub(crate) sockets: SocketSet<'static>,
    up: bool,
    /// Unplugged (mconsole `remove ethN`): the slot stays so that other NICs keep their ids and the
    /// sockets that had handles here keep them, but the guest no longer sees the NIC.
    removed: bool,
}

impl Nic {
    /// An Ethernet NIC named `name` (`eth0`) with this MAC over `link`; down and without addresses.
    pub fn ethernet(name: &str, mac: [u8; 6], link: Arc<dyn FrameLink>, now: Instant, seed: u64) -> Nic {
        // The host side drops what arrives until the guest brings the NIC up.
        link.set_up(false);
        let device = FrameDevice::new(link, Medium::Ethernet, ETHERNET_MTU);
        Nic::with_device(name, device, HardwareAddress::Ethernet(EthernetAddress(mac)), now, seed)
    }

    pub(crate) fn with_device(
        name: &str,
        mut device: FrameDevice,
        hw: HardwareAddress,
        now: Instant,
        seed: u64,
    ) -> Nic {
        let mut config = Config::new(hw);
        config.random_seed = seed;
        let iface = Interface::new(config, &mut device, now);
        Nic { name: name.to_owned(), iface, device, sockets: SocketSet::new(Vec::new()), up: false, removed: false }
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The MAC address, for an Ethernet NIC.
    pub fn mac(&self) -> Option<[u8; 6]> {
        // smoltcp asserts an Ethernet medium in hardware_addr.
        if self.device.medium() != Medium::Ethernet {
            return None;
        }
        match self.iface.hardware_addr() {
            HardwareAddress::Ethernet(EthernetAddress(m)) => Some(m),
            _ => None,
        }
    }

    /// Changes the MAC address (`ifconfig eth0 hw ether`).
    pub fn set_mac(&mut self, mac: [u8; 6]) -> Result<(), Errno> {
        if self.device.medium() != Medium::Ethernet || mac[0] & 1 == 1 || mac == [0; 6] {
            return Err(Errno::EINVAL);
        }
        self.iface.set_hardware_addr(HardwareAddress::Ethernet(EthernetAddress(mac)));
        Ok(())
    }

    /// The IP MTU.
    pub fn mtu(&self) -> usize {
        self.device.mtu()
    }

    /// Whether the link is administratively up (IFF_UP): a down NIC is not polled.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Brings the NIC up or down.
    pub fn set_up(&mut self, up: bool) {
        self.up = up;
        self.device.link().set_up(up);
    }

    /// Whether frames can move: up, and the link has its carrier (IFF_RUNNING, IFF_LOWER_UP).
    pub fn is_running(&self) -> bool {
        self.up && self.device.link().carrier()
    }

    /// Whether the NIC was unplugged: the guest no longer sees it.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// Marks the NIC unplugged (see [`Stack::remove_nic`](super::Stack::remove_nic)).
    pub(crate) fn mark_removed(&mut self) {
        self.removed = true;
    }

    /// Whether this is the loopback interface.
    pub fn is_loopback(&self) -> bool {
        self.device.medium() == Medium::Ip
    }

    /// Adds `addr/prefix` (EEXIST if present, EINVAL for a bad prefix, ENOSPC when the table is full).
    pub fn add_address(&mut self, addr: IpAddr, prefix: u8) -> Result<(), Errno> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max || addr.is_unspecified() || addr.is_multicast() {
            return Err(Errno::EINVAL);
        }
        let cidr = IpCidr::new(IpAddress::from(addr), prefix);
        if self.owns(addr) {
            return Err(Errno::EEXIST);
        }
        let mut full = false;
        self.iface.update_ip_addrs(|addrs| full = addrs.push(cidr).is_err());
        if full {
            return Err(Errno::ENOSPC);
        }
        Ok(())
    }

    /// Removes an address (EADDRNOTAVAIL if absent).
    pub fn remove_address(&mut self, addr: IpAddr) -> Result<(), Errno> {
        let addr = IpAddress::from(addr);
        let mut found = false;
        self.iface.update_ip_addrs(|addrs| {
            if let Some(i) = addrs.iter().position(|c| c.address() == addr) {
                addrs.remove(i);
                found = true;
            }
        });
        if found {
            Ok(())
        } else {
            Err(errno::EADDRNOTAVAIL)
        }
    }

    /// The addresses with their prefix lengths.
    pub fn addresses(&self) -> Vec<(IpAddr, u8)> {
        self.iface.ip_addrs().iter().map(|c| (IpAddr::from(c.address()), c.prefix_len())).collect()
    }

    /// Whether `addr` is one of this NIC's addresses.
    pub fn owns(&self, addr: IpAddr) -> bool {
        let addr = IpAddress::from(addr);
        self.iface.ip_addrs().iter().any(|c| c.address() == addr)
    }

    /// Whether `addr` is on one of this NIC's subnets.
    pub fn on_link(&self, addr: IpAddr) -> bool {
        let addr = IpAddress::from(addr);
        self.iface.ip_addrs().iter().any(|c| c.contains_addr(&addr))
    }

    /// Sets the default gateway of the gateway's family (`route add default gw`).
    pub fn set_default_gateway(&mut self, gateway: IpAddr) -> Result<(), Errno> {
        let routes = self.iface.routes_mut();
        let r = match gateway {
            IpAddr::V4(g) => routes.add_default_ipv4_route(g).map(|_| ()),
            IpAddr::V6(g) => routes.add_default_ipv6_route(g).map(|_| ()),
        };
        r.map_err(|_| Errno::ENOSPC)
    }

    /// Removes the default gateway of one family (ESRCH if there is none, as `route del` reports).
    pub fn remove_default_gateway(&mut self, ipv6: bool) -> Result<(), Errno> {
        let routes = self.iface.routes_mut();
        let old = if ipv6 { routes.remove_default_ipv6_route() } else { routes.remove_default_ipv4_route() };
        old.map(|_| ()).ok_or(Errno::ESRCH)
    }

    /// The default gateway of one family.
    pub fn default_gateway(&mut self, ipv6: bool) -> Option<IpAddr> {
        let mut gw = None;
        self.iface.routes_mut().update(|routes| {
            gw = routes
                .iter()
                .find(|r| r.cidr.prefix_len() == 0 && matches!(r.cidr, IpCidr::Ipv6(_)) == ipv6)
                .map(|r| IpAddr::from(r.via_router));
        });
        gw
    }

    /// Whether a packet to `addr` can leave through this NIC: on-link, or a gateway of its family.
    pub fn reaches(&mut self, addr: IpAddr) -> bool {
        self.on_link(addr) || self.default_gateway(addr.is_ipv6()).is_some_and(|g| self.on_link(g))
    }

    /// The source address this NIC would use towards `dst`.
    pub fn source_for(&self, dst: IpAddr) -> Option<IpAddr> {
        self.iface.get_source_address(&IpAddress::from(dst)).map(IpAddr::from)
    }

    /// The counters as /proc/net/dev shows them.
    pub fn counters(&self) -> DevCounters {
        self.device.counters()
    }

    /// This NIC's line of /proc/net/dev, in Linux's format.
    pub fn proc_net_dev_line(&self) -> String {
        let c = self.counters();
        format!(
            "{:>6}:{:8} {:7} {:4} {:4} {:4} {:5} {:10} {:9} {:8} {:7} {:4} {:4} {:4} {:5} {:7} {:10}\n",
            self.name,
            c.rx_bytes,
            c.rx_packets,
            c.rx_errors,
            c.rx_dropped,
            0,
            c.rx_length_errors,
            0,
            c.multicast,
            c.tx_bytes,
            c.tx_packets,
            c.tx_errors,
            c.tx_dropped,
            0,
            0,
            0,
            0
        )
    }
}

/// The two header lines of /proc/net/dev.
pub const PROC_NET_DEV_HEADER: &str = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";
