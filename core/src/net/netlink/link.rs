//! The link family (RTM_GETLINK, RTM_NEWLINK, RTM_SETLINK): `struct ifinfomsg` and the IFLA_*
//! attributes `ip link` and getifaddrs(3) read.

use super::wire::{self, MessageBuilder};
use super::{Sender, NLM_F_CREATE, NLM_F_EXCL, NLM_F_MULTI, RTM_NEWLINK};
use crate::errno::Errno;
use crate::net::stack::netdev::{iff, DEFAULT_TXQUEUELEN, IFNAMSIZ_MAX};
use crate::net::stack::{NicId, Stack};

/// `sizeof(struct ifinfomsg)`.
pub const IFINFOMSG_LEN: usize = 16;

/// IFLA_* attribute types.
pub const IFLA_ADDRESS: u16 = 1;
/// See [`IFLA_ADDRESS`].
pub const IFLA_BROADCAST: u16 = 2;
/// See [`IFLA_ADDRESS`].
pub const IFLA_IFNAME: u16 = 3;
/// See [`IFLA_ADDRESS`].
pub const IFLA_MTU: u16 = 4;
/// See [`IFLA_ADDRESS`].
pub const IFLA_QDISC: u16 = 6;
/// See [`IFLA_ADDRESS`].
pub const IFLA_STATS: u16 = 7;
/// See [`IFLA_ADDRESS`].
pub const IFLA_TXQLEN: u16 = 13;
/// See [`IFLA_ADDRESS`].
pub const IFLA_OPERSTATE: u16 = 16;
/// See [`IFLA_ADDRESS`].
pub const IFLA_LINKMODE: u16 = 17;
/// See [`IFLA_ADDRESS`].
pub const IFLA_STATS64: u16 = 23;
/// See [`IFLA_ADDRESS`].
pub const IFLA_GROUP: u16 = 27;
/// See [`IFLA_ADDRESS`].
pub const IFLA_PROMISCUITY: u16 = 30;
/// See [`IFLA_ADDRESS`].
pub const IFLA_NUM_TX_QUEUES: u16 = 31;
/// See [`IFLA_ADDRESS`].
pub const IFLA_NUM_RX_QUEUES: u16 = 32;
/// See [`IFLA_ADDRESS`].
pub const IFLA_CARRIER: u16 = 33;
/// See [`IFLA_ADDRESS`].
pub const IFLA_MIN_MTU: u16 = 50;
/// See [`IFLA_ADDRESS`].
pub const IFLA_MAX_MTU: u16 = 51;

/// ARPHRD_* link types (also SIOCGIFHWADDR's sa_family).
pub const ARPHRD_ETHER: u16 = 1;
/// See [`ARPHRD_ETHER`].
pub const ARPHRD_LOOPBACK: u16 = 772;
/// RFC 2863 operational states (IF_OPER_*).
const IF_OPER_UNKNOWN: u8 = 0;
const IF_OPER_DOWN: u8 = 2;
const IF_OPER_UP: u8 = 6;
/// Linux's smallest IPv4 MTU (ETH_MIN_MTU).
const MIN_MTU: u32 = 68;
/// How many counters `struct rtnl_link_stats` and `rtnl_link_stats64` hold.
const STATS_FIELDS: usize = 24;

/// A NIC's flags as netlink reports them: SIOCGIFFLAGS's, with IFF_LOWER_UP while it runs.
pub fn netlink_flags(stack: &Stack, id: NicId) -> u32 {
    let f = stack.if_flags(id);
    if f & iff::RUNNING != 0 {
        f | iff::LOWER_UP
    } else {
        f
    }
}

