//! The write side's base: block and inode allocation, inodes written back,
//! directory entries added, regular files created and their data written
//! through the direct and indirect block map.
//!
//! Every change goes straight to the [`BlockSink`] (no cache yet), in an
//! order that keeps the bitmaps, the group descriptors' counts and the
//! superblock's counts in agreement once a call returns. The image is as
//! untrusted here as on the read side: counts and bitmaps that disagree
//! are [`Error::Corrupt`] (EUCLEAN), a full filesystem [`Error::NoSpace`]
//! (ENOSPC); every scan is bounded by the group count and the bitmap size.
//! Only the primary superblock and descriptor table are updated, as Linux
//! does: e2fsck does not compare free counts in the backups.

use super::dir::records;
use super::fs::{Ext2, IndirectPath, SbCounts};
use super::inode::{FileType, Inode};
use super::source::BlockSink;
use super::wire::{
    dirent_min_rec_len, dirent_type, inode_flags, Superblock, GROUP_DESC_SIZE, INODE_BASE_SIZE, NDIR_BLOCKS, N_BLOCKS,
    SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE,
};
use super::Error;

/// The longest name a directory entry holds.
pub const NAME_MAX: usize = 255;

/// Superblock byte offsets of the fields the write side keeps.
pub(super) mod sb_off {
    pub const FREE_BLOCKS: usize = 12;
    pub const FREE_INODES: usize = 16;
    pub const MTIME: usize = 44;
    pub const WTIME: usize = 48;
    pub const MNT_COUNT: usize = 52;
    pub const STATE: usize = 58;
    pub const REV_LEVEL: usize = 76;
    pub const FIRST_INO: usize = 84;
    pub const INODE_SIZE: usize = 88;
    pub const FEATURE_RO_COMPAT: usize = 100;
}

/// Group descriptor byte offsets of the counts allocation keeps.
pub(super) mod gd_off {
    pub const FREE_BLOCKS: usize = 12;
    pub const FREE_INODES: usize = 14;
    pub const USED_DIRS: usize = 16;
}

