//! Why an ext2 operation failed, and the errno the guest sees for it.

use crate::errno::Errno;

/// An ext2 failure. Each variant maps to one errno ([`Error::errno`]):
/// damaged metadata is EUCLEAN (Linux's EFSCORRUPTED), a failed or short
/// read of the image EIO, an image we will not mount EINVAL (what mount(2)
/// says for a bad superblock or unsupported features), one we may only
/// read EROFS.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the image failed on the host.
    #[error("ext2: I/O on block {block}: {source}")]
    Io {
        /// The block being read (in units of the read's buffer size).
        block: u64,
        /// The host's error.
        source: std::io::Error,
    },
    /// The image ends before a block it needs.
    #[error("ext2: image truncated: block {block} is past its end")]
    Truncated {
        /// The block that could not be read.
        block: u64,
    },
    /// No ext2 superblock: the magic number is wrong.
    #[error("ext2: bad magic {0:#06x} (not an ext2/3/4 filesystem)")]
    BadMagic(u16),
    /// The superblock describes a filesystem we cannot mount.
    #[error("ext2: unsupported: {0}")]
    Unsupported(String),
    /// Incompatible features umvm does not implement, by their e2fsprogs
    /// names; reading such an image would give wrong data.
    #[error("ext2: unsupported incompatible features: {0}")]
    IncompatFeatures(String),
    /// An ext3 image whose journal holds transactions not yet replayed:
    /// reading it as ext2 would show stale metadata.
    #[error("ext2: the journal needs recovery (an unclean ext3/4 image); run e2fsck on it first")]
    NeedsRecovery,
    /// Read-only-compatible features umvm does not implement: the image
    /// may be read, never written.
    #[error("ext2: read-only because of unsupported features: {0}")]
    ReadOnlyFeatures(String),
    /// Metadata that contradicts itself or the superblock.
    #[error("ext2: corrupt filesystem: {0}")]
    Corrupt(String),
    /// A block pointer outside the filesystem.
    #[error("ext2: corrupt filesystem: inode {ino} points at block {block}, outside 1..{blocks_count}")]
    BlockOutOfRange {
        /// The inode holding the pointer (directly or through indirect blocks).
        ino: u32,
        /// The bad block number.
        block: u32,
        /// The superblock's block count.
        blocks_count: u32,
    },
    /// An inode number outside 1..=s_inodes_count.
    #[error("ext2: inode {ino} out of range 1..={inodes_count}")]
    BadInode {
        /// The inode number asked for.
        ino: u32,
        /// The superblock's inode count.
        inodes_count: u32,
    },
    /// A directory operation on something else.
    #[error("ext2: inode {0} is not a directory")]
    NotDir(u32),
    /// readlink on something other than a symlink.
    #[error("ext2: inode {0} is not a symbolic link")]
    NotSymlink(u32),
    /// No free block or inode is left.
    #[error("ext2: no space left: {0}")]
    NoSpace(&'static str),
    /// The name already exists in the directory.
    #[error("ext2: name exists in directory {0}")]
    Exists(u32),
    /// A name longer than 255 bytes.
    #[error("ext2: name of {0} bytes is too long")]
    NameTooLong(usize),
    /// An empty name, `.`, `..`, or one holding `/` or NUL.
    #[error("ext2: invalid name")]
    BadName,
    /// A write past the largest file the image can hold.
    #[error("ext2: file would exceed the largest size the image allows")]
    FileTooBig,
    /// The name is not in the directory (or the inode has no links left
    /// to add to).
    #[error("ext2: no such entry")]
    NotFound,
    /// unlink of a directory, or a directory replaced by a non-directory.
    #[error("ext2: inode {0} is a directory")]
    IsDir(u32),
    /// rmdir of, or rename over, a directory that still has entries.
    #[error("ext2: directory {0} is not empty")]
    NotEmpty(u32),
    /// The inode already has ext2's 32000 links.
    #[error("ext2: inode {0} has too many links")]
    TooManyLinks(u32),
    /// An argument the operation cannot take (bad flags, a device number
    /// too wide, moving a directory under itself).
    #[error("ext2: invalid argument: {0}")]
    Invalid(&'static str),
    /// An operation Linux forbids outright (a hard link to a directory).
    #[error("ext2: operation not permitted: {0}")]
    NotPermitted(&'static str),
}

impl Error {
    /// The errno the guest sees for this failure.
    pub fn errno(&self) -> Errno {
        match self {
            Error::Io { .. } | Error::Truncated { .. } => Errno::EIO,
            Error::BadMagic(_) | Error::Unsupported(_) | Error::IncompatFeatures(_) | Error::NeedsRecovery => {
                Errno::EINVAL
            }
            Error::ReadOnlyFeatures(_) => Errno::EROFS,
            Error::Corrupt(_) | Error::BlockOutOfRange { .. } | Error::BadInode { .. } => Errno::EUCLEAN,
            Error::NotDir(_) => Errno::ENOTDIR,
            Error::NotSymlink(_) | Error::BadName => Errno::EINVAL,
            Error::NoSpace(_) => Errno::ENOSPC,
            Error::Exists(_) => Errno::EEXIST,
            Error::NameTooLong(_) => Errno::ENAMETOOLONG,
            Error::FileTooBig => Errno::EFBIG,
            Error::NotFound => Errno::ENOENT,
            Error::IsDir(_) => Errno::EISDIR,
            Error::NotEmpty(_) => Errno::ENOTEMPTY,
            Error::TooManyLinks(_) => Errno::EMLINK,
            Error::Invalid(_) => Errno::EINVAL,
            Error::NotPermitted(_) => Errno::EPERM,
        }
    }

    /// Shorthand for [`Error::Corrupt`].
    pub(crate) fn corrupt(what: impl Into<String>) -> Error {
        Error::Corrupt(what.into())
    }
}

impl From<Error> for Errno {
    fn from(e: Error) -> Errno {
        e.errno()
    }
}
