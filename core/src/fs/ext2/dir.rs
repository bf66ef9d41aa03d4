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

/// Appends the live entries of directory block `block` to `out`, checking
/// every record as Linux's ext2_check_page does: a record is at least 12
/// bytes, 4-aligned, holds its name and stays inside the block, and names
/// an inode in 1..=`inodes_count`. `filetype` is the superblock feature.
pub fn parse_block(block: &[u8], filetype: bool, inodes_count: u32, out: &mut Vec<Entry>) -> Result<(), Error> {
    let mut at = Vec::new();
    parse_block_at(block, filetype, inodes_count, &mut at)?;
    out.extend(at.into_iter().map(|(_, _, e)| e));
    Ok(())
}

/// [`parse_block`], giving each entry with the byte offsets of its record
/// and of the record after it (where a directory walk resumes).
pub fn parse_block_at(
    block: &[u8],
    filetype: bool,
    inodes_count: u32,
    out: &mut Vec<(usize, usize, Entry)>,
) -> Result<(), Error> {
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
        if ino != 0 {
            let name_len = usize::from(de.name_len(filetype));
            if name_len == 0 || dirent_min_rec_len(name_len) > rec_len {
                return Err(bad(&format!("name_len {name_len} does not fit rec_len {rec_len}")));
            }
            if ino > inodes_count {
                return Err(bad(&format!("inode {ino} past s_inodes_count {inodes_count}")));
            }
            let name = rest.get(DIRENT_HEADER_SIZE..DIRENT_HEADER_SIZE + name_len).ok_or_else(|| bad("name"))?;
            let file_type = FileType::from_dirent(de.file_type(filetype));
            out.push((off, off + rec_len, Entry { ino, name: name.to_vec(), file_type }));
        }
        off += rec_len;
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
