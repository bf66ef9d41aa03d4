//! A read-only view of a whole ext2 image: opening and validating it, then
//! inodes, file data through the block map, directories and symlinks.
//!
//! Everything read from the image is checked before it is used as a size,
//! an index or a block number, so a damaged image gives an [`Error`],
//! never a panic, an out-of-range read or an unbounded loop. Walks are
//! bounded by construction: the block map is at most three levels deep,
//! reads cover only the byte range asked for, and a directory is never
//! larger than the filesystem. (Cycles in the directory graph are the
//! caller's to guard against, as in any path walk.)

use super::dir::{parse_block, Entry};
use super::inode::{FileType, Inode};
use super::source::BlockSource;
use super::wire::{
    compat, incompat, incompat_names, inode_flags, ro_compat, ro_compat_names, GroupDesc, InodeView, Superblock,
    EXT2_MAGIC, GOOD_OLD_FIRST_INO, GROUP_DESC_SIZE, INCOMPAT_SUPPORTED, INODE_BASE_SIZE, NDIR_BLOCKS, REV_DYNAMIC,
    RO_COMPAT_SUPPORTED, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE,
};
use super::Error;

/// The root directory's inode.
pub const ROOT_INO: u32 = 2;
/// The longest fast symlink: i_block's 60 bytes less the NUL Linux keeps.
const FAST_SYMLINK_MAX: u64 = 59;

/// Where a logical block past the direct ones sits in an inode's block
/// map: the i_block slot at the top, then the entry to follow in each of
/// the `depth` map blocks below it (1 for the indirect slot, 3 for the
/// triple-indirect one). Reading and allocating walk the same path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IndirectPath {
    /// The i_block slot (NDIR_BLOCKS..NDIR_BLOCKS + 3).
    pub slot: usize,
    index: [usize; 3],
    depth: usize,
}

impl IndirectPath {
    /// The path to logical block `lblk` (at least NDIR_BLOCKS) with `per`
    /// pointers per map block; None past the triple-indirect map's reach.
    pub fn of(lblk: u64, per: u64) -> Option<IndirectPath> {
        let mut rel = lblk.checked_sub(NDIR_BLOCKS as u64)?;
        let mut depth = 1;
        let mut span = per;
        while rel >= span {
            rel -= span;
            depth += 1;
            if depth > 3 {
                return None;
            }
            span *= per;
        }
        let mut index = [0; 3];
        for slot in index.iter_mut().take(depth) {
            span /= per;
            *slot = ((rel / span) % per) as usize;
        }
        Some(IndirectPath { slot: NDIR_BLOCKS + depth - 1, index, depth })
    }

    /// The entry index in each map block, top first.
    pub fn indices(&self) -> &[usize] {
        &self.index[..self.depth]
    }
}

/// A run of consecutive filesystem blocks holding consecutive logical
/// blocks of a file: (first logical block, its filesystem block, blocks).
pub type BlockRun = (u64, u32, u64);

/// The superblock's numbers the rest of the code needs, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per block: 1024, 2048 or 4096.
    pub block_size: u32,
    /// Blocks in the filesystem.
    pub blocks_count: u32,
    /// Inodes in the filesystem.
    pub inodes_count: u32,
    /// The superblock's block (1 with 1 KiB blocks, else 0); no data
    /// block is at or below it.
    pub first_data_block: u32,
    /// Blocks per group.
    pub blocks_per_group: u32,
    /// Inodes per group.
    pub inodes_per_group: u32,
    /// Bytes per inode on disk.
    pub inode_size: u32,
    /// The first non-reserved inode.
    pub first_ino: u32,
    /// 0 or 1.
    pub rev_level: u32,
    /// Compatible features.
    pub compat: u32,
    /// Incompatible features (only supported ones survive opening).
    pub incompat: u32,
    /// Read-only-compatible features.
    pub ro_compat: u32,
    /// Block groups.
    pub group_count: u32,
}

/// Where one group's metadata lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// The block bitmap's block.
    pub block_bitmap: u32,
    /// The inode bitmap's block.
    pub inode_bitmap: u32,
    /// The inode table's first block.
    pub inode_table: u32,
}

