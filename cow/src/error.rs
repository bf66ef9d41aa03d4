//! The typed errors of the COW layer.
//!
//! Each message is one line naming the file(s) and the fault, so that the
//! CLI can print it as is; header faults are their own type, because the
//! parser knows bytes, not files.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why a header is unusable (the file is named by `Error::Header`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// Fewer bytes than the header needs.
    #[error("short header: {len} bytes, the header needs {need}")]
    Short {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// A COW magic with a version other than 1, 2 or 3.
    #[error("unsupported COW version {0} (umvm reads 1, 2 and 3)")]
    Version(u32),
    /// A sector size other than 512, which UML's bitmap assumes.
    #[error("unsupported sector size {0} (UML's COW bitmap is per 512-byte sector)")]
    SectorSize(u32),
    /// An alignment that is zero, not a power of two, below a sector or huge.
    #[error("bad data alignment {0} (want a power of two from 512 to 1 MiB)")]
    Alignment(u32),
    /// A cow_format other than COW_BITMAP.
    #[error("unknown cow_format {0} (only 0, the bitmap, exists)")]
    Format(u32),
    /// The backing path field has no NUL terminator.
    #[error("the backing file name is not NUL-terminated")]
    UnterminatedPath,
    /// The backing path field is empty.
    #[error("the backing file name is empty")]
    EmptyBackingPath,
    /// A backing path that does not fit the header.
    #[error("backing file name of {len} bytes is too long (at most {max})")]
    PathTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A size whose bitmap or data area UML could not address (offsets at
    /// or past 2^31) or that overflows.
    #[error("backing size {size} is too large for a COW file")]
    TooLarge {
        /// The header's size.
        size: u64,
    },
}

/// Every error of this crate.
#[derive(Debug, Error)]
pub enum Error {
    /// A host call on a named file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the host said.
        source: io::Error,
    },
    /// Block I/O failed (the message names the operation and offset).
    #[error("{}", block_message(path, source))]
    Block {
        /// The file.
        path: PathBuf,
        /// The block layer's error.
        source: umvm_blockio::Error,
    },
    /// The header is unusable.
    #[error("{}: bad COW header: {source}", path.display())]
    Header {
        /// The COW file.
        path: PathBuf,
        /// Why.
        source: HeaderError,
    },
    /// The file has no COW magic where a COW file was required.
    #[error("{}: not a COW file (no COW magic)", path.display())]
    NotCow {
        /// The file.
        path: PathBuf,
    },
    /// The COW file ends before its bitmap or data area.
    #[error("{}: the file is {len} bytes, but its header puts the {what} at {offset}..{end} (truncated COW file?)",
        path.display())]
    PastEnd {
        /// The COW file.
        path: PathBuf,
        /// "bitmap" or "data area".
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// Where it ends.
        end: u64,
        /// The file's length.
        len: u64,
    },
    /// The backing file is missing or unreadable.
    #[error("{}: backing file {}: {source}", cow.display(), backing.display())]
    Backing {
        /// The COW file.
        cow: PathBuf,
        /// The backing file.
        backing: PathBuf,
        /// What the host said.
        source: io::Error,
    },
    /// The backing file's size differs from the header's.
    #[error("{}: size mismatch: the COW header says {expected} bytes, backing file {} has {actual} \
        (the backing file changed since the COW file was made; --force-backing overrides)",
        cow.display(), backing.display())]
    SizeMismatch {
        /// The COW file.
        cow: PathBuf,
        /// The backing file.
        backing: PathBuf,
        /// The header's size.
        expected: u64,
        /// The backing file's.
        actual: u64,
    },
    /// The backing file's mtime differs from the header's.
    #[error("{}: mtime mismatch: the COW header says {expected}, backing file {} has {actual} \
        (the backing file changed since the COW file was made; --force-backing overrides)",
        cow.display(), backing.display())]
    MtimeMismatch {
        /// The COW file.
        cow: PathBuf,
        /// The backing file.
        backing: PathBuf,
        /// The header's mtime.
        expected: u32,
        /// The backing file's (truncated to 32 bits as UML does).
        actual: u32,
    },
    /// A COW file that already exists where a new one was asked for.
    #[error("{}: already exists", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A malformed `ubdN=` switch.
    #[error("{spec}: {why}")]
    Ubd {
        /// The switch as given.
        spec: String,
        /// What is wrong, in UML's words where UML has some.
        why: String,
    },
    /// A request outside the disk.
    #[error("{op} of {len} bytes at offset {offset} is past the end of the {size}-byte disk")]
    OutOfRange {
        /// "read" or "write".
        op: &'static str,
        /// Byte offset.
        offset: u64,
        /// Length.
        len: usize,
        /// The disk size.
        size: u64,
    },
    /// A disk's write-ahead log that is complete but cannot be applied.
    #[error("{}: {why}", path.display())]
    Log {
        /// The log.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A write to a read-only device.
    #[error("{}: the device is read-only", path.display())]
    ReadOnly {
        /// The COW file.
        path: PathBuf,
    },
}

/// The block layer's message, prefixed with the file unless it names it.
fn block_message(path: &std::path::Path, e: &umvm_blockio::Error) -> String {
    use umvm_blockio::Error as B;
    match e {
        B::Open { .. } | B::Locked { .. } | B::Truncated { .. } => e.to_string(),
        _ => format!("{}: {e}", path.display()),
    }
}

impl Error {
    /// Whether the COW or backing file is locked by another process.
    pub fn is_locked(&self) -> bool {
        matches!(self, Error::Block { source: umvm_blockio::Error::Locked { .. }, .. })
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    pub(crate) fn block(path: impl Into<PathBuf>) -> impl FnOnce(umvm_blockio::Error) -> Error {
        let path = path.into();
        move |source| Error::Block { path, source }
    }
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
