//! AF_UNIX names (Linux's net/unix/af_unix.c, unix_mkname and autobind):
//! a path in the filesystem, an abstract name (`sun_path[0] == 0`), or
//! none; and the kernel's table of bound names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::socket::UnixSocket;
use crate::errno::Errno;

/// `offsetof(struct sockaddr_un, sun_path)`.
pub const PATH_OFFSET: usize = 2;
/// `sizeof(struct sockaddr_un)`.
pub const SOCKADDR_UN_LEN: usize = 110;

/// The name of a socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// Not bound.
    Unnamed,
    /// An abstract name: the bytes after the leading NUL.
    Abstract(Vec<u8>),
    /// A filesystem path, as the binder gave it.
    Path(Vec<u8>),
}

impl UnixAddr {
    /// Parses a guest `sockaddr_un` of `raw.len()` bytes (Linux's
    /// unix_validate_addr): EINVAL for a short one or a foreign family.
    /// `Unnamed` for a bare family (bind then autobinds).
    pub fn parse(raw: &[u8]) -> Result<UnixAddr, Errno> {
        if raw.len() < PATH_OFFSET || raw.len() > SOCKADDR_UN_LEN {
            return Err(Errno::EINVAL);
        }
        if u16::from_le_bytes([raw[0], raw[1]]) != libc::AF_UNIX as u16 {
            return Err(Errno::EINVAL);
        }
        let path = &raw[PATH_OFFSET..];
        match path.first() {
            None => Ok(UnixAddr::Unnamed),
            Some(0) => Ok(UnixAddr::Abstract(path[1..].to_vec())),
            Some(_) => {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                Ok(UnixAddr::Path(path[..end].to_vec()))
            }
        }
    }

    /// The `sockaddr_un` getsockname and recvfrom return: the family
    /// alone for an unnamed socket, a NUL-terminated path, or the
    /// abstract bytes with their leading NUL.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = (libc::AF_UNIX as u16).to_le_bytes().to_vec();
        match self {
            UnixAddr::Unnamed => {}
            UnixAddr::Abstract(name) => {
                out.push(0);
                out.extend_from_slice(name);
            }
            UnixAddr::Path(p) => {
                out.extend_from_slice(p);
                out.push(0);
            }
        }
        out
    }
}

/// Where a bound socket can be found by connect and sendto.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NameKey {
    /// An abstract name.
    Abstract(Vec<u8>),
    /// The (device, inode) of the socket file a path bind made.
    Inode(u64, u64),
}

/// The kernel's bound AF_UNIX names.
#[derive(Default)]
pub struct Names {
    table: Mutex<HashMap<NameKey, Weak<UnixSocket>>>,
    /// The next autobind name (Linux: five hex digits).
    next_auto: Mutex<u32>,
}

impl Names {
    /// Binds `key` to `sock`; EADDRINUSE when a live socket holds it.
    pub fn bind(&self, key: NameKey, sock: &Arc<UnixSocket>) -> Result<(), Errno> {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.retain(|_, w| w.strong_count() > 0);
        if t.contains_key(&key) {
            return Err(Errno::EADDRINUSE);
        }
        t.insert(key, Arc::downgrade(sock));
        Ok(())
    }

    /// Binds a fresh abstract name of five hex digits (Linux's
    /// unix_autobind), returning it.
    pub fn autobind(&self, sock: &Arc<UnixSocket>) -> Result<Vec<u8>, Errno> {
        for _ in 0..0x10_0000 {
            let n = {
                let mut next = self.next_auto.lock().unwrap_or_else(|e| e.into_inner());
                *next = (*next + 1) & 0xf_ffff;
                *next
            };
            let name = format!("{n:05x}").into_bytes();
            if self.bind(NameKey::Abstract(name.clone()), sock).is_ok() {
                return Ok(name);
            }
        }
        Err(Errno::ENOSPC)
    }

    /// The live socket bound to `key`.
    pub fn lookup(&self, key: &NameKey) -> Option<Arc<UnixSocket>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).get(key).and_then(Weak::upgrade)
    }

    /// Forgets `key` if `sock` still holds it (the socket's release).
    pub fn unbind(&self, key: &NameKey, sock: &UnixSocket) {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if t.get(key).is_some_and(|w| std::ptr::eq(w.as_ptr(), sock)) {
            t.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(path: &[u8]) -> Vec<u8> {
        [&(libc::AF_UNIX as u16).to_le_bytes()[..], path].concat()
    }

    #[test]
    fn parses_and_encodes_names() {
        assert_eq!(UnixAddr::parse(&raw(b"/tmp/s\0junk")).unwrap(), UnixAddr::Path(b"/tmp/s".to_vec()));
        assert_eq!(UnixAddr::parse(&raw(b"\0ab\0c")).unwrap(), UnixAddr::Abstract(b"ab\0c".to_vec()));
        assert_eq!(UnixAddr::parse(&raw(b"")).unwrap(), UnixAddr::Unnamed);
        assert_eq!(UnixAddr::parse(&[1]), Err(Errno::EINVAL));
        assert_eq!(UnixAddr::parse(&[2, 0, b'x']), Err(Errno::EINVAL));
        assert_eq!(UnixAddr::parse(&[1; 111]), Err(Errno::EINVAL));
        assert_eq!(UnixAddr::Path(b"/a".to_vec()).encode(), raw(b"/a\0"));
        assert_eq!(UnixAddr::Abstract(b"q".to_vec()).encode(), raw(b"\0q"));
        assert_eq!(UnixAddr::Unnamed.encode(), raw(b""));
    }
}
