//! Handing one of umvm's host fds to a guest process, for the few host
//! syscalls that must run in the guest with a real fd (a file mmap).
//!
//! Every guest process holds, at host fd [`GUEST_FD`], one end of a
//! datagram socket pair whose other end umvm keeps (inherited through
//! every fork and exec; guest programs never see host fd numbers, since
//! every fd syscall is emulated). umvm sends the fd with SCM_RIGHTS and a
//! sequence number, then injects `recvmsg` into the process; a datagram
//! left over from a process that died before receiving is recognised by
//! its sequence number and discarded. The received fd is close-on-exec
//! and the caller closes it when done.
//!
//! All processes of a VM share the socket: a send and its receive happen
//! in one injection sequence of the one tracer loop serving the VM, so no
//! other process can take the datagram in between.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use super::inject::{inject, InjectError};
use super::Regs;
use crate::errno::Errno;
use crate::mm::GuestMem;
use crate::syscall::names::nr;

/// The host fd number of the guest's end in every guest process.
pub const GUEST_FD: RawFd = 1000;

/// umvm's end of the channel, and the guest end it gives new processes.
pub struct Channel {
    umvm: OwnedFd,
    guest: OwnedFd,
    seq: AtomicU64,
}

/// Why an fd could not be handed over; the caller falls back (a copy) or
/// fails the guest's syscall.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The process ended or broke during an injection.
    #[error("the process is gone")]
    Gone(InjectError),
    /// A host call failed.
    #[error("passing an fd: {0}")]
    Host(Errno),
}

impl From<Errno> for PassError {
    fn from(e: Errno) -> PassError {
        PassError::Host(e)
    }
}

// The guest-memory scratch area, below the guest's stack pointer and its
// 128-byte red zone: msghdr, iovec, 8 data bytes, one SCM_RIGHTS cmsg.
const MSGHDR: u64 = 0;
const IOVEC: u64 = 64;
const DATA: u64 = 80;
const CMSG: u64 = 96;
const CMSG_SPACE: u64 = 24;
const SCRATCH: u64 = 128;

impl Channel {
    /// A new socket pair.
    pub fn new() -> Result<Channel, Errno> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two fds.
        Errno::result(unsafe {
            libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
        })?;
        // SAFETY: socketpair returned two new fds nothing else owns.
        let (umvm, guest) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(Channel { umvm, guest, seq: AtomicU64::new(1) })
    }

    /// The end a new guest process gets at [`GUEST_FD`].
    pub fn guest_end(&self) -> RawFd {
        self.guest.as_raw_fd()
    }

    fn send(&self, fd: RawFd, seq: u64) -> Result<(), Errno> {
        let mut data = seq.to_le_bytes();
        let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: 8 };
        let mut control = [0u64; CMSG_SPACE as usize / 8];
        // SAFETY: the msghdr points at live locals of the right sizes; the
        // CMSG macros stay inside `control`.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = CMSG_SPACE as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<i32>(), fd);
            Errno::result(libc::sendmsg(self.umvm.as_raw_fd(), &msg, libc::MSG_DONTWAIT))?;
        }
        Ok(())
    }

    /// Installs a duplicate of `fd` in the process `tid` (stopped at a
    /// syscall with registers `regs`) and returns its host fd number there.
    pub fn install(&self, tid: i32, regs: &Regs, fd: RawFd) -> Result<i32, PassError> {
        let mem = GuestMem::new(tid);
        let base = (regs.rsp.wrapping_sub(128 + SCRATCH + 256)) & !15;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.send(fd, seq)?;
        // msghdr: no name, one iovec, the control buffer.
        let mut hdr = [0u8; 56];
        hdr[16..24].copy_from_slice(&(base + IOVEC).to_le_bytes());
        hdr[24..32].copy_from_slice(&1u64.to_le_bytes());
        hdr[32..40].copy_from_slice(&(base + CMSG).to_le_bytes());
        hdr[40..48].copy_from_slice(&CMSG_SPACE.to_le_bytes());
        let mut iov = [0u8; 16];
        iov[..8].copy_from_slice(&(base + DATA).to_le_bytes());
        iov[8..].copy_from_slice(&8u64.to_le_bytes());
        // Stale datagrams (a process died between send and receive) are
        // read and closed until ours comes.
        for _ in 0..64 {
            mem.write(base + MSGHDR, &hdr)?;
            mem.write(base + IOVEC, &iov)?;
            mem.write(base + CMSG, &[0u8; CMSG_SPACE as usize])?;
            let flags = (libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) as u64;
            let r = inject(tid, regs, nr::RECVMSG, [GUEST_FD as u64, base + MSGHDR, flags, 0, 0, 0])
                .map_err(PassError::Gone)?;
            if r < 0 {
                return Err(PassError::Host(Errno(-r as i32)));
            }
            let mut cmsg = [0u8; CMSG_SPACE as usize];
            mem.read(base + CMSG, &mut cmsg)?;
            let got_seq = mem.read_val::<u64>(base + DATA)?;
            let len = u64::from_le_bytes(cmsg[..8].try_into().expect("8 bytes"));
            let level = i32::from_le_bytes(cmsg[8..12].try_into().expect("4 bytes"));
            let kind = i32::from_le_bytes(cmsg[12..16].try_into().expect("4 bytes"));
            let gfd = i32::from_le_bytes(cmsg[16..20].try_into().expect("4 bytes"));
            let has_fd = len == 20 && level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS;
            if has_fd && got_seq == seq {
                return Ok(gfd);
            }
            if has_fd {
                inject(tid, regs, nr::CLOSE, [gfd as u64, 0, 0, 0, 0, 0]).map_err(PassError::Gone)?;
            }
        }
        Err(PassError::Host(Errno::EAGAIN))
    }
}
