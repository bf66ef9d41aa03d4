//! The namespace operations (Linux's fs/ext2/namei.c): directories,
//! device nodes, symlinks, hard links, unlink, rmdir and rename, over the
//! entry-editing primitives of this file.
//!
//! Each operation changes the image in an order that leaves it consistent
//! when a step fails part way (ENOSPC while adding an entry comes before
//! anything else is touched), and reads inodes afresh after a step that
//! may have written them (a parent may be both directories of a rename).

use super::dir::{records, Record};
use super::fs::{Ext2, ROOT_INO};
use super::inode::{FileType, Inode};
use super::source::BlockSink;
use super::wire::{DIRENT_HEADER_SIZE, GROUP_DESC_SIZE};
use super::write::{check_name, dirent_type_of, gd_off, get16, put16, put32};
use super::Error;

/// Linux's EXT2_LINK_MAX.
pub const LINK_MAX: u16 = 32000;
/// rename(2)'s RENAME_NOREPLACE.
pub const RENAME_NOREPLACE: u32 = 1;
/// rename(2)'s RENAME_EXCHANGE.
pub const RENAME_EXCHANGE: u32 = 2;
/// How many `..` steps a walk up the tree takes before calling the
/// directory graph a cycle (a damaged image).
const MAX_DEPTH: u32 = 1 << 16;

/// An entry found in a directory block: the block, its contents, the
/// entry's record and the record before it in the block, if any.
pub(super) struct Found {
    block: u32,
    buf: Vec<u8>,
    prev: Option<Record>,
    rec: Record,
}

impl Found {
    /// The inode the entry names.
    pub fn ino(&self) -> u32 {
        self.rec.ino
    }
}

/// One group's descriptor counts.
#[derive(Clone, Copy)]
struct GroupStats {
    free_blocks: u16,
    free_inodes: u16,
    used_dirs: u16,
}

/// The old (8:8, in i_block[0]) or new (in i_block[1]) on-disk encoding
/// of a device number given in glibc's makedev form, as Linux's
/// ext2_write_inode picks; None when it does not fit in Linux's dev_t
/// (12-bit major, 20-bit minor).
fn encode_rdev(rdev: u64) -> Option<[u32; 2]> {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    if major > 0xfff || minor > 0xf_ffff {
        return None;
    }
    let (major, minor) = (major as u32, minor as u32);
    if major < 256 && minor < 256 {
        Some([(major << 8) | minor, 0])
    } else {
        Some([0, (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)])
    }
}

impl<S: BlockSink> Ext2<S> {
    /// Inode `ino`, which must be a directory.
    fn dir_inode(&self, ino: u32) -> Result<Inode, Error> {
        let dir = self.inode(ino)?;
        if dir.file_type() != FileType::Directory {
            return Err(Error::NotDir(ino));
        }
        Ok(dir)
    }

    /// Finds the live entry `name` in directory `dir`.
    pub(super) fn find_entry(&self, dir: &Inode, name: &[u8]) -> Result<Option<Found>, Error> {
        let mut buf = vec![0u8; self.geo.block_size as usize];
        for lblk in 0..self.dir_blocks(dir)? {
            let block = self.dir_block(dir, lblk)?;
            self.read_fs_block(block, &mut buf)?;
            let recs = records(&buf, self.filetype(), self.geo.inodes_count)
                .map_err(|e| Error::corrupt(format!("directory {} block {lblk}: {e}", dir.ino)))?;
            let mut prev = None;
            for rec in recs {
                if rec.ino != 0 && rec.name(&buf) == name {
                    return Ok(Some(Found { block, buf, prev, rec }));
                }
                prev = Some(rec);
            }
        }
        Ok(None)
    }

    /// The inode `name` names in directory `parent`, if any.
    pub fn lookup_inode(&self, parent: u32, name: &[u8]) -> Result<Option<Inode>, Error> {
        let dir = self.inode(parent)?;
        match self.lookup(&dir, name)? {
            Some(ino) => Ok(Some(self.inode(ino)?)),
            None => Ok(None),
        }
    }

