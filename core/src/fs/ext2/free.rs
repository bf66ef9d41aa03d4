//! Giving space back: freeing blocks and inodes, truncating a file's
//! block map, and evicting an inode whose last link is gone.
//!
//! A block or inode freed twice (two owners on a damaged image) is
//! [`Error::Corrupt`], found before its group's bitmap is written.

use super::fs::Ext2;
use super::inode::{FileType, Inode};
use super::source::BlockSink;
use super::wire::{NDIR_BLOCKS, N_BLOCKS};
use super::write::{gd_off, get16, get32, put16, put32, sb_off};
use super::Error;

/// The extended attribute block's magic (h_magic).
const EA_MAGIC: u32 = 0xea02_0000;

impl<S: BlockSink> Ext2<S> {
    /// Frees `blocks` (sorted and grouped here, so each group's bitmap,
    /// descriptor and the superblock are written once per group).
    pub(super) fn free_blocks(&mut self, blocks: &mut Vec<u32>) -> Result<(), Error> {
        let geo = self.geo.clone();
        blocks.sort_unstable();
        let mut bitmap = vec![0u8; geo.block_size as usize];
        let mut i = 0;
        while i < blocks.len() {
            let b = blocks[i];
            if b <= geo.first_data_block || b >= geo.blocks_count {
                return Err(Error::corrupt(format!("freeing block {b}, outside the filesystem")));
            }
            let g = (b - geo.first_data_block) / geo.blocks_per_group;
            let first = geo.first_data_block + g * geo.blocks_per_group;
            let end =
                blocks[i..].iter().position(|&x| x - first >= geo.blocks_per_group).map_or(blocks.len(), |n| i + n);
            let bitmap_block = self.groups[g as usize].block_bitmap;
            self.read_fs_block(bitmap_block, &mut bitmap)?;
            for (k, &x) in blocks[i..end].iter().enumerate() {
                if x >= geo.blocks_count {
                    return Err(Error::corrupt(format!("freeing block {x}, outside the filesystem")));
                }
                let bit = x - first;
                let (byte, mask) = ((bit / 8) as usize, 1u8 << (bit % 8));
                if k > 0 && blocks[i + k - 1] == x || bitmap[byte] & mask == 0 {
                    return Err(Error::corrupt(format!("block {x} freed but already free")));
                }
                bitmap[byte] &= !mask;
            }
            let n = (end - i) as u32;
            self.write_fs_block(bitmap_block, &bitmap)?;
            self.update_gd(g, |d| {
                put16(d, gd_off::FREE_BLOCKS, get16(d, gd_off::FREE_BLOCKS).saturating_add(n as u16));
                Ok(())
            })?;
            self.update_sb(|s| {
                put32(s, sb_off::FREE_BLOCKS, get32(s, sb_off::FREE_BLOCKS).saturating_add(n));
                Ok(())
            })?;
            i = end;
        }
        blocks.clear();
        Ok(())
    }

    /// Whether `inode`'s i_block holds block pointers (not a device
    /// number or a fast symlink's target).
    pub(super) fn has_block_map(&self, inode: &Inode) -> bool {
        match inode.file_type() {
            FileType::Regular | FileType::Directory => true,
            FileType::Symlink => {
                let ea_sectors = if inode.file_acl != 0 { self.geo.block_size / 512 } else { 0 };
                inode.blocks != ea_sectors
            }
            _ => false,
        }
    }

    /// Detaches from `inode` every block from logical block `keep` on,
    /// and every indirect block left empty, collecting them in `freed`
    /// and taking them off i_blocks. In memory for i_block; the indirect
    /// blocks changed are written.
    fn trim_map(&mut self, inode: &mut Inode, keep: u64, freed: &mut Vec<u32>) -> Result<(), Error> {
        for slot in 0..NDIR_BLOCKS {
            if slot as u64 >= keep {
                if let Some(b) = self.check_ptr(inode, inode.block[slot])? {
                    freed.push(b);
                    inode.block[slot] = 0;
                }
            }
        }
        let per = u64::from(self.geo.block_size / 4);
        let mut base = NDIR_BLOCKS as u64;
        let mut span = per;
        for (depth, slot) in (NDIR_BLOCKS..N_BLOCKS).enumerate() {
            if base + span > keep {
                if let Some(b) = self.check_ptr(inode, inode.block[slot])? {
                    if self.trim_branch(inode, b, depth + 1, base, keep, freed)? {
                        freed.push(b);
                        inode.block[slot] = 0;
                    }
                }
            }
            base += span;
            span = span.saturating_mul(per);
        }
        let sectors = u64::from(self.geo.block_size / 512) * freed.len() as u64;
        inode.blocks = u32::try_from(u64::from(inode.blocks).saturating_sub(sectors)).unwrap_or(0);
        Ok(())
    }

    /// Trims map block `block` at `depth` (1: it points at data blocks)
    /// covering logical blocks from `base`; returns whether it is now
    /// empty (and so to be freed by the caller).
    fn trim_branch(
        &mut self,
        inode: &Inode,
        block: u32,
        depth: usize,
        base: u64,
        keep: u64,
        freed: &mut Vec<u32>,
    ) -> Result<bool, Error> {
        let per = u64::from(self.geo.block_size / 4);
        let span = per.pow(depth as u32 - 1);
        let mut buf = vec![0u8; self.geo.block_size as usize];
        self.read_fs_block(block, &mut buf)?;
        let (mut changed, mut empty) = (false, true);
        for i in 0..per {
            let Some(child) = self.check_ptr(inode, get32(&buf, i as usize * 4))? else { continue };
            let child_base = base + i * span;
            if child_base + span <= keep {
                empty = false;
                continue;
            }
            // No file owns more blocks than the filesystem has: a map that
            // says otherwise repeats blocks, and walking all of it is waste.
            if freed.len() as u64 > u64::from(self.geo.blocks_count) {
                return Err(Error::corrupt(format!("inode {}: block map larger than the filesystem", inode.ino)));
            }
            let gone = depth == 1 || self.trim_branch(inode, child, depth - 1, child_base, keep, freed)?;
            if gone {
                freed.push(child);
                put32(&mut buf, i as usize * 4, 0);
                changed = true;
            } else {
                empty = false;
            }
        }
        if changed && !empty {
            self.write_fs_block(block, &buf)?;
        }
        Ok(empty)
    }

