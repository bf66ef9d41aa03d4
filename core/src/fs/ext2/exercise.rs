//! One pass over an untrusted image through the read and write entry
//! points, shared by the fuzz target (core/fuzz) and the corruption test:
//! every error is expected, a panic or a hang is a bug.

use super::fs::{Ext2, ROOT_INO};
use super::inode::FileType;

/// Opens `image` and, as far as it lets, walks the root directory and
/// reads what it names, then creates, writes, truncates, renames and
/// removes files, a directory and symlinks, and unmounts. Never panics.
pub fn exercise(image: Vec<u8>) {
    let Ok(mut fs) = Ext2::open(image) else { return };
    fs.set_clock(Some(1_700_000_000));
    let _ = fs.statfs();
    let writable = fs.mount_rw().is_ok();
    let Ok(root) = fs.inode(ROOT_INO) else { return };
    let entries = fs.read_dir(&root).unwrap_or_default();
    let mut buf = vec![0u8; 8192];
    for e in entries.iter().take(64) {
        let Ok(inode) = fs.inode(e.ino) else { continue };
        match inode.file_type() {
            FileType::Directory => {
                let _ = fs.read_dir(&inode);
            }
            FileType::Symlink => {
                let _ = fs.read_link(&inode);
            }
            _ => {
                let _ = fs.read(&inode, 0, &mut buf);
                let _ = fs.read(&inode, inode.size.saturating_sub(100), &mut buf);
                let _ = inode.rdev();
            }
        }
        let _ = fs.lookup_inode(ROOT_INO, &e.name);
    }
    if !writable {
        return;
    }
    if let Ok(mut f) = fs.create(ROOT_INO, b"fuzz-file", 0o644, 0, 0) {
        let _ = fs.write(&mut f, 0, &[0x5a; 5000]);
        let _ = fs.write(&mut f, 300_000, b"far");
        let _ = fs.truncate(&mut f, 1000);
        let _ = fs.link(f.ino, ROOT_INO, b"fuzz-link");
        let _ = fs.rename(ROOT_INO, b"fuzz-link", ROOT_INO, b"fuzz-file", 0);
        if let Ok(gone) = fs.unlink(ROOT_INO, b"fuzz-file") {
            if gone.links == 0 {
                let _ = fs.evict(gone.ino);
            }
        }
    }
    if let Ok(d) = fs.mkdir(ROOT_INO, b"fuzz-dir", 0o755, 0, 0) {
        let _ = fs.symlink(d.ino, b"fast", b"target", 0, 0);
        let _ = fs.symlink(d.ino, b"slow", &[b's'; 100], 0, 0);
        let _ = fs.mknod(d.ino, b"dev", libc::S_IFCHR as u16 | 0o600, libc::makedev(1, 3), 0, 0);
        let _ = fs.rename(ROOT_INO, b"fuzz-dir", ROOT_INO, b"fuzz-moved", 0);
        for name in [&b"fast"[..], b"slow", b"dev"] {
            if let Ok(gone) = fs.unlink(d.ino, name) {
                let _ = fs.evict(gone.ino);
            }
        }
        let _ = fs.rmdir(ROOT_INO, b"fuzz-moved");
    }
    // What the image already holds: move, then remove, the first entries.
    for e in entries.iter().filter(|e| e.name != b"." && e.name != b"..").take(4) {
        let _ = fs.rename(ROOT_INO, &e.name, ROOT_INO, b"fuzz-renamed", 0);
        match fs.unlink(ROOT_INO, b"fuzz-renamed") {
            Ok(gone) if gone.links == 0 => {
                let _ = fs.evict(gone.ino);
            }
            _ => {
                let _ = fs.rmdir(ROOT_INO, b"fuzz-renamed");
            }
        }
    }
    let _ = fs.unmount();
}