    /// Removes the entry `found` from `dir`, as Linux's ext2_delete_entry:
    /// its record joins the one before it in the block, or, first in its
    /// block, becomes unused.
    fn remove_entry(&mut self, dir: &mut Inode, found: Found) -> Result<(), Error> {
        let Found { block, mut buf, prev, rec } = found;
        match prev {
            Some(p) => put16(&mut buf, p.off + 4, (p.rec_len + rec.rec_len) as u16),
            None => put32(&mut buf, rec.off, 0),
        }
        self.write_fs_block(block, &buf)?;
        self.touch_dir(dir)
    }

    /// Points the entry `found` of `dir` at `ino` of type `ftype`.
    fn set_entry(&mut self, dir: &mut Inode, found: Found, ino: u32, ftype: FileType) -> Result<(), Error> {
        let Found { block, mut buf, rec, .. } = found;
        put32(&mut buf, rec.off, ino);
        if self.filetype() {
            if let Some(b) = buf.get_mut(rec.off + 7) {
                *b = dirent_type_of(ftype);
            }
        }
        self.write_fs_block(block, &buf)?;
        self.touch_dir(dir)
    }

    /// Points `..` of directory `ino` at `parent`.
    fn set_dotdot(&mut self, ino: u32, parent: u32) -> Result<(), Error> {
        let mut dir = self.dir_inode(ino)?;
        let found =
            self.find_entry(&dir, b"..")?.ok_or_else(|| Error::corrupt(format!("directory {ino} has no '..'")))?;
        self.set_entry(&mut dir, found, parent, FileType::Directory)
    }

