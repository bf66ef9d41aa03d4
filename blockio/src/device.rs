//! A raw image file (or host block device) as a disk: size, logical block
//! size, read, write, flush, discard, and UML's ubd flags.
//!
//! Opening:
//! - `r` opens read-only; otherwise read-write, and if the host says EROFS
//!   or EACCES the device falls back to read-only, as UML does (but says
//!   so, once).
//! - `s` opens with O_SYNC: every completed write is durable.
//! - Unless `c` (shared), the whole file is locked with an
//!   open-file-description lock (F_OFD_SETLK): a write lock on a writable
//!   image, a read lock on a read-only one. OFD locks conflict with the
//!   POSIX locks real UML takes (F_SETLK), so umvm and UML guard each other
//!   too, and unlike POSIX locks they are not dropped when any other
//!   descriptor of the file in this process is closed.
//! - O_DIRECT is used where the filesystem accepts it (`DirectMode::Auto`),
//!   with its alignment discovered (see `align`); where it refuses (or the
//!   image size is not a multiple of that alignment) the device runs
//!   through the page cache, announced once per process.
//!
//! Requests: `push_read`/`push_write`/`push_flush`/`push_discard` check the
//! range and mode and queue on an engine for an event loop; O_DIRECT
//! alignment is enforced by the engine (misaligned: `Error::Misaligned`).
//! `read_at`/`write_at` take any offset, length and memory: they bounce
//! through aligned pool buffers (a read of the covering blocks; for writes,
//! read-modify-write of the partial edge blocks), so misaligned requests are
//! never refused and never corrupt data. The read-modify-write is not atomic
//! against other writes to the same blocks that are in flight at the same
//! time: callers order those.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use crate::align::{self, align_down, align_up, DioAlignment};
use crate::engine::{Engine, FileId, Op, Order};
use crate::error::{Error, OpKind, Result};
use crate::flags::UbdFlags;

/// The token the synchronous helpers use for their own requests; event
/// loops should not use it.
pub const HELPER_TOKEN: u64 = u64::MAX - 1;

/// Whether to bypass the host page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectMode {
    /// O_DIRECT where the filesystem accepts it, else buffered (announced).
    Auto,
    /// O_DIRECT or fail.
    Require,
    /// Always through the page cache.
    Never,
}

/// How to open a device.
#[derive(Debug, Clone, Copy)]
pub struct DeviceOptions {
    /// The ubd flags.
    pub flags: UbdFlags,
    /// O_DIRECT policy.
    pub direct: DirectMode,
    /// The size the device must have (say, from a COW header); a shorter
    /// file is `Error::Truncated`. `None`: the file's size.
    pub expected_size: Option<u64>,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions { flags: UbdFlags::default(), direct: DirectMode::Auto, expected_size: None }
    }
}

/// An open image.
#[derive(Debug)]
pub struct BlockDevice {
    file: File,
    path: PathBuf,
    size: u64,
    align: DioAlignment,
    flags: UbdFlags,
    direct: bool,
}

static ANNOUNCED_BUFFERED: AtomicBool = AtomicBool::new(false);
static ANNOUNCED_READ_ONLY: AtomicBool = AtomicBool::new(false);

fn announce_once(flag: &AtomicBool, msg: String) {
    if !flag.swap(true, AtomicOrdering::Relaxed) {
        tracing::warn!("{msg}");
    }
}

impl BlockDevice {
    /// Opens `path` as a device.
    pub fn open(path: impl AsRef<Path>, opts: DeviceOptions) -> Result<BlockDevice> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source: io::Error| Error::Open { path: path.clone(), source };
        let mut flags = opts.flags;
        let want_direct = opts.direct != DirectMode::Never;

