//! The mconsole wire format (Linux's arch/um/drivers/mconsole.h; see
//! specs/uml-interop.md §6.2-6.6): requests, replies and notifications,
//! every integer a u32 in host order. Guest-independent: views over
//! untrusted bytes in, datagrams out, never a panic.

/// `MCONSOLE_MAGIC`: the first word of a request and of a notification.
pub const MAGIC: u32 = 0xCAFE_BABE;
/// `MCONSOLE_VERSION`: the only protocol version spoken.
pub const VERSION: u32 = 2;
/// `MCONSOLE_MAX_DATA`: the size of a request's or reply's data.
pub const MAX_DATA: usize = 512;
/// The header of a request (magic, version, len) and of a reply (err,
/// more, len).
pub const HEADER: usize = 12;
/// A whole request as `uml_mconsole` sends it.
pub const REQUEST_SIZE: usize = HEADER + MAX_DATA;
/// The most text one reply datagram carries (then a NUL).
pub const CHUNK: usize = MAX_DATA - 1;

/// The bare-text answer to a sender that does not speak version 2
/// (UML's "version 0" clients), sent without a header.
pub const VERSION0_REPLY: &[u8] = b"ERR Version 0 mconsole clients are not supported by this driver";

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

/// What a received datagram is, in the order UML checks it (§6.3).
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// No magic: a "version 0" client, answered with [`VERSION0_REPLY`].
    Version0,
    /// The magic but less than a header: dropped.
    Truncated,
    /// `len` ≥ [`MAX_DATA`]: "Request too large".
    TooLarge,
    /// A request.
    Request(Request<'a>),
}

/// A request's fields.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// Its version: anything but [`VERSION`] is answered with an error,
    /// then served anyway (as UML does).
    pub version: u32,
    /// The command text: `len` bytes (those the datagram has), up to the
    /// first NUL, as UML's C string.
    pub text: &'a [u8],
}

impl<'a> Received<'a> {
    /// Classifies a datagram, whatever its bytes.
    pub fn parse(buf: &'a [u8]) -> Received<'a> {
        match u32_at(buf, 0) {
            Some(MAGIC) => {}
            _ if buf.len() >= 4 || !MAGIC.to_ne_bytes().starts_with(buf) || buf.is_empty() => {
                return Received::Version0
            }
            _ => return Received::Truncated,
        }
        let (Some(version), Some(len)) = (u32_at(buf, 4), u32_at(buf, 8)) else { return Received::Truncated };
        if len as usize >= MAX_DATA {
            return Received::TooLarge;
        }
        let data = &buf[HEADER..];
        let data = &data[..data.len().min(len as usize)];
        let text = data.split(|&b| b == 0).next().unwrap_or_default();
        Received::Request(Request { version, text })
    }
}

/// One logical reply: its text is sent in as many datagrams as it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// 0 for OK, 1 for an error, or a negative errno (as u32).
    pub err: u32,
    /// Whether more logical replies follow (streaming commands).
    pub more: bool,
    /// The text (no NUL needed).
    pub text: Vec<u8>,
}

impl Reply {
    /// A final OK reply.
    pub fn ok(text: impl Into<Vec<u8>>) -> Reply {
        Reply { err: 0, more: false, text: text.into() }
    }

    /// A final error reply (err 1).
    pub fn error(text: impl Into<Vec<u8>>) -> Reply {
        Reply { err: 1, more: false, text: text.into() }
    }

    /// A final error reply with a negative errno as its err.
    pub fn errno(errno: i32, text: impl Into<Vec<u8>>) -> Reply {
        Reply { err: (-errno) as u32, more: false, text: text.into() }
    }

    /// An OK reply with more to follow.
    pub fn partial(text: impl Into<Vec<u8>>) -> Reply {
        Reply { err: 0, more: true, text: text.into() }
    }

    /// The datagrams of this reply (UML's mconsole_reply_len): chunks of
    /// at most [`CHUNK`] bytes, each with its NUL; `err` only on the
    /// first, `more` set on all but the last, which has the reply's own.
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = &self.text[..];
        let mut err = self.err;
        loop {
            let n = rest.len().min(CHUNK);
            let last = n == rest.len();
            let mut d = Vec::with_capacity(HEADER + n + 1);
            d.extend_from_slice(&err.to_ne_bytes());
            d.extend_from_slice(&u32::from(!last || self.more).to_ne_bytes());
            d.extend_from_slice(&(n as u32 + 1).to_ne_bytes());
            d.extend_from_slice(&rest[..n]);
            d.push(0);
            out.push(d);
            err = 0;
            rest = &rest[n..];
            if last {
                return out;
            }
        }
    }
}

/// A reply datagram's fields, as a client reads them.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplyView<'a> {
    /// `err`.
    pub err: u32,
    /// `more`.
    pub more: bool,
    /// The text before the NUL (at most `len` bytes, those received).
    pub text: &'a [u8],
}