/// The superblock counts the write side keeps in step with the disk (read
/// at open, refreshed on every superblock write), so statfs and the
/// reserved-blocks check need no I/O.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SbCounts {
    pub free_blocks: u32,
    pub free_inodes: u32,
    pub r_blocks: u32,
}

impl SbCounts {
    pub fn of<T: AsRef<[u8]>>(sb: &Superblock<T>) -> SbCounts {
        SbCounts {
            free_blocks: sb.free_blocks_count(),
            free_inodes: sb.free_inodes_count(),
            r_blocks: sb.r_blocks_count(),
        }
    }
}

/// An open ext2 (or journal-clean ext3) image: read-only over a
/// [`BlockSource`], writable too over a [`super::BlockSink`].
pub struct Ext2<S: BlockSource> {
    pub(super) src: S,
    pub(super) geo: Geometry,
    pub(super) groups: Vec<Group>,
    pub(super) counts: SbCounts,
    /// Whether allocation may dip into the root-reserved blocks.
    pub(super) reserved_ok: bool,
    /// A fixed time for tests; None: the host's clock.
    pub(super) fixed_time: Option<u32>,
}

/// The indirect blocks last read at each depth of a block-map walk, so
/// reading a file sequentially reads each indirect block once.
#[derive(Default)]
struct MapCache {
    levels: [Option<(u32, Vec<u8>)>; 3],
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

impl<S: BlockSource> Ext2<S> {
    /// Opens the image in `src`, validating the superblock (magic,
    /// revision, block size, features, group geometry) and the group
    /// descriptor table. An ext3 image opens as ext2 unless its journal
    /// needs recovery.
    pub fn open(src: S) -> Result<Ext2<S>, Error> {
        let mut raw = vec![0u8; SUPERBLOCK_SIZE];
        src.read_block(SUPERBLOCK_OFFSET / SUPERBLOCK_SIZE as u64, &mut raw)?;
        let sb = Superblock::new_checked(&raw[..])?;
        let geo = Self::geometry_of(&sb)?;
        let counts = SbCounts::of(&sb);
        let groups = Self::read_groups(&src, &geo)?;
        Ok(Ext2 { src, geo, groups, counts, reserved_ok: true, fixed_time: None })
    }

    fn geometry_of(sb: &Superblock<&[u8]>) -> Result<Geometry, Error> {
        let bad = |what: String| Err(Error::corrupt(format!("superblock: {what}")));
        if sb.magic() != EXT2_MAGIC {
            return Err(Error::BadMagic(sb.magic()));
        }
        let rev_level = sb.rev_level();
        if rev_level > REV_DYNAMIC {
            return Err(Error::Unsupported(format!("revision {rev_level}")));
        }
        // Feature checks come before geometry: an ext4 image should be
        // refused for its features, by name, not for a geometry detail.
        let (compat_f, incompat_f, ro_compat_f) = (sb.feature_compat(), sb.feature_incompat(), sb.feature_ro_compat());
        let unknown = incompat_f & !(INCOMPAT_SUPPORTED | incompat::RECOVER);
        if unknown != 0 {
            return Err(Error::IncompatFeatures(incompat_names(unknown)));
        }
        if incompat_f & incompat::RECOVER != 0 {
            if compat_f & compat::HAS_JOURNAL != 0 {
                return Err(Error::NeedsRecovery);
            }
            return bad("needs_recovery set without a journal".into());
        }
        let block_size = match sb.block_size() {
            Some(bs @ 1024..=4096) => bs,
            _ => return Err(Error::Unsupported(format!("block size 1024 << {}", sb.log_block_size()))),
        };
        let (blocks_count, first_data_block) = (sb.blocks_count(), sb.first_data_block());
        // The superblock sits at byte 1024: in block 1 of 1 KiB, else block 0.
        let want_first = u32::from(block_size == 1024);
        if first_data_block != want_first {
            return bad(format!("first data block {first_data_block} with {block_size}-byte blocks"));
        }
        if blocks_count <= first_data_block + 1 {
            return bad(format!("{blocks_count} blocks"));
        }
        let (bpg, ipg) = (sb.blocks_per_group(), sb.inodes_per_group());
        if bpg == 0 || bpg > 8 * block_size {
            return bad(format!("{bpg} blocks per group"));
        }
        if ipg == 0 || ipg > 8 * block_size {
            return bad(format!("{ipg} inodes per group"));
        }
        let inode_size = sb.inode_size();
        if !inode_size.is_power_of_two() || inode_size < INODE_BASE_SIZE as u32 || inode_size > block_size {
            return bad(format!("inode size {inode_size}"));
        }
        let first_ino = sb.first_ino();
        if first_ino < GOOD_OLD_FIRST_INO {
            return bad(format!("first inode {first_ino}"));
        }
        let group_count = ceil_div(u64::from(blocks_count - first_data_block), u64::from(bpg));
        let inodes_count = sb.inodes_count();
        if u64::from(inodes_count) != group_count * u64::from(ipg) {
            return bad(format!("{inodes_count} inodes, but {group_count} groups of {ipg}"));
        }
        Ok(Geometry {
            block_size,
            blocks_count,
            inodes_count,
            first_data_block,
            blocks_per_group: bpg,
            inodes_per_group: ipg,
            inode_size,
            first_ino,
            rev_level,
            compat: compat_f,
            incompat: incompat_f,
            ro_compat: ro_compat_f,
            // Fits: group_count * ipg == inodes_count, a u32, and ipg >= 1.
            group_count: group_count as u32,
        })
    }

