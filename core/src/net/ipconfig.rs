//! The kernel command line's `ip=`: an interface's address at boot (Linux's net/ipv4/ipconfig.c,
//! without its DHCP/BOOTP/RARP clients).
//!
//! Two forms are taken:
//! - `ip=ADDR/PREFIX[,GATEWAY[,DEVICE]]`, the short one (IPv4 or IPv6);
//! - Linux's `ip=CLIENT:SERVER:GATEWAY:NETMASK:HOSTNAME:DEVICE:AUTOCONF...`, where autoconf must be
//!   `off` or `none` (or empty) since umvm has no DHCP client. A missing netmask is the address's class
//!   default, as Linux picks it.
//!
//! `ip=off` and `ip=none` configure nothing. The device defaults to `eth0`; it is brought up.

use std::net::{IpAddr, Ipv4Addr};

/// What `ip=` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpConfig {
    /// The interface (`eth0` unless named).
    pub device: String,
    /// Its address and prefix length.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
    /// The default gateway, if any.
    pub gateway: Option<IpAddr>,
    /// The host name Linux's form may carry.
    pub hostname: Option<String>,
}

/// The device `ip=` configures when it names none.
pub const DEFAULT_DEVICE: &str = "eth0";

/// Parses the value of `ip=`: `Ok(None)` for `off`/`none`, an explanation when it cannot be used.
pub fn parse(value: &str) -> Result<Option<IpConfig>, &'static str> {
    match value {
        "off" | "none" | "" => return Ok(None),
        "on" | "any" | "dhcp" | "bootp" | "rarp" | "both" => return Err(AUTOCONF),
        _ => {}
    }
    if value.contains(':') && !value.contains('/') && value.parse::<IpAddr>().is_err() {
        return linux_form(value).map(Some);
    }
    let mut parts = value.split(',');
    let (addr, prefix) = addr_prefix(parts.next().unwrap_or(""))?;
    let gateway = match parts.next() {
        None | Some("") => None,
        Some(g) => Some(g.parse::<IpAddr>().map_err(|_| "the gateway is not an IP address")?),
    };
    if gateway.is_some_and(|g| g.is_ipv4() != addr.is_ipv4()) {
        return Err("the gateway and the address are of different families");
    }
    let device = match parts.next() {
        None | Some("") => DEFAULT_DEVICE.to_string(),
        Some(d) => device_name(d)?,
    };
    if parts.next().is_some() {
        return Err(SHAPE);
    }
    Ok(Some(IpConfig { device, addr, prefix, gateway, hostname: None }))
}

const SHAPE: &str = "expected ip=ADDR/PREFIX[,GATEWAY[,DEVICE]] or ip=CLIENT::GATEWAY:NETMASK:HOST:DEVICE:off";
const AUTOCONF: &str = "automatic configuration (DHCP, BOOTP, RARP) is not supported: give ip=ADDR/PREFIX[,GATEWAY]";

fn addr_prefix(s: &str) -> Result<(IpAddr, u8), &'static str> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().map_err(|_| SHAPE)?;
    if addr.is_unspecified() || addr.is_multicast() || addr.is_loopback() {
        return Err("the address cannot be a host's address");
    }
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        Some(p) => p.parse::<u8>().ok().filter(|&n| n <= max).ok_or("the prefix length is out of range")?,
        None => match addr {
            IpAddr::V4(v4) => class_prefix(v4),
            IpAddr::V6(_) => 64,
        },
    };
    Ok((addr, prefix))
}

/// The netmask Linux assumes when none is given (IN_CLASSA/B/C).
fn class_prefix(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

fn device_name(d: &str) -> Result<String, &'static str> {
    // IFNAMSIZ is 16 with its NUL.
    if d.is_empty() || d.len() > 15 || d.contains(['/', ' ', ':']) {
        return Err("bad device name");
    }
    Ok(d.to_string())
}

/// Linux's colon form.
fn linux_form(value: &str) -> Result<IpConfig, &'static str> {
    let f: Vec<&str> = value.split(':').collect();
    let field = |i: usize| f.get(i).copied().unwrap_or("");
    let addr: Ipv4Addr = field(0).parse().map_err(|_| SHAPE)?;
    if addr.is_unspecified() || addr.is_multicast() || addr.is_loopback() || addr.is_broadcast() {
        return Err("the address cannot be a host's address");
    }
    let gateway = match field(2) {
        "" => None,
        g => Some(IpAddr::V4(g.parse().map_err(|_| "the gateway is not an IPv4 address")?)),
    };
    let prefix = match field(3) {
        "" => class_prefix(addr),
        m => {
            let mask: Ipv4Addr = m.parse().map_err(|_| "the netmask is not an IPv4 netmask")?;
            let bits = u32::from(mask);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err("the netmask is not contiguous");
            }
            bits.leading_ones() as u8
        }
    };
    let hostname = Some(field(4)).filter(|h| !h.is_empty()).map(str::to_string);
    let device = match field(5) {
        "" => DEFAULT_DEVICE.to_string(),
        d => device_name(d)?,
    };
    match field(6) {
        "" | "off" | "none" => {}
        _ => return Err(AUTOCONF),
    }
    Ok(IpConfig { device, addr: addr.into(), prefix, gateway, hostname })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> IpConfig {
        parse(s).unwrap().unwrap()
    }

    #[test]
    fn the_short_form() {
        let c = ok("10.0.0.2/24");
        assert_eq!((c.device.as_str(), c.addr.to_string(), c.prefix, c.gateway), ("eth0", "10.0.0.2".into(), 24, None));
        let c = ok("10.0.0.2/24,10.0.0.1,eth1");
        assert_eq!((c.device.as_str(), c.gateway), ("eth1", Some("10.0.0.1".parse().unwrap())));
        assert_eq!(ok("192.168.1.5").prefix, 24);
        assert_eq!(ok("172.16.0.1").prefix, 16);
        assert_eq!(ok("fd00::2/64,fd00::1").gateway, Some("fd00::1".parse().unwrap()));
        assert_eq!(parse("off"), Ok(None));
        assert_eq!(parse("none"), Ok(None));
    }

    #[test]
    fn linuxs_form() {
        let c = ok("10.1.2.3::10.1.2.254:255.255.255.0:box:eth0:off");
        assert_eq!(c.prefix, 24);
        assert_eq!(c.gateway, Some("10.1.2.254".parse().unwrap()));
        assert_eq!(c.hostname.as_deref(), Some("box"));
        assert_eq!(ok("10.1.2.3:::::eth2").device, "eth2");
        assert_eq!(ok("10.1.2.3").prefix, 8);
    }

    #[test]
    fn bad_values_say_why() {
        for bad in [
            "dhcp",
            "10.0.0.2/33",
            "10.0.0.2/24,nope",
            "10.0.0.2/24,fd00::1",
            "0.0.0.0/8",
            "127.0.0.1/8",
            "224.0.0.1/4",
            "10.0.0.2/24,,a/b",
            "10.0.0.2/24,10.0.0.1,eth0,x",
            "10.1.2.3::10.1.2.254:255.0.255.0:box:eth0:off",
            "10.1.2.3:::::eth0:dhcp",
            "x.y:z",
        ] {
            assert!(parse(bad).is_err(), "{bad} was taken");
        }
    }
}