pub(super) fn get16(buf: &[u8], off: usize) -> u16 {
    buf.get(off..off + 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
}

pub(super) fn get32(buf: &[u8], off: usize) -> u32 {
    buf.get(off..off + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(super) fn put16(buf: &mut [u8], off: usize, v: u16) {
    if let Some(b) = buf.get_mut(off..off + 2) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

pub(super) fn put32(buf: &mut [u8], off: usize, v: u32) {
    if let Some(b) = buf.get_mut(off..off + 4) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// The first clear bit among the first `count` bits of `bitmap`.
fn first_clear(bitmap: &[u8], count: u32) -> Option<u32> {
    (0..count).find(|&i| bitmap.get((i / 8) as usize).is_some_and(|b| b & (1 << (i % 8)) == 0))
}

pub(super) fn set_bit(bitmap: &mut [u8], i: u32) {
    if let Some(b) = bitmap.get_mut((i / 8) as usize) {
        *b |= 1 << (i % 8);
    }
}

/// Checks a name for a new directory entry.
pub(super) fn check_name(name: &[u8]) -> Result<(), Error> {
    if name.len() > NAME_MAX {
        return Err(Error::NameTooLong(name.len()));
    }
    if name.is_empty() || name == b"." || name == b".." || name.iter().any(|&c| c == b'/' || c == 0) {
        return Err(Error::BadName);
    }
    Ok(())
}

/// A directory entry's file type byte for `t`.
pub(super) fn dirent_type_of(t: FileType) -> u8 {
    match t {
        FileType::Regular => dirent_type::REG,
        FileType::Directory => dirent_type::DIR,
        FileType::Symlink => dirent_type::LNK,
        FileType::CharDevice => dirent_type::CHR,
        FileType::BlockDevice => dirent_type::BLK,
        FileType::Fifo => dirent_type::FIFO,
        FileType::Socket => dirent_type::SOCK,
        FileType::Unknown => dirent_type::UNKNOWN,
    }
}

impl<S: BlockSink> Ext2<S> {
    pub(super) fn write_fs_block(&mut self, n: u32, buf: &[u8]) -> Result<(), Error> {
        self.src.write_block(u64::from(n), buf)
    }

    /// Reads the primary superblock, lets `f` change it, writes it back.
    /// The cached counts follow what is written.
    pub(super) fn update_sb<T>(&mut self, f: impl FnOnce(&mut [u8]) -> Result<T, Error>) -> Result<T, Error> {
        let n = SUPERBLOCK_OFFSET / SUPERBLOCK_SIZE as u64;
        let mut raw = vec![0u8; SUPERBLOCK_SIZE];
        self.src.read_block(n, &mut raw)?;
        let out = f(&mut raw)?;
        self.src.write_block(n, &raw)?;
        self.counts = SbCounts::of(&Superblock::new_unchecked(&raw[..]));
        Ok(out)
    }

    /// Where group `g`'s descriptor lives: (block, byte offset).
    fn gd_pos(&self, g: u32) -> (u32, usize) {
        let per_block = self.geo.block_size / GROUP_DESC_SIZE as u32;
        (self.geo.first_data_block + 1 + g / per_block, (g % per_block) as usize * GROUP_DESC_SIZE)
    }

    /// Reads group `g`'s descriptor block, lets `f` change the descriptor,
    /// writes it back.
    pub(super) fn update_gd<T>(&mut self, g: u32, f: impl FnOnce(&mut [u8]) -> Result<T, Error>) -> Result<T, Error> {
        let (block, off) = self.gd_pos(g);
        let mut buf = vec![0u8; self.geo.block_size as usize];
        self.read_fs_block(block, &mut buf)?;
        let out = f(&mut buf[off..off + GROUP_DESC_SIZE])?;
        self.write_fs_block(block, &buf)?;
        Ok(out)
    }

    /// A u16 count of group `g`'s descriptor.
    pub(super) fn gd_count(&self, g: u32, off: usize) -> Result<u16, Error> {
        let (block, within) = self.gd_pos(g);
        let mut buf = vec![0u8; self.geo.block_size as usize];
        self.read_fs_block(block, &mut buf)?;
        Ok(get16(&buf, within + off))
    }

    /// Takes one from the free count at `gd` in group `g`'s descriptor
    /// (and adds one to used_dirs when `dir`), and one from the superblock
    /// count at `sb`. Both are checked before either is written.
    fn take_counts(&mut self, g: u32, gd: usize, sb: usize, dir: bool, what: &str) -> Result<(), Error> {
        let sb_free = if sb == sb_off::FREE_BLOCKS { self.counts.free_blocks } else { self.counts.free_inodes };
        if sb_free == 0 {
            return Err(Error::corrupt(format!("superblock counts no free {what}, group {g} does")));
        }
        self.update_gd(g, |d| {
            let free = get16(d, gd).checked_sub(1);
            let free = free.ok_or_else(|| Error::corrupt(format!("group {g}: free {what} count underflows")))?;
            put16(d, gd, free);
            if dir {
                let used = get16(d, gd_off::USED_DIRS).checked_add(1);
                let used = used.ok_or_else(|| Error::corrupt(format!("group {g}: used_dirs overflows")))?;
                put16(d, gd_off::USED_DIRS, used);
            }
            Ok(())
        })?;
        self.update_sb(|s| {
            put32(s, sb, get32(s, sb).saturating_sub(1));
            Ok(())
        })
    }

    /// Allocates a block, searching from group `goal` on (wrapping), and
    /// marks it used everywhere. The caller owns its contents. Unless
    /// [`Self::set_reserved_ok`] allows it, the last s_r_blocks_count
    /// free blocks are refused (ENOSPC), as Linux's ext2_has_free_blocks
    /// refuses them to users other than root and s_resuid/s_resgid.
    pub fn alloc_block(&mut self, goal: u32) -> Result<u32, Error> {
        if !self.reserved_ok && self.counts.free_blocks <= self.counts.r_blocks {
            return Err(Error::NoSpace("blocks (only root's reserved blocks are left)"));
        }
        let geo = self.geo.clone();
        let mut bitmap = vec![0u8; geo.block_size as usize];
        for i in 0..geo.group_count {
            let g = (goal % geo.group_count + i) % geo.group_count;
            if self.gd_count(g, gd_off::FREE_BLOCKS)? == 0 {
                continue;
            }
            let grp = self.groups[g as usize];
            let first = geo.first_data_block + g * geo.blocks_per_group;
            let count = geo.blocks_per_group.min(geo.blocks_count - first);
            self.read_fs_block(grp.block_bitmap, &mut bitmap)?;
            let Some(bit) = first_clear(&bitmap, count) else {
                return Err(Error::corrupt(format!("group {g}: free blocks counted, none free in its bitmap")));
            };
            let block = first + bit;
            let table_blocks = (geo.inodes_per_group * geo.inode_size).div_ceil(geo.block_size);
            let meta = block == grp.block_bitmap
                || block == grp.inode_bitmap
                || (block >= grp.inode_table && block - grp.inode_table < table_blocks)
                || block <= geo.first_data_block;
            if meta {
                return Err(Error::corrupt(format!("group {g}: block bitmap shows metadata block {block} free")));
            }
            self.take_counts(g, gd_off::FREE_BLOCKS, sb_off::FREE_BLOCKS, false, "blocks")?;
            set_bit(&mut bitmap, bit);
            self.write_fs_block(grp.block_bitmap, &bitmap)?;
            return Ok(block);
        }
        Err(Error::NoSpace("blocks"))
    }

    /// Allocates an inode, in group `goal` (the parent's, as ext2 does) if
    /// it has one free, else in the next group that has; `dir` counts it
    /// in used_dirs. The caller initialises it.
    pub fn alloc_inode(&mut self, goal: u32, dir: bool) -> Result<u32, Error> {
        let geo = self.geo.clone();
        let mut bitmap = vec![0u8; geo.block_size as usize];
        for i in 0..geo.group_count {
            let g = (goal % geo.group_count + i) % geo.group_count;
            if self.gd_count(g, gd_off::FREE_INODES)? == 0 {
                continue;
            }
            let grp = self.groups[g as usize];
            self.read_fs_block(grp.inode_bitmap, &mut bitmap)?;
            let Some(bit) = first_clear(&bitmap, geo.inodes_per_group) else {
                return Err(Error::corrupt(format!("group {g}: free inodes counted, none free in its bitmap")));
            };
            let ino = g * geo.inodes_per_group + bit + 1;
            if ino < geo.first_ino {
                return Err(Error::corrupt(format!("inode bitmap shows reserved inode {ino} free")));
            }
            self.take_counts(g, gd_off::FREE_INODES, sb_off::FREE_INODES, dir, "inodes")?;
            set_bit(&mut bitmap, bit);
            self.write_fs_block(grp.inode_bitmap, &bitmap)?;
            return Ok(ino);
        }
        Err(Error::NoSpace("inodes"))
    }

    /// Undoes [`Self::alloc_inode`] for an inode nothing refers to yet
    /// (creation failed after allocating it): clears its bit and gives the
    /// counts back. The caller has not linked it anywhere.
    pub(super) fn release_inode(&mut self, ino: u32, dir: bool) -> Result<(), Error> {
        let geo = self.geo.clone();
        if ino < geo.first_ino || ino > geo.inodes_count {
            return Err(Error::BadInode { ino, inodes_count: geo.inodes_count });
        }
        let (g, bit) = ((ino - 1) / geo.inodes_per_group, (ino - 1) % geo.inodes_per_group);
        let grp = self.groups[g as usize];
        let mut bitmap = vec![0u8; geo.block_size as usize];
        self.read_fs_block(grp.inode_bitmap, &mut bitmap)?;
        let byte = &mut bitmap[(bit / 8) as usize];
        if *byte & (1 << (bit % 8)) == 0 {
            return Err(Error::corrupt(format!("inode {ino} released but free in its bitmap")));
        }
        *byte &= !(1 << (bit % 8));
        self.update_gd(g, |d| {
            put16(d, gd_off::FREE_INODES, get16(d, gd_off::FREE_INODES).saturating_add(1));
            if dir {
                put16(d, gd_off::USED_DIRS, get16(d, gd_off::USED_DIRS).saturating_sub(1));
            }
            Ok(())
        })?;
        self.update_sb(|s| {
            put32(s, sb_off::FREE_INODES, get32(s, sb_off::FREE_INODES).saturating_add(1));
            Ok(())
        })?;
        self.write_fs_block(grp.inode_bitmap, &bitmap)
    }

    /// The group holding inode `ino`.
    pub(super) fn group_of(&self, ino: u32) -> u32 {
        (ino.saturating_sub(1)) / self.geo.inodes_per_group
    }

    /// Writes `inode`'s fields to its slot in the inode table. `fresh`
    /// zeroes the whole on-disk inode first (a newly allocated one).
    ///
    /// A regular file over 2 GiB - 1 sets the large_file feature first
    /// (upgrading a revision 0 superblock), as Linux's ext2_write_inode does.
    pub fn write_inode(&mut self, inode: &Inode, fresh: bool) -> Result<(), Error> {
        if inode.size > 0x7fff_ffff && inode.file_type() == FileType::Regular {
            self.need_large_file()?;
        }
        let geo = &self.geo;
        let ino = inode.ino;
        if ino == 0 || ino > geo.inodes_count {
            return Err(Error::BadInode { ino, inodes_count: geo.inodes_count });
        }
        let index = ino - 1;
        let table = self.groups[(index / geo.inodes_per_group) as usize].inode_table;
        let offset = u64::from(index % geo.inodes_per_group) * u64::from(geo.inode_size);
        let bs = u64::from(geo.block_size);
        // Inside the table: checked against blocks_count when opening.
        let block = table + (offset / bs) as u32;
        let within = (offset % bs) as usize;
        let inode_size = geo.inode_size as usize;
        let mut buf = vec![0u8; geo.block_size as usize];
        self.read_fs_block(block, &mut buf)?;
        if fresh {
            buf[within..within + inode_size].fill(0);
        }
        let raw = &mut buf[within..within + INODE_BASE_SIZE];
        put16(raw, 0, inode.mode);
        put16(raw, 2, inode.uid as u16);
        put32(raw, 4, inode.size as u32);
        put32(raw, 8, inode.atime);
        put32(raw, 12, inode.ctime);
        put32(raw, 16, inode.mtime);
        put32(raw, 20, inode.dtime);
        put16(raw, 24, inode.gid as u16);
        put16(raw, 26, inode.links);
        put32(raw, 28, inode.blocks);
        put32(raw, 32, inode.flags);
        for (i, b) in inode.block.iter().enumerate() {
            put32(raw, 40 + 4 * i, *b);
        }
        put32(raw, 104, inode.file_acl);
        if inode.file_type() == FileType::Regular {
            put32(raw, 108, (inode.size >> 32) as u32);
        }
        put16(raw, 120, (inode.uid >> 16) as u16);
        put16(raw, 122, (inode.gid >> 16) as u16);
        self.write_fs_block(block, &buf)
    }

    /// Allocates a block for `inode` near group `goal`, counting it in
    /// i_blocks. Indirect blocks (`zero`) are zeroed on disk.
    pub(super) fn alloc_for(&mut self, inode: &mut Inode, goal: u32, zero: bool) -> Result<u32, Error> {
        let sectors = self.geo.block_size / 512;
        let blocks = inode.blocks.checked_add(sectors).ok_or(Error::FileTooBig)?;
        let b = self.alloc_block(goal)?;
        inode.blocks = blocks;
        if zero {
            self.write_fs_block(b, &vec![0u8; self.geo.block_size as usize])?;
        }
        Ok(b)
    }

    /// The block holding logical block `lblk` of `inode`, allocating it
    /// (and any indirect blocks on the way) if it is a hole. Returns the
    /// block and whether it was just allocated. `inode` is changed in
    /// memory only; the caller writes it.
    pub(super) fn map_alloc(&mut self, inode: &mut Inode, lblk: u64) -> Result<(u32, bool), Error> {
        let goal = self.group_of(inode.ino);
        if lblk < NDIR_BLOCKS as u64 {
            let slot = lblk as usize;
            if let Some(b) = self.check_ptr(inode, inode.block[slot])? {
                return Ok((b, false));
            }
            let b = self.alloc_for(inode, goal, false)?;
            inode.block[slot] = b;
            return Ok((b, true));
        }
        let path = IndirectPath::of(lblk, u64::from(self.geo.block_size / 4)).ok_or(Error::FileTooBig)?;
        let top = path.slot;
        let mut ptr = match self.check_ptr(inode, inode.block[top])? {
            Some(b) => b,
            None => {
                let b = self.alloc_for(inode, goal, true)?;
                inode.block[top] = b;
                b
            }
        };
        let mut buf = vec![0u8; self.geo.block_size as usize];
        let depth = path.indices().len();
        for (level, &entry) in path.indices().iter().enumerate() {
            let last = level + 1 == depth;
            let index = entry * 4;
            self.read_fs_block(ptr, &mut buf)?;
            match self.check_ptr(inode, get32(&buf, index))? {
                Some(b) if last => return Ok((b, false)),
                Some(b) => ptr = b,
                None => {
                    let b = self.alloc_for(inode, goal, !last)?;
                    put32(&mut buf, index, b);
                    self.write_fs_block(ptr, &buf)?;
                    if last {
                        return Ok((b, true));
                    }
                    ptr = b;
                }
            }
        }
        Err(Error::corrupt("block map walk ended without a data block"))
    }

    /// The largest file size this image allows: the triple-indirect map's
    /// reach (large_file is set on the way when a size needs it).
    pub(super) fn max_file_size(&self) -> u64 {
        let per = u64::from(self.geo.block_size / 4);
        (NDIR_BLOCKS as u64 + per + per * per + per * per * per) * u64::from(self.geo.block_size)
    }

    /// Writes `data` at byte `offset` of regular file `inode`, allocating
    /// blocks as needed, and updates its size, i_blocks and times on disk.
    /// On failure part way (ENOSPC), what was written stays and the inode
    /// on disk accounts for every block allocated.
    pub fn write(&mut self, inode: &mut Inode, offset: u64, data: &[u8]) -> Result<usize, Error> {
        if inode.file_type() != FileType::Regular {
            return Err(Error::Unsupported(format!("writing data to inode {} (not a regular file)", inode.ino)));
        }
        let end = offset.checked_add(data.len() as u64).ok_or(Error::FileTooBig)?;
        if end > self.max_file_size() {
            return Err(Error::FileTooBig);
        }
        let bs = self.geo.block_size as usize;
        let mut block = vec![0u8; bs];
        let mut done = 0;
        let mut result = Ok(());
        while done < data.len() {
            let pos = offset + done as u64;
            let within = (pos % bs as u64) as usize;
            let n = (bs - within).min(data.len() - done);
            let step = self.map_alloc(inode, pos / bs as u64).and_then(|(b, fresh)| {
                if fresh {
                    block.fill(0);
                } else if n < bs {
                    self.read_fs_block(b, &mut block)?;
                }
                block[within..within + n].copy_from_slice(&data[done..done + n]);
                self.write_fs_block(b, &block)
            });
            if let Err(e) = step {
                result = Err(e);
                break;
            }
            done += n;
        }
        let written_end = offset + done as u64;
        if written_end > inode.size {
            inode.size = written_end;
        }
        let t = self.now();
        inode.mtime = t;
        inode.ctime = t;
        self.write_inode(inode, false)?;
        result.map(|()| done)
    }

    /// How many blocks directory `dir` has, checking its size is whole
    /// blocks and no larger than the filesystem.
    pub(super) fn dir_blocks(&self, dir: &Inode) -> Result<u64, Error> {
        if dir.file_type() != FileType::Directory {
            return Err(Error::NotDir(dir.ino));
        }
        let bs = u64::from(self.geo.block_size);
        if !dir.size.is_multiple_of(bs) || dir.size / bs > u64::from(self.geo.blocks_count) {
            return Err(Error::corrupt(format!("directory {}: size {}", dir.ino, dir.size)));
        }
        Ok(dir.size / bs)
    }

    /// The filesystem block of directory block `lblk`; a hole is corrupt.
    pub(super) fn dir_block(&self, dir: &Inode, lblk: u64) -> Result<u32, Error> {
        self.map_block(dir, lblk)?.ok_or_else(|| Error::corrupt(format!("directory {}: hole at block {lblk}", dir.ino)))
    }

    /// Where a new entry `name` goes in `dir`: the first record with room
    /// (an unused one, or the slack after a live one's name), else a new
    /// block at the end. One pass, which also refuses a name already there.
    pub(super) fn find_place(&self, dir: &Inode, name: &[u8]) -> Result<Place, Error> {
        let bs = self.geo.block_size as usize;
        let need = dirent_min_rec_len(name.len());
        let mut buf = vec![0u8; bs];
        let mut place = Place::Append;
        for lblk in 0..self.dir_blocks(dir)? {
            let b = self.dir_block(dir, lblk)?;
            self.read_fs_block(b, &mut buf)?;
            let recs = records(&buf, self.filetype(), self.geo.inodes_count)
                .map_err(|e| Error::corrupt(format!("directory {} block {lblk}: {e}", dir.ino)))?;
            for r in recs {
                if r.ino != 0 && r.name(&buf) == name {
                    return Err(Error::Exists(dir.ino));
                }
                if matches!(place, Place::Append) && r.rec_len - r.used() >= need {
                    place = Place::In { block: b, rec: r };
                }
            }
        }
        Ok(place)
    }

    /// Writes the entry `name` → `ino` at `place` (from [`Self::find_place`]
    /// on this `dir`, with nothing changed in between), and updates `dir`
    /// on disk: size and i_blocks for a new block, times, and a dir_index
    /// flag cleared, since the hash tree would no longer list every name.
    pub(super) fn put_entry(
        &mut self,
        dir: &mut Inode,
        place: Place,
        name: &[u8],
        ino: u32,
        ftype: FileType,
    ) -> Result<(), Error> {
        let bs = self.geo.block_size as usize;
        let filetype = self.filetype();
        let put = |buf: &mut [u8], off: usize, rec_len: usize| {
            put32(buf, off, ino);
            put16(buf, off + 4, rec_len as u16);
            if let Some(b) = buf.get_mut(off + 6) {
                *b = name.len() as u8;
            }
            if let Some(b) = buf.get_mut(off + 7) {
                *b = if filetype { dirent_type_of(ftype) } else { 0 };
            }
            if let Some(b) = buf.get_mut(off + 8..off + 8 + name.len()) {
                b.copy_from_slice(name);
            }
        };
        let mut buf = vec![0u8; bs];
        let block = match place {
            Place::In { block, rec } => {
                self.read_fs_block(block, &mut buf)?;
                let used = rec.used();
                if used == 0 {
                    put(&mut buf, rec.off, rec.rec_len);
                } else {
                    put16(&mut buf, rec.off + 4, used as u16);
                    put(&mut buf, rec.off + used, rec.rec_len - used);
                }
                block
            }
            Place::Append => {
                let nblocks = self.dir_blocks(dir)?;
                let (b, _) = self.map_alloc(dir, nblocks)?;
                put(&mut buf, 0, bs);
                dir.size += bs as u64;
                b
            }
        };
        let written = self.write_fs_block(block, &buf);
        self.touch_dir(dir)?;
        written
    }

    /// Stamps directory `dir` as changed (mtime, ctime, no dir_index flag)
    /// and writes it.
    pub(super) fn touch_dir(&mut self, dir: &mut Inode) -> Result<(), Error> {
        let t = self.now();
        dir.mtime = t;
        dir.ctime = t;
        dir.flags &= !inode_flags::INDEX;
        self.write_inode(dir, false)
    }

    /// Adds the entry `name` → `ino` (of type `ftype`) to directory `dir`:
    /// into the first record with room, else into a new block at the
    /// directory's end. `dir` is updated on disk (size, i_blocks, times; a
    /// dir_index flag is cleared).
    pub fn add_entry(&mut self, dir: &mut Inode, name: &[u8], ino: u32, ftype: FileType) -> Result<(), Error> {
        check_name(name)?;
        let place = self.find_place(dir, name)?;
        self.put_entry(dir, place, name, ino, ftype)
    }

    /// A fresh in-memory inode `ino` of `mode`, owned by `uid`:`gid`, all
    /// times now, one link.
    pub(super) fn new_inode(&self, ino: u32, mode: u16, uid: u32, gid: u32) -> Inode {
        let t = self.now();
        Inode {
            ino,
            mode,
            uid,
            gid,
            size: 0,
            links: 1,
            atime: t,
            ctime: t,
            mtime: t,
            dtime: 0,
            blocks: 0,
            flags: 0,
            file_acl: 0,
            block: [0; N_BLOCKS],
            block_bytes: [0; 4 * N_BLOCKS],
        }
    }

    /// Creates the non-directory inode `inode` (allocated, not yet written)
    /// under `name` in `dir` at `place`; on failure gives the inode back
    /// (and `data_block`, its one data block, if any) so no allocated inode
    /// is left that no directory names.
    pub(super) fn link_new(
        &mut self,
        dir: &mut Inode,
        place: Place,
        name: &[u8],
        inode: &Inode,
        data_block: Option<u32>,
    ) -> Result<(), Error> {
        let is_dir = inode.file_type() == FileType::Directory;
        let linked =
            self.write_inode(inode, true).and_then(|()| self.put_entry(dir, place, name, inode.ino, inode.file_type()));
        if let Err(e) = linked {
            let dead = Inode { mode: 0, links: 0, dtime: self.now(), blocks: 0, ..inode.clone() };
            self.write_inode(&dead, true)?;
            if let Some(b) = data_block {
                self.free_blocks(&mut vec![b])?;
            }
            self.release_inode(inode.ino, is_dir)?;
            return Err(e);
        }
        Ok(())
    }

    /// Creates an empty regular file `name` in directory `parent` with
    /// permission bits `perm`, owned by `uid`:`gid`, its inode in the
    /// parent's group when that has one free. Returns the new inode.
    pub fn create(&mut self, parent: u32, name: &[u8], perm: u16, uid: u32, gid: u32) -> Result<Inode, Error> {
        check_name(name)?;
        let mut dir = self.inode(parent)?;
        let place = self.find_place(&dir, name)?;
        let ino = self.alloc_inode(self.group_of(parent), false)?;
        let inode = self.new_inode(ino, libc::S_IFREG as u16 | (perm & 0o7777), uid, gid);
        self.link_new(&mut dir, place, name, &inode, None)?;
        Ok(inode)
    }
}

/// Where [`Ext2::find_place`] puts a new directory entry.
#[derive(Debug, Clone, Copy)]
pub(super) enum Place {
    /// Into this record of this block (its unused part).
    In {
        /// The filesystem block.
        block: u32,
        /// The record with room.
        rec: super::dir::Record,
    },
    /// Into a new block at the directory's end.
    Append,
}
