//! Typed views over ext2's on-disk structures, in the style of smoltcp's
//! `wire` module: a view wraps a byte buffer, `new_checked` refuses a buffer
//! too short for the structure, and each accessor decodes one little-endian
//! field in place. Accessors never panic, even on a view made with
//! `new_unchecked` over a short buffer: a field past the end reads as 0,
//! which the filesystem code then rejects like any other bad value.
//!
//! Layouts follow Linux's fs/ext2/ext2.h and e2fsprogs' ext2_fs.h.

use super::Error;

/// The superblock's magic number.
pub const EXT2_MAGIC: u16 = 0xef53;
/// Where the superblock starts on the device, whatever the block size.
pub const SUPERBLOCK_OFFSET: u64 = 1024;
/// The superblock's size on disk.
pub const SUPERBLOCK_SIZE: usize = 1024;
/// The size of a group descriptor without the 64bit feature.
pub const GROUP_DESC_SIZE: usize = 32;
/// The size of a revision 0 inode, and the part of any inode ext2 reads.
pub const INODE_BASE_SIZE: usize = 128;
/// The fixed part of a directory entry before its name.
pub const DIRENT_HEADER_SIZE: usize = 8;
/// Revision 0: fixed inode size and first inode, no feature flags.
pub const REV_GOOD_OLD: u32 = 0;
/// Revision 1: variable inode size, feature flags.
pub const REV_DYNAMIC: u32 = 1;
/// The first non-reserved inode of a revision 0 filesystem.
pub const GOOD_OLD_FIRST_INO: u32 = 11;
/// Pointers in an inode's i_block: 12 direct, then single, double and
/// triple indirect.
pub const N_BLOCKS: usize = 15;
/// How many of i_block's pointers are direct.
pub const NDIR_BLOCKS: usize = 12;

fn le16(buf: &[u8], off: usize) -> u16 {
    match buf.get(off..off + 2) {
        Some(b) => u16::from_le_bytes([b[0], b[1]]),
        None => 0,
    }
}