impl<'a> ReplyView<'a> {
    /// Reads a reply datagram; None when it is shorter than a header.
    pub fn parse(buf: &'a [u8]) -> Option<ReplyView<'a>> {
        let (err, more, len) = (u32_at(buf, 0)?, u32_at(buf, 4)?, u32_at(buf, 8)?);
        let data = &buf[HEADER..];
        let data = &data[..data.len().min(len as usize)];
        let text = data.split(|&b| b == 0).next().unwrap_or_default();
        Some(ReplyView { err, more: more != 0, text })
    }
}

/// Encodes a request as `uml_mconsole` does: the full 524 bytes, the
/// text NUL-terminated and zero-padded; None when the text does not fit.
pub fn request(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() >= MAX_DATA {
        return None;
    }
    let mut d = Vec::with_capacity(REQUEST_SIZE);
    d.extend_from_slice(&MAGIC.to_ne_bytes());
    d.extend_from_slice(&VERSION.to_ne_bytes());
    d.extend_from_slice(&(text.len() as u32).to_ne_bytes());
    d.extend_from_slice(text);
    d.resize(REQUEST_SIZE, 0);
    Some(d)
}

/// The kinds of notification (`enum mconsole_notify_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum NotifyType {
    /// The mconsole socket is ready; data is its path and a NUL.
    Socket = 0,
    /// The kernel panicked; data is the message and a NUL.
    Panic = 1,
    /// The machine hangs (UML defines it and never sends it).
    Hang = 2,
    /// The guest wrote to /proc/mconsole; data is what it wrote.
    UserNotify = 3,
}

/// A notification datagram: magic, version, type, len, then `data`
/// (cut to [`MAX_DATA`] bytes).
pub fn notification(kind: NotifyType, data: &[u8]) -> Vec<u8> {
    let data = &data[..data.len().min(MAX_DATA)];
    let mut d = Vec::with_capacity(16 + data.len());
    d.extend_from_slice(&MAGIC.to_ne_bytes());
    d.extend_from_slice(&VERSION.to_ne_bytes());
    d.extend_from_slice(&(kind as u32).to_ne_bytes());
    d.extend_from_slice(&(data.len() as u32).to_ne_bytes());
    d.extend_from_slice(data);
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_as_uml_does() {
        let r = request(b"version").unwrap();
        assert_eq!(r.len(), REQUEST_SIZE);
        assert_eq!(&r[..12], &[0xbe, 0xba, 0xfe, 0xca, 2, 0, 0, 0, 7, 0, 0, 0]);
        assert_eq!(Received::parse(&r), Received::Request(Request { version: 2, text: b"version" }));
        // Only the header and len bytes are needed; len limits the text.
        assert_eq!(Received::parse(&r[..19]), Received::Request(Request { version: 2, text: b"version" }));
        assert_eq!(Received::parse(&r[..15]), Received::Request(Request { version: 2, text: b"ver" }));
        let mut short_len = r.clone();
        short_len[8] = 4;
        assert_eq!(Received::parse(&short_len), Received::Request(Request { version: 2, text: b"vers" }));
        let mut v3 = r.clone();
        v3[4] = 3;
        assert_eq!(Received::parse(&v3), Received::Request(Request { version: 3, text: b"version" }));
        let mut big = r.clone();
        big[8..12].copy_from_slice(&512u32.to_ne_bytes());
        assert_eq!(Received::parse(&big), Received::TooLarge);
        big[8..12].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(Received::parse(&big), Received::TooLarge);
        assert_eq!(Received::parse(b"hello world, no magic"), Received::Version0);
        assert_eq!(Received::parse(b""), Received::Version0);
        assert_eq!(Received::parse(&r[..2]), Received::Truncated);
        assert_eq!(Received::parse(&r[..9]), Received::Truncated);
        assert_eq!(request(&[b'x'; 512]), None);
    }

    #[test]
    fn replies_are_chunked_with_err_first_and_more_on_all_but_the_last() {
        assert_eq!(Reply::ok("").datagrams(), vec![vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]]);
        let text = vec![b'a'; 1100];
        let d = Reply::error(text.clone()).datagrams();
        assert_eq!(d.len(), 3);
        let views: Vec<_> = d.iter().map(|d| ReplyView::parse(d).unwrap()).collect();
        assert_eq!(views.iter().map(|v| (v.err, v.more)).collect::<Vec<_>>(), [(1, true), (0, true), (0, false)]);
        assert_eq!(d[0].len(), HEADER + 512);
        assert_eq!(views.iter().flat_map(|v| v.text.iter().copied()).collect::<Vec<_>>(), text);
        let d = Reply::partial("x").datagrams();
        assert_eq!(ReplyView::parse(&d[0]).unwrap(), ReplyView { err: 0, more: true, text: b"x" });
        let d = Reply::errno(libc::ENODEV, "Device doesn't exist").datagrams();
        assert_eq!(ReplyView::parse(&d[0]).unwrap().err, 0xFFFF_FFED);
        assert_eq!(ReplyView::parse(&d[0][..5]), None);
    }

    #[test]
    fn notifications_have_a_type_and_length() {
        let n = notification(NotifyType::Socket, b"/x/mconsole\0");
        assert_eq!(n.len(), 16 + 12);
        assert_eq!(&n[8..16], &[0, 0, 0, 0, 12, 0, 0, 0]);
        assert_eq!(notification(NotifyType::UserNotify, &[0; 600]).len(), 16 + 512);
    }
}
