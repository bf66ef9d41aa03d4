//! O_DIRECT alignment: how a file's requirement is discovered, and the
//! arithmetic on it.
//!
//! The requirement is discovered, never assumed, in this order:
//! 1. a block device: its logical block size (BLKSSZGET);
//! 2. a file: statx(STATX_DIOALIGN) (Linux >= 6.1), which also says when the
//!    filesystem refuses O_DIRECT for the file (an offset alignment of 0);
//! 3. older kernels: a probe, a 512-byte O_DIRECT read at offset 512 (EINVAL
//!    means the file wants more, then a 4096-byte read at 0 decides);
//! 4. an inconclusive probe (an empty file reads nothing, whatever the
//!    alignment): 4096, which satisfies every logical block size up to the
//!    page size.
//!
//! Buffers always come from the page-aligned pool, so memory alignment is
//! met whenever it is at most 4096; a larger requirement is refused.

use std::alloc::{self, Layout};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;

/// The alignment every pool buffer has, and the fallback requirement.
pub const PAGE: u32 = 4096;

/// How the alignment of a file was learnt; shown in logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlignSource {
    /// BLKSSZGET on a block device.
    BlockDevice,
    /// statx's STATX_DIOALIGN.
    Statx,
    /// A trial O_DIRECT read.
    Probe,
    /// Nothing conclusive; the page size, which is always enough.
    Fallback,
    /// The file is not open O_DIRECT: any alignment will do.
    Buffered,
}

/// What O_DIRECT asks of requests on one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DioAlignment {
    /// Offsets and lengths must be multiples of this.
    pub offset: u32,
    /// Buffer addresses must be multiples of this.
    pub memory: u32,
    /// How the values were found.
    pub source: AlignSource,
}

impl DioAlignment {
    /// No requirement: the file is buffered.
    pub const BUFFERED: DioAlignment = DioAlignment { offset: 1, memory: 1, source: AlignSource::Buffered };

    /// Whether a request at `offset` of `len` bytes satisfies the offset and
    /// length requirement.
    pub fn fits(&self, offset: u64, len: usize) -> bool {
        is_aligned(offset, self.offset) && is_aligned(len as u64, self.offset)
    }
}

/// Whether `value` is a multiple of `align` (a power of two).
pub fn is_aligned(value: u64, align: u32) -> bool {
    value & (u64::from(align) - 1) == 0
}

/// `value` rounded down to a multiple of `align` (a power of two).
pub fn align_down(value: u64, align: u32) -> u64 {
    value & !(u64::from(align) - 1)
}

/// `value` rounded up to a multiple of `align` (a power of two).
pub fn align_up(value: u64, align: u32) -> u64 {
    align_down(value + u64::from(align) - 1, align)
}

/// Discovers the O_DIRECT alignment of `file`, which must be open with
/// O_DIRECT. `Ok(None)` means the filesystem refuses O_DIRECT for it.
pub fn discover(file: &File) -> io::Result<Option<DioAlignment>> {
    let meta = file.metadata()?;
    if meta.file_type().is_block_device() {
        let size = block_logical_size(file)?;
        return Ok(Some(DioAlignment { offset: size, memory: size, source: AlignSource::BlockDevice }));
    }
    if let Some(found) = statx_dioalign(file)? {
        return Ok(found);
    }
    probe(file)
}

fn block_logical_size(file: &File) -> io::Result<u32> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which is valid
    // for the duration of the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::BLKSSZGET, &mut size) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size as u32)
}

/// `Ok(None)` when the kernel does not report STATX_DIOALIGN (Linux < 6.1
/// or a filesystem that does not fill it); `Ok(Some(None))` when it does and
/// says O_DIRECT is unsupported.
fn statx_dioalign(file: &File) -> io::Result<Option<Option<DioAlignment>>> {
    // SAFETY: statx is plain data; all-zero is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a valid NUL-terminated string, AT_EMPTY_PATH makes
    // the call describe the fd itself, and `stx` is a valid statx to fill.
    let rc =
        unsafe { libc::statx(file.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, libc::STATX_DIOALIGN, &mut stx) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        // Kernels before 4.11 have no statx at all.
        return if err.raw_os_error() == Some(libc::ENOSYS) { Ok(None) } else { Err(err) };
    }
    if stx.stx_mask & libc::STATX_DIOALIGN == 0 {
        return Ok(None);
    }
    if stx.stx_dio_offset_align == 0 {
        return Ok(Some(None));
    }
    let memory = stx.stx_dio_mem_align.max(1);
    if memory > PAGE {
        return Err(io::Error::other(format!("O_DIRECT wants {memory}-byte aligned memory, more than a page")));
    }
    Ok(Some(Some(DioAlignment { offset: stx.stx_dio_offset_align, memory, source: AlignSource::Statx })))
}

fn probe(file: &File) -> io::Result<Option<DioAlignment>> {
    let layout = Layout::from_size_align(PAGE as usize, PAGE as usize).expect("a page is a valid layout");
    // SAFETY: the layout has a non-zero size.
    let buf = unsafe { alloc::alloc_zeroed(layout) };
    if buf.is_null() {
        alloc::handle_alloc_error(layout);
    }
    let read = |len: usize, offset: i64| {
        // SAFETY: `buf` is valid for PAGE bytes and `len` <= PAGE.
        let n = unsafe { libc::pread(file.as_raw_fd(), buf.cast(), len, offset) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    };
    let found = match read(512, 512) {
        Ok(n) if n > 0 => Ok(Some(DioAlignment { offset: 512, memory: 512, source: AlignSource::Probe })),
        Ok(_) => Ok(Some(DioAlignment { offset: PAGE, memory: PAGE, source: AlignSource::Fallback })),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => match read(PAGE as usize, 0) {
            Ok(_) => Ok(Some(DioAlignment { offset: PAGE, memory: PAGE, source: AlignSource::Probe })),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    // SAFETY: `buf` came from `alloc_zeroed` with this layout.
    unsafe { alloc::dealloc(buf, layout) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        assert!(is_aligned(8192, 4096) && !is_aligned(8193, 512));
        assert_eq!(align_down(4097, 512), 4096);
        assert_eq!(align_up(4097, 512), 4608);
        assert_eq!(align_up(4096, 4096), 4096);
        let a = DioAlignment { offset: 512, memory: 512, source: AlignSource::Probe };
        assert!(a.fits(1024, 512) && !a.fits(1024, 100) && !a.fits(100, 512));
        assert!(DioAlignment::BUFFERED.fits(3, 7));
    }
}
