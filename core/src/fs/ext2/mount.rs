//! The filesystem-wide state a writer keeps: the superblock's mount state
//! and times, statfs numbers, the clock, who may use the reserved blocks,
//! and features switched on as files need them.

use std::time::{SystemTime, UNIX_EPOCH};

use super::fs::Ext2;
use super::source::{BlockSink, BlockSource};
use super::wire::{ro_compat, GOOD_OLD_FIRST_INO, GROUP_DESC_SIZE, INODE_BASE_SIZE, REV_DYNAMIC, REV_GOOD_OLD};
use super::write::{get16, get32, put16, put32, sb_off, NAME_MAX};
use super::Error;

/// s_state: cleanly unmounted.
const STATE_VALID: u16 = 1;

/// What statfs(2) reports for an ext2 filesystem, as Linux's ext2_statfs
/// computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    /// Bytes per block.
    pub block_size: u32,
    /// Blocks for data: the total less the metadata overhead (superblocks,
    /// descriptor tables, bitmaps and inode tables).
    pub blocks: u64,
    /// Free blocks.
    pub free: u64,
    /// Free blocks a user other than root may use: free less the reserved.
    pub avail: u64,
    /// Inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// The longest name.
    pub name_max: u32,
}

impl<S: BlockSource> Ext2<S> {
    /// Makes every time the filesystem stamps `t` (seconds since the
    /// epoch) instead of the host's clock; None goes back to the clock.
    pub fn set_clock(&mut self, t: Option<u32>) {
        self.fixed_time = t;
    }

    /// The time to stamp now.
    pub(super) fn now(&self) -> u32 {
        self.fixed_time
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32))
    }

    /// Whether the caller of the next allocations may use the blocks
    /// reserved for root (s_r_blocks_count): true for root (CAP_SYS_RESOURCE)
    /// or the s_def_resuid/s_def_resgid user, as the caller decides per
    /// call. True after opening.
    pub fn set_reserved_ok(&mut self, ok: bool) {
        self.reserved_ok = ok;
    }

    /// The s_def_resuid and s_def_resgid the caller compares with the
    /// caller's credentials for [`Self::set_reserved_ok`].
    pub fn reserved_owner(&self) -> Result<(u32, u32), Error> {
        let raw = self.read_sb()?;
        Ok((u32::from(get16(&raw, 80)), u32::from(get16(&raw, 82))))
    }

    pub(super) fn read_sb(&self) -> Result<Vec<u8>, Error> {
        let mut raw = vec![0u8; super::wire::SUPERBLOCK_SIZE];
        self.src.read_block(super::wire::SUPERBLOCK_OFFSET / raw.len() as u64, &mut raw)?;
        Ok(raw)
    }

    /// Whether group `g` holds a superblock copy (and so a descriptor
    /// table): every group without sparse_super, else 0, 1 and the powers
    /// of 3, 5 and 7.
    pub(super) fn group_has_super(&self, g: u32) -> bool {
        if g <= 1 || self.geo.ro_compat & ro_compat::SPARSE_SUPER == 0 {
            return true;
        }
        [3u32, 5, 7].iter().any(|&base| {
            let mut n = base;
            while n < g {
                n = n.saturating_mul(base);
            }
            n == g
        })
    }

    /// The statfs numbers, from the counts kept in step with the disk.
    pub fn statfs(&self) -> StatFs {
        let geo = &self.geo;
        let desc_blocks = geo.group_count.div_ceil(geo.block_size / GROUP_DESC_SIZE as u32);
        let table_blocks =
            (u64::from(geo.inodes_per_group) * u64::from(geo.inode_size)).div_ceil(u64::from(geo.block_size));
        let mut overhead = u64::from(geo.first_data_block);
        for g in 0..geo.group_count {
            if self.group_has_super(g) {
                overhead += 1 + u64::from(desc_blocks);
            }
        }
        overhead += u64::from(geo.group_count) * (2 + table_blocks);
        let free = u64::from(self.counts.free_blocks);
        StatFs {
            block_size: geo.block_size,
            blocks: u64::from(geo.blocks_count).saturating_sub(overhead),
            free,
            avail: free.saturating_sub(u64::from(self.counts.r_blocks)),
            files: u64::from(geo.inodes_count),
            ffree: u64::from(self.counts.free_inodes),
            name_max: NAME_MAX as u32,
        }
    }
}

impl<S: BlockSink> Ext2<S> {
    /// Starts writing, as Linux's ext2_setup_super does: refuses an image
    /// with read-only features ([`Self::check_writable`]), then marks it
    /// not cleanly unmounted, counts the mount and stamps the mount and
    /// write times.
    pub fn mount_rw(&mut self) -> Result<(), Error> {
        self.check_writable()?;
        let t = self.now();
        self.update_sb(|s| {
            put16(s, sb_off::STATE, get16(s, sb_off::STATE) & !STATE_VALID);
            put16(s, sb_off::MNT_COUNT, get16(s, sb_off::MNT_COUNT).wrapping_add(1));
            put32(s, sb_off::MTIME, t);
            put32(s, sb_off::WTIME, t);
            Ok(())
        })
    }

    /// Ends writing: marks the image cleanly unmounted and stamps the
    /// write time. Every count is already on disk.
    pub fn unmount(&mut self) -> Result<(), Error> {
        let t = self.now();
        self.update_sb(|s| {
            put16(s, sb_off::STATE, get16(s, sb_off::STATE) | STATE_VALID);
            put32(s, sb_off::WTIME, t);
            Ok(())
        })
    }

    /// Sets large_file before the first size over 2 GiB - 1 is written,
    /// moving a revision 0 superblock to revision 1 first (the feature
    /// fields do not exist before), as Linux's ext2_update_dynamic_rev.
    pub(super) fn need_large_file(&mut self) -> Result<(), Error> {
        if self.geo.rev_level != REV_GOOD_OLD && self.geo.ro_compat & ro_compat::LARGE_FILE != 0 {
            return Ok(());
        }
        let old_rev = self.geo.rev_level;
        let ro = self.update_sb(|s| {
            if old_rev == REV_GOOD_OLD {
                put32(s, sb_off::REV_LEVEL, REV_DYNAMIC);
                put32(s, sb_off::FIRST_INO, GOOD_OLD_FIRST_INO);
                put16(s, sb_off::INODE_SIZE, INODE_BASE_SIZE as u16);
                // Revision 0 has no feature fields: whatever is there is
                // padding, and Linux assumes it is zero.
                s[92..104].fill(0);
            }
            let ro = get32(s, sb_off::FEATURE_RO_COMPAT) | ro_compat::LARGE_FILE;
            put32(s, sb_off::FEATURE_RO_COMPAT, ro);
            Ok(ro)
        })?;
        if old_rev == REV_GOOD_OLD {
            self.geo.rev_level = REV_DYNAMIC;
            self.geo.compat = 0;
            self.geo.incompat = 0;
        }
        self.geo.ro_compat = ro;
        Ok(())
    }
}