    /// Zeroes `inode`'s bytes from `size` to the end of the block holding
    /// it, so a later grow reads zeros there.
    fn zero_tail(&mut self, inode: &Inode, size: u64) -> Result<(), Error> {
        let bs = u64::from(self.geo.block_size);
        if size.is_multiple_of(bs) {
            return Ok(());
        }
        if let Some(b) = self.map_block(inode, size / bs)? {
            let mut buf = vec![0u8; bs as usize];
            self.read_fs_block(b, &mut buf)?;
            buf[(size % bs) as usize..].fill(0);
            self.write_fs_block(b, &buf)?;
        }
        Ok(())
    }

    /// Sets regular file `inode`'s size: shrinking frees the blocks past
    /// the new end and the indirect blocks left empty and zeroes the rest
    /// of the last partial block; growing leaves a hole. Stamps mtime and
    /// ctime and writes the inode. Past the largest size the map reaches,
    /// [`Error::FileTooBig`] (EFBIG).
    pub fn truncate(&mut self, inode: &mut Inode, size: u64) -> Result<(), Error> {
        if inode.file_type() != FileType::Regular {
            return Err(Error::Invalid("truncate of a file that is not regular"));
        }
        if size > self.max_file_size() {
            return Err(Error::FileTooBig);
        }
        let bs = u64::from(self.geo.block_size);
        let old = inode.size;
        // The old tail first: bytes past the old end may not be zero on
        // an image another writer made.
        self.zero_tail(inode, old.min(size))?;
        let mut freed = Vec::new();
        let trimmed = if size < old { self.trim_map(inode, size.div_ceil(bs), &mut freed) } else { Ok(()) };
        inode.size = size;
        let t = self.now();
        inode.mtime = t;
        inode.ctime = t;
        // The inode no longer points at what is freed: write it first.
        self.write_inode(inode, false)?;
        trimmed?;
        self.free_blocks(&mut freed)
    }

    /// Frees inode `ino`, whose last link is gone: its data and indirect
    /// blocks, its attribute block (or one reference to it), then the
    /// inode itself, stamping dtime as Linux's ext2_evict_inode does. An
    /// inode still linked is [`Error::Invalid`]; one already free is left
    /// as it is.
    pub fn evict(&mut self, ino: u32) -> Result<(), Error> {
        let mut inode = self.inode(ino)?;
        if inode.links != 0 {
            return Err(Error::Invalid("evicting an inode that still has links"));
        }
        if ino < self.geo.first_ino {
            return Err(Error::corrupt(format!("reserved inode {ino} has no links")));
        }
        if !self.inode_in_use(ino)? {
            return Ok(());
        }
        let is_dir = inode.file_type() == FileType::Directory;
        let mut freed = Vec::new();
        let trimmed = if self.has_block_map(&inode) { self.trim_map(&mut inode, 0, &mut freed) } else { Ok(()) };
        if inode.file_acl != 0 {
            self.drop_xattr_block(&mut inode, &mut freed)?;
        }
        let t = self.now();
        inode.dtime = t;
        inode.size = 0;
        inode.ctime = t;
        inode.block = [0; N_BLOCKS];
        self.write_inode(&inode, false)?;
        trimmed?;
        self.free_blocks(&mut freed)?;
        self.release_inode(ino, is_dir)
    }

    /// Whether inode `ino`'s bit is set in its group's bitmap.
    fn inode_in_use(&self, ino: u32) -> Result<bool, Error> {
        let geo = &self.geo;
        let (g, bit) = ((ino - 1) / geo.inodes_per_group, (ino - 1) % geo.inodes_per_group);
        let mut bitmap = vec![0u8; geo.block_size as usize];
        self.read_fs_block(self.groups[g as usize].inode_bitmap, &mut bitmap)?;
        Ok(bitmap[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
    }

    /// Drops `inode`'s reference to its extended attribute block: the
    /// block is freed with its last reference, as Linux's
    /// ext2_xattr_delete_inode.
    fn drop_xattr_block(&mut self, inode: &mut Inode, freed: &mut Vec<u32>) -> Result<(), Error> {
        let Some(b) = self.check_ptr(inode, inode.file_acl)? else { return Ok(()) };
        let mut buf = vec![0u8; self.geo.block_size as usize];
        self.read_fs_block(b, &mut buf)?;
        if get32(&buf, 0) != EA_MAGIC {
            return Err(Error::corrupt(format!("inode {}: attribute block {b} has a bad magic", inode.ino)));
        }
        let refs = get32(&buf, 4);
        if refs > 1 {
            put32(&mut buf, 4, refs - 1);
            self.write_fs_block(b, &buf)?;
        } else {
            freed.push(b);
        }
        inode.file_acl = 0;
        inode.blocks = inode.blocks.saturating_sub(self.geo.block_size / 512);
        Ok(())
    }
}
