//! ext2 (Linux's fs/ext2), the root filesystem of a VM booted from a disk
//! image (ARCHITECTURE §5, issue 7 item 1).
//!
//! [`wire`] gives bounds-checked views over on-disk structures, [`fs::Ext2`]
//! a view of a whole image over any [`source::BlockSource`]; over a
//! [`source::BlockSink`] it also writes: [`write`](mod@write) allocates and writes
//! file data, [`namei`] holds the namespace operations (mkdir, mknod,
//! symlink, link, unlink, rmdir, rename), [`free`] truncate and evict,
//! [`mount`] the superblock's mount state, statfs, the clock and the
//! reserved blocks. Every input is untrusted (a guest may write any bytes
//! to its disk), so no image, however corrupt, makes this code panic or
//! loop: corruption is an [`Error`] that the syscalls turn into EUCLEAN or
//! EIO. [`exercise`] drives all of it over an arbitrary image for the fuzz
//! target in core/fuzz.

pub mod dir;
pub mod error;
pub mod exercise;
pub mod free;
pub mod fs;
pub mod inode;
pub mod mount;
pub mod namei;
pub mod source;
pub mod wire;
pub mod write;

#[cfg(test)]
mod corrupt_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod namei_tests;
#[cfg(test)]
mod testimg;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod write_tests;

pub use dir::Entry;
pub use error::Error;
pub use fs::Ext2;
pub use inode::{FileType, Inode};
pub use mount::StatFs;
pub use namei::{LINK_MAX, RENAME_EXCHANGE, RENAME_NOREPLACE};
pub use source::{BlockSink, BlockSource, FileSource};
