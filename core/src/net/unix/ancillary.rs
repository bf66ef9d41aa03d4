//! Ancillary data of AF_UNIX messages (Linux's net/core/scm.c):
//! SCM_RIGHTS carries open files, SCM_CREDENTIALS a process's ids. The
//! guest's control buffer is a list of `cmsghdr`s, each 8-byte aligned.

use std::sync::Arc;

use crate::errno::Errno;
use crate::fs::file::OpenFile;

/// `sizeof(struct cmsghdr)` on x86-64.
pub const CMSG_HDR: usize = 16;
/// The most fds one SCM_RIGHTS message may carry (Linux's SCM_MAX_FD).
pub const SCM_MAX_FD: usize = 253;

/// `CMSG_ALIGN`.
pub fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// Virtual process credentials, as SO_PEERCRED and SCM_CREDENTIALS show
/// them (`struct ucred`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Cred {
    /// The 12 bytes of a `struct ucred`.
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&self.pid.to_le_bytes());
        b[4..8].copy_from_slice(&self.uid.to_le_bytes());
        b[8..12].copy_from_slice(&self.gid.to_le_bytes());
        b
    }
}

/// One control message a sender gave, before its fds are looked up.
#[derive(Debug, PartialEq, Eq)]
pub enum ControlIn {
    /// SCM_RIGHTS: guest fd numbers.
    Rights(Vec<i32>),
    /// SCM_CREDENTIALS: the ids the sender claims.
    Creds(Cred),
}