fn le32(buf: &[u8], off: usize) -> u32 {
    match buf.get(off..off + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

fn byte(buf: &[u8], off: usize) -> u8 {
    buf.get(off).copied().unwrap_or(0)
}

fn check_len(buf: &[u8], need: usize, what: &str) -> Result<(), Error> {
    if buf.len() < need {
        return Err(Error::corrupt(format!("{what}: {} bytes, need {need}", buf.len())));
    }
    Ok(())
}

/// Declares one little-endian accessor per field: `name: type @ offset`.
macro_rules! fields {
    ($($(#[$doc:meta])* $name:ident: $ty:ident @ $off:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> $ty {
                fields!(@read $ty, self.buffer.as_ref(), $off)
            }
        )*
    };
    (@read u32, $buf:expr, $off:expr) => { le32($buf, $off) };
    (@read u16, $buf:expr, $off:expr) => { le16($buf, $off) };
    (@read u8, $buf:expr, $off:expr) => { byte($buf, $off) };
}

/// A feature bit and its e2fsprogs name (as `tune2fs -l` prints it).
type Feature = (u32, &'static str);

/// Compatible features: an implementation that ignores them still reads
/// and writes the image correctly.
pub mod compat {
    /// Directory preallocation.
    pub const DIR_PREALLOC: u32 = 0x1;
    /// AFS server inodes.
    pub const IMAGIC_INODES: u32 = 0x2;
    /// An ext3 journal (inode 8); ext2 treats it as a reserved file.
    pub const HAS_JOURNAL: u32 = 0x4;
    /// Extended attribute blocks.
    pub const EXT_ATTR: u32 = 0x8;
    /// Reserved GDT blocks for online resize (inode 7).
    pub const RESIZE_INODE: u32 = 0x10;
    /// Hashed directory indexes; the index hides in blocks that read as
    /// empty plain directory entries, so ext2 reads them as plain.
    pub const DIR_INDEX: u32 = 0x20;
}

/// Incompatible features: an implementation that does not know them would
/// misread the image, so it must refuse to mount.
pub mod incompat {
    /// Compression (never finished upstream).
    pub const COMPRESSION: u32 = 0x1;
    /// Directory entries record the file type.
    pub const FILETYPE: u32 = 0x2;
    /// The journal needs replaying.
    pub const RECOVER: u32 = 0x4;
    /// This is an external journal device, not a filesystem.
    pub const JOURNAL_DEV: u32 = 0x8;
    /// Group descriptors in meta block groups.
    pub const META_BG: u32 = 0x10;
    /// Extent trees instead of block maps.
    pub const EXTENTS: u32 = 0x40;
    /// 64-bit block numbers and larger group descriptors.
    pub const BIT64: u32 = 0x80;
    /// Multiple mount protection.
    pub const MMP: u32 = 0x100;
    /// Flexible block groups.
    pub const FLEX_BG: u32 = 0x200;
    /// Extended attributes in inodes.
    pub const EA_INODE: u32 = 0x400;
    /// Data in directory entries.
    pub const DIRDATA: u32 = 0x1000;
    /// Checksum seed in the superblock.
    pub const CSUM_SEED: u32 = 0x2000;
    /// Directories over 2 GiB or 3-level htrees.
    pub const LARGEDIR: u32 = 0x4000;
    /// Small files' data in the inode.
    pub const INLINE_DATA: u32 = 0x8000;
    /// Encrypted files.
    pub const ENCRYPT: u32 = 0x10000;
    /// Case-insensitive directories.
    pub const CASEFOLD: u32 = 0x20000;
}

/// Read-only-compatible features: an implementation that does not know
/// them may read the image but must not write it.
pub mod ro_compat {
    /// Superblock backups only in groups 0, 1 and powers of 3, 5, 7.
    pub const SPARSE_SUPER: u32 = 0x1;
    /// Files of 2 GiB and more (i_size_high).
    pub const LARGE_FILE: u32 = 0x2;
    /// Never used.
    pub const BTREE_DIR: u32 = 0x4;
    /// i_blocks in filesystem blocks.
    pub const HUGE_FILE: u32 = 0x8;
    /// Group descriptor checksums.
    pub const GDT_CSUM: u32 = 0x10;
    /// Directories with more than 65000 subdirectories.
    pub const DIR_NLINK: u32 = 0x20;
    /// Large inodes' extra fields.
    pub const EXTRA_ISIZE: u32 = 0x40;
    /// Quota inodes.
    pub const QUOTA: u32 = 0x100;
    /// Clusters of blocks.
    pub const BIGALLOC: u32 = 0x200;
    /// Checksums on all metadata.
    pub const METADATA_CSUM: u32 = 0x400;
    /// Read-only filesystem.
    pub const READONLY: u32 = 0x1000;
    /// Project quotas.
    pub const PROJECT: u32 = 0x2000;
    /// fs-verity files.
    pub const VERITY: u32 = 0x8000;
}

const INCOMPAT_NAMES: &[Feature] = &[
    (incompat::COMPRESSION, "compression"),
    (incompat::FILETYPE, "filetype"),
    (incompat::RECOVER, "needs_recovery"),
    (incompat::JOURNAL_DEV, "journal_dev"),
    (incompat::META_BG, "meta_bg"),
    (incompat::EXTENTS, "extent"),
    (incompat::BIT64, "64bit"),
    (incompat::MMP, "mmp"),
    (incompat::FLEX_BG, "flex_bg"),
    (incompat::EA_INODE, "ea_inode"),
    (incompat::DIRDATA, "dirdata"),
    (incompat::CSUM_SEED, "metadata_csum_seed"),
    (incompat::LARGEDIR, "large_dir"),
    (incompat::INLINE_DATA, "inline_data"),
    (incompat::ENCRYPT, "encrypt"),
    (incompat::CASEFOLD, "casefold"),
];

const RO_COMPAT_NAMES: &[Feature] = &[
    (ro_compat::SPARSE_SUPER, "sparse_super"),
    (ro_compat::LARGE_FILE, "large_file"),
    (ro_compat::BTREE_DIR, "btree_dir"),
    (ro_compat::HUGE_FILE, "huge_file"),
    (ro_compat::GDT_CSUM, "uninit_bg"),
    (ro_compat::DIR_NLINK, "dir_nlink"),
    (ro_compat::EXTRA_ISIZE, "extra_isize"),
    (ro_compat::QUOTA, "quota"),
    (ro_compat::BIGALLOC, "bigalloc"),
    (ro_compat::METADATA_CSUM, "metadata_csum"),
    (ro_compat::READONLY, "read-only"),
    (ro_compat::PROJECT, "project"),
    (ro_compat::VERITY, "verity"),
];

/// The incompatible features ext2 here implements. RECOVER is not among
/// them: it is refused on its own with a clearer error.
pub const INCOMPAT_SUPPORTED: u32 = incompat::FILETYPE;
/// The read-only-compatible features ext2 here can also write.
pub const RO_COMPAT_SUPPORTED: u32 = ro_compat::SPARSE_SUPER | ro_compat::LARGE_FILE | ro_compat::BTREE_DIR;

fn names(bits: u32, table: &[Feature], prefix: &str) -> String {
    let mut out = Vec::new();
    let mut left = bits;
    for &(bit, name) in table {
        if bits & bit != 0 {
            out.push(name.to_string());
            left &= !bit;
        }
    }
    // Bits e2fsprogs has no name for either, as it prints them.
    for i in 0..32 {
        if left & (1 << i) != 0 {
            out.push(format!("FEATURE_{prefix}{i}"));
        }
    }
    out.join(" ")
}

/// The e2fsprogs names of the incompatible feature bits in `bits`.
pub fn incompat_names(bits: u32) -> String {
    names(bits, INCOMPAT_NAMES, "I")
}

/// The e2fsprogs names of the read-only-compatible feature bits in `bits`.
pub fn ro_compat_names(bits: u32) -> String {
    names(bits, RO_COMPAT_NAMES, "R")
}

/// The superblock (1024 bytes at byte 1024 of the device).
#[derive(Debug, Clone)]
pub struct Superblock<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Superblock<T> {
    /// A view of `buffer`, not checked.
    pub fn new_unchecked(buffer: T) -> Self {
        Superblock { buffer }
    }

    /// A view of `buffer`, which must hold a whole superblock.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        check_len(buffer.as_ref(), SUPERBLOCK_SIZE, "superblock")?;
        Ok(Superblock { buffer })
    }

    fields! {
        /// Inodes in the filesystem.
        inodes_count: u32 @ 0;
        /// Blocks in the filesystem (the low 32 bits with 64bit).
        blocks_count: u32 @ 4;
        /// Blocks reserved for the superuser.
        r_blocks_count: u32 @ 8;
        /// Free blocks.
        free_blocks_count: u32 @ 12;
        /// Free inodes.
        free_inodes_count: u32 @ 16;
        /// The block holding the superblock: 1 with 1 KiB blocks, else 0.
        first_data_block: u32 @ 20;
        /// Block size is 1024 << this.
        log_block_size: u32 @ 24;
        /// Blocks per group.
        blocks_per_group: u32 @ 32;
        /// Inodes per group.
        inodes_per_group: u32 @ 40;
        /// Last mount time.
        mtime: u32 @ 44;
        /// Last write time.
        wtime: u32 @ 48;
        /// The magic number, [`EXT2_MAGIC`].
        magic: u16 @ 56;
        /// 1: cleanly unmounted; 2: errors detected.
        state: u16 @ 58;
        /// The revision: [`REV_GOOD_OLD`] or [`REV_DYNAMIC`].
        rev_level: u32 @ 76;
        /// The default uid for reserved blocks.
        def_resuid: u16 @ 80;
        /// The default gid for reserved blocks.
        def_resgid: u16 @ 82;
        /// The first non-reserved inode (revision 1).
        first_ino_raw: u32 @ 84;
        /// The inode size (revision 1).
        inode_size_raw: u16 @ 88;
        /// The group holding this copy of the superblock.
        block_group_nr: u16 @ 90;
        /// Compatible features (revision 1).
        feature_compat_raw: u32 @ 92;
        /// Incompatible features (revision 1).
        feature_incompat_raw: u32 @ 96;
        /// Read-only-compatible features (revision 1).
        feature_ro_compat_raw: u32 @ 100;
        /// The journal's inode, with has_journal.
        journal_inum: u32 @ 224;
        /// Size of a group descriptor, with 64bit.
        desc_size: u16 @ 254;
    }

    /// The block size in bytes, or None for a shift no ext2 uses (whose
    /// size would overflow).
    pub fn block_size(&self) -> Option<u32> {
        let log = self.log_block_size();
        if log > 6 {
            return None;
        }
        Some(1024 << log)
    }

    /// The inode size: 128 in revision 0.
    pub fn inode_size(&self) -> u32 {
        if self.rev_level() == REV_GOOD_OLD {
            INODE_BASE_SIZE as u32
        } else {
            u32::from(self.inode_size_raw())
        }
    }

    /// The first non-reserved inode: 11 in revision 0.
    pub fn first_ino(&self) -> u32 {
        if self.rev_level() == REV_GOOD_OLD {
            GOOD_OLD_FIRST_INO
        } else {
            self.first_ino_raw()
        }
    }

    /// Compatible features; none in revision 0, whatever the field holds
    /// (it is padding there).
    pub fn feature_compat(&self) -> u32 {
        if self.rev_level() == REV_GOOD_OLD {
            0
        } else {
            self.feature_compat_raw()
        }
    }

    /// Incompatible features; none in revision 0.
    pub fn feature_incompat(&self) -> u32 {
        if self.rev_level() == REV_GOOD_OLD {
            0
        } else {
            self.feature_incompat_raw()
        }
    }

    /// Read-only-compatible features; none in revision 0.
    pub fn feature_ro_compat(&self) -> u32 {
        if self.rev_level() == REV_GOOD_OLD {
            0
        } else {
            self.feature_ro_compat_raw()
        }
    }

    /// The volume label, up to its first NUL.
    pub fn volume_name(&self) -> &[u8] {
        let raw = self.buffer.as_ref().get(120..136).unwrap_or(&[]);
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        &raw[..end]
    }

    /// The filesystem's UUID.
    pub fn uuid(&self) -> [u8; 16] {
        let mut out = [0; 16];
        if let Some(b) = self.buffer.as_ref().get(104..120) {
            out.copy_from_slice(b);
        }
        out
    }
}

/// A block group descriptor (32 bytes; the table follows the superblock's
/// block).
#[derive(Debug, Clone)]
pub struct GroupDesc<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GroupDesc<T> {
    /// A view of `buffer`, not checked.
    pub fn new_unchecked(buffer: T) -> Self {
        GroupDesc { buffer }
    }

    /// A view of `buffer`, which must hold a whole descriptor.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        check_len(buffer.as_ref(), GROUP_DESC_SIZE, "group descriptor")?;
        Ok(GroupDesc { buffer })
    }

    fields! {
        /// The group's block bitmap.
        block_bitmap: u32 @ 0;
        /// The group's inode bitmap.
        inode_bitmap: u32 @ 4;
        /// The first block of the group's inode table.
        inode_table: u32 @ 8;
        /// Free blocks in the group.
        free_blocks_count: u16 @ 12;
        /// Free inodes in the group.
        free_inodes_count: u16 @ 14;
        /// Directories in the group.
        used_dirs_count: u16 @ 16;
        /// ext4's uninit flags (0 on ext2).
        flags: u16 @ 18;
    }
}

/// Inode flags (i_flags) that matter when reading.
pub mod inode_flags {
    /// The directory has a hashed index (read as plain here).
    pub const INDEX: u32 = 0x1000;
    /// Data is an extent tree (ext4).
    pub const EXTENTS: u32 = 0x80000;
    /// Data lives in the inode (ext4).
    pub const INLINE_DATA: u32 = 0x1000_0000;
}

/// An inode: the first 128 bytes, which is all ext2 reads (larger inodes
/// only add ext4's extra time and checksum fields).
#[derive(Debug, Clone)]
pub struct InodeView<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> InodeView<T> {
    /// A view of `buffer`, not checked.
    pub fn new_unchecked(buffer: T) -> Self {
        InodeView { buffer }
    }

    /// A view of `buffer`, which must hold a revision 0 inode.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        check_len(buffer.as_ref(), INODE_BASE_SIZE, "inode")?;
        Ok(InodeView { buffer })
    }

    fields! {
        /// File type and permission bits.
        mode: u16 @ 0;
        /// Owner's uid, low 16 bits.
        uid_low: u16 @ 2;
        /// Size in bytes, low 32 bits.
        size_low: u32 @ 4;
        /// Access time.
        atime: u32 @ 8;
        /// Inode change time.
        ctime: u32 @ 12;
        /// Modification time.
        mtime: u32 @ 16;
        /// Deletion time (0 for a live inode).
        dtime: u32 @ 20;
        /// Group's gid, low 16 bits.
        gid_low: u16 @ 24;
        /// Hard links.
        links_count: u16 @ 26;
        /// 512-byte sectors held, data and metadata.
        blocks: u32 @ 28;
        /// Flags ([`inode_flags`]).
        flags: u32 @ 32;
        /// Generation (for NFS).
        generation: u32 @ 100;
        /// The extended attribute block.
        file_acl: u32 @ 104;
        /// Size in bytes, high 32 bits (regular files with large_file;
        /// i_dir_acl on directories).
        size_high: u32 @ 108;
        /// Owner's uid, high 16 bits (Linux's osd2).
        uid_high: u16 @ 120;
        /// Group's gid, high 16 bits.
        gid_high: u16 @ 122;
    }

    /// Pointer `i` of i_block: 0-11 direct, 12 single, 13 double, 14
    /// triple indirect; 0 for `i` past 14. Fast symlinks keep their target
    /// in these bytes instead, device nodes their number.
    pub fn block(&self, i: usize) -> u32 {
        if i >= N_BLOCKS {
            return 0;
        }
        le32(self.buffer.as_ref(), 40 + 4 * i)
    }

    /// The raw 60 bytes of i_block.
    pub fn block_bytes(&self) -> [u8; 4 * N_BLOCKS] {
        let mut out = [0; 4 * N_BLOCKS];
        if let Some(b) = self.buffer.as_ref().get(40..40 + 4 * N_BLOCKS) {
            out.copy_from_slice(b);
        }
        out
    }

    /// The owner's uid.
    pub fn uid(&self) -> u32 {
        u32::from(self.uid_low()) | u32::from(self.uid_high()) << 16
    }

    /// The group's gid.
    pub fn gid(&self) -> u32 {
        u32::from(self.gid_low()) | u32::from(self.gid_high()) << 16
    }

    /// The size in bytes: i_size_high counts for regular files when the
    /// filesystem has large_file (elsewhere it is i_dir_acl or unused).
    pub fn size(&self, large_file: bool) -> u64 {
        let is_reg = self.mode() & 0o170000 == 0o100000;
        let high = if large_file && is_reg { u64::from(self.size_high()) } else { 0 };
        u64::from(self.size_low()) | high << 32
    }
}

