//! The SIOC* ioctls on sockets (Linux's net/core/dev_ioctl.c, net/ipv4/devinet.c, ip_rt_ioctl and
//! addrconf's): what `ifconfig` and `route` configure interfaces with. As in Linux, the device
//! requests work on a socket of any family; the IPv4 address and route requests only on AF_INET
//! sockets, their IPv6 forms (`struct in6_ifreq`, `struct in6_rtmsg`) on AF_INET6 ones. Changes
//! need CAP_NET_ADMIN (EPERM).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};
use crate::net::netlink::link::{set_mac, ARPHRD_ETHER, ARPHRD_LOOPBACK};
use crate::net::stack::netdev::{classful_prefix, iff, v4_broadcast, v4_mask, v4_prefix, IfAddr, DEFAULT_TXQUEUELEN};
use crate::net::stack::{errno as net_errno, NicId, Stack};
use crate::task::caps::CAP_NET_ADMIN;

/// The requests (include/uapi/linux/sockios.h).
mod req {
    pub const SIOCADDRT: u64 = 0x890B;
    pub const SIOCDELRT: u64 = 0x890C;
    pub const SIOCGIFNAME: u64 = 0x8910;
    pub const SIOCGIFCONF: u64 = 0x8912;
    pub const SIOCGIFFLAGS: u64 = 0x8913;
    pub const SIOCSIFFLAGS: u64 = 0x8914;
    pub const SIOCGIFADDR: u64 = 0x8915;
    pub const SIOCSIFADDR: u64 = 0x8916;
    pub const SIOCGIFDSTADDR: u64 = 0x8917;
    pub const SIOCGIFBRDADDR: u64 = 0x8919;
    pub const SIOCSIFBRDADDR: u64 = 0x891A;
    pub const SIOCGIFNETMASK: u64 = 0x891B;
    pub const SIOCSIFNETMASK: u64 = 0x891C;
    pub const SIOCGIFMETRIC: u64 = 0x891D;
    pub const SIOCSIFMETRIC: u64 = 0x891E;
    pub const SIOCGIFMTU: u64 = 0x8921;
    pub const SIOCSIFMTU: u64 = 0x8922;
    pub const SIOCSIFNAME: u64 = 0x8923;
    pub const SIOCSIFHWADDR: u64 = 0x8924;
    pub const SIOCGIFHWADDR: u64 = 0x8927;
    pub const SIOCGIFINDEX: u64 = 0x8933;
    pub const SIOCDIFADDR: u64 = 0x8936;
    pub const SIOCGIFTXQLEN: u64 = 0x8942;
    pub const SIOCSIFTXQLEN: u64 = 0x8943;
    pub const SIOCGIFMAP: u64 = 0x8970;
    pub const SIOCSIFMAP: u64 = 0x8971;
}

/// `sizeof(struct ifreq)`, and where its union starts.
const IFREQ_LEN: usize = 40;
const IFR_DATA: usize = 16;
/// `sizeof(struct rtentry)` and `sizeof(struct in6_rtmsg)`, `sizeof(struct in6_ifreq)`.
const RTENTRY_LEN: usize = 120;
const IN6_RTMSG_LEN: usize = 80;
const IN6_IFREQ_LEN: usize = 24;
/// rtentry flags.
const RTF_GATEWAY: u16 = 0x2;
const RTF_HOST: u16 = 0x4;

/// Whether `req` is one of the requests served here (the caller passes others on).
pub fn is_netdev_request(req: u64) -> bool {
    (0x890B..=0x8971).contains(&req)
}

/// The socket's family, or None when `f` is not a socket.
fn family(f: &OpenFile) -> Option<i32> {
    match &f.kind {
        FileKind::Unix(_) => Some(libc::AF_UNIX),
        FileKind::Inet(s) => Some(s.family()),
        FileKind::Netlink(_) => Some(libc::AF_NETLINK),
        _ => None,
    }
}

