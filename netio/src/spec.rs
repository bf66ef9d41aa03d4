//! UML's `ethN=TRANSPORT,...` switch, with UML's defaults, warnings and
//! error messages (uml-interop spec §3.1, §4, §5).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::mac::Mac;
use crate::mcast::{DEFAULT_GROUP, DEFAULT_PORT, DEFAULT_TTL};

/// A transport and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetSpec {
    /// `mcast,[mac],[group],[port],[ttl]`.
    Mcast { group: Ipv4Addr, port: u16, ttl: u32 },
    /// `ucast,[mac],remote_ip,[lport],[rport]`.
    Ucast { remote: Ipv4Addr, lport: u16, rport: u16 },
    /// `daemon,[mac],[unix],[ctl_socket]`.
    Daemon { ctl: PathBuf },
    /// `tuntap,devname,[mac],[gate_ip]`.
    Tuntap { dev: String, gate: Option<Ipv4Addr> },
}

/// A parsed switch: the transport, the MAC the NIC gets, and UML's
/// warnings (print them; they are not errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSpec {
    pub spec: NetSpec,
    pub mac: Mac,
    pub warnings: Vec<String>,
}

/// A switch that cannot be used, with UML's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError(msg.into()))
}

/// Parses a whole `ethN=...` word into the unit number and its spec.
pub fn parse_eth(word: &str) -> Result<(u32, ParsedSpec), SpecError> {
    let Some(rest) = word.strip_prefix("eth") else {
        return err(format!("eth_setup: '{word}' is not an ethN= switch"));
    };
    let Some((unit, spec)) = rest.split_once('=') else {
        return err(format!("eth_setup: '{word}' has no '='"));
    };
    let unit = unit.parse::<u32>().map_err(|_| SpecError(format!("eth_setup: Failed to parse '{word}'")))?;
    Ok((unit, ParsedSpec::parse(spec)?))
}

/// UML's setup_etheraddr: an empty field or a bad MAC gives a random
/// locally administered one (with UML's messages for the bad ones).
fn parse_mac(field: &str, warnings: &mut Vec<String>) -> Mac {
    if field.is_empty() {
        return Mac::random_local();
    }
    let why = match field.parse::<Mac>() {
        Err(e) => e.to_string(),
        Ok(m) if m.is_multicast() => "Attempt to assign a multicast ethernet address to a device disallowed".into(),
        Ok(m) if m.is_zero() => "Attempt to assign an invalid ethernet address to a device disallowed".into(),
        Ok(m) => {
            if !m.is_local() {
                let mut local = m;
                local.0[0] |= 2;
                warnings.push(format!(
                    "Warning: Assigning a globally valid ethernet address to a device; \
                     you should set the 2nd rightmost bit in the first byte of the MAC, i.e. {local}"
                ));
            }
            return m;
        }
    };
    warnings.push(why);
    warnings.push("Choosing a random ethernet address".into());
    Mac::random_local()
}

fn number<T: std::str::FromStr>(field: &str, default: T, what: &str) -> Result<T, SpecError> {
    if field.is_empty() {
        Ok(default)
    } else {
        field.parse().map_err(|_| SpecError(format!("Bad {what} '{field}'")))
    }
}

fn ip(field: &str, what: &str) -> Result<Ipv4Addr, SpecError> {
    field.parse().map_err(|_| SpecError(format!("Invalid {what} '{field}'")))
}