/// The RTM_NEWLINK message describing one NIC.
pub fn message(stack: &Stack, id: NicId, flags: u16, seq: u32, portid: u32) -> Vec<u8> {
    let n = &stack.nics()[id];
    let up = n.is_up();
    let (ty, operstate, mac, brd) = if n.is_loopback() {
        (ARPHRD_LOOPBACK, IF_OPER_UNKNOWN, [0u8; 6], [0u8; 6])
    } else {
        let oper = if n.is_running() { IF_OPER_UP } else { IF_OPER_DOWN };
        (ARPHRD_ETHER, oper, n.mac().unwrap_or_default(), [0xff; 6])
    };
    let mut hdr = [0u8; IFINFOMSG_LEN];
    hdr[2..4].copy_from_slice(&ty.to_ne_bytes());
    hdr[4..8].copy_from_slice(&(Stack::ifindex(id) as i32).to_ne_bytes());
    hdr[8..12].copy_from_slice(&netlink_flags(stack, id).to_ne_bytes());
    let mtu = n.mtu() as u32;
    let c = n.counters();
    // rtnl_link_stats order: rx/tx packets, rx/tx bytes, rx/tx errors, rx/tx dropped, multicast,
    // collisions, rx_length_errors, then error kinds this stack does not count.
    let mut stats = [0u64; STATS_FIELDS];
    stats[..11].copy_from_slice(&[
        c.rx_packets,
        c.tx_packets,
        c.rx_bytes,
        c.tx_bytes,
        c.rx_errors,
        c.tx_errors,
        c.rx_dropped,
        c.tx_dropped,
        c.multicast,
        0,
        c.rx_length_errors,
    ]);
    let stats64: Vec<u8> = stats.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let stats32: Vec<u8> = stats.iter().flat_map(|v| (*v as u32).to_ne_bytes()).collect();
    MessageBuilder::new(RTM_NEWLINK, flags, seq, portid)
        .raw(&hdr)
        .str(IFLA_IFNAME, n.name())
        .u32(IFLA_TXQLEN, DEFAULT_TXQUEUELEN)
        .u8(IFLA_OPERSTATE, operstate)
        .u8(IFLA_LINKMODE, 0)
        .u32(IFLA_MTU, mtu)
        .u32(IFLA_MIN_MTU, MIN_MTU.min(mtu))
        .u32(IFLA_MAX_MTU, mtu)
        .u32(IFLA_GROUP, 0)
        .u32(IFLA_PROMISCUITY, 0)
        .u32(IFLA_NUM_TX_QUEUES, 1)
        .u32(IFLA_NUM_RX_QUEUES, 1)
        .u8(IFLA_CARRIER, u8::from(!up || n.is_running()))
        // No queueing discipline: Linux names that noqueue (lo's, up since boot), and noop for a
        // device not yet up.
        .str(IFLA_QDISC, if up || n.is_loopback() { "noqueue" } else { "noop" })
        .attr(IFLA_ADDRESS, &mac)
        .attr(IFLA_BROADCAST, &brd)
        .attr(IFLA_STATS64, &stats64)
        .attr(IFLA_STATS, &stats32)
        .build()
}

/// The RTM_NEWLINK message IPv6 answers a link dump of family AF_INET6 with (Linux's
/// inet6_fill_ifinfo: name, address, MTU and operational state; no per-device IPv6 settings here).
pub fn inet6_message(stack: &Stack, id: NicId, flags: u16, seq: u32, portid: u32) -> Vec<u8> {
    let n = &stack.nics()[id];
    let (ty, operstate) = if n.is_loopback() {
        (ARPHRD_LOOPBACK, if n.is_up() { IF_OPER_UNKNOWN } else { IF_OPER_DOWN })
    } else {
        (ARPHRD_ETHER, if n.is_running() { IF_OPER_UP } else { IF_OPER_DOWN })
    };
    let mut hdr = [0u8; IFINFOMSG_LEN];
    hdr[0] = libc::AF_INET6 as u8;
    hdr[2..4].copy_from_slice(&ty.to_ne_bytes());
    hdr[4..8].copy_from_slice(&(Stack::ifindex(id) as i32).to_ne_bytes());
    hdr[8..12].copy_from_slice(&netlink_flags(stack, id).to_ne_bytes());
    MessageBuilder::new(RTM_NEWLINK, flags, seq, portid)
        .raw(&hdr)
        .str(IFLA_IFNAME, n.name())
        .attr(IFLA_ADDRESS, &n.mac().unwrap_or_default())
        .u32(IFLA_MTU, n.mtu() as u32)
        .u8(IFLA_OPERSTATE, operstate)
        .build()
}

/// RTM_GETLINK with NLM_F_DUMP: every NIC (in IPv6's form for family AF_INET6, which Linux serves
/// from its own handler).
pub fn dump(stack: &Stack, m: &wire::Message<'_>, sender: &Sender) -> Vec<Vec<u8>> {
    let inet6 = super::dump_family(m) == libc::AF_INET6 as u8;
    (0..stack.nics().len())
        .filter(|&id| !stack.nics()[id].is_removed())
        .map(|id| {
            if inet6 {
                inet6_message(stack, id, NLM_F_MULTI, m.seq(), sender.portid)
            } else {
                message(stack, id, NLM_F_MULTI, m.seq(), sender.portid)
            }
        })
        .collect()
}

