//! Netlink's wire format (include/uapi/linux/netlink.h): `nlmsghdr` messages padded to 4 bytes, each
//! carrying a family header and `rtattr`/`nlattr` attributes. Typed views over byte buffers, in the
//! style of smoltcp's `wire` module: every length comes from the guest and is checked before use, so
//! a truncated or lying message is an error, never a panic or an out-of-bounds read.

use crate::errno::Errno;

/// `sizeof(struct nlmsghdr)`.
pub const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct nlattr)` (and of `struct rtattr`).
pub const NLA_HDRLEN: usize = 4;
/// The attribute type bits (NLA_TYPE_MASK: the top two are NLA_F_NESTED and NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Rounds a length up to netlink's 4-byte alignment (NLMSG_ALIGN, NLA_ALIGN).
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Why a message or attribute does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than its header or than the length it claims.
    #[error("netlink message truncated")]
    Truncated,
    /// A length field smaller than the header it is part of.
    #[error("netlink length field too small")]
    BadLength,
    /// An attribute whose payload has the wrong size for its type.
    #[error("netlink attribute has the wrong size")]
    BadAttribute,
}

impl From<WireError> for Errno {
    fn from(_: WireError) -> Errno {
        Errno::EINVAL
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One netlink message: a checked view of exactly `nlmsg_len` bytes.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    buf: &'a [u8],
}

impl<'a> Message<'a> {
    /// Checks the header of the message at the start of `buf`: its length must cover the header and
    /// fit in `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Message<'a>, WireError> {
        if buf.len() < NLMSG_HDRLEN {
            return Err(WireError::Truncated);
        }
        let len = u32_at(buf, 0) as usize;
        if len < NLMSG_HDRLEN {
            return Err(WireError::BadLength);
        }
        if len > buf.len() {
            return Err(WireError::Truncated);
        }
        Ok(Message { buf: &buf[..len] })
    }

    /// `nlmsg_len`.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Always false: a checked message has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// `nlmsg_type`.
    pub fn ty(&self) -> u16 {
        u16_at(self.buf, 4)
    }

    /// `nlmsg_flags`.
    pub fn flags(&self) -> u16 {
        u16_at(self.buf, 6)
    }

    /// `nlmsg_seq`.
    pub fn seq(&self) -> u32 {
        u32_at(self.buf, 8)
    }

    /// `nlmsg_pid`.
    pub fn pid(&self) -> u32 {
        u32_at(self.buf, 12)
    }

    /// The 16 header bytes, as an NLMSG_ERROR reply quotes them.
    pub fn header(&self) -> &'a [u8] {
        &self.buf[..NLMSG_HDRLEN]
    }

    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// What follows the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[NLMSG_HDRLEN..]
    }
}

/// The messages of one datagram, as Linux's netlink_rcv_skb walks them: it stops at the first
/// header that does not parse (the rest of the datagram is ignored, as Linux ignores it).
pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    std::iter::from_fn(move || {
        let m = Message::new_checked(buf).ok()?;
        buf = &buf[align(m.len()).min(buf.len())..];
        Some(m)
    })
}

/// One attribute: its type (flag bits masked off) and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The type, without NLA_F_NESTED and NLA_F_NET_BYTEORDER.
    pub ty: u16,
    /// The payload.
    pub data: &'a [u8],
}

impl<'a> Attr<'a> {
    /// A u8 payload (at least one byte, as Linux's NLA_U8 policy wants).
    pub fn u8(&self) -> Result<u8, WireError> {
        self.data.first().copied().ok_or(WireError::BadAttribute)
    }

    /// A u32 payload.
    pub fn u32(&self) -> Result<u32, WireError> {
        match self.data {
            [a, b, c, d, ..] => Ok(u32::from_ne_bytes([*a, *b, *c, *d])),
            _ => Err(WireError::BadAttribute),
        }
    }

    /// A string payload: up to the first NUL, at most `max` bytes, UTF-8.
    pub fn str(&self, max: usize) -> Result<&'a str, WireError> {
        let end = self.data.iter().position(|&b| b == 0).unwrap_or(self.data.len());
        if end > max {
            return Err(WireError::BadAttribute);
        }
        std::str::from_utf8(&self.data[..end]).map_err(|_| WireError::BadAttribute)
    }

    /// An IPv4 or IPv6 address payload (4 or 16 bytes).
    pub fn ip(&self) -> Result<std::net::IpAddr, WireError> {
        if let Ok(a) = <[u8; 4]>::try_from(self.data) {
            return Ok(a.into());
        }
        <[u8; 16]>::try_from(self.data).map(Into::into).map_err(|_| WireError::BadAttribute)
    }
}