impl ParsedSpec {
    /// Parses the part after `ethN=`.
    pub fn parse(text: &str) -> Result<ParsedSpec, SpecError> {
        let mut fields: Vec<&str> = text.split(',').collect();
        let transport = fields.remove(0);
        let field = |i: usize| fields.get(i).copied().unwrap_or("");
        let mut warnings = Vec::new();
        let (spec, mac_field) = match transport {
            "mcast" => {
                if fields.len() > 4 {
                    return err("mcast_setup - Extra garbage on specification");
                }
                let group = if field(1).is_empty() { DEFAULT_GROUP } else { ip(field(1), "multicast group")? };
                if !group.is_multicast() {
                    return err(format!("mcast_setup - '{group}' is not a multicast group"));
                }
                let port = number(field(2), DEFAULT_PORT, "port")?;
                let ttl: u32 = number(field(3), DEFAULT_TTL, "ttl")?;
                if ttl > 255 {
                    return err(format!("Bad ttl '{}'", field(3)));
                }
                (NetSpec::Mcast { group, port, ttl }, field(0))
            }
            "ucast" => {
                if fields.len() > 4 {
                    return err("ucast_setup - Extra garbage on specification");
                }
                if field(1).is_empty() {
                    return err("ucast_setup - a remote IP address is required");
                }
                let remote = ip(field(1), "remote address")?;
                let lport = number(field(2), DEFAULT_PORT, "port")?;
                let rport = number(field(3), DEFAULT_PORT, "port")?;
                (NetSpec::Ucast { remote, lport, rport }, field(0))
            }
            "daemon" => {
                if fields.len() > 3 {
                    warnings.push("Ignoring data socket specification".into());
                }
                if !field(1).is_empty() && field(1) != "unix" {
                    return err(format!("daemon_setup : Unknown socket type '{}'", field(1)));
                }
                let ctl = if field(2).is_empty() { crate::daemon::DEFAULT_CTL } else { field(2) };
                (NetSpec::Daemon { ctl: PathBuf::from(ctl) }, field(0))
            }
            "tuntap" => {
                if fields.len() > 3 {
                    return err("tuntap_setup - Extra garbage on specification");
                }
                let dev = field(0);
                if dev.is_empty() {
                    return err("tuntap_setup - umvm needs an existing TAP device (tuntap,DEVICE[,MAC[,GATE_IP]]); \
                         it does not run uml_net");
                }
                if dev.len() >= libc::IFNAMSIZ || dev.contains(['/', ' ']) {
                    return err(format!("tuntap_setup - bad interface name '{dev}'"));
                }
                let gate = if field(2).is_empty() { None } else { Some(ip(field(2), "gateway IP address")?) };
                (NetSpec::Tuntap { dev: dev.to_string(), gate }, field(1))
            }
            "" => return err("eth_setup: no transport given"),
            other => return err(format!("eth_setup: Unknown transport '{other}'")),
        };
        let mac = parse_mac(mac_field, &mut warnings);
        Ok(ParsedSpec { spec, mac, warnings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ParsedSpec {
        ParsedSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn e(s: &str) -> String {
        ParsedSpec::parse(s).unwrap_err().0
    }

    #[test]
    fn mcast_defaults_and_fields() {
        let d = p("mcast");
        assert_eq!(d.spec, NetSpec::Mcast { group: Ipv4Addr::new(239, 192, 168, 1), port: 1102, ttl: 1 });
        assert!(d.mac.is_local() && d.mac.is_valid_unicast() && d.warnings.is_empty());
        assert_eq!(p("mcast,,,,").spec, d.spec);
        let s = p("mcast,fe:fd:0:0:0:1,239.192.168.9,1200,2");
        assert_eq!(s.spec, NetSpec::Mcast { group: Ipv4Addr::new(239, 192, 168, 9), port: 1200, ttl: 2 });
        assert_eq!(e("mcast,,,,,x"), "mcast_setup - Extra garbage on specification");
        assert_eq!(e("mcast,,,12x"), "Bad port '12x'");
        assert_eq!(e("mcast,,,70000"), "Bad port '70000'");
        assert_eq!(e("mcast,,,,-1"), "Bad ttl '-1'");
        assert_eq!(e("mcast,,,,256"), "Bad ttl '256'");
        assert!(e("mcast,,10.0.0.1").contains("not a multicast group"));
    }

    #[test]
    fn macs_as_uml_sets_them() {
        let m = p("mcast,fe:fd:00:00:00:01");
        assert_eq!(m.mac.0, [0xfe, 0xfd, 0, 0, 0, 1]);
        assert!(m.warnings.is_empty());
        let multicast = p("daemon,01:00:5e:00:00:01");
        assert!(multicast.mac.is_valid_unicast() && multicast.mac.0 != [1, 0, 0x5e, 0, 0, 1]);
        assert!(multicast.warnings[0].contains("multicast ethernet address"), "{:?}", multicast.warnings);
        let zero = p("daemon,00:00:00:00:00:00");
        assert!(zero.mac.is_valid_unicast() && zero.warnings[0].contains("invalid ethernet address"));
        let garbage = p("daemon,xyz");
        assert_eq!(
            garbage.warnings,
            ["Failed to parse 'xyz' as an ethernet address", "Choosing a random ethernet address"]
        );
        let global = p("mcast,00:16:3e:00:00:01");
        assert_eq!(global.mac.0, [0, 0x16, 0x3e, 0, 0, 1]);
        assert!(global.warnings[0].contains("globally valid") && global.warnings[0].contains("02:16:3e:00:00:01"));
    }

    #[test]
    fn daemon_ucast_tuntap() {
        assert_eq!(p("daemon").spec, NetSpec::Daemon { ctl: PathBuf::from("/var/run/uml-utilities/uml_switch.ctl") });
        assert_eq!(p("daemon,,unix,/tmp/uml.ctl").spec, NetSpec::Daemon { ctl: PathBuf::from("/tmp/uml.ctl") });
        assert_eq!(p("daemon,,,/tmp/s,/tmp/data").warnings, ["Ignoring data socket specification"]);
        assert_eq!(e("daemon,,tcp"), "daemon_setup : Unknown socket type 'tcp'");
        assert_eq!(
            p("ucast,,127.0.0.1,1200").spec,
            NetSpec::Ucast { remote: Ipv4Addr::LOCALHOST, lport: 1200, rport: 1102 }
        );
        assert!(e("ucast,,").contains("remote IP"));
        assert_eq!(e("ucast,,1.2.3.4,1,2,3"), "ucast_setup - Extra garbage on specification");
        let t = p("tuntap,tap0,fe:fd:00:00:00:02,10.0.0.1");
        assert_eq!(t.spec, NetSpec::Tuntap { dev: "tap0".into(), gate: Some(Ipv4Addr::new(10, 0, 0, 1)) });
        assert_eq!(t.mac.0[5], 2);
        assert!(e("tuntap,,fe:fd:00:00:00:02").contains("existing TAP device"));
        assert!(e("tuntap,tap0,,10.0.0").contains("Invalid gateway"));
        assert!(e("tuntap,tap0,,,x").contains("Extra garbage"));
        assert_eq!(e("slirp"), "eth_setup: Unknown transport 'slirp'");
        let (unit, s) = parse_eth("eth3=mcast,,239.192.168.9,1200,2").unwrap();
        assert_eq!((unit, s.spec), (3, NetSpec::Mcast { group: Ipv4Addr::new(239, 192, 168, 9), port: 1200, ttl: 2 }));
        assert!(parse_eth("ethx=mcast").is_err() && parse_eth("eth0").is_err());
    }
}
