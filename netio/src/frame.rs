//! Ethernet II frames as UML's transports carry them: one frame per
//! datagram, no FCS, no padding, no header of the transport's own.

use crate::mac::Mac;

/// Destination, source and ethertype.
pub const ETH_HLEN: usize = 14;
/// UML's MTU (ETH_MAX_PACKET).
pub const MTU: usize = 1500;
/// An 802.1Q tag in front of the ethertype.
pub const VLAN_HLEN: usize = 4;
/// The longest frame accepted: header, MTU and one VLAN tag.
pub const MAX_FRAME: usize = ETH_HLEN + MTU + VLAN_HLEN;
/// A receive buffer size with room to see that a frame is too long.
pub const FRAME_BUF: usize = 2048;
/// 802.1Q's tag protocol identifier.
pub const ETHERTYPE_VLAN: u16 = 0x8100;

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than an Ethernet header.
    #[error("runt frame of {0} bytes")]
    Runt(usize),
    /// Longer than the MTU allows (with one VLAN tag at most).
    #[error("oversized frame of {0} bytes")]
    Oversized(usize),
    /// A group (multicast) or all-zero source address.
    #[error("invalid source address {0}")]
    BadSource(Mac),
    /// An 802.3 length field or an undefined value where Ethernet II has
    /// its ethertype (values below 0x0600).
    #[error("not an Ethernet II frame (type/length {0:#06x})")]
    BadEthertype(u16),
}

/// The parsed header of a valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthHeader {
    pub dst: Mac,
    pub src: Mac,
    /// The ethertype after any VLAN tag.
    pub ethertype: u16,
    /// The 802.1Q tag control information, if tagged.
    pub vlan_tci: Option<u16>,
}

/// Checks a frame from or for the wire; never panics, whatever the bytes.
pub fn parse(frame: &[u8]) -> Result<EthHeader, FrameError> {
    let len = frame.len();
    if len < ETH_HLEN {
        return Err(FrameError::Runt(len));
    }
    let mac = |at: usize| {
        let mut m = [0u8; 6];
        m.copy_from_slice(&frame[at..at + 6]);
        Mac(m)
    };
    let (dst, src) = (mac(0), mac(6));
    let mut ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let mut vlan_tci = None;
    let mut max = ETH_HLEN + MTU;
    if ethertype == ETHERTYPE_VLAN {
        if len < ETH_HLEN + VLAN_HLEN {
            return Err(FrameError::Runt(len));
        }
        vlan_tci = Some(u16::from_be_bytes([frame[14], frame[15]]));
        ethertype = u16::from_be_bytes([frame[16], frame[17]]);
        max += VLAN_HLEN;
    }
    if len > max {
        return Err(FrameError::Oversized(len));
    }
    if !src.is_valid_unicast() {
        return Err(FrameError::BadSource(src));
    }
    if ethertype < 0x0600 {
        return Err(FrameError::BadEthertype(ethertype));
    }
    Ok(EthHeader { dst, src, ethertype, vlan_tci })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize, ethertype: u16) -> Vec<u8> {
        let mut f = vec![0u8; len.max(14)];
        f[..6].copy_from_slice(&[0xff; 6]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        f.truncate(len);
        f
    }

    #[test]
    fn accepts_arp_and_full_frames() {
        let h = parse(&frame(42, 0x0806)).unwrap();
        assert_eq!((h.dst, h.src.0[5], h.ethertype, h.vlan_tci), (Mac::BROADCAST, 1, 0x0806, None));
        assert!(parse(&frame(1514, 0x0800)).is_ok());
        let mut tagged = frame(1518, ETHERTYPE_VLAN);
        tagged[14..18].copy_from_slice(&[0x00, 0x05, 0x08, 0x00]);
        let h = parse(&tagged).unwrap();
        assert_eq!((h.ethertype, h.vlan_tci), (0x0800, Some(5)));
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(parse(&[]), Err(FrameError::Runt(0)));
        assert_eq!(parse(&frame(13, 0x0800)), Err(FrameError::Runt(13)));
        assert_eq!(parse(&frame(16, ETHERTYPE_VLAN)), Err(FrameError::Runt(16)));
        assert_eq!(parse(&frame(1515, 0x0800)), Err(FrameError::Oversized(1515)));
        assert_eq!(parse(&frame(1519, ETHERTYPE_VLAN)), Err(FrameError::Oversized(1519)));
        assert_eq!(parse(&frame(60, 0x0100)), Err(FrameError::BadEthertype(0x100)));
        let mut f = frame(60, 0x0800);
        f[6] = 1;
        assert!(matches!(parse(&f), Err(FrameError::BadSource(_))));
        f[6..12].fill(0);
        assert!(matches!(parse(&f), Err(FrameError::BadSource(_))));
    }
}