/// The NIC a link request names: by `ifi_index`, else by IFLA_IFNAME (EINVAL with neither, ENODEV
/// when there is no such NIC).
fn target(stack: &Stack, index: i32, attrs: &[wire::Attr<'_>]) -> Result<NicId, Errno> {
    if index > 0 {
        return stack.nic_by_ifindex(i64::from(index)).ok_or(Errno::ENODEV);
    }
    match wire::find(attrs, IFLA_IFNAME) {
        Some(a) => stack.nic_by_name(a.str(IFNAMSIZ_MAX)?).ok_or(Errno::ENODEV),
        None => Err(Errno::EINVAL),
    }
}

/// The fixed header's index, flags and change mask, and the attributes.
fn parse<'a>(m: &wire::Message<'a>) -> Result<(i32, u32, u32, Vec<wire::Attr<'a>>), Errno> {
    let (hdr, rest) = wire::split_family_header(m.payload(), IFINFOMSG_LEN)?;
    let word = |at: usize| u32::from_ne_bytes([hdr[at], hdr[at + 1], hdr[at + 2], hdr[at + 3]]);
    Ok((word(4) as i32, word(8), word(12), wire::attrs(rest)?))
}

/// RTM_GETLINK for one NIC.
pub fn get(stack: &Stack, m: &wire::Message<'_>, sender: &Sender) -> Result<Vec<u8>, Errno> {
    let (index, _, _, attrs) = parse(m)?;
    let id = target(stack, index, &attrs)?;
    Ok(message(stack, id, 0, m.seq(), sender.portid))
}

/// RTM_NEWLINK and RTM_SETLINK on an existing NIC: up/down by `ifi_flags` under `ifi_change`, the
/// MAC address, the MTU (only to its current value: the stack's MTU is fixed). Creating links is
/// EOPNOTSUPP, renaming too.
pub fn set(stack: &mut Stack, m: &wire::Message<'_>) -> Result<(), Errno> {
    let (index, flags, change, attrs) = parse(m)?;
    let id = match target(stack, index, &attrs) {
        Err(Errno::ENODEV) if m.ty() == RTM_NEWLINK && m.flags() & NLM_F_CREATE != 0 => return Err(Errno::EOPNOTSUPP),
        r => r?,
    };
    if m.ty() == RTM_NEWLINK && m.flags() & NLM_F_EXCL != 0 {
        return Err(Errno::EEXIST);
    }
    let nic = &stack.nics()[id];
    if let Some(a) = wire::find(&attrs, IFLA_IFNAME) {
        if a.str(IFNAMSIZ_MAX)? != nic.name() {
            return Err(Errno::EOPNOTSUPP);
        }
    }
    if let Some(a) = wire::find(&attrs, IFLA_MTU) {
        if a.u32()? as usize != nic.mtu() {
            return Err(Errno::EINVAL);
        }
    }
    if let Some(a) = wire::find(&attrs, IFLA_TXQLEN) {
        if a.u32()? != DEFAULT_TXQUEUELEN {
            return Err(Errno::EOPNOTSUPP);
        }
    }
    if let Some(a) = wire::find(&attrs, IFLA_ADDRESS) {
        set_mac(stack, id, a.data)?;
    }
    if flags != 0 || change != 0 {
        let old = stack.if_flags(id);
        let new = if change != 0 { (flags & change) | (old & !change) } else { flags };
        stack.set_if_up(id, new & iff::UP != 0)?;
    }
    Ok(())
}

/// Sets a NIC's MAC as Linux's eth_mac_addr does: EOPNOTSUPP for the loopback, EINVAL for a wrong
/// length, EADDRNOTAVAIL for a multicast or all-zero address.
pub fn set_mac(stack: &mut Stack, id: NicId, mac: &[u8]) -> Result<(), Errno> {
    let nic = stack.nic_mut(id).ok_or(Errno::ENODEV)?;
    if nic.is_loopback() {
        return Err(Errno::EOPNOTSUPP);
    }
    let mac: [u8; 6] = mac.try_into().map_err(|_| Errno::EINVAL)?;
    if mac[0] & 1 != 0 || mac == [0; 6] {
        return Err(Errno::EADDRNOTAVAIL);
    }
    nic.set_mac(mac)
}
