//! An inode as the filesystem code uses it: decoded once from its view,
//! owned, and small enough to copy around.

use super::wire::{dirent_type, InodeView, N_BLOCKS};

/// What kind of file an inode (or directory entry) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A FIFO.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A mode or entry type no file has (only on a damaged image).
    Unknown,
}

impl FileType {
    /// The type in an inode's mode (S_IFMT bits).
    pub fn from_mode(mode: u16) -> FileType {
        match u32::from(mode) & libc::S_IFMT {
            libc::S_IFREG => FileType::Regular,
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFCHR => FileType::CharDevice,
            libc::S_IFBLK => FileType::BlockDevice,
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFSOCK => FileType::Socket,
            _ => FileType::Unknown,
        }
    }

    /// The type in a directory entry's file_type byte.
    pub fn from_dirent(t: u8) -> FileType {
        match t {
            dirent_type::REG => FileType::Regular,
            dirent_type::DIR => FileType::Directory,
            dirent_type::LNK => FileType::Symlink,
            dirent_type::CHR => FileType::CharDevice,
            dirent_type::BLK => FileType::BlockDevice,
            dirent_type::FIFO => FileType::Fifo,
            dirent_type::SOCK => FileType::Socket,
            _ => FileType::Unknown,
        }
    }
}

/// An inode, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Its number.
    pub ino: u32,
    /// File type and permission bits.
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Hard links.
    pub links: u16,
    /// Access time (seconds since the epoch).
    pub atime: u32,
    /// Change time.
    pub ctime: u32,
    /// Modification time.
    pub mtime: u32,
    /// Deletion time (0 for a live inode).
    pub dtime: u32,
    /// 512-byte sectors held (data, indirect and attribute blocks).
    pub blocks: u32,
    /// i_flags ([`super::wire::inode_flags`]).
    pub flags: u32,
    /// The extended attribute block (0: none).
    pub file_acl: u32,
    /// i_block: block pointers, a fast symlink's target or a device number.
    pub block: [u32; N_BLOCKS],
    /// i_block's raw bytes (where a fast symlink's target lives).
    pub block_bytes: [u8; 4 * N_BLOCKS],
}

impl Inode {
    /// Decodes inode `ino` from `view`; `large_file` says whether
    /// i_size_high counts.
    pub fn decode<T: AsRef<[u8]>>(ino: u32, view: &InodeView<T>, large_file: bool) -> Inode {
        let mut block = [0; N_BLOCKS];
        for (i, b) in block.iter_mut().enumerate() {
            *b = view.block(i);
        }
        Inode {
            ino,
            mode: view.mode(),
            uid: view.uid(),
            gid: view.gid(),
            size: view.size(large_file),
            links: view.links_count(),
            atime: view.atime(),
            ctime: view.ctime(),
            mtime: view.mtime(),
            dtime: view.dtime(),
            blocks: view.blocks(),
            flags: view.flags(),
            file_acl: view.file_acl(),
            block,
            block_bytes: view.block_bytes(),
        }
    }

    /// The file type from the mode.
    pub fn file_type(&self) -> FileType {
        FileType::from_mode(self.mode)
    }

    /// The device number of a device node, as (major, minor). Linux keeps
    /// the old 8:8 encoding in i_block[0] when it fits, else the new one
    /// in i_block[1] (fs/ext2/inode.c, ext2_read_inode).
    pub fn rdev(&self) -> (u32, u32) {
        if self.block[0] != 0 {
            let d = self.block[0];
            ((d >> 8) & 0xff, d & 0xff)
        } else {
            let d = self.block[1];
            ((d & 0xfff00) >> 8, (d & 0xff) | ((d >> 12) & 0xfff00))
        }
    }
}
