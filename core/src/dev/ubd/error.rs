//! Why a ubd operation failed, and the errno the guest sees for it.

use std::path::PathBuf;

use crate::errno::Errno;

/// A ubd failure. Every message names the disk's file.
#[derive(Debug, thiserror::Error)]
pub enum UbdError {
    /// The disk's I/O engine could not be set up.
    #[error("{}: I/O engine: {source}", path.display())]
    Engine {
        /// The disk's file.
        path: PathBuf,
        /// The block layer's error.
        source: umvm_blockio::Error,
    },
    /// Opening the disk failed (the COW layer's message names the files).
    #[error("ubd{unit}: {source}")]
    Open {
        /// The unit.
        unit: u8,
        /// The COW layer's error.
        source: umvm_cow::Error,
    },
    /// I/O on a COW disk failed.
    #[error("{source}")]
    Cow {
        /// The COW layer's error (it names the file).
        source: umvm_cow::Error,
    },
    /// I/O on a plain image failed.
    #[error("{}: {source}", path.display())]
    Block {
        /// The image.
        path: PathBuf,
        /// The block layer's error.
        source: umvm_blockio::Error,
    },
    /// A write to a read-only disk.
    #[error("{}: the disk is read-only", path.display())]
    ReadOnly {
        /// The disk's file.
        path: PathBuf,
    },
    /// A request reaching past the end of the disk.
    #[error("{}: {op} of {len} bytes at offset {offset} is past the end of the {size}-byte disk", path.display())]
    OutOfRange {
        /// The disk's file.
        path: PathBuf,
        /// "read" or "write".
        op: &'static str,
        /// Byte offset.
        offset: u64,
        /// Length.
        len: usize,
        /// The disk's size.
        size: u64,
    },
}

impl UbdError {
    /// The errno the guest sees: the host's for host failures (ENOSPC for
    /// a full host filesystem, EIO for a media error), EROFS for a write to
    /// a read-only disk, EIO for a read past the end and ENOSPC for a
    /// write there (as a block device says).
    pub fn errno(&self) -> Errno {
        match self {
            UbdError::Engine { source, .. } | UbdError::Block { source, .. } => Errno(source.errno()),
            UbdError::Open { source, .. } | UbdError::Cow { source } => cow_errno(source),
            UbdError::ReadOnly { .. } => Errno::EROFS,
            UbdError::OutOfRange { op: "write", .. } => Errno::ENOSPC,
            UbdError::OutOfRange { .. } => Errno::EIO,
        }
    }
}

fn cow_errno(e: &umvm_cow::Error) -> Errno {
    use umvm_cow::Error as C;
    let host = |source: &std::io::Error| Errno(source.raw_os_error().unwrap_or(libc::EIO));
    match e {
        C::Io { source, .. } | C::Backing { source, .. } => host(source),
        C::Block { source, .. } => Errno(source.errno()),
        C::Header { .. } | C::NotCow { .. } | C::Ubd { .. } => Errno::EINVAL,
        C::SizeMismatch { .. } | C::MtimeMismatch { .. } | C::PastEnd { .. } | C::Log { .. } => Errno::EIO,
        C::Exists { .. } => Errno::EEXIST,
        C::OutOfRange { op: "write", .. } => Errno::ENOSPC,
        C::OutOfRange { .. } => Errno::EIO,
        C::ReadOnly { .. } => Errno::EROFS,
    }
}
