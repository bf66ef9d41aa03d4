//! `memfd_create` (Linux's mm/memfd.c): an anonymous, memory-backed
//! regular file. umvm creates a host memfd, so reads, writes, ftruncate,
//! seals and mmap (through the fd hand-over) all behave as Linux's. It
//! belongs to no directory; like Linux's, it sits on an internal tmpfs,
//! reported here as the /dev/shm tmpfs mount.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::fs::file::{FileKind, OpenFile};

/// The longest name Linux accepts (249 bytes, leaving room for the
/// "memfd:" prefix within NAME_MAX).
const NAME_MAX: usize = 249;

/// `memfd_create(name, flags)`.
pub fn memfd_create(ctx: &mut Ctx<'_>) -> SysResult {
    let flags = ctx.args[1] as u32;
    let known = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | libc::MFD_NOEXEC_SEAL | libc::MFD_EXEC;
    if flags & !known != 0 {
        // MFD_HUGETLB and unknown flags.
        return Err(Errno::EINVAL);
    }
    let name = ctx.mem.read_cstr(ctx.args[0], NAME_MAX + 1).map_err(|e| {
        if e == Errno::ENAMETOOLONG {
            Errno::EINVAL
        } else {
            e
        }
    })?;
    if name.len() > NAME_MAX {
        return Err(Errno::EINVAL);
    }
    let cname = CString::new(name.clone()).map_err(|_| Errno::EINVAL)?;
    let host_flags = libc::MFD_CLOEXEC | (flags & (libc::MFD_ALLOW_SEALING | libc::MFD_NOEXEC_SEAL | libc::MFD_EXEC));
    // SAFETY: `cname` is a C string; flags are checked above.
    let fd = Errno::result(unsafe { libc::memfd_create(cname.as_ptr(), host_flags) })?;
    // SAFETY: memfd_create returned a new fd nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mounts = ctx.k.vfs.mounts();
    let mount = mounts.mount_ref(mounts.at_path(b"/dev/shm").unwrap_or(0));
    let mut path = b"/memfd:".to_vec();
    path.extend_from_slice(&name);
    path.extend_from_slice(b" (deleted)");
    let file = OpenFile::new(FileKind::Host { fd, dir: false, mount }, path, libc::O_RDWR);
    ctx.install(Arc::new(file), flags & libc::MFD_CLOEXEC != 0)
}