    /// Whether directory `dir` holds nothing but `.` and `..`.
    fn dir_is_empty(&self, dir: &Inode) -> Result<bool, Error> {
        let mut buf = vec![0u8; self.geo.block_size as usize];
        for lblk in 0..self.dir_blocks(dir)? {
            self.read_fs_block(self.dir_block(dir, lblk)?, &mut buf)?;
            let recs = records(&buf, self.filetype(), self.geo.inodes_count)
                .map_err(|e| Error::corrupt(format!("directory {} block {lblk}: {e}", dir.ino)))?;
            if recs.iter().any(|r| r.ino != 0 && r.name(&buf) != b"." && r.name(&buf) != b"..") {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Adds `delta` to inode `ino`'s link count (re-read, so a copy held
    /// elsewhere does not go stale) and stamps ctime.
    fn add_links(&mut self, ino: u32, delta: i32) -> Result<Inode, Error> {
        let mut inode = self.inode(ino)?;
        inode.links = (i32::from(inode.links) + delta).clamp(0, i32::from(u16::MAX)) as u16;
        inode.ctime = self.now();
        self.write_inode(&inode, false)?;
        Ok(inode)
    }

    /// Every group's descriptor counts.
    fn group_stats(&self) -> Result<Vec<GroupStats>, Error> {
        let per_block = self.geo.block_size as usize / GROUP_DESC_SIZE;
        let mut out = Vec::with_capacity(self.groups.len());
        let mut buf = vec![0u8; self.geo.block_size as usize];
        for g in 0..self.geo.group_count as usize {
            if g % per_block == 0 {
                self.read_fs_block(self.geo.first_data_block + 1 + (g / per_block) as u32, &mut buf)?;
            }
            let off = (g % per_block) * GROUP_DESC_SIZE;
            out.push(GroupStats {
                free_blocks: get16(&buf, off + gd_off::FREE_BLOCKS),
                free_inodes: get16(&buf, off + gd_off::FREE_INODES),
                used_dirs: get16(&buf, off + gd_off::USED_DIRS),
            });
        }
        Ok(out)
    }

    /// The group for a new directory under `parent`, a simple Orlov (as
    /// Linux's find_group_orlov): under the root, spread out, to the group
    /// with the fewest directories among those with at least the average
    /// free inodes and blocks; elsewhere, stay in the parent's group while
    /// it has room, else the first group from it with average free inodes.
    fn dir_group(&self, parent: u32) -> Result<u32, Error> {
        let stats = self.group_stats()?;
        let n = stats.len().max(1) as u64;
        let avg_inodes = stats.iter().map(|s| u64::from(s.free_inodes)).sum::<u64>() / n;
        let avg_blocks = stats.iter().map(|s| u64::from(s.free_blocks)).sum::<u64>() / n;
        let roomy = |s: &GroupStats| {
            s.free_inodes > 0 && u64::from(s.free_inodes) >= avg_inodes && u64::from(s.free_blocks) >= avg_blocks
        };
        let pg = self.group_of(parent);
        if parent == ROOT_INO {
            let best = stats.iter().enumerate().filter(|(_, s)| roomy(s)).min_by_key(|(_, s)| s.used_dirs);
            if let Some((g, _)) = best {
                return Ok(g as u32);
            }
        } else if let Some(s) = stats.get(pg as usize) {
            if s.free_inodes > 0 && s.free_blocks > 0 {
                return Ok(pg);
            }
        }
        let count = stats.len() as u32;
        let next = (0..count).map(|i| (pg + i) % count).find(|&g| roomy(&stats[g as usize]));
        Ok(next.unwrap_or(pg))
    }

    /// Creates directory `name` in `parent` with permission bits `perm`
    /// (S_ISVTX too), owned by `uid`:`gid`: one block holding `.` and
    /// `..`, two links, one more for the parent, counted in its group's
    /// bg_used_dirs_count.
    pub fn mkdir(&mut self, parent: u32, name: &[u8], perm: u16, uid: u32, gid: u32) -> Result<Inode, Error> {
        check_name(name)?;
        let mut dir = self.dir_inode(parent)?;
        if dir.links >= LINK_MAX {
            return Err(Error::TooManyLinks(parent));
        }
        let place = self.find_place(&dir, name)?;
        let ino = self.alloc_inode(self.dir_group(parent)?, true)?;
        let mut inode = self.new_inode(ino, libc::S_IFDIR as u16 | (perm & 0o7777), uid, gid);
        inode.links = 2;
        let block = match self.alloc_for(&mut inode, self.group_of(ino), false) {
            Ok(b) => b,
            Err(e) => {
                self.release_inode(ino, true)?;
                return Err(e);
            }
        };
        let bs = self.geo.block_size as usize;
        let mut buf = vec![0u8; bs];
        let dir_type = if self.filetype() { dirent_type_of(FileType::Directory) } else { 0 };
        for (off, target, rec_len, name) in [(0, ino, 12, &b"."[..]), (12, parent, bs - 12, &b".."[..])] {
            put32(&mut buf, off, target);
            put16(&mut buf, off + 4, rec_len as u16);
            buf[off + 6] = name.len() as u8;
            buf[off + 7] = dir_type;
            buf[off + DIRENT_HEADER_SIZE..off + DIRENT_HEADER_SIZE + name.len()].copy_from_slice(name);
        }
        inode.block[0] = block;
        inode.size = bs as u64;
        if let Err(e) = self.write_fs_block(block, &buf) {
            self.free_blocks(&mut vec![block])?;
            self.release_inode(ino, true)?;
            return Err(e);
        }
        self.link_new(&mut dir, place, name, &inode, Some(block))?;
        self.add_links(parent, 1)?;
        Ok(inode)
    }

    /// Creates a device node, FIFO or socket (or, for S_IFREG or no type,
    /// an empty regular file) `name` in `parent`; `mode` is the S_IF* type
    /// with the permission bits, `rdev` a device number in glibc's makedev
    /// form, kept in the old or new encoding as Linux does.
    pub fn mknod(
        &mut self,
        parent: u32,
        name: &[u8],
        mode: u16,
        rdev: u64,
        uid: u32,
        gid: u32,
    ) -> Result<Inode, Error> {
        let ftype = match u32::from(mode) & libc::S_IFMT {
            0 => FileType::Regular,
            _ => FileType::from_mode(mode),
        };
        let words = match ftype {
            FileType::CharDevice | FileType::BlockDevice => {
                encode_rdev(rdev).ok_or(Error::Invalid("device number wider than Linux's dev_t"))?
            }
            FileType::Fifo | FileType::Socket | FileType::Regular => [0, 0],
            _ => return Err(Error::Invalid("mknod of a directory, symlink or unknown type")),
        };
        check_name(name)?;
        let mut dir = self.dir_inode(parent)?;
        let place = self.find_place(&dir, name)?;
        let ino = self.alloc_inode(self.group_of(parent), false)?;
        let type_bits = if ftype == FileType::Regular { libc::S_IFREG as u16 } else { mode & libc::S_IFMT as u16 };
        let mut inode = self.new_inode(ino, type_bits | (mode & 0o7777), uid, gid);
        inode.block[..2].copy_from_slice(&words);
        for (i, w) in words.iter().enumerate() {
            inode.block_bytes[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        self.link_new(&mut dir, place, name, &inode, None)?;
        Ok(inode)
    }

    /// Creates symlink `name` → `target` in `parent`: a fast one (the
    /// target in i_block) up to 59 bytes, else a slow one in one data
    /// block, as Linux's ext2_symlink. An empty target is ENOENT, one that
    /// does not fit a block with its NUL ENAMETOOLONG.
    pub fn symlink(&mut self, parent: u32, name: &[u8], target: &[u8], uid: u32, gid: u32) -> Result<Inode, Error> {
        if target.is_empty() {
            return Err(Error::NotFound);
        }
        let bs = self.geo.block_size as usize;
        if target.len() + 1 > bs {
            return Err(Error::NameTooLong(target.len()));
        }
        check_name(name)?;
        let mut dir = self.dir_inode(parent)?;
        let place = self.find_place(&dir, name)?;
        let ino = self.alloc_inode(self.group_of(parent), false)?;
        let mut inode = self.new_inode(ino, libc::S_IFLNK as u16 | 0o777, uid, gid);
        inode.size = target.len() as u64;
        if target.len() < inode.block_bytes.len() {
            inode.block_bytes[..target.len()].copy_from_slice(target);
            for (i, w) in inode.block.iter_mut().enumerate() {
                let b = &inode.block_bytes[4 * i..4 * i + 4];
                *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            self.link_new(&mut dir, place, name, &inode, None)?;
            return Ok(inode);
        }
        let block = match self.alloc_for(&mut inode, self.group_of(ino), false) {
            Ok(b) => b,
            Err(e) => {
                self.release_inode(ino, false)?;
                return Err(e);
            }
        };
        let mut buf = vec![0u8; bs];
        buf[..target.len()].copy_from_slice(target);
        inode.block[0] = block;
        inode.block_bytes[..4].copy_from_slice(&block.to_le_bytes());
        if let Err(e) = self.write_fs_block(block, &buf) {
            self.free_blocks(&mut vec![block])?;
            self.release_inode(ino, false)?;
            return Err(e);
        }
        self.link_new(&mut dir, place, name, &inode, Some(block))?;
        Ok(inode)
    }

    /// Adds the hard link `name` in `parent` to inode `ino` (not a
    /// directory: EPERM; one with no links left: ENOENT; one with 32000:
    /// EMLINK). Returns the inode after.
    pub fn link(&mut self, ino: u32, parent: u32, name: &[u8]) -> Result<Inode, Error> {
        check_name(name)?;
        let inode = self.inode(ino)?;
        if inode.file_type() == FileType::Directory {
            return Err(Error::NotPermitted("hard link to a directory"));
        }
        if inode.links == 0 {
            return Err(Error::NotFound);
        }
        if inode.links >= LINK_MAX {
            return Err(Error::TooManyLinks(ino));
        }
        let mut dir = self.dir_inode(parent)?;
        self.add_entry(&mut dir, name, ino, inode.file_type())?;
        self.add_links(ino, 1)
    }

    /// Removes the entry `name` from `parent` (a directory: EISDIR) and
    /// drops a link. Returns the inode after: with no links left the
    /// caller evicts it once no open file holds it.
    pub fn unlink(&mut self, parent: u32, name: &[u8]) -> Result<Inode, Error> {
        check_name(name)?;
        let mut dir = self.dir_inode(parent)?;
        let found = self.find_entry(&dir, name)?.ok_or(Error::NotFound)?;
        let inode = self.inode(found.ino())?;
        if inode.file_type() == FileType::Directory {
            return Err(Error::IsDir(inode.ino));
        }
        self.remove_entry(&mut dir, found)?;
        self.add_links(inode.ino, -1)
    }

    /// Removes the empty directory `name` from `parent` (ENOTDIR,
    /// ENOTEMPTY otherwise), drops the parent's link for its `..`, and
    /// frees the directory's blocks and inode. Returns the inode after.
    pub fn rmdir(&mut self, parent: u32, name: &[u8]) -> Result<Inode, Error> {
        check_name(name)?;
        let mut dir = self.dir_inode(parent)?;
        let found = self.find_entry(&dir, name)?.ok_or(Error::NotFound)?;
        let mut victim = self.inode(found.ino())?;
        if victim.file_type() != FileType::Directory {
            return Err(Error::NotDir(victim.ino));
        }
        if !self.dir_is_empty(&victim)? {
            return Err(Error::NotEmpty(victim.ino));
        }
        self.remove_entry(&mut dir, found)?;
        self.add_links(parent, -1)?;
        victim.links = 0;
        victim.ctime = self.now();
        self.write_inode(&victim, false)?;
        self.evict(victim.ino)?;
        self.inode(victim.ino)
    }

    /// Whether directory `ancestor` is `dir` or above it, walking `..`.
    fn is_ancestor(&self, ancestor: u32, mut dir: u32) -> Result<bool, Error> {
        for _ in 0..MAX_DEPTH {
            if dir == ancestor {
                return Ok(true);
            }
            if dir == ROOT_INO {
                return Ok(false);
            }
            let inode = self.dir_inode(dir)?;
            dir = self.lookup(&inode, b"..")?.ok_or_else(|| Error::corrupt(format!("directory {dir} has no '..'")))?;
        }
        Err(Error::corrupt("directory tree deeper than any walk up it (a cycle)"))
    }

    /// Renames `old_name` in `old_parent` to `new_name` in `new_parent`
    /// with Linux's semantics: a file may replace a file, a directory an
    /// empty directory (ENOTEMPTY, EISDIR and ENOTDIR otherwise); a moved
    /// directory's `..` and both parents' link counts follow; a directory
    /// cannot move under itself (EINVAL); two names of one inode are left
    /// alone. `flags`: [`RENAME_NOREPLACE`] (EEXIST if the new name
    /// exists), [`RENAME_EXCHANGE`] (swap two existing names). Returns the
    /// replaced inode after, whose links may have dropped to 0 (the
    /// caller evicts it then).
    pub fn rename(
        &mut self,
        old_parent: u32,
        old_name: &[u8],
        new_parent: u32,
        new_name: &[u8],
        flags: u32,
    ) -> Result<Option<Inode>, Error> {
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0 || flags == RENAME_NOREPLACE | RENAME_EXCHANGE {
            return Err(Error::Invalid("rename flags"));
        }
        check_name(old_name)?;
        check_name(new_name)?;
        let odir = self.dir_inode(old_parent)?;
        let ndir = self.dir_inode(new_parent)?;
        let old_ino = self.find_entry(&odir, old_name)?.ok_or(Error::NotFound)?.ino();
        let new_ino = self.find_entry(&ndir, new_name)?.map(|f| f.ino());
        // The checks in the order Linux's do_renameat2 and vfs_rename make
        // them, so each case gives the errno Linux gives.
        let exchange = flags & RENAME_EXCHANGE != 0;
        match new_ino {
            None if exchange => return Err(Error::NotFound),
            Some(_) if flags & RENAME_NOREPLACE != 0 => return Err(Error::Exists(new_parent)),
            _ => {}
        }
        if old_parent != new_parent {
            // lock_rename's trap: neither may be above the other's parent.
            if self.is_ancestor(old_ino, new_parent)? {
                return Err(Error::Invalid("moving a directory under itself"));
            }
            if let Some(n) = new_ino {
                if self.is_ancestor(n, old_parent)? {
                    return Err(if exchange {
                        Error::Invalid("moving a directory under itself")
                    } else {
                        Error::NotEmpty(n)
                    });
                }
            }
        }
        if new_ino == Some(old_ino) {
            return Ok(None);
        }
        let old = self.inode(old_ino)?;
        let old_is_dir = old.file_type() == FileType::Directory;
        let new = match new_ino {
            Some(n) => Some(self.inode(n)?),
            None => None,
        };
        if exchange {
            let new = new.ok_or(Error::NotFound)?;
            self.exchange(old_parent, old_name, &old, new_parent, new_name, &new)?;
            return Ok(None);
        }
        if let Some(new) = &new {
            match (old_is_dir, new.file_type() == FileType::Directory) {
                (false, true) => return Err(Error::IsDir(new.ino)),
                (true, false) => return Err(Error::NotDir(new.ino)),
                (true, true) if !self.dir_is_empty(new)? => return Err(Error::NotEmpty(new.ino)),
                _ => {}
            }
        }
        if old_is_dir && old_parent != new_parent && new.is_none() && ndir.links >= LINK_MAX {
            return Err(Error::TooManyLinks(new_parent));
        }
        let replaced = match new {
            Some(new) => {
                let mut ndir = self.inode(new_parent)?;
                let found = self.find_entry(&ndir, new_name)?.ok_or(Error::NotFound)?;
                self.set_entry(&mut ndir, found, old_ino, old.file_type())?;
                let drop = if new.file_type() == FileType::Directory { -2 } else { -1 };
                Some(self.add_links(new.ino, drop)?)
            }
            None => {
                let mut ndir = self.inode(new_parent)?;
                self.add_entry(&mut ndir, new_name, old_ino, old.file_type())?;
                if old_is_dir {
                    self.add_links(new_parent, 1)?;
                }
                None
            }
        };
        self.add_links(old_ino, 0)?;
        let mut odir = self.inode(old_parent)?;
        let found = self.find_entry(&odir, old_name)?.ok_or(Error::NotFound)?;
        self.remove_entry(&mut odir, found)?;
        if old_is_dir {
            if old_parent != new_parent {
                self.set_dotdot(old_ino, new_parent)?;
            }
            self.add_links(old_parent, -1)?;
        }
        Ok(replaced)
    }

    /// RENAME_EXCHANGE: swaps what two existing names point at; directories
    /// swapping parents take their `..` and the parents' link counts along.
    /// The caller has made the ancestry checks.
    fn exchange(
        &mut self,
        old_parent: u32,
        old_name: &[u8],
        old: &Inode,
        new_parent: u32,
        new_name: &[u8],
        new: &Inode,
    ) -> Result<(), Error> {
        let old_is_dir = old.file_type() == FileType::Directory;
        let new_is_dir = new.file_type() == FileType::Directory;
        if old_parent != new_parent {
            let gains = |parent: u32, dir_in: bool, dir_out: bool| (parent, dir_in && !dir_out);
            for (parent, gains) in
                [gains(new_parent, old_is_dir, new_is_dir), gains(old_parent, new_is_dir, old_is_dir)]
            {
                if gains && self.inode(parent)?.links >= LINK_MAX {
                    return Err(Error::TooManyLinks(parent));
                }
            }
        }
        let mut odir = self.inode(old_parent)?;
        let found = self.find_entry(&odir, old_name)?.ok_or(Error::NotFound)?;
        self.set_entry(&mut odir, found, new.ino, new.file_type())?;
        let mut ndir = self.inode(new_parent)?;
        let found = self.find_entry(&ndir, new_name)?.ok_or(Error::NotFound)?;
        self.set_entry(&mut ndir, found, old.ino, old.file_type())?;
        self.add_links(old.ino, 0)?;
        self.add_links(new.ino, 0)?;
        if old_parent != new_parent {
            if old_is_dir {
                self.set_dotdot(old.ino, new_parent)?;
            }
            if new_is_dir {
                self.set_dotdot(new.ino, old_parent)?;
            }
            let shift = i32::from(old_is_dir) - i32::from(new_is_dir);
            if shift != 0 {
                self.add_links(old_parent, -shift)?;
                self.add_links(new_parent, shift)?;
            }
        }
        Ok(())
    }
}