/// A directory entry's file types (with the filetype feature).
pub mod dirent_type {
    /// Unknown (or no filetype feature).
    pub const UNKNOWN: u8 = 0;
    /// Regular file.
    pub const REG: u8 = 1;
    /// Directory.
    pub const DIR: u8 = 2;
    /// Character device.
    pub const CHR: u8 = 3;
    /// Block device.
    pub const BLK: u8 = 4;
    /// FIFO.
    pub const FIFO: u8 = 5;
    /// Socket.
    pub const SOCK: u8 = 6;
    /// Symbolic link.
    pub const LNK: u8 = 7;
}

/// One directory entry, at the start of `buffer` (which runs to the end of
/// its directory block).
#[derive(Debug, Clone)]
pub struct DirEntry<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DirEntry<T> {
    /// A view of `buffer`, not checked.
    pub fn new_unchecked(buffer: T) -> Self {
        DirEntry { buffer }
    }

    /// A view of `buffer`, which must hold the entry's header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        check_len(buffer.as_ref(), DIRENT_HEADER_SIZE, "directory entry")?;
        Ok(DirEntry { buffer })
    }

    fields! {
        /// The inode (0: an unused entry).
        inode: u32 @ 0;
        /// Bytes to the next entry.
        rec_len: u16 @ 4;
        /// The name's length: one byte with the filetype feature.
        name_len_low: u8 @ 6;
        /// The file type with filetype, else the name length's high byte.
        file_type_raw: u8 @ 7;
    }

    /// The name's length: without filetype it is 16 bits wide.
    pub fn name_len(&self, filetype: bool) -> u16 {
        if filetype {
            u16::from(self.name_len_low())
        } else {
            u16::from(self.name_len_low()) | u16::from(self.file_type_raw()) << 8
        }
    }

    /// The file type ([`dirent_type`]); unknown without filetype.
    pub fn file_type(&self, filetype: bool) -> u8 {
        if filetype {
            self.file_type_raw()
        } else {
            dirent_type::UNKNOWN
        }
    }

    /// The name, or None when it runs past the buffer.
    pub fn name(&self, filetype: bool) -> Option<&[u8]> {
        let len = usize::from(self.name_len(filetype));
        self.buffer.as_ref().get(DIRENT_HEADER_SIZE..DIRENT_HEADER_SIZE + len)
    }
}