    /// Reads and checks the descriptor table (in the blocks after the
    /// superblock's): every group's bitmaps and inode table must lie
    /// inside the filesystem.
    fn read_groups(src: &S, geo: &Geometry) -> Result<Vec<Group>, Error> {
        let bs = geo.block_size as usize;
        let per_block = bs / GROUP_DESC_SIZE;
        let desc_blocks = ceil_div(u64::from(geo.group_count), per_block as u64);
        let first = u64::from(geo.first_data_block) + 1;
        if first + desc_blocks > u64::from(geo.blocks_count) {
            return Err(Error::corrupt(format!("group descriptor table ({desc_blocks} blocks) past the end")));
        }
        let table_blocks = ceil_div(u64::from(geo.inodes_per_group) * u64::from(geo.inode_size), bs as u64);
        let in_fs = |b: u32, len: u64| b > geo.first_data_block && u64::from(b) + len <= u64::from(geo.blocks_count);
        // Grown as blocks are read, so a bogus group count in a short
        // image fails at the image's end instead of allocating first.
        let mut groups = Vec::new();
        let mut buf = vec![0u8; bs];
        for i in 0..desc_blocks {
            src.read_block(first + i, &mut buf)?;
            for chunk in buf.chunks_exact(GROUP_DESC_SIZE) {
                if groups.len() as u64 == u64::from(geo.group_count) {
                    break;
                }
                let gd = GroupDesc::new_checked(chunk)?;
                let g = Group {
                    block_bitmap: gd.block_bitmap(),
                    inode_bitmap: gd.inode_bitmap(),
                    inode_table: gd.inode_table(),
                };
                if !in_fs(g.block_bitmap, 1) || !in_fs(g.inode_bitmap, 1) || !in_fs(g.inode_table, table_blocks) {
                    return Err(Error::corrupt(format!(
                        "group {} descriptor points outside the filesystem: {g:?}",
                        groups.len()
                    )));
                }
                groups.push(g);
            }
        }
        Ok(groups)
    }

    /// Gives the image back (a test writes an in-memory one to a file).
    pub fn into_source(self) -> S {
        self.src
    }

    /// The validated superblock numbers.
    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    /// The block groups' metadata locations.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Whether writing would be safe: [`Error::ReadOnlyFeatures`] names the
    /// read-only-compatible features that forbid it (mount then gives
    /// EROFS for rw).
    pub fn check_writable(&self) -> Result<(), Error> {
        let unknown = self.geo.ro_compat & !RO_COMPAT_SUPPORTED;
        if unknown != 0 {
            return Err(Error::ReadOnlyFeatures(ro_compat_names(unknown)));
        }
        Ok(())
    }

    pub(super) fn large_file(&self) -> bool {
        self.geo.ro_compat & ro_compat::LARGE_FILE != 0
    }