/// An interface request's name: up to the first NUL of its 16 bytes (the last is forced to NUL, as
/// Linux does).
fn ifr_name(ifr: &[u8; IFREQ_LEN]) -> String {
    let raw = &ifr[..15];
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// The device part of a name (`eth0` of `eth0:1`).
fn device(name: &str) -> &str {
    name.split(':').next().unwrap_or(name)
}

fn sockaddr_in(a: Ipv4Addr) -> [u8; 16] {
    let mut s = [0u8; 16];
    s[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    s[4..8].copy_from_slice(&a.octets());
    s
}

/// A `struct sockaddr_in` in guest bytes: its family and address.
fn parse_sockaddr_in(s: &[u8]) -> (i32, Ipv4Addr) {
    let fam = i32::from(u16::from_ne_bytes([s[0], s[1]]));
    (fam, Ipv4Addr::new(s[4], s[5], s[6], s[7]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Serves a SIOC* request on socket `f`: ENOTTY for a file that is not a socket or a request this
/// family does not take.
pub fn ioctl(ctx: &mut Ctx<'_>, f: &OpenFile, req: u64, arg: u64) -> SysResult {
    let Some(fam) = family(f) else { return Err(Errno::ENOTTY) };
    let admin = ctx.task.process.state().creds.capable(CAP_NET_ADMIN);
    let k = ctx.k;
    match req {
        req::SIOCGIFCONF => {
            let (len, buf): (i32, u64) = (ctx.mem.read_val(arg)?, ctx.mem.read_val(arg + 8)?);
            let addrs = k.inet.with(k, None, |st| Ok(st.if_addrs()))?;
            let v4: Vec<&IfAddr> = addrs.iter().filter(|a| a.addr.is_ipv4()).collect();
            if buf == 0 {
                ctx.mem.write_val(arg, &((v4.len() * IFREQ_LEN) as i32))?;
                return Ok(0);
            }
            let fit = (len.max(0) as usize / IFREQ_LEN).min(v4.len());
            let mut out = vec![0u8; fit * IFREQ_LEN];
            for (i, a) in v4.iter().take(fit).enumerate() {
                let e = &mut out[i * IFREQ_LEN..(i + 1) * IFREQ_LEN];
                let n = a.label.len().min(15);
                e[..n].copy_from_slice(&a.label.as_bytes()[..n]);
                if let IpAddr::V4(ip) = a.addr {
                    e[IFR_DATA..IFR_DATA + 16].copy_from_slice(&sockaddr_in(ip));
                }
            }
            ctx.mem.write(buf, &out)?;
            ctx.mem.write_val(arg, &(out.len() as i32))?;
            Ok(0)
        }
        req::SIOCADDRT | req::SIOCDELRT if fam == libc::AF_INET => {
            if !admin {
                return Err(Errno::EPERM);
            }
            route_v4(ctx, req == req::SIOCADDRT, arg)
        }
        req::SIOCADDRT | req::SIOCDELRT if fam == libc::AF_INET6 => {
            if !admin {
                return Err(Errno::EPERM);
            }
            route_v6(ctx, req == req::SIOCADDRT, arg)
        }
        req::SIOCSIFADDR | req::SIOCDIFADDR if fam == libc::AF_INET6 => {
            if !admin {
                return Err(Errno::EPERM);
            }
            let mut r = [0u8; IN6_IFREQ_LEN];
            ctx.mem.read(arg, &mut r)?;
            let addr = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&r[..16]).expect("16 bytes")));
            let prefix = u32_at(&r, 16);
            let index = u32_at(&r, 20) as i32;
            let add = req == req::SIOCSIFADDR;
            k.inet.reconfigure(k, |st| {
                let id = st.nic_by_ifindex(i64::from(index)).ok_or(Errno::ENODEV)?;
                if prefix > 128 {
                    return Err(Errno::EINVAL);
                }
                if add {
                    st.add_if_addr(id, addr, prefix as u8, None, None)
                } else {
                    st.remove_if_addr(id, addr)
                }
            })?;
            Ok(0)
        }
        _ => ifreq_request(ctx, fam, admin, req, arg),
    }
}

/// The requests that take a `struct ifreq`.
fn ifreq_request(ctx: &mut Ctx<'_>, fam: i32, admin: bool, req: u64, arg: u64) -> SysResult {
    let inet = fam == libc::AF_INET;
    let setter = matches!(
        req,
        req::SIOCSIFFLAGS
            | req::SIOCSIFADDR
            | req::SIOCSIFBRDADDR
            | req::SIOCSIFNETMASK
            | req::SIOCSIFMETRIC
            | req::SIOCSIFMTU
            | req::SIOCSIFNAME
            | req::SIOCSIFHWADDR
            | req::SIOCSIFTXQLEN
            | req::SIOCSIFMAP
    );
    let device_request = matches!(
        req,
        req::SIOCGIFNAME
            | req::SIOCGIFINDEX
            | req::SIOCGIFFLAGS
            | req::SIOCSIFFLAGS
            | req::SIOCGIFMETRIC
            | req::SIOCSIFMETRIC
            | req::SIOCGIFMTU
            | req::SIOCSIFMTU
            | req::SIOCSIFNAME
            | req::SIOCGIFHWADDR
            | req::SIOCSIFHWADDR
            | req::SIOCGIFTXQLEN
            | req::SIOCSIFTXQLEN
            | req::SIOCGIFMAP
            | req::SIOCSIFMAP
    );
    let address_request = matches!(
        req,
        req::SIOCGIFADDR
            | req::SIOCSIFADDR
            | req::SIOCGIFDSTADDR
            | req::SIOCGIFBRDADDR
            | req::SIOCSIFBRDADDR
            | req::SIOCGIFNETMASK
            | req::SIOCSIFNETMASK
    );
    if !(device_request || (address_request && inet)) {
        return Err(Errno::ENOTTY);
    }
    let mut ifr: [u8; IFREQ_LEN] = ctx.mem.read_val(arg)?;
    if setter && !admin {
        return Err(Errno::EPERM);
    }
    let k = ctx.k;
    if req == req::SIOCGIFNAME {
        let index = u32_at(&ifr, IFR_DATA) as i32;
        let name = k.inet.with(k, None, |st| {
            let id = st.nic_by_ifindex(i64::from(index)).ok_or(Errno::ENODEV)?;
            Ok(st.nics()[id].name().to_owned())
        })?;
        ifr[..16].fill(0);
        ifr[..name.len().min(15)].copy_from_slice(&name.as_bytes()[..name.len().min(15)]);
        ctx.mem.write(arg, &ifr)?;
        return Ok(0);
    }
    let name = ifr_name(&ifr);
    let alias = name.contains(':');
    // Written back only by the GET requests.
    let mut answer: Option<[u8; 24]> = None;
    let mut data = [0u8; 24];
    data.copy_from_slice(&ifr[IFR_DATA..]);
    k.inet.reconfigure(k, |st| {
        let id = st.nic_by_name(device(&name)).ok_or(Errno::ENODEV)?;
        if address_request || (req == req::SIOCSIFFLAGS && alias && inet) {
            answer = address(st, id, &name, req, &data)?;
            return Ok(());
        }
        answer = device_ioctl(st, id, req, &data)?;
        Ok(())
    })?;
    if let Some(a) = answer {
        ifr[IFR_DATA..].copy_from_slice(&a);
        ctx.mem.write(arg, &ifr)?;
    }
    Ok(0)
}

/// The device requests (dev_ioctl): Some(new union bytes) for a GET.
fn device_ioctl(st: &mut Stack, id: NicId, req: u64, data: &[u8; 24]) -> Result<Option<[u8; 24]>, Errno> {
    let mut out = [0u8; 24];
    let int = |out: &mut [u8; 24], v: u32| out[..4].copy_from_slice(&v.to_ne_bytes());
    let nic = &st.nics()[id];
    match req {
        req::SIOCGIFINDEX => int(&mut out, Stack::ifindex(id)),
        req::SIOCGIFFLAGS => out[..2].copy_from_slice(&(st.if_flags(id) as u16).to_ne_bytes()),
        req::SIOCSIFFLAGS => {
            let flags = u32::from(u16::from_ne_bytes([data[0], data[1]]));
            st.set_if_up(id, flags & iff::UP != 0)?;
            return Ok(None);
        }
        req::SIOCGIFMETRIC => int(&mut out, 0),
        req::SIOCGIFMTU => int(&mut out, nic.mtu() as u32),
        req::SIOCSIFMTU => {
            // The stack's MTU is fixed when the NIC is made: only its own value is accepted.
            return if u32_at(data, 0) as usize == nic.mtu() { Ok(None) } else { Err(Errno::EINVAL) };
        }
        req::SIOCGIFHWADDR => {
            let (ty, mac) = if nic.is_loopback() {
                (ARPHRD_LOOPBACK, [0; 6])
            } else {
                (ARPHRD_ETHER, nic.mac().unwrap_or_default())
            };
            out[..2].copy_from_slice(&ty.to_ne_bytes());
            out[2..8].copy_from_slice(&mac);
        }
        req::SIOCSIFHWADDR => {
            let ty = if nic.is_loopback() { ARPHRD_LOOPBACK } else { ARPHRD_ETHER };
            if u16::from_ne_bytes([data[0], data[1]]) != ty {
                return Err(Errno::EINVAL);
            }
            set_mac(st, id, &data[2..8])?;
            return Ok(None);
        }
        req::SIOCGIFTXQLEN => int(&mut out, DEFAULT_TXQUEUELEN),
        // A virtual NIC has no I/O map: all zeros.
        req::SIOCGIFMAP => {}
        req::SIOCSIFTXQLEN => {
            return if u32_at(data, 0) == DEFAULT_TXQUEUELEN { Ok(None) } else { Err(Errno::EOPNOTSUPP) };
        }
        // Linux has no metric to set, and virtual NICs no map; renaming is not supported here.
        req::SIOCSIFMETRIC | req::SIOCSIFMAP | req::SIOCSIFNAME => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::ENOTTY),
    }
    Ok(Some(out))
}

/// The IPv4 address requests of devinet_ioctl, on the address labelled `name` (the one with the
/// address the request gives too, when it gives one: 4.4BSD style).
fn address(st: &mut Stack, id: NicId, name: &str, req: u64, data: &[u8; 24]) -> Result<Option<[u8; 24]>, Errno> {
    let (fam, sin) = parse_sockaddr_in(&data[..16]);
    let addrs: Vec<IfAddr> = st.if_addrs().into_iter().filter(|a| a.nic == id && a.addr.is_ipv4()).collect();
    let by_addr = matches!(req, req::SIOCGIFADDR | req::SIOCGIFBRDADDR | req::SIOCGIFNETMASK | req::SIOCGIFDSTADDR)
        && fam == libc::AF_INET;
    let ifa = addrs
        .iter()
        .find(|a| by_addr && a.label == name && a.addr == IpAddr::V4(sin))
        .or_else(|| addrs.iter().find(|a| a.label == name))
        .cloned();
    let v4 = |a: &IfAddr| match a.addr {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    let put = |a: Ipv4Addr| {
        let mut out = [0u8; 24];
        out[..16].copy_from_slice(&sockaddr_in(a));
        Ok(Some(out))
    };
    let nic_broadcast = st.if_flags(id) & iff::BROADCAST != 0;
    if req == req::SIOCSIFADDR {
        if fam != libc::AF_INET {
            return Err(Errno::EINVAL);
        }
        let prefix = classful_prefix(sin).ok_or(Errno::EINVAL)?;
        if let Some(old) = &ifa {
            if v4(old) == sin {
                return Ok(None);
            }
            st.remove_if_addr(id, old.addr)?;
        }
        // Address 0 just removes the old one.
        if sin.is_unspecified() {
            return Ok(None);
        }
        let brd = v4_broadcast(sin, prefix).filter(|_| nic_broadcast);
        let label = name.contains(':').then_some(name);
        st.add_if_addr(id, sin.into(), prefix, brd, label)?;
        return Ok(None);
    }
    let ifa = ifa.ok_or(net_errno::EADDRNOTAVAIL)?;
    let ip = v4(&ifa);
    match req {
        req::SIOCGIFADDR | req::SIOCGIFDSTADDR => put(ip),
        req::SIOCGIFBRDADDR => put(ifa.broadcast.unwrap_or(Ipv4Addr::UNSPECIFIED)),
        req::SIOCGIFNETMASK => put(Ipv4Addr::from(v4_mask(ifa.prefix))),
        req::SIOCSIFFLAGS => {
            // An alias brought down is deleted (devinet_ioctl).
            if u32::from(u16::from_ne_bytes([data[0], data[1]])) & iff::UP == 0 {
                st.remove_if_addr(id, ifa.addr)?;
            }
            Ok(None)
        }
        req::SIOCSIFBRDADDR => {
            st.set_if_broadcast(id, ifa.addr, Some(sin))?;
            Ok(None)
        }
        req::SIOCSIFNETMASK => {
            let prefix = v4_prefix(sin).ok_or(Errno::EINVAL)?;
            if prefix == ifa.prefix {
                return Ok(None);
            }
            // A broadcast derived from the old mask follows the new one; a hand-set one stays.
            let derived = ifa.broadcast.is_some() && ifa.broadcast == v4_broadcast(ip, ifa.prefix);
            let brd = if nic_broadcast && derived { v4_broadcast(ip, prefix) } else { ifa.broadcast };
            let label = (ifa.label != st.nics()[id].name()).then_some(ifa.label.as_str());
            st.remove_if_addr(id, ifa.addr)?;
            st.add_if_addr(id, ifa.addr, prefix, brd, label)?;
            Ok(None)
        }
        _ => Err(Errno::ENOTTY),
    }
}

/// SIOCADDRT/SIOCDELRT with a `struct rtentry` (ip_rt_ioctl): routes through gateways.
fn route_v4(ctx: &mut Ctx<'_>, add: bool, arg: u64) -> SysResult {
    let mut rt = [0u8; RTENTRY_LEN];
    ctx.mem.read(arg, &mut rt)?;
    let (dst_fam, dst) = parse_sockaddr_in(&rt[8..24]);
    let (gw_fam, gw) = parse_sockaddr_in(&rt[24..40]);
    let (_, mask) = parse_sockaddr_in(&rt[40..56]);
    let flags = u16::from_ne_bytes([rt[56], rt[57]]);
    let dev_ptr = u64::from_ne_bytes(rt[88..96].try_into().expect("8 bytes"));
    if dst_fam != libc::AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    let prefix = if flags & RTF_HOST != 0 { 32 } else { v4_prefix(mask).ok_or(Errno::EINVAL)? };
    if u32::from(dst) & !v4_mask(prefix) != 0 {
        return Err(Errno::EINVAL);
    }
    let dev = if dev_ptr != 0 {
        let raw = ctx.mem.read_cstr(dev_ptr, 15)?;
        Some(String::from_utf8_lossy(&raw).into_owned())
    } else {
        None
    };
    let gateway = (flags & RTF_GATEWAY != 0 && gw_fam == libc::AF_INET).then_some(IpAddr::V4(gw));
    let k = ctx.k;
    k.inet.reconfigure(k, |st| {
        let oif = match &dev {
            Some(d) => Some(st.nic_by_name(device(d)).ok_or(Errno::ENODEV)?),
            None => None,
        };
        match (add, gateway) {
            (true, Some(g)) => st.add_gateway_route(dst.into(), prefix, g, oif, false).map(|_| ()),
            // A network reached without a gateway (`route add -net N dev D`): not modelled.
            (true, None) => Err(Errno::EOPNOTSUPP),
            (false, g) => st.remove_gateway_route(dst.into(), prefix, g, oif),
        }
    })?;
    Ok(0)
}

/// SIOCADDRT/SIOCDELRT with a `struct in6_rtmsg` (ipv6_route_ioctl): routes through gateways.
fn route_v6(ctx: &mut Ctx<'_>, add: bool, arg: u64) -> SysResult {
    let mut rt = [0u8; IN6_RTMSG_LEN];
    ctx.mem.read(arg, &mut rt)?;
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&rt[..16]).expect("16 bytes"));
    let gw = Ipv6Addr::from(<[u8; 16]>::try_from(&rt[32..48]).expect("16 bytes"));
    let dst_len = u16::from_ne_bytes([rt[52], rt[53]]);
    let flags = u32_at(&rt, 72);
    let index = u32_at(&rt, 76) as i32;
    if dst_len > 128 {
        return Err(Errno::EINVAL);
    }
    let gateway = (flags & u32::from(RTF_GATEWAY) != 0).then_some(IpAddr::V6(gw));
    let dst = crate::net::stack::netdev::network(IpAddr::V6(dst), dst_len as u8);
    let k = ctx.k;
    k.inet.reconfigure(k, |st| {
        let oif = if index != 0 { Some(st.nic_by_ifindex(i64::from(index)).ok_or(Errno::ENODEV)?) } else { None };
        match (add, gateway) {
            (true, Some(g)) => st.add_gateway_route(dst, dst_len as u8, g, oif, false).map(|_| ()),
            (true, None) => Err(Errno::EOPNOTSUPP),
            (false, g) => st.remove_gateway_route(dst, dst_len as u8, g, oif),
        }
    })?;
    Ok(0)
}