/// Parses a sender's control buffer (Linux's __scm_send): EINVAL for a
/// malformed header, an unknown SOL_SOCKET type, too many fds or a
/// badly sized ucred; messages of other levels are skipped.
pub fn parse(buf: &[u8]) -> Result<Vec<ControlIn>, Errno> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut nfds = 0;
    while at + CMSG_HDR <= buf.len() {
        let len = u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
        let level = i32::from_le_bytes(buf[at + 8..at + 12].try_into().expect("4 bytes"));
        let ty = i32::from_le_bytes(buf[at + 12..at + 16].try_into().expect("4 bytes"));
        let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
        if len < CMSG_HDR || len > buf.len() - at {
            return Err(Errno::EINVAL);
        }
        let data = &buf[at + CMSG_HDR..at + len];
        if level == libc::SOL_SOCKET {
            match ty {
                libc::SCM_RIGHTS => {
                    let fds: Vec<i32> =
                        data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
                    nfds += fds.len();
                    if fds.is_empty() || nfds > SCM_MAX_FD {
                        return Err(Errno::EINVAL);
                    }
                    out.push(ControlIn::Rights(fds));
                }
                libc::SCM_CREDENTIALS => {
                    if data.len() != 12 {
                        return Err(Errno::EINVAL);
                    }
                    let word = |i: usize| u32::from_le_bytes(data[i..i + 4].try_into().expect("4 bytes"));
                    out.push(ControlIn::Creds(Cred { pid: word(0) as i32, uid: word(4), gid: word(8) }));
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        at += cmsg_align(len);
    }
    Ok(out)
}

/// The ids and privileges a sender's claimed credentials are checked
/// against (Linux's scm_check_creds).
pub struct SenderIds {
    /// Its process id.
    pub pid: i32,
    /// Real, effective and saved user ids.
    pub uids: [u32; 3],
    /// Real, effective and saved group ids.
    pub gids: [u32; 3],
    /// CAP_SYS_ADMIN: any pid.
    pub sys_admin: bool,
    /// CAP_SETUID: any uid.
    pub setuid: bool,
    /// CAP_SETGID: any gid.
    pub setgid: bool,
}

/// EPERM unless the sender may claim `c`: its own pid, one of its user
/// and group ids, or the capability to claim others.
pub fn check_creds(c: &Cred, s: &SenderIds) -> Result<(), Errno> {
    let pid_ok = c.pid == s.pid || s.sys_admin;
    let uid_ok = s.uids.contains(&c.uid) || s.setuid;
    let gid_ok = s.gids.contains(&c.gid) || s.setgid;
    if pid_ok && uid_ok && gid_ok {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// The control data a message carries in a socket's queue.
#[derive(Default)]
pub struct Ancillary {
    /// Files in flight (closed if never received).
    pub files: Vec<Arc<OpenFile>>,
    /// The sender's credentials (claimed and checked, or its own).
    pub creds: Option<Cred>,
}

/// A receiver's control buffer being filled (Linux's put_cmsg and
/// scm_detach_fds): what does not fit is cut and MSG_CTRUNC set.
pub struct ControlOut {
    /// The bytes to copy to the guest.
    pub buf: Vec<u8>,
    cap: usize,
    /// Something did not fit.
    pub truncated: bool,
}

impl ControlOut {
    /// An empty buffer of `cap` bytes.
    pub fn new(cap: usize) -> ControlOut {
        ControlOut { buf: Vec::new(), cap, truncated: false }
    }

    fn room(&self) -> usize {
        self.cap - self.buf.len()
    }

    fn header(&mut self, len: usize, level: i32, ty: i32) {
        self.buf.extend_from_slice(&(len as u64).to_le_bytes());
        self.buf.extend_from_slice(&level.to_le_bytes());
        self.buf.extend_from_slice(&ty.to_le_bytes());
    }

    /// Appends one message, cut to the room left.
    pub fn put(&mut self, level: i32, ty: i32, data: &[u8]) {
        let room = self.room();
        if room < CMSG_HDR {
            self.truncated = true;
            return;
        }
        let mut len = CMSG_HDR + data.len();
        if room < len {
            self.truncated = true;
            len = room;
        }
        self.header(len, level, ty);
        self.buf.extend_from_slice(&data[..len - CMSG_HDR]);
        let space = cmsg_align(CMSG_HDR + data.len()).min(room);
        self.buf.resize(self.buf.len() + space - len, 0);
    }

    /// How many fds an SCM_RIGHTS message can still hold.
    pub fn fd_room(&self) -> usize {
        self.room().saturating_sub(CMSG_HDR) / 4
    }

    /// Appends the SCM_RIGHTS message of the fds installed; `sent` is how
    /// many the message carried (fewer installed: MSG_CTRUNC).
    pub fn put_rights(&mut self, fds: &[i32], sent: usize) {
        if fds.len() < sent {
            self.truncated = true;
        }
        if fds.is_empty() {
            return;
        }
        let data: Vec<u8> = fds.iter().flat_map(|fd| fd.to_le_bytes()).collect();
        self.put(libc::SOL_SOCKET, libc::SCM_RIGHTS, &data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let mut b = ((CMSG_HDR + data.len()) as u64).to_le_bytes().to_vec();
        b.extend_from_slice(&level.to_le_bytes());
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(data);
        b.resize(cmsg_align(b.len()), 0);
        b
    }

    #[test]
    fn parses_rights_and_creds() {
        let mut buf = cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &[3, 0, 0, 0, 7, 0, 0, 0]);
        buf.extend(cmsg(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &Cred { pid: 5, uid: 6, gid: 7 }.to_bytes()));
        buf.extend(cmsg(libc::SOL_IP, 1, &[1, 2]));
        let got = parse(&buf).unwrap();
        assert_eq!(got, vec![ControlIn::Rights(vec![3, 7]), ControlIn::Creds(Cred { pid: 5, uid: 6, gid: 7 })]);
        assert_eq!(parse(&cmsg(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &[0; 8])), Err(Errno::EINVAL));
        assert_eq!(parse(&cmsg(libc::SOL_SOCKET, 99, &[0; 4])), Err(Errno::EINVAL));
        let mut bad = cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &[0; 4]);
        bad[0] = 200;
        assert_eq!(parse(&bad), Err(Errno::EINVAL));
    }

    #[test]
    fn checks_claimed_creds() {
        let s = SenderIds { pid: 9, uids: [1000; 3], gids: [100; 3], sys_admin: false, setuid: false, setgid: false };
        assert!(check_creds(&Cred { pid: 9, uid: 1000, gid: 100 }, &s).is_ok());
        assert_eq!(check_creds(&Cred { pid: 8, uid: 1000, gid: 100 }, &s), Err(Errno::EPERM));
        assert_eq!(check_creds(&Cred { pid: 9, uid: 0, gid: 100 }, &s), Err(Errno::EPERM));
    }

    #[test]
    fn cuts_what_does_not_fit() {
        let mut out = ControlOut::new(CMSG_HDR + 8);
        assert_eq!(out.fd_room(), 2);
        out.put_rights(&[4, 5], 3);
        assert!(out.truncated);
        assert_eq!(out.buf.len(), 24);
        let mut out = ControlOut::new(20);
        out.put(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &[1; 12]);
        assert!(out.truncated);
        assert_eq!(u64::from_le_bytes(out.buf[..8].try_into().unwrap()), 20);
        assert_eq!(out.buf.len(), 20);
    }
}
