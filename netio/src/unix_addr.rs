//! Raw AF_UNIX datagram addresses as uml_switch's protocol carries them:
//! a full 110-byte `sockaddr_un`, often abstract and binary.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// `sizeof(struct sockaddr_un)` on Linux.
pub const SOCKADDR_UN_LEN: usize = 110;
const PATH_OFF: usize = 2;

/// A unix socket address with its length, compared as uml_switch
/// compares them: abstract names by all their bytes, paths up to the NUL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UnixAddr {
    bytes: [u8; SOCKADDR_UN_LEN],
    len: u32,
}

impl UnixAddr {
    /// The wire form `{u16 family, sun_path[108]}` as a request carries
    /// it (the length is taken to be the full 110 bytes, as UML binds).
    pub fn from_wire(raw: &[u8; SOCKADDR_UN_LEN]) -> UnixAddr {
        Self::normalized(*raw, SOCKADDR_UN_LEN as u32)
    }

    /// UML's data-socket name: abstract, laid out like the C struct
    /// `{char zero; int pid; int usecs;}` (3 padding bytes, then host
    /// order ints), zero after, bound with the full 110-byte length.
    pub fn uml_abstract(pid: u32, usecs: u32) -> UnixAddr {
        let mut b = [0u8; SOCKADDR_UN_LEN];
        b[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        b[PATH_OFF + 4..PATH_OFF + 8].copy_from_slice(&pid.to_ne_bytes());
        b[PATH_OFF + 8..PATH_OFF + 12].copy_from_slice(&usecs.to_ne_bytes());
        UnixAddr { bytes: b, len: SOCKADDR_UN_LEN as u32 }
    }

    /// A fresh [`uml_abstract`](Self::uml_abstract) name for this process.
    pub fn uml_abstract_now() -> UnixAddr {
        let usecs =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_micros()).unwrap_or(0);
        Self::uml_abstract(std::process::id(), usecs)
    }

    /// A filesystem path name (for v0/v1 clients); `None` if too long.
    pub fn path(p: &Path) -> Option<UnixAddr> {
        use std::os::unix::ffi::OsStrExt;
        let p = p.as_os_str().as_bytes();
        if p.is_empty() || p.len() >= SOCKADDR_UN_LEN - PATH_OFF || p.contains(&0) {
            return None;
        }
        let mut b = [0u8; SOCKADDR_UN_LEN];
        b[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        b[PATH_OFF..PATH_OFF + p.len()].copy_from_slice(p);
        Some(Self::normalized(b, SOCKADDR_UN_LEN as u32))
    }

    fn normalized(mut bytes: [u8; SOCKADDR_UN_LEN], len: u32) -> UnixAddr {
        let len = len.min(SOCKADDR_UN_LEN as u32);
        if bytes[PATH_OFF] != 0 {
            // A path name ends at its NUL; what follows is garbage.
            let end = bytes[PATH_OFF..].iter().position(|&c| c == 0).map_or(SOCKADDR_UN_LEN, |i| PATH_OFF + i);
            bytes[end..].fill(0);
            return UnixAddr { bytes, len: (end + 1).min(SOCKADDR_UN_LEN) as u32 };
        }
        bytes[len as usize..].fill(0);
        UnixAddr { bytes, len }
    }

    /// The 110 bytes as they go on the wire.
    pub fn wire(&self) -> &[u8; SOCKADDR_UN_LEN] {
        &self.bytes
    }

    /// The address length to give bind(2) and sendto(2).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Never true for a valid address (the family is always there).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it is an abstract name.
    pub fn is_abstract(&self) -> bool {
        self.bytes[PATH_OFF] == 0
    }

    fn raw(&self) -> libc::sockaddr_un {
        // SAFETY: sockaddr_un is plain old data of exactly these 110 bytes.
        let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        // SAFETY: both sides are SOCKADDR_UN_LEN bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.bytes.as_ptr(),
                (&mut sa as *mut libc::sockaddr_un).cast(),
                SOCKADDR_UN_LEN,
            )
        };
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        sa
    }
}

