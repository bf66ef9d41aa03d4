//! TEMPORARY (never lands): the ext2 write API a parallel branch
//! delivers, so the VFS side compiles meanwhile.
#![allow(missing_docs, unused_variables, clippy::missing_errors_doc)]
use super::ext2::{BlockSink, Error, Ext2, Inode};

pub struct StatFs {
    pub block_size: u32,
    pub blocks: u64,
    pub free: u64,
    pub avail: u64,
    pub files: u64,
    pub ffree: u64,
    pub name_max: u32,
}

fn no() -> Error {
    Error::Unsupported("pending".into())
}

pub trait Pending {
    fn mount_rw(&mut self) -> Result<(), Error> {
        Ok(())
    }
    fn unmount(&mut self) -> Result<(), Error> {
        Ok(())
    }
    fn mkdir(&mut self, parent: u32, name: &[u8], perm: u16, uid: u32, gid: u32) -> Result<Inode, Error> {
        Err(no())
    }
    fn mknod(&mut self, parent: u32, name: &[u8], mode: u16, rdev: u64, uid: u32, gid: u32) -> Result<Inode, Error> {
        Err(no())
    }
    fn symlink(&mut self, parent: u32, name: &[u8], target: &[u8], uid: u32, gid: u32) -> Result<Inode, Error> {
        Err(no())
    }
    fn link(&mut self, ino: u32, parent: u32, name: &[u8]) -> Result<Inode, Error> {
        Err(no())
    }
    fn unlink(&mut self, parent: u32, name: &[u8]) -> Result<Inode, Error> {
        Err(no())
    }
    fn rmdir(&mut self, parent: u32, name: &[u8]) -> Result<Inode, Error> {
        Err(no())
    }
    fn rename(&mut self, op: u32, on: &[u8], np: u32, nn: &[u8], flags: u32) -> Result<Option<Inode>, Error> {
        Err(no())
    }
    fn evict(&mut self, ino: u32) -> Result<(), Error> {
        Err(no())
    }
    fn truncate(&mut self, inode: &mut Inode, size: u64) -> Result<(), Error> {
        Err(no())
    }
    fn statfs(&self) -> StatFs {
        StatFs { block_size: 1024, blocks: 0, free: 0, avail: 0, files: 0, ffree: 0, name_max: 255 }
    }
}

impl<S: BlockSink> Pending for Ext2<S> {}
