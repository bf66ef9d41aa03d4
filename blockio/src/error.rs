//! The typed errors of block I/O.
//!
//! Every failure a caller may want to act on has its own variant (a full
//! disk, a media error, a request outside the device, an image shorter than
//! promised, a lock held by someone else), so that the guest-facing layers
//! can map them to the right guest errno and message without parsing text.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// What an operation was doing when it failed; carried in errors so that a
/// message names the operation and the offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// A read into a buffer.
    Read,
    /// A write from a buffer.
    Write,
    /// fsync(2): data and metadata.
    Fsync,
    /// fdatasync(2): data and what is needed to read it back.
    Fdatasync,
    /// fallocate(2) hole punching (discard).
    Discard,
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Fsync => "fsync",
            OpKind::Fdatasync => "fdatasync",
            OpKind::Discard => "discard",
        })
    }
}

/// Every error of this crate.
#[derive(Debug, Error)]
pub enum Error {
    /// Opening or inspecting an image file failed.
    #[error("{}: {source}", path.display())]
    Open {
        /// The image.
        path: PathBuf,
        /// What the host said.
        source: io::Error,
    },
    /// Another process holds a conflicting lock on the image.
    #[error(
        "{}: already locked by {}; only one VM may write an image: stop the VM that holds it, \
         or give the `c` (shared) flag if sharing is intended",
        path.display(),
        holder.map_or("another process".to_string(), |p| format!("process {p}"))
    )]
    Locked {
        /// The image.
        path: PathBuf,
        /// The holder's pid, when the host knows it (a POSIX lock, as real
        /// UML takes; open-file-description locks have no owner pid).
        holder: Option<i32>,
    },
    /// The host filesystem is full (ENOSPC, or EDQUOT for a quota).
    #[error("no space left on the host filesystem ({op} at offset {offset})")]
    NoSpace {
        /// The operation.
        op: OpKind,
        /// Its byte offset.
        offset: u64,
    },
    /// A media error reported by the host (EIO).
    #[error("host I/O error ({op} at offset {offset})")]
    Media {
        /// The operation.
        op: OpKind,
        /// Its byte offset.
        offset: u64,
    },
    /// Any other host error from an operation.
    #[error("{op} at offset {offset}: {source}")]
    Io {
        /// The operation.
        op: OpKind,
        /// Its byte offset.
        offset: u64,
        /// What the host said.
        source: io::Error,
    },
    /// An O_DIRECT request whose offset, length or memory is not aligned to
    /// what the file needs. The engine rejects these; `BlockDevice`'s
    /// byte-granular helpers bounce them instead.
    #[error("misaligned {op}: offset {offset}, length {len}, but the file needs multiples of {align}")]
    Misaligned {
        /// The operation.
        op: OpKind,
        /// Its byte offset.
        offset: u64,
        /// Its length.
        len: usize,
        /// The file's required alignment.
        align: u32,
    },
    /// A request that reaches past the end of the device.
    #[error("{op} of {len} bytes at offset {offset} is past the end of the {size}-byte device")]
    OutOfRange {
        /// The operation.
        op: OpKind,
        /// Its byte offset.
        offset: u64,
        /// Its length.
        len: usize,
        /// The device size.
        size: u64,
    },
    /// The file ended inside a range the device claims to have: it was
    /// truncated after it was opened.
    #[error("short read at offset {offset}: wanted {wanted} bytes, the file gave {got} (truncated image?)")]
    ShortRead {
        /// Byte offset of the read.
        offset: u64,
        /// Bytes asked for.
        wanted: usize,
        /// Bytes read.
        got: usize,
    },
    /// A write that the host completed only in part.
    #[error("short write at offset {offset}: {got} of {wanted} bytes")]
    ShortWrite {
        /// Byte offset of the write.
        offset: u64,
        /// Bytes asked for.
        wanted: usize,
        /// Bytes written.
        got: usize,
    },
    /// The image file is shorter than the size the device (or a COW header)
    /// says it has.
    #[error("{}: the file is {actual} bytes, shorter than the {expected} bytes the device claims", path.display())]
    Truncated {
        /// The image.
        path: PathBuf,
        /// Its size on the host.
        actual: u64,
        /// The size promised.
        expected: u64,
    },
    /// A write or discard on a read-only device.
    #[error("the device is read-only")]
    ReadOnly,
    /// Discard asked of a device opened with the `t` (no-trim) flag.
    #[error("discard is disabled on this device (t flag)")]
    DiscardDisabled,
    /// Discard asked of a host filesystem that cannot punch holes.
    #[error("the host filesystem cannot punch holes (discard unsupported)")]
    DiscardUnsupported,
    /// The operation was cancelled, or it was linked after one that failed.
    #[error("operation cancelled")]
    Canceled,
    /// The buffer pool is empty: every buffer is in use.
    #[error("no free I/O buffer")]
    NoBuffer,
    /// A request longer than the buffer given for it.
    #[error("request of {len} bytes does not fit a {capacity}-byte buffer")]
    BufferTooSmall {
        /// The request's length.
        len: usize,
        /// The buffer's capacity.
        capacity: usize,
    },
    /// A `FileId` that is not (or no longer) registered with the engine.
    #[error("file id {0} is not registered")]
    BadFile(u32),
    /// The engine cannot take more files.
    #[error("too many registered files (at most {0})")]
    TooManyFiles(u32),
    /// The submission queue is full in the middle of a linked chain, which
    /// must be submitted whole.
    #[error("submission queue full inside a linked chain")]
    QueueFull,
    /// Setting up the engine failed.
    #[error("I/O engine setup: {0}")]
    Setup(io::Error),
    /// io_uring_enter or another engine-level call failed.
    #[error("I/O engine: {0}")]
    Engine(io::Error),
    /// A malformed ubd flag string.
    #[error("{0}")]
    Flags(String),
}