/// The smallest record that holds a name of `name_len` bytes: header plus
/// name, rounded up to 4.
pub fn dirent_min_rec_len(name_len: usize) -> usize {
    (DIRENT_HEADER_SIZE + name_len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_buffers_never_panic() {
        for len in 0..140 {
            let buf = vec![0xffu8; len];
            assert!(Superblock::new_checked(&buf[..]).is_err());
            let sb = Superblock::new_unchecked(&buf[..]);
            let _ = (sb.inodes_count(), sb.desc_size(), sb.block_size(), sb.volume_name(), sb.uuid(), sb.first_ino());
            let ino = InodeView::new_unchecked(&buf[..]);
            let _ = (ino.block(14), ino.block(99), ino.block_bytes(), ino.size(true), ino.uid(), ino.gid());
            let gd = GroupDesc::new_unchecked(&buf[..]);
            let _ = (gd.inode_table(), gd.flags());
            let de = DirEntry::new_unchecked(&buf[..]);
            let _ = (de.name(true), de.name(false), de.rec_len(), de.file_type(true));
            assert_eq!(InodeView::new_checked(&buf[..]).is_ok(), len >= INODE_BASE_SIZE);
        }
    }

    #[test]
    fn feature_names() {
        assert_eq!(incompat_names(incompat::EXTENTS | incompat::BIT64 | incompat::META_BG), "meta_bg extent 64bit");
        assert_eq!(incompat_names(1 << 31), "FEATURE_I31");
        assert_eq!(ro_compat_names(ro_compat::METADATA_CSUM), "metadata_csum");
    }

    #[test]
    fn inode_fields() {
        let mut buf = [0u8; 128];
        buf[0..2].copy_from_slice(&0o100644u16.to_le_bytes());
        buf[4..8].copy_from_slice(&5u32.to_le_bytes());
        buf[108..112].copy_from_slice(&1u32.to_le_bytes());
        buf[2..4].copy_from_slice(&1u16.to_le_bytes());
        buf[120..122].copy_from_slice(&2u16.to_le_bytes());
        let ino = InodeView::new_checked(&buf[..]).unwrap();
        assert_eq!(ino.size(true), (1 << 32) | 5);
        assert_eq!(ino.size(false), 5);
        assert_eq!(ino.uid(), 0x20001);
        assert_eq!(dirent_min_rec_len(1), 12);
        assert_eq!(dirent_min_rec_len(4), 12);
        assert_eq!(dirent_min_rec_len(5), 16);
    }
}
