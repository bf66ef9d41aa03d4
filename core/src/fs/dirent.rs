//! getdents64 records for directories the kernel makes up (devfs, procfs).

/// One entry: name, inode number, DT_* type.
pub type Entry<'a> = (&'a [u8], u64, u8);

/// The `struct linux_dirent64` records of `entries` from index `from`,
/// as many as fit in `room` bytes; returns them and the next index.
pub fn records(entries: &[Entry<'_>], from: usize, room: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut i = from;
    while let Some(&(name, ino, ty)) = entries.get(i) {
        let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
        if out.len() + reclen > room {
            break;
        }
        let start = out.len();
        out.extend_from_slice(&ino.to_le_bytes());
        out.extend_from_slice(&((i + 1) as i64).to_le_bytes());
        out.extend_from_slice(&(reclen as u16).to_le_bytes());
        out.push(ty);
        out.extend_from_slice(name);
        out.resize(start + reclen, 0);
        i += 1;
    }
    (out, i)
}