impl std::fmt::Debug for UnixAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = &self.bytes[PATH_OFF..self.len.max(PATH_OFF as u32) as usize];
        if self.is_abstract() {
            let used = path.iter().rposition(|&c| c != 0).map_or(1, |i| i + 1);
            write!(f, "@{:02x?}/{}", &path[1..used.max(1)], self.len)
        } else {
            write!(f, "{}", String::from_utf8_lossy(path.split(|&c| c == 0).next().unwrap_or(&[])))
        }
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A non-blocking, close-on-exec AF_UNIX SOCK_DGRAM socket bound to `addr`.
pub fn bind_dgram(addr: &UnixAddr) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd =
        cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = addr.raw();
    // SAFETY: `sa` is a valid sockaddr_un and `addr.len` ≤ its size.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_un).cast(), addr.len) })?;
    Ok(fd)
}

/// A datagram socket connected to `to` and never sent on: it polls
/// writable exactly when `to`'s queue has room (Linux wakes a connected
/// datagram socket's pollers when its peer's queue drains). A socket that
/// sends with sendto(2) from an unconnected socket has no such signal, so
/// UML's wire (datagrams between unconnected sockets) keeps unchanged and
/// the probe tells when to send again.
pub fn room_probe(to: &UnixAddr) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd =
        cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = to.raw();
    // SAFETY: `sa` is a valid sockaddr_un and `to.len` ≤ its size.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), (&sa as *const libc::sockaddr_un).cast(), to.len) })?;
    Ok(fd)
}

/// sendto(2) without blocking.
pub fn send_to(fd: RawFd, buf: &[u8], to: &UnixAddr) -> io::Result<()> {
    let sa = to.raw();
    // SAFETY: `buf` and `sa` are valid for the lengths given.
    let n = unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
            (&sa as *const libc::sockaddr_un).cast(),
            to.len,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// recvfrom(2) with MSG_TRUNC, without blocking: the datagram's full
/// length and its sender (`None` for an unbound sender).
pub fn recv_from(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<UnixAddr>)> {
    // SAFETY: sockaddr_un is plain old data.
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = SOCKADDR_UN_LEN as libc::socklen_t;
    // SAFETY: `buf`, `sa` and `len` are valid and sized as passed.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_TRUNC | libc::MSG_DONTWAIT,
            (&mut sa as *mut libc::sockaddr_un).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut bytes = [0u8; SOCKADDR_UN_LEN];
    // SAFETY: both are SOCKADDR_UN_LEN bytes.
    unsafe {
        std::ptr::copy_nonoverlapping((&sa as *const libc::sockaddr_un).cast(), bytes.as_mut_ptr(), SOCKADDR_UN_LEN)
    };
    let from = (len as usize > PATH_OFF).then(|| UnixAddr::normalized(bytes, len));
    Ok((n as usize, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uml_layout() {
        let a = UnixAddr::uml_abstract(0x264a, 0x042bb2);
        let w = a.wire();
        assert_eq!(&w[..14], &[1, 0, 0, 0, 0, 0, 0x4a, 0x26, 0, 0, 0xb2, 0x2b, 0x04, 0]);
        assert!(w[14..].iter().all(|&b| b == 0));
        assert_eq!(a.len(), 110);
        assert!(a.is_abstract());
    }

    #[test]
    fn paths_compare_up_to_nul() {
        let mut raw = *UnixAddr::path(Path::new("/tmp/x")).unwrap().wire();
        raw[20] = 0x55; // garbage after the NUL
        assert_eq!(UnixAddr::from_wire(&raw), UnixAddr::path(Path::new("/tmp/x")).unwrap());
        assert_eq!(UnixAddr::path(Path::new("/tmp/x")).unwrap().len(), 2 + 6 + 1);
        assert!(UnixAddr::path(Path::new(&"x".repeat(108))).is_none());
    }
}