impl Error {
    /// Maps a host errno from operation `op` at `offset` to its typed error.
    pub fn from_errno(op: OpKind, offset: u64, errno: i32) -> Error {
        match errno {
            libc::ENOSPC | libc::EDQUOT => Error::NoSpace { op, offset },
            libc::EIO => Error::Media { op, offset },
            libc::ECANCELED => Error::Canceled,
            libc::EOPNOTSUPP if op == OpKind::Discard => Error::DiscardUnsupported,
            _ => Error::Io { op, offset, source: io::Error::from_raw_os_error(errno) },
        }
    }

    /// The errno a guest should see for this error, for the layers that
    /// turn device errors into guest syscall results.
    pub fn errno(&self) -> i32 {
        match self {
            Error::NoSpace { .. } => libc::ENOSPC,
            Error::Media { .. } | Error::ShortRead { .. } | Error::ShortWrite { .. } | Error::Truncated { .. } => {
                libc::EIO
            }
            Error::Io { source, .. } | Error::Open { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            Error::Locked { .. } => libc::EBUSY,
            Error::Misaligned { .. } | Error::BufferTooSmall { .. } | Error::BadFile(_) | Error::Flags(_) => {
                libc::EINVAL
            }
            Error::OutOfRange { .. } => libc::ENOSPC,
            Error::ReadOnly => libc::EROFS,
            Error::DiscardDisabled | Error::DiscardUnsupported => libc::EOPNOTSUPP,
            Error::Canceled => libc::ECANCELED,
            Error::NoBuffer | Error::QueueFull => libc::EAGAIN,
            Error::TooManyFiles(_) => libc::EMFILE,
            Error::Setup(e) | Error::Engine(e) => e.raw_os_error().unwrap_or(libc::EIO),
        }
    }
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_map_to_typed_errors() {
        assert!(matches!(Error::from_errno(OpKind::Write, 4096, libc::ENOSPC), Error::NoSpace { offset: 4096, .. }));
        assert!(matches!(Error::from_errno(OpKind::Read, 0, libc::EIO), Error::Media { op: OpKind::Read, .. }));
        assert!(matches!(Error::from_errno(OpKind::Discard, 0, libc::EOPNOTSUPP), Error::DiscardUnsupported));
        assert!(matches!(Error::from_errno(OpKind::Read, 0, libc::EBADF), Error::Io { .. }));
        assert_eq!(Error::from_errno(OpKind::Write, 0, libc::EDQUOT).errno(), libc::ENOSPC);
    }

    #[test]
    fn lock_message_names_file_and_holder() {
        let e = Error::Locked { path: "/img/root.img".into(), holder: Some(42) };
        let msg = e.to_string();
        assert!(msg.contains("/img/root.img") && msg.contains("process 42"), "{msg}");
    }
}
