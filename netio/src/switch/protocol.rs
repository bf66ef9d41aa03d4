//! uml_switch's control-stream requests: v3 (what UML sends today), the
//! refused v2, and the old v1 and v0 layouts. All integers host order.

use crate::mac::Mac;
use crate::unix_addr::{UnixAddr, SOCKADDR_UN_LEN};

/// The request magic. On the wire (little-endian): `CE FA ED FE`.
pub const SWITCH_MAGIC: u32 = 0xFEED_FACE;
/// The version UML speaks.
pub const SWITCH_VERSION: u32 = 3;
/// `REQ_NEW_CONTROL`, the only request type.
pub const REQ_NEW_CONTROL: u32 = 0;
/// The longest request uml_switch reads (v1 and v3).
pub const MAX_REQUEST: usize = 124;
/// v3: magic, version, type, sockaddr_un (tail padding to 124 optional).
const V3_LEN: usize = 12 + SOCKADDR_UN_LEN;
/// v1: magic, type, mac[6], sockaddr_un.
const V1_LEN: usize = 14 + SOCKADDR_UN_LEN;
/// v0: type, mac[6], sockaddr_un.
const V0_LEN: usize = 10 + SOCKADDR_UN_LEN;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// UML's: answered with the switch's data address.
    V3 { addr: UnixAddr },
    /// Old clients with magic and a MAC; answered like v3.
    V1 { mac: Mac, addr: UnixAddr },
    /// The oldest clients, without magic; no answer.
    V0 { mac: Mac, addr: UnixAddr },
}

impl Request {
    /// The client's data socket address.
    pub fn addr(&self) -> &UnixAddr {
        match self {
            Request::V3 { addr } | Request::V1 { addr, .. } | Request::V0 { addr, .. } => addr,
        }
    }

    /// Whether the client waits for the switch's data address.
    pub fn wants_reply(&self) -> bool {
        !matches!(self, Request::V0 { .. })
    }
}

/// A request the switch refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not all of it has arrived (a full request is at most 124 bytes).
    #[error("short request ({0} bytes)")]
    Incomplete(usize),
    #[error("Version 2 switch requests are not supported")]
    Version2,
    #[error("request version {0} is newer than this switch's ({SWITCH_VERSION})")]
    TooNew(u32),
    #[error("Bad request type {0}")]
    BadType(u32),
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn addr_at(b: &[u8], at: usize) -> UnixAddr {
    let mut raw = [0u8; SOCKADDR_UN_LEN];
    raw.copy_from_slice(&b[at..at + SOCKADDR_UN_LEN]);
    UnixAddr::from_wire(&raw)
}

fn mac_at(b: &[u8], at: usize) -> Mac {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    Mac(m)
}

/// Parses the bytes read so far from a new control stream, as uml_switch
/// does: magic and version 3 → v3; version 2 refused; a higher version
/// refused; magic with version 0 or 1 → the v1 layout; no magic → v0.
/// Never panics, whatever the bytes.
pub fn parse_request(b: &[u8]) -> Result<Request, RequestError> {
    let need = |n: usize| if b.len() < n { Err(RequestError::Incomplete(b.len())) } else { Ok(()) };
    need(4)?;
    if u32_at(b, 0) == SWITCH_MAGIC {
        need(8)?;
        let version = u32_at(b, 4);
        match version {
            2 => return Err(RequestError::Version2),
            3 => {
                need(V3_LEN)?;
                let ty = u32_at(b, 8);
                if ty != REQ_NEW_CONTROL {
                    return Err(RequestError::BadType(ty));
                }
                return Ok(Request::V3 { addr: addr_at(b, 12) });
            }
            v if v > 3 => return Err(RequestError::TooNew(v)),
            _ => {}
        }
        // v1: the word after the magic is the request type.
        need(V1_LEN)?;
        let ty = u32_at(b, 4);
        if ty != REQ_NEW_CONTROL {
            return Err(RequestError::BadType(ty));
        }
        return Ok(Request::V1 { mac: mac_at(b, 8), addr: addr_at(b, 14) });
    }
    need(V0_LEN)?;
    let ty = u32_at(b, 0);
    if ty != REQ_NEW_CONTROL {
        return Err(RequestError::BadType(ty));
    }
    Ok(Request::V0 { mac: mac_at(b, 4), addr: addr_at(b, 10) })
}

/// The 124-byte request_v3 UML sends for its data socket `addr`.
pub fn request_v3(addr: &UnixAddr) -> [u8; MAX_REQUEST] {
    let mut r = [0u8; MAX_REQUEST];
    r[0..4].copy_from_slice(&SWITCH_MAGIC.to_ne_bytes());
    r[4..8].copy_from_slice(&SWITCH_VERSION.to_ne_bytes());
    r[8..12].copy_from_slice(&REQ_NEW_CONTROL.to_ne_bytes());
    r[12..12 + SOCKADDR_UN_LEN].copy_from_slice(addr.wire());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_round_trip_and_bytes() {
        let a = UnixAddr::uml_abstract(0x264a, 0x42bb2);
        let r = request_v3(&a);
        assert_eq!(&r[..14], &[0xce, 0xfa, 0xed, 0xfe, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(parse_request(&r), Ok(Request::V3 { addr: a.clone() }));
        // Without the tail padding it is complete too.
        assert_eq!(parse_request(&r[..122]), Ok(Request::V3 { addr: a }));
        assert_eq!(parse_request(&r[..121]), Err(RequestError::Incomplete(121)));
    }

    #[test]
    fn versions_and_types() {
        let mut r = request_v3(&UnixAddr::uml_abstract(1, 2));
        r[4] = 2;
        assert_eq!(parse_request(&r), Err(RequestError::Version2));
        r[4] = 4;
        assert_eq!(parse_request(&r), Err(RequestError::TooNew(4)));
        r[4] = 3;
        r[8] = 1;
        assert_eq!(parse_request(&r), Err(RequestError::BadType(1)));
        // v1: magic, type 0, MAC, address.
        let mut v1 = [0u8; 124];
        v1[..4].copy_from_slice(&SWITCH_MAGIC.to_ne_bytes());
        v1[8..14].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        v1[14..124].copy_from_slice(UnixAddr::path(std::path::Path::new("/tmp/d")).unwrap().wire());
        let p = parse_request(&v1).unwrap();
        assert!(matches!(&p, Request::V1 { mac, .. } if mac.0[5] == 9) && p.wants_reply());
        // v0: type, MAC, address; no reply.
        let mut v0 = [0u8; 120];
        v0[4..10].copy_from_slice(&[2, 0, 0, 0, 0, 7]);
        v0[10..120].copy_from_slice(UnixAddr::path(std::path::Path::new("/tmp/e")).unwrap().wire());
        let p = parse_request(&v0).unwrap();
        assert!(matches!(&p, Request::V0 { mac, .. } if mac.0[5] == 7) && !p.wants_reply());
        assert_eq!(format!("{:?}", p.addr()), "/tmp/e");
        assert_eq!(parse_request(&[1, 2]), Err(RequestError::Incomplete(2)));
    }
}