/// The attributes after a family header, in order. Like Linux's legacy parser, it stops quietly at
/// trailing bytes too short to be an attribute; an attribute whose length runs past the end is an
/// error.
pub fn attrs(mut buf: &[u8]) -> Result<Vec<Attr<'_>>, WireError> {
    let mut out = Vec::new();
    while buf.len() >= NLA_HDRLEN {
        let len = usize::from(u16_at(buf, 0));
        if len < NLA_HDRLEN {
            return Err(WireError::BadLength);
        }
        if len > buf.len() {
            return Err(WireError::Truncated);
        }
        out.push(Attr { ty: u16_at(buf, 2) & NLA_TYPE_MASK, data: &buf[NLA_HDRLEN..len] });
        buf = &buf[align(len).min(buf.len())..];
    }
    Ok(out)
}

/// The last attribute of a type (Linux's parser keeps the last duplicate).
pub fn find<'a>(attrs: &[Attr<'a>], ty: u16) -> Option<Attr<'a>> {
    attrs.iter().rev().find(|a| a.ty == ty).copied()
}

/// The AF_* value of an address's family, as a family header carries it.
pub fn family_of(a: std::net::IpAddr) -> u8 {
    if a.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

/// The longest prefix of a family header's family: EOPNOTSUPP for a family rtnetlink has no handler
/// of addresses or routes for.
pub fn prefix_max(family: u8) -> Result<u8, Errno> {
    match i32::from(family) {
        libc::AF_INET => Ok(32),
        libc::AF_INET6 => Ok(128),
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// The address in the last attribute of type `ty`, which must be of `family` (EINVAL otherwise, or
/// when it is neither 4 nor 16 bytes).
pub fn find_ip(attrs: &[Attr<'_>], ty: u16, family: u8) -> Result<Option<std::net::IpAddr>, WireError> {
    let Some(a) = find(attrs, ty) else { return Ok(None) };
    let ip = a.ip()?;
    if family_of(ip) != family {
        return Err(WireError::BadAttribute);
    }
    Ok(Some(ip))
}

/// The payload after a family header of `hdr` bytes, or EINVAL when the message is shorter.
pub fn split_family_header(payload: &[u8], hdr: usize) -> Result<(&[u8], &[u8]), WireError> {
    if payload.len() < hdr {
        return Err(WireError::Truncated);
    }
    Ok((&payload[..hdr], &payload[align(hdr).min(payload.len())..]))
}

/// Builds one outgoing message: header, family header, attributes.
#[derive(Debug)]
pub struct MessageBuilder {
    buf: Vec<u8>,
}

impl MessageBuilder {
    /// A message of this type and flags, answering sequence `seq` of port `pid`.
    pub fn new(ty: u16, flags: u16, seq: u32, pid: u32) -> MessageBuilder {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&pid.to_ne_bytes());
        MessageBuilder { buf }
    }

    /// Appends raw bytes (a family header), padded to 4.
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.buf.extend_from_slice(bytes);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    /// Appends an attribute. Payloads longer than an attribute can say are not made here (every
    /// attribute this kernel sends is small).
    pub fn attr(mut self, ty: u16, data: &[u8]) -> Self {
        let len = (NLA_HDRLEN + data.len()).min(usize::from(u16::MAX)) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&data[..usize::from(len) - NLA_HDRLEN]);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    /// Appends a u8 attribute.
    pub fn u8(self, ty: u16, v: u8) -> Self {
        self.attr(ty, &[v])
    }

    /// Appends a u32 attribute.
    pub fn u32(self, ty: u16, v: u32) -> Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// Appends a NUL-terminated string attribute.
    pub fn str(self, ty: u16, s: &str) -> Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v)
    }

    /// Appends an address attribute (4 or 16 bytes).
    pub fn ip(self, ty: u16, a: std::net::IpAddr) -> Self {
        match a {
            std::net::IpAddr::V4(v4) => self.attr(ty, &v4.octets()),
            std::net::IpAddr::V6(v6) => self.attr(ty, &v6.octets()),
        }
    }

    /// The finished message, its length filled in.
    pub fn build(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32, ty: u16, flags: u16, seq: u32, pid: u32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&pid.to_ne_bytes());
        v
    }

    #[test]
    fn messages_round_trip() {
        let m = MessageBuilder::new(18, 0x301, 7, 42).raw(&[0; 16]).str(3, "lo").u32(4, 65535).build();
        assert_eq!(m.len(), 16 + 16 + 8 + 8);
        let v = Message::new_checked(&m).unwrap();
        assert_eq!((v.len(), v.ty(), v.flags(), v.seq(), v.pid()), (m.len(), 18, 0x301, 7, 42));
        let (fam, rest) = split_family_header(v.payload(), 16).unwrap();
        assert_eq!(fam, &[0; 16]);
        let a = attrs(rest).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(find(&a, 3).unwrap().str(15).unwrap(), "lo");
        assert_eq!(find(&a, 4).unwrap().u32().unwrap(), 65535);
        assert_eq!(find(&a, 4).unwrap().u8().unwrap(), 0xff);
        assert!(find(&a, 5).is_none());
    }

    #[test]
    fn several_messages_in_one_datagram() {
        let mut d = header(20, 1, 1, 1, 0);
        d.extend_from_slice(&[1, 2, 3, 4]);
        d.extend(header(17, 2, 1, 2, 0));
        d.push(9);
        d.extend_from_slice(&[0, 0, 0]);
        d.extend(header(16, 3, 1, 3, 0));
        let seqs: Vec<u32> = messages(&d).map(|m| m.seq()).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        // The last message's padding may be missing.
        let mut d = header(17, 2, 1, 2, 0);
        d.push(9);
        assert_eq!(messages(&d).count(), 1);
    }

    #[test]
    fn truncated_and_lying_headers_are_errors() {
        assert_eq!(Message::new_checked(&[]).unwrap_err(), WireError::Truncated);
        assert_eq!(Message::new_checked(&[0; 15]).unwrap_err(), WireError::Truncated);
        assert_eq!(Message::new_checked(&header(8, 1, 0, 0, 0)).unwrap_err(), WireError::BadLength);
        assert_eq!(Message::new_checked(&header(0, 1, 0, 0, 0)).unwrap_err(), WireError::BadLength);
        assert_eq!(Message::new_checked(&header(17, 1, 0, 0, 0)).unwrap_err(), WireError::Truncated);
        assert_eq!(Message::new_checked(&header(u32::MAX, 1, 0, 0, 0)).unwrap_err(), WireError::Truncated);
        // A bad message stops the walk; those before it stand.
        let mut d = header(16, 1, 0, 1, 0);
        d.extend(header(4, 1, 0, 2, 0));
        d.extend(header(16, 1, 0, 3, 0));
        assert_eq!(messages(&d).count(), 1);
        assert_eq!(split_family_header(&[1, 2], 16).unwrap_err(), WireError::Truncated);
    }

    #[test]
    fn bad_attributes_are_errors() {
        // Length below the header.
        assert_eq!(attrs(&[2, 0, 1, 0]).unwrap_err(), WireError::BadLength);
        // Length past the end.
        assert_eq!(attrs(&[9, 0, 1, 0, 1, 2, 3, 4]).unwrap_err(), WireError::Truncated);
        assert_eq!(attrs(&[0xff, 0xff, 1, 0]).unwrap_err(), WireError::Truncated);
        // Trailing bytes shorter than a header are ignored.
        assert_eq!(attrs(&[5, 0, 1, 0, 7, 0, 0, 0, 1, 2]).unwrap(), vec![Attr { ty: 1, data: &[7] }]);
        // Flag bits are masked off the type.
        assert_eq!(attrs(&[4, 0, 1, 0x80]).unwrap(), vec![Attr { ty: 1, data: &[] }]);
        let empty = Attr { ty: 1, data: &[] };
        assert_eq!(empty.u8(), Err(WireError::BadAttribute));
        assert_eq!(empty.u32(), Err(WireError::BadAttribute));
        assert_eq!(Attr { ty: 1, data: &[1, 2, 3] }.ip(), Err(WireError::BadAttribute));
        assert_eq!(Attr { ty: 1, data: b"0123456789abcdefX\0" }.str(15), Err(WireError::BadAttribute));
        assert_eq!(Attr { ty: 1, data: &[0xff, 0xfe, 0] }.str(15), Err(WireError::BadAttribute));
        assert_eq!(Attr { ty: 1, data: b"eth0" }.str(15), Ok("eth0"));
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic generator: every datagram of random bytes parses or fails cleanly.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in 0..2000 {
            let mut d = Vec::new();
            for _ in 0..(n % 97) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                d.push(x as u8);
            }
            if d.len() >= 4 {
                let len = (x % 80) as u32;
                d[..4].copy_from_slice(&len.to_ne_bytes());
            }
            for m in messages(&d) {
                let _ = m.payload().get(4..).map(attrs);
            }
            let _ = attrs(&d);
        }
    }
}