        let (mut file, mut direct) = match Self::open_file(&path, flags, want_direct) {
            Err(e) if !flags.read_only && matches!(e.raw_os_error(), Some(libc::EROFS) | Some(libc::EACCES)) => {
                announce_once(
                    &ANNOUNCED_READ_ONLY,
                    format!("{}: cannot open read-write ({e}); using it read-only", path.display()),
                );
                flags.read_only = true;
                Self::open_file(&path, flags, want_direct)
            }
            other => other,
        }
        .map_err(open_err)?;

        if !flags.shared {
            lock(&file, &path, !flags.read_only)?;
        }

        let meta = file.metadata().map_err(open_err)?;
        let actual = if meta.file_type().is_block_device() {
            // SAFETY: lseek takes only integers; it does not change what any
            // request reads, since requests carry their own offsets.
            let end = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) };
            if end < 0 {
                return Err(open_err(io::Error::last_os_error()));
            }
            end as u64
        } else {
            meta.len()
        };
        let size = match opts.expected_size {
            Some(expected) if actual < expected => {
                return Err(Error::Truncated { path, actual, expected });
            }
            Some(expected) => expected,
            None => actual,
        };

        let mut align = DioAlignment::BUFFERED;
        if direct {
            match align::discover(&file).map_err(open_err)? {
                Some(found) if size % u64::from(found.offset) == 0 => align = found,
                found => {
                    let why = match found {
                        Some(a) => format!("its size is not a multiple of its {}-byte O_DIRECT alignment", a.offset),
                        None => "the host filesystem refuses O_DIRECT".to_string(),
                    };
                    if opts.direct == DirectMode::Require {
                        return Err(open_err(io::Error::new(io::ErrorKind::InvalidInput, why)));
                    }
                    announce_once(&ANNOUNCED_BUFFERED, format!("{}: {why}; using the page cache", path.display()));
                    clear_direct(&file).map_err(open_err)?;
                    direct = false;
                }
            }
        } else if want_direct {
            if opts.direct == DirectMode::Require {
                return Err(open_err(io::Error::new(io::ErrorKind::InvalidInput, "O_DIRECT refused")));
            }
            announce_once(
                &ANNOUNCED_BUFFERED,
                format!("{}: the host filesystem refuses O_DIRECT; using the page cache", path.display()),
            );
        }
        // `file` is only reassigned above on the read-only retry.
        let _ = &mut file;
        Ok(BlockDevice { file, path, size, align, flags, direct })
    }

    /// Opens with O_DIRECT if asked and accepted; the bool says which.
    fn open_file(path: &Path, flags: UbdFlags, direct: bool) -> io::Result<(File, bool)> {
        let mut custom = libc::O_CLOEXEC;
        if flags.sync {
            custom |= libc::O_SYNC;
        }
        let open =
            |extra: i32| OpenOptions::new().read(true).write(!flags.read_only).custom_flags(custom | extra).open(path);
        if direct {
            match open(libc::O_DIRECT) {
                Ok(f) => return Ok((f, true)),
                // Filesystems without direct I/O refuse the open itself.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        open(0).map(|f| (f, false))
    }

    /// The image's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The logical block size to show a guest: the O_DIRECT alignment, at
    /// least 512.
    pub fn block_size(&self) -> u32 {
        self.align.offset.max(512)
    }

    /// The O_DIRECT alignment requests must keep (1 when buffered).
    pub fn alignment(&self) -> DioAlignment {
        self.align
    }

    /// Whether I/O bypasses the host page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Whether writes are refused.
    pub fn is_read_only(&self) -> bool {
        self.flags.read_only
    }

    /// The flags in force (`r` may have been added by the read-only
    /// fallback).
    pub fn flags(&self) -> UbdFlags {
        self.flags
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Registers the image with an engine (once per engine: the loops of
    /// several CPUs may share a device). The engine keeps its own duplicate
    /// of the descriptor, and with it the image's lock, until
    /// `Engine::unregister_file`.
    pub fn register(&self, engine: &mut Engine) -> Result<FileId> {
        engine.register_file(&self.file, self.align)
    }

    fn check_range(&self, op: OpKind, offset: u64, len: usize) -> Result<()> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(Error::OutOfRange { op, offset, len, size: self.size }),
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.flags.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// Queues a request on `engine` after checking it against the device:
    /// its range (`Error::OutOfRange`), read-only mode (`Error::ReadOnly`) and
    /// the `t` flag (`Error::DiscardDisabled`). O_DIRECT alignment is checked
    /// by the engine. A read's completion is short only if the file was
    /// truncated under the device: pass its count to `check_read`. A flush
    /// is the request `Op::Fdatasync`, as UML turns a guest FLUSH into.
    pub fn push(&self, engine: &mut Engine, op: Op, token: u64, order: Order) -> Result<()> {
        match &op {
            Op::Read { offset, len, .. } => self.check_range(OpKind::Read, *offset, *len)?,
            Op::Write { offset, len, .. } => {
                self.check_writable()?;
                self.check_range(OpKind::Write, *offset, *len)?;
            }
            Op::Discard { offset, len, .. } => {
                self.check_writable()?;
                if self.flags.no_trim {
                    return Err(Error::DiscardDisabled);
                }
                self.check_range(OpKind::Discard, *offset, *len as usize)?;
            }
            Op::Fsync { .. } | Op::Fdatasync { .. } => {}
        }
        engine.push(op, token, order)
    }

    /// Turns a read completion's byte count into `Error::ShortRead` when
    /// the file ended early.
    pub fn check_read(&self, offset: u64, wanted: usize, got: usize) -> Result<()> {
        if got < wanted {
            Err(Error::ShortRead { offset, wanted, got })
        } else {
            Ok(())
        }
    }

    /// Runs one helper request to completion.
    fn run(engine: &mut Engine, op: Op) -> Result<(usize, Option<crate::Buffer>)> {
        engine.push(op, HELPER_TOKEN, Order::Any)?;
        engine.submit()?;
        let done = engine.wait_for(HELPER_TOKEN)?.expect("the request was pushed");
        Ok((done.result?, done.buffer))
    }

    /// One aligned chunk covering `[pos, end)`, at most a buffer long.
    fn chunk(&self, pos: u64, end: u64, capacity: usize) -> (u64, u64) {
        let a = self.align.offset;
        let start = align_down(pos, a);
        let stop = align_up(end, a).min(start + align_down(capacity as u64, a.max(512)));
        (start, stop)
    }

    /// Reads `dst.len()` bytes at `offset`, any alignment, bouncing through
    /// pool buffers.
    pub fn read_at(&self, engine: &mut Engine, id: FileId, offset: u64, dst: &mut [u8]) -> Result<()> {
        self.check_range(OpKind::Read, offset, dst.len())?;
        let end = offset + dst.len() as u64;
        let mut pos = offset;
        while pos < end {
            let buf = engine.buffer()?;
            let (start, stop) = self.chunk(pos, end, buf.capacity());
            let len = (stop - start) as usize;
            let (got, buf) = Self::run(engine, Op::Read { file: id, offset: start, buf, len })?;
            let buf = buf.expect("a read gives its buffer back");
            let useful_end = stop.min(end);
            self.check_read(start, (useful_end - start) as usize, got)?;
            let from = (pos - start) as usize;
            let n = (useful_end - pos) as usize;
            let at = (pos - offset) as usize;
            dst[at..at + n].copy_from_slice(&buf.as_slice()[from..from + n]);
            pos = useful_end;
        }
        Ok(())
    }

    /// Writes `src` at `offset`, any alignment: partial edge blocks are read,
    /// patched and written whole.
    pub fn write_at(&self, engine: &mut Engine, id: FileId, offset: u64, src: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.check_range(OpKind::Write, offset, src.len())?;
        let end = offset + src.len() as u64;
        let mut pos = offset;
        while pos < end {
            let mut buf = engine.buffer()?;
            let (start, stop) = self.chunk(pos, end, buf.capacity());
            let len = (stop - start) as usize;
            let useful_end = stop.min(end);
            if start < pos || useful_end < stop {
                let (got, back) = Self::run(engine, Op::Read { file: id, offset: start, buf, len })?;
                self.check_read(start, len, got)?;
                buf = back.expect("a read gives its buffer back");
            }
            let from = (pos - start) as usize;
            let n = (useful_end - pos) as usize;
            let at = (pos - offset) as usize;
            buf.as_mut_slice()[from..from + n].copy_from_slice(&src[at..at + n]);
            Self::run(engine, Op::Write { file: id, offset: start, buf, len })?;
            pos = useful_end;
        }
        Ok(())
    }

    /// Makes every completed write durable (fdatasync), and waits.
    pub fn flush(&self, engine: &mut Engine, id: FileId) -> Result<()> {
        Self::run(engine, Op::Fdatasync { file: id }).map(drop)
    }

    /// Releases the image's lock now, for a device being closed. Closing
    /// the file releases it too, but only when every copy of the
    /// descriptor is closed, and a child that any thread of this process
    /// forks holds copies until it execs: without this, the image could
    /// not always be reopened at once. Issue no requests after it.
    pub fn unlock(&self) -> Result<()> {
        unlock(&self.file, &self.path)
    }

    /// Discards (punches a hole over) `len` bytes at `offset`, and waits.
    pub fn discard(&self, engine: &mut Engine, id: FileId, offset: u64, len: u64) -> Result<()> {
        self.check_writable()?;
        if self.flags.no_trim {
            return Err(Error::DiscardDisabled);
        }
        self.check_range(OpKind::Discard, offset, len as usize)?;
        Self::run(engine, Op::Discard { file: id, offset, len }).map(drop)
    }
}

/// Drops the whole-file lock (harmless when none is held).
fn unlock(file: &File, path: &Path) -> Result<()> {
    // SAFETY: flock is plain data; all-zero is valid (whole file from 0).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_UNLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_OFD_SETLK reads the valid flock we pass.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) } < 0 {
        return Err(Error::Open { path: path.to_path_buf(), source: io::Error::last_os_error() });
    }
    Ok(())
}

/// How long an open waits for a lock held through an open file
/// description (another umvm): a umvm that has just died, SIGKILLed,
/// holds its disks until the host has torn down its io_uring, a few
/// milliseconds after it is reaped.
const DYING_HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Takes the whole-file lock, or says who holds it. A lock another umvm
/// holds (an open-file-description lock, whose holder the host does not
/// name) is waited for a moment, in case that umvm is dying; one a real
/// UML holds (a POSIX lock, named by its pid) is refused at once.
fn lock(file: &File, path: &Path, write: bool) -> Result<()> {
    let deadline = std::time::Instant::now() + DYING_HOLDER_WAIT;
    loop {
        match try_lock(file, path, write) {
            Err(Error::Locked { holder: None, .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

/// One attempt of [`lock`].
fn try_lock(file: &File, path: &Path, write: bool) -> Result<()> {
    let kind = if write { libc::F_WRLCK } else { libc::F_RDLCK };
    // SAFETY: flock is plain data; all-zero is valid (whole file from 0).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: F_OFD_SETLK reads the valid flock we pass.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) {
        return Err(Error::Open { path: path.to_path_buf(), source: err });
    }
    // SAFETY: F_OFD_GETLK fills the valid flock we pass.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    // An OFD lock reports pid -1; a POSIX lock (real UML) its owner.
    let holder = (rc == 0 && fl.l_type != libc::F_UNLCK as libc::c_short && fl.l_pid > 0).then_some(fl.l_pid);
    Err(Error::Locked { path: path.to_path_buf(), holder })
}

/// Turns O_DIRECT off on an open file (keeping its lock, which belongs to
/// this open file description).
fn clear_direct(file: &File) -> io::Result<()> {
    // SAFETY: F_GETFL and F_SETFL take only integers.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
