//! Access to a guest process's memory from the kernel.
//!
//! Ordinary copies use process_vm_readv/writev, which honour the guest's
//! page protections exactly as copy_to_user/copy_from_user do in Linux: a
//! bad guest pointer is EFAULT. The ELF loader and the kernel's own
//! bookkeeping may need to write where the guest may not (read-only text):
//! [`GuestMem::write_force`] goes through /proc/PID/mem for that.

use std::os::unix::fs::FileExt;

use crate::errno::Errno;

/// Plain-old-data types that may be copied to and from guest memory as
/// raw bytes.
///
/// # Safety
/// Implementors must have no padding that matters, no pointers to host
/// memory, and every bit pattern must be a valid value.
pub unsafe trait Pod: Copy {}

// SAFETY: integers and these C structs of integers satisfy Pod's contract.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for i32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: as above.
unsafe impl Pod for i64 {}
// SAFETY: as above.
unsafe impl Pod for libc::stat {}
// SAFETY: as above.
unsafe impl Pod for libc::statx {}
// SAFETY: as above.
unsafe impl Pod for libc::timespec {}
// SAFETY: as above.
unsafe impl Pod for libc::timeval {}
// SAFETY: as above.
unsafe impl Pod for libc::rlimit {}
// SAFETY: as above.
unsafe impl Pod for libc::itimerval {}
// SAFETY: as above.
unsafe impl Pod for libc::rusage {}
// SAFETY: as above.
unsafe impl Pod for libc::flock {}
// SAFETY: as above.
unsafe impl Pod for libc::utsname {}
// SAFETY: as above.
unsafe impl Pod for libc::sysinfo {}
// SAFETY: as above.
unsafe impl Pod for libc::termios {}
// SAFETY: as above.
unsafe impl Pod for libc::winsize {}
// SAFETY: as above.
unsafe impl Pod for libc::iovec {}
// SAFETY: as above.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// The bytes of a Pod value.
pub fn bytes_of<T: Pod>(v: &T) -> &[u8] {
    // SAFETY: Pod types are plain bytes; the slice borrows `v`.
    unsafe { std::slice::from_raw_parts((v as *const T).cast(), std::mem::size_of::<T>()) }
}

/// The largest single copy the kernel makes for one guest request; longer
/// requests are served in pieces so a guest-chosen length never sizes a
/// host allocation.
pub const CHUNK: usize = 1 << 20;

/// The address space of one guest process.
#[derive(Clone, Copy, Debug)]
pub struct GuestMem {
    pid: i32,
}

impl GuestMem {
    /// The memory of host process `pid` (a guest process umvm traces).
    pub fn new(pid: i32) -> GuestMem {
        GuestMem { pid }
    }

    /// Reads as many bytes as are readable at `addr` (up to `buf.len()`),
    /// returning how many.
    pub fn read_partial(&self, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: buf.len() };
        // SAFETY: `local` describes `buf`, which we own mutably; the remote
        // side is checked by the host kernel against the guest's mappings.
        let n = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
        if n < 0 {
            return Err(Errno::EFAULT);
        }
        Ok(n as usize)
    }

    /// Reads exactly `buf.len()` bytes at `addr`, or EFAULT.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        if self.read_partial(addr, buf)? != buf.len() {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Reads `len` bytes at `addr` into a new vector (`len` ≤ [`CHUNK`]
    /// is the caller's job).
    pub fn read_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }

    /// Reads one Pod value.
    pub fn read_val<T: Pod>(&self, addr: u64) -> Result<T, Errno> {
        let mut v = std::mem::MaybeUninit::<T>::zeroed();
        // SAFETY: the buffer covers exactly the value's bytes.
        let buf = unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of::<T>()) };
        self.read(addr, buf)?;
        // SAFETY: every bit pattern is a valid Pod value.
        Ok(unsafe { v.assume_init() })
    }

    /// Writes `data` at `addr`, or EFAULT if any of it is not writable.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        if data.is_empty() {
            return Ok(());
        }
        let local = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
        let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: data.len() };
        // SAFETY: `local` describes `data`, which outlives the call and is
        // only read.
        let n = unsafe { libc::process_vm_writev(self.pid, &local, 1, &remote, 1, 0) };
        if n != data.len() as isize {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Writes one Pod value.
    pub fn write_val<T: Pod>(&self, addr: u64, v: &T) -> Result<(), Errno> {
        self.write(addr, bytes_of(v))
    }

    /// Writes `data` at `addr` regardless of page protections (through
    /// /proc/PID/mem), for the loader and the kernel's own use.
    pub fn write_force(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let f = std::fs::OpenOptions::new().write(true).open(format!("/proc/{}/mem", self.pid))?;
        f.write_all_at(data, addr)?;
        Ok(())
    }

    /// Reads a NUL-terminated string of at most `max` bytes (NUL
    /// excluded); longer is ENAMETOOLONG, as for paths.
    pub fn read_cstr(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut cur = addr;
        loop {
            // Read up to the end of the page so a string ending just before
            // an unmapped page still reads.
            let room = 4096 - (cur % 4096) as usize;
            let mut buf = [0u8; 4096];
            let n = self.read_partial(cur, &mut buf[..room])?;
            if n == 0 {
                return Err(Errno::EFAULT);
            }
            if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..end]);
                if out.len() > max {
                    return Err(Errno::ENAMETOOLONG);
                }
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            cur += n as u64;
        }
    }

    /// Reads a NULL-terminated array of string pointers (argv, envp),
    /// refusing more than `max_total` bytes in all (E2BIG).
    pub fn read_cstr_array(&self, addr: u64, max_total: usize) -> Result<Vec<Vec<u8>>, Errno> {
        let mut out = Vec::new();
        if addr == 0 {
            return Ok(out);
        }
        let mut total = 0usize;
        for i in 0.. {
            let p: u64 = self.read_val(addr + i * 8)?;
            if p == 0 {
                break;
            }
            let s = self.read_cstr(p, crate::mm::MAX_ARG_STRLEN).map_err(|e| {
                if e == Errno::ENAMETOOLONG {
                    Errno::E2BIG
                } else {
                    e
                }
            })?;
            total += s.len() + 1 + 8;
            if total > max_total {
                return Err(Errno::E2BIG);
            }
            out.push(s);
        }
        Ok(out)
    }
}