    /// Whether directory entries record file types (the filetype feature).
    pub fn filetype_feature(&self) -> bool {
        self.filetype()
    }

    pub(super) fn filetype(&self) -> bool {
        self.geo.incompat & incompat::FILETYPE != 0
    }

    pub(super) fn read_fs_block(&self, n: u32, buf: &mut [u8]) -> Result<(), Error> {
        self.src.read_block(u64::from(n), buf)
    }

    /// Reads inode `ino` (1..=s_inodes_count).
    pub fn inode(&self, ino: u32) -> Result<Inode, Error> {
        let geo = &self.geo;
        if ino == 0 || ino > geo.inodes_count {
            return Err(Error::BadInode { ino, inodes_count: geo.inodes_count });
        }
        let index = ino - 1;
        let group = self
            .groups
            .get((index / geo.inodes_per_group) as usize)
            .ok_or_else(|| Error::corrupt(format!("inode {ino}: no group descriptor")))?;
        let offset = u64::from(index % geo.inodes_per_group) * u64::from(geo.inode_size);
        let bs = u64::from(geo.block_size);
        // Inside the table: checked against blocks_count when opening.
        let block = u64::from(group.inode_table) + offset / bs;
        let within = (offset % bs) as usize;
        let mut buf = vec![0u8; geo.block_size as usize];
        self.src.read_block(block, &mut buf)?;
        let view = InodeView::new_checked(buf.get(within..within + INODE_BASE_SIZE).unwrap_or(&[]))?;
        let inode = Inode::decode(ino, &view, self.large_file());
        if inode.flags & (inode_flags::EXTENTS | inode_flags::INLINE_DATA) != 0 {
            return Err(Error::corrupt(format!("inode {ino}: extent or inline-data flag without the feature")));
        }
        Ok(inode)
    }

    /// Checks a block pointer: 0 is a hole, a block at or below the
    /// superblock's or past the end is corruption.
    pub(super) fn check_ptr(&self, inode: &Inode, block: u32) -> Result<Option<u32>, Error> {
        if block == 0 {
            return Ok(None);
        }
        if block <= self.geo.first_data_block || block >= self.geo.blocks_count {
            return Err(Error::BlockOutOfRange { ino: inode.ino, block, blocks_count: self.geo.blocks_count });
        }
        Ok(Some(block))
    }

    /// The filesystem block holding logical block `lblk` of `inode`, or
    /// None for a hole.
    pub fn map_block(&self, inode: &Inode, lblk: u64) -> Result<Option<u32>, Error> {
        self.map_cached(inode, lblk, &mut MapCache::default())
    }

    /// Where logical blocks `first..first + count` of `inode` are, as runs
    /// of consecutive filesystem blocks: (first logical block, its
    /// filesystem block, blocks in the run). None when one is a hole, or
    /// when they make more than `max_runs` runs.
    pub fn block_runs(
        &self,
        inode: &Inode,
        first: u64,
        count: u64,
        max_runs: usize,
    ) -> Result<Option<Vec<BlockRun>>, Error> {
        let mut cache = MapCache::default();
        let mut runs: Vec<BlockRun> = Vec::new();
        for lblk in first..first.saturating_add(count) {
            let Some(b) = self.map_cached(inode, lblk, &mut cache)? else { return Ok(None) };
            let full = runs.len() == max_runs;
            match runs.last_mut() {
                Some((_, start, n)) if u64::from(*start) + *n == u64::from(b) => *n += 1,
                _ if full => return Ok(None),
                _ => runs.push((lblk, b, 1)),
            }
        }
        Ok(Some(runs))
    }

