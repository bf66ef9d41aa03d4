//! Directory blocks: a chain of variable-length entries filling the block.
//! Hashed (dir_index) directories need nothing more: their index lives in
//! records that read as unused entries, so a plain walk sees every name.

use super::inode::FileType;
use super::wire::{dirent_min_rec_len, DirEntry, DIRENT_HEADER_SIZE};
use super::Error;

/// One live directory entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The inode it names.
    pub ino: u32,
    /// The name (never empty, no NUL or `/` checked: ext2 stores bytes).
    pub name: Vec<u8>,
    /// The type recorded in the entry (Unknown without filetype).
    pub file_type: FileType,
}

/// One record of a directory block, live (`ino != 0`) or not, located by
/// its offsets; the write side edits blocks through these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Byte offset of the record in its block.
    pub off: usize,
    /// The record's length, to the next one.
    pub rec_len: usize,
    /// The inode it names; 0 for an unused record.
    pub ino: u32,
    /// The name's length (0 for an unused record).
    pub name_len: usize,
    /// The raw file type byte (0 without the filetype feature).
    pub file_type: u8,
}

impl Record {
    /// The record's name within `block` (the block it was parsed from).
    pub fn name<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        block.get(self.off + DIRENT_HEADER_SIZE..self.off + DIRENT_HEADER_SIZE + self.name_len).unwrap_or(&[])
    }

    /// Bytes of the record its entry needs; the rest is free for another.
    pub fn used(&self) -> usize {
        if self.ino == 0 {
            0
        } else {
            dirent_min_rec_len(self.name_len)
        }
    }
}

/// Every record of directory block `block`, checked as Linux's
/// ext2_check_page does: a record is at least 12 bytes, 4-aligned, holds
/// its name and stays inside the block, and names an inode in
/// 1..=`inodes_count`. `filetype` is the superblock feature.
pub fn records(block: &[u8], filetype: bool, inodes_count: u32) -> Result<Vec<Record>, Error> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < block.len() {
        let bad = |why: &str| Error::corrupt(format!("directory entry at byte {off} of its block: {why}"));
        let rest = block.get(off..).unwrap_or(&[]);
        let de = DirEntry::new_checked(rest).map_err(|_| bad("truncated header"))?;
        let rec_len = usize::from(de.rec_len());
        if rec_len < dirent_min_rec_len(1) || rec_len % 4 != 0 {
            return Err(bad(&format!("bad rec_len {rec_len}")));
        }
        if rec_len > rest.len() {
            return Err(bad(&format!("rec_len {rec_len} runs past the block")));
        }
        let ino = de.inode();
        let mut name_len = 0;
        if ino != 0 {
            name_len = usize::from(de.name_len(filetype));
            if name_len == 0 || dirent_min_rec_len(name_len) > rec_len {
                return Err(bad(&format!("name_len {name_len} does not fit rec_len {rec_len}")));
            }
            if ino > inodes_count {
                return Err(bad(&format!("inode {ino} past s_inodes_count {inodes_count}")));
            }
        }
        out.push(Record { off, rec_len, ino, name_len, file_type: de.file_type(filetype) });
        off += rec_len;
    }
    Ok(out)
}

/// Appends the live entries of directory block `block` to `out`, checked
/// as [`records`] checks them.
pub fn parse_block(block: &[u8], filetype: bool, inodes_count: u32, out: &mut Vec<Entry>) -> Result<(), Error> {
    for r in records(block, filetype, inodes_count)? {
        if r.ino != 0 {
            let name = r.name(block).to_vec();
            out.push(Entry { ino: r.ino, name, file_type: FileType::from_dirent(r.file_type) });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(buf: &mut [u8], off: usize, ino: u32, rec_len: u16, name: &[u8]) {
        buf[off..off + 4].copy_from_slice(&ino.to_le_bytes());
        buf[off + 4..off + 6].copy_from_slice(&rec_len.to_le_bytes());
        buf[off + 6] = name.len() as u8;
        buf[off + 7] = 1;
        buf[off + 8..off + 8 + name.len()].copy_from_slice(name);
    }

    #[test]
    fn parses_and_rejects() {
        let mut b = vec![0u8; 1024];
        entry(&mut b, 0, 2, 12, b".");
        entry(&mut b, 12, 0, 12, b"");
        entry(&mut b, 24, 5, 1000, b"hello");
        let mut out = Vec::new();
        parse_block(&b, true, 100, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].name, b"hello");
        assert_eq!(out[1].file_type, FileType::Regular);
        for (off, rec) in [(24, 0u16), (24, 1004), (24, 13), (24, 8), (0, 10)] {
            let mut c = b.clone();
            c[off + 4..off + 6].copy_from_slice(&rec.to_le_bytes());
            assert!(matches!(parse_block(&c, true, 100, &mut Vec::new()), Err(Error::Corrupt(_))), "rec_len {rec}");
        }
        assert!(parse_block(&b, true, 4, &mut Vec::new()).is_err());
    }
}