    fn map_cached(&self, inode: &Inode, lblk: u64, cache: &mut MapCache) -> Result<Option<u32>, Error> {
        if lblk < NDIR_BLOCKS as u64 {
            return self.check_ptr(inode, inode.block[lblk as usize]);
        }
        let Some(path) = IndirectPath::of(lblk, u64::from(self.geo.block_size / 4)) else {
            return Err(Error::corrupt(format!("inode {}: block {lblk} past the triple-indirect map", inode.ino)));
        };
        let mut ptr = inode.block[path.slot];
        for (level, &index) in path.indices().iter().enumerate() {
            let Some(block) = self.check_ptr(inode, ptr)? else { return Ok(None) };
            let slot = &mut cache.levels[level];
            if slot.as_ref().map(|(b, _)| *b) != Some(block) {
                let mut buf = vec![0u8; self.geo.block_size as usize];
                self.read_fs_block(block, &mut buf)?;
                *slot = Some((block, buf));
            }
            let data = slot.as_ref().map(|(_, d)| d.as_slice()).unwrap_or(&[]);
            ptr = data.get(index * 4..index * 4 + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
        }
        self.check_ptr(inode, ptr)
    }

    /// Reads `inode`'s data from byte `offset` into `buf`; returns the
    /// bytes read, short at end of file. Holes read as zeros.
    pub fn read(&self, inode: &Inode, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        if offset >= inode.size {
            return Ok(0);
        }
        let len = (inode.size - offset).min(buf.len() as u64) as usize;
        let bs = self.geo.block_size as usize;
        let mut cache = MapCache::default();
        let mut block = vec![0u8; bs];
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let within = (pos % bs as u64) as usize;
            let n = (bs - within).min(len - done);
            let out = &mut buf[done..done + n];
            match self.map_cached(inode, pos / bs as u64, &mut cache)? {
                None => out.fill(0),
                Some(b) => {
                    self.read_fs_block(b, &mut block)?;
                    out.copy_from_slice(&block[within..within + n]);
                }
            }
            done += n;
        }
        Ok(len)
    }

    /// The live entries of directory `dir`, `.` and `..` included, in
    /// on-disk order. dir_index directories read as plain ones.
    pub fn read_dir(&self, dir: &Inode) -> Result<Vec<Entry>, Error> {
        if dir.file_type() != FileType::Directory {
            return Err(Error::NotDir(dir.ino));
        }
        let bs = u64::from(self.geo.block_size);
        if !dir.size.is_multiple_of(bs) || dir.size / bs > u64::from(self.geo.blocks_count) {
            return Err(Error::corrupt(format!("directory {}: size {}", dir.ino, dir.size)));
        }
        let mut out = Vec::new();
        let mut cache = MapCache::default();
        let mut buf = vec![0u8; bs as usize];
        for lblk in 0..dir.size / bs {
            let Some(b) = self.map_cached(dir, lblk, &mut cache)? else {
                return Err(Error::corrupt(format!("directory {}: hole at block {lblk}", dir.ino)));
            };
            self.read_fs_block(b, &mut buf)?;
            parse_block(&buf, self.filetype(), self.geo.inodes_count, &mut out)
                .map_err(|e| Error::corrupt(format!("directory {} block {lblk}: {e}", dir.ino)))?;
        }
        Ok(out)
    }

    /// The inode `name` names in directory `dir`, if any.
    pub fn lookup(&self, dir: &Inode, name: &[u8]) -> Result<Option<u32>, Error> {
        Ok(self.read_dir(dir)?.into_iter().find(|e| e.name == name).map(|e| e.ino))
    }

    /// A symlink's target. Fast symlinks (no data blocks but an attribute
    /// block, as Linux's ext2_inode_is_fast_symlink decides) keep it in
    /// i_block; slow ones in one data block.
    pub fn read_link(&self, inode: &Inode) -> Result<Vec<u8>, Error> {
        if inode.file_type() != FileType::Symlink {
            return Err(Error::NotSymlink(inode.ino));
        }
        let ea_sectors = if inode.file_acl != 0 { self.geo.block_size / 512 } else { 0 };
        if inode.blocks == ea_sectors {
            if inode.size > FAST_SYMLINK_MAX {
                return Err(Error::corrupt(format!("fast symlink {}: size {}", inode.ino, inode.size)));
            }
            return Ok(inode.block_bytes[..inode.size as usize].to_vec());
        }
        if inode.size >= u64::from(self.geo.block_size) {
            return Err(Error::corrupt(format!("symlink {}: size {}", inode.ino, inode.size)));
        }
        let mut target = vec![0u8; inode.size as usize];
        let n = self.read(inode, 0, &mut target)?;
        target.truncate(n);
        Ok(target)
    }
}
