//! Images built by mke2fs at test time, read back and compared with the
//! tree they were built from; damaged images must fail cleanly.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use super::fs::ROOT_INO;
use super::testimg::{full_tree, mke2fs, small_tree, Scratch, SPARSE_DATA};
use super::wire::{compat, incompat, inode_flags};
use super::{BlockSource, Error, Ext2, FileSource, FileType};
use crate::errno::Errno;

fn open_file(path: &Path) -> Ext2<FileSource> {
    Ext2::open(FileSource::new(std::fs::File::open(path).unwrap())).unwrap()
}

fn host_type(m: &std::fs::Metadata) -> FileType {
    FileType::from_mode(m.mode() as u16)
}

/// Compares directory `ino` of the image with host directory `src`,
/// recursively: names, types, modes, owners, link counts, bytes, targets,
/// and that hard links share an inode.
fn compare<S: BlockSource>(fs: &Ext2<S>, ino: u32, src: &Path, links: &mut HashMap<u64, u32>) {
    let dir = fs.inode(ino).unwrap();
    let entries = fs.read_dir(&dir).unwrap();
    let filetype = fs.geometry().incompat & incompat::FILETYPE != 0;
    assert!(entries.iter().any(|e| e.name == b"." && e.ino == ino), "{src:?}: no .");
    assert!(entries.iter().any(|e| e.name == b".."), "{src:?}: no ..");
    let mut got: Vec<_> = entries
        .iter()
        .filter(|e| e.name != b"." && e.name != b".." && !(ino == ROOT_INO && e.name == b"lost+found"))
        .collect();
    got.sort_by(|a, b| a.name.cmp(&b.name));
    let mut want: Vec<_> =
        std::fs::read_dir(src).unwrap().map(|e| e.unwrap().file_name().into_encoded_bytes()).collect();
    want.sort();
    assert_eq!(got.iter().map(|e| e.name.clone()).collect::<Vec<_>>(), want, "listing of {src:?}");
    for e in got {
        let path = src.join(std::ffi::OsStr::from_bytes(&e.name));
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let inode = fs.inode(e.ino).unwrap();
        assert_eq!(fs.lookup(&dir, &e.name).unwrap(), Some(e.ino));
        assert_eq!(inode.file_type(), host_type(&meta), "{path:?}");
        if filetype {
            assert_eq!(e.file_type, host_type(&meta), "{path:?} entry type");
        }
        assert_eq!(u32::from(inode.mode) & 0o7777, meta.mode() & 0o7777, "{path:?}");
        assert_eq!((inode.uid, inode.gid), (meta.uid(), meta.gid()), "{path:?}");
        if let Some(&prev) = links.get(&meta.ino()) {
            assert_eq!(prev, e.ino, "{path:?}: hard link to another inode");
        }
        links.insert(meta.ino(), e.ino);
        match inode.file_type() {
            FileType::Directory => compare(fs, e.ino, &path, links),
            FileType::Regular => {
                assert_eq!(u64::from(inode.links), meta.nlink(), "{path:?}");
                assert_eq!(inode.size, meta.len(), "{path:?}");
                let host = std::fs::File::open(&path).unwrap();
                let (mut a, mut b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
                let mut off = 0;
                while off < meta.len() {
                    let n = fs.read(&inode, off, &mut a).unwrap();
                    assert_eq!(n as u64, (meta.len() - off).min(1 << 20));
                    host.read_exact_at(&mut b[..n], off).unwrap();
                    assert!(a[..n] == b[..n], "{path:?}: bytes differ in the MiB at {off}");
                    off += n as u64;
                }
                assert_eq!(fs.read(&inode, meta.len(), &mut a).unwrap(), 0);
            }
            FileType::Symlink => {
                let target = std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes();
                assert_eq!(fs.read_link(&inode).unwrap(), target, "{path:?}");
            }
            _ => assert_eq!(u64::from(inode.links), meta.nlink()),
        }
    }
}

fn check_image(fs: &Ext2<FileSource>, src: &Path) {
    compare(fs, ROOT_INO, src, &mut HashMap::new());
    let root = fs.inode(ROOT_INO).unwrap();
    let fifo = fs.inode(fs.lookup(&root, b"fifo").unwrap().unwrap()).unwrap();
    assert_eq!(fifo.file_type(), FileType::Fifo);
    assert_eq!(fs.read_link(&fifo).unwrap_err().errno(), Errno::EINVAL);
    assert_eq!(fs.read_dir(&fifo).unwrap_err().errno(), Errno::ENOTDIR);
    assert_eq!(fs.lookup(&root, b"nonexistent").unwrap(), None);
    let fast = fs.inode(fs.lookup(&root, b"fastlink").unwrap().unwrap()).unwrap();
    assert_eq!(fast.blocks, 0, "fastlink should be a fast symlink");
    let slow = fs.inode(fs.lookup(&root, b"slowlink").unwrap().unwrap()).unwrap();
    assert_ne!(slow.blocks, 0, "slowlink should be a slow symlink");
}

#[test]
fn ext2_images_match_their_tree() {
    let src = Scratch::new("src");
    full_tree(&src.0);
    let work = Scratch::new("img");
    for bs in ["1024", "2048", "4096"] {
        let image = work.0.join(format!("ext2-{bs}.img"));
        mke2fs("ext2", &["-b", bs], &src.0, &image, "24M");
        let fs = open_file(&image);
        assert_eq!(fs.geometry().block_size.to_string(), bs);
        assert_eq!(fs.geometry().rev_level, 1);
        fs.check_writable().unwrap();
        check_image(&fs, &src.0);
        let root = fs.inode(ROOT_INO).unwrap();
        let sparse = fs.inode(fs.lookup(&root, b"sparse").unwrap().unwrap()).unwrap();
        if bs == "1024" {
            // 70 MiB of 1 KiB blocks needs the double and triple maps.
            assert_ne!(sparse.block[13], 0);
            assert_ne!(sparse.block[14], 0);
            assert!(fs.map_block(&sparse, 5000).unwrap().is_none(), "a hole");
            assert!(fs.map_block(&sparse, SPARSE_DATA[3] / 1024).unwrap().is_some());
        }
        // Index the directories (dir_index htree), then read them again as
        // plain directories.
        if bs == "1024" {
            let st = Command::new("e2fsck").args(["-fyD"]).arg(&image).output().unwrap();
            assert!(st.status.code().is_some_and(|c| c <= 1), "e2fsck -fyD: {st:?}");
            let fs = open_file(&image);
            let big = fs.inode(fs.lookup(&root, b"big").unwrap().unwrap()).unwrap();
            assert_ne!(big.flags & inode_flags::INDEX, 0, "e2fsck -D should index big/");
            check_image(&fs, &src.0);
        }
    }
}

#[test]
fn revision_0_image() {
    let src = Scratch::new("src0");
    full_tree(&src.0);
    let work = Scratch::new("img0");
    let image = work.0.join("rev0.img");
    mke2fs("ext2", &["-r", "0", "-b", "1024"], &src.0, &image, "24M");
    let fs = open_file(&image);
    assert_eq!(fs.geometry().rev_level, 0);
    assert_eq!(fs.geometry().inode_size, 128);
    check_image(&fs, &src.0);
}

#[test]
fn ext3_opens_unless_it_needs_recovery() {
    let src = Scratch::new("src3");
    full_tree(&src.0);
    let work = Scratch::new("img3");
    let image = work.0.join("ext3.img");
    let mut bytes = mke2fs("ext3", &["-b", "4096"], &src.0, &image, "24M");
    let fs = open_file(&image);
    assert_ne!(fs.geometry().compat & compat::HAS_JOURNAL, 0);
    check_image(&fs, &src.0);
    // needs_recovery is bit 2 of s_feature_incompat, at byte 1024 + 96.
    bytes[1024 + 96] |= incompat::RECOVER as u8;
    let err = Ext2::open(bytes).err().unwrap();
    assert!(matches!(err, Error::NeedsRecovery), "{err}");
    assert!(err.to_string().contains("journal needs recovery"));
    assert_eq!(err.errno(), Errno::EINVAL);
}

#[test]
fn ext4_is_refused_by_name() {
    let src = Scratch::new("src4");
    small_tree(&src.0);
    let work = Scratch::new("img4");
    let bytes = mke2fs("ext4", &[], &src.0, &work.0.join("ext4.img"), "8M");
    let err = Ext2::open(bytes).err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, Error::IncompatFeatures(_)), "{msg}");
    assert!(msg.contains("extent") && msg.contains("flex_bg"), "{msg}");
    assert!(!msg.contains("filetype"), "{msg}");
}

/// A deterministic generator (xorshift64*): tests need no crate for this.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Visits everything reachable from the root, reading each inode, each
/// directory, the ends of each file and each symlink; errors are fine.
/// Returns how many inodes it read.
fn walk_all<S: BlockSource>(fs: &Ext2<S>) -> usize {
    let mut seen = HashSet::new();
    let mut stack = vec![ROOT_INO];
    let mut buf = vec![0u8; 64 << 10];
    while let Some(ino) = stack.pop() {
        // Guards against cycles in the directory graph (a damaged entry
        // naming an ancestor).
        if !seen.insert(ino) {
            continue;
        }
        let Ok(inode) = fs.inode(ino) else { continue };
        match inode.file_type() {
            FileType::Directory => {
                if let Ok(entries) = fs.read_dir(&inode) {
                    stack.extend(entries.iter().map(|e| e.ino));
                }
            }
            FileType::Symlink => {
                let _ = fs.read_link(&inode);
            }
            _ => {
                let _ = fs.read(&inode, 0, &mut buf);
                let _ = fs.read(&inode, inode.size.saturating_sub(buf.len() as u64), &mut buf);
            }
        }
    }
    seen.len()
}

fn small_image(bs: &str) -> (Vec<u8>, Scratch) {
    let src = Scratch::new("srcm");
    small_tree(&src.0);
    let image = src.0.join("../").join(format!("umvm-ext2-small-{}-{bs}.img", std::process::id()));
    let bytes = mke2fs("ext2", &["-b", bs, "-N", "64"], &src.0, &image, "1M");
    let _ = std::fs::remove_file(&image);
    (bytes, src)
}

#[test]
fn mutated_images_never_panic() {
    for (bs, seed) in [("1024", 1), ("4096", 2)] {
        let (mut img, _src) = small_image(bs);
        assert!(walk_all(&Ext2::open(&img[..]).unwrap()) > 40);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
        for _ in 0..400 {
            let saved = img.clone();
            for _ in 0..1 + rng.below(8) {
                let off = match rng.below(10) {
                    0 => 1024 + rng.below(256),
                    1..=7 => rng.below(img.len().min(64 << 10)),
                    _ => rng.below(img.len()),
                };
                img[off] = match rng.below(3) {
                    0 => rng.next() as u8,
                    1 => img[off] ^ (1 << rng.below(8)),
                    _ => [0, 0xff][rng.below(2)],
                };
            }
            if let Ok(fs) = Ext2::open(&img[..]) {
                walk_all(&fs);
            }
            img = saved;
        }
    }
}

#[test]
fn random_bytes_are_refused() {
    let mut rng = Rng(42);
    let img: Vec<u8> = (0..1 << 20).map(|_| rng.next() as u8).collect();
    let err = Ext2::open(&img[..]).err().unwrap();
    assert!(matches!(err, Error::BadMagic(_)), "{err}");
    assert!(Ext2::open(Vec::new()).is_err());
}

#[test]
fn truncated_images_fail_cleanly() {
    let (img, _src) = small_image("1024");
    for len in [0, 1500, 2048, 3000, 8192, 20_000, 100_000, 300_000] {
        let cut = &img[..len];
        match Ext2::open(cut) {
            Err(e) => assert!(matches!(e, Error::Truncated { .. }), "{len}: {e}"),
            Ok(fs) => {
                walk_all(&fs);
            }
        }
    }
    // Cut inside the data: the walk meets the end with EIO.
    let fs = Ext2::open(&img[..100_000]).unwrap();
    let root = fs.inode(ROOT_INO).unwrap();
    let mid = fs.inode(fs.lookup(&root, b"mid").unwrap().unwrap()).unwrap();
    let mut buf = vec![0u8; 40_000];
    let last = fs.map_block(&mid, 38).unwrap().unwrap();
    if u64::from(last) * 1024 >= 100_000 {
        assert_eq!(fs.read(&mid, 0, &mut buf).unwrap_err().errno(), Errno::EIO);
    }
}

#[test]
fn corrupt_inode_table_is_euclean() {
    let (mut img, _src) = small_image("1024");
    let fs = Ext2::open(&img[..]).unwrap();
    let table = fs.groups()[0].inode_table as usize * 1024;
    let isz = fs.geometry().inode_size as usize;
    // The root inode (2): every pointer out of range.
    img[table + isz..table + 2 * isz].fill(0x7f);
    img[table + isz..table + isz + 2].copy_from_slice(&0o40755u16.to_le_bytes());
    img[table + isz + 4..table + isz + 8].copy_from_slice(&1024u32.to_le_bytes());
    img[table + isz + 32..table + isz + 36].fill(0); // i_flags: no extents
    let fs = Ext2::open(&img[..]).unwrap();
    let root = fs.inode(ROOT_INO).unwrap();
    let err = fs.read_dir(&root).unwrap_err();
    assert!(matches!(err, Error::BlockOutOfRange { .. }), "{err}");
    assert_eq!(err.errno(), Errno::EUCLEAN);
    let count = fs.geometry().inodes_count;
    assert_eq!(fs.inode(0).unwrap_err().errno(), Errno::EUCLEAN);
    assert!(matches!(fs.inode(count + 1), Err(Error::BadInode { .. })));
    // The whole table garbage: errors, never a panic.
    img[table..table + 64 * isz].fill(0xa5);
    if let Ok(fs) = Ext2::open(&img[..]) {
        walk_all(&fs);
        assert!(fs.inode(ROOT_INO).and_then(|r| fs.read_dir(&r)).is_err());
    }
}

#[test]
fn indirect_paths_start_each_level_at_its_slot() {
    use super::fs::IndirectPath;
    let per = 256; // 1 KiB blocks
    let at = |lblk| IndirectPath::of(lblk, per).map(|p| (p.slot, p.indices().to_vec()));
    assert_eq!(at(12), Some((12, vec![0])));
    assert_eq!(at(12 + 255), Some((12, vec![255])));
    assert_eq!(at(12 + 256), Some((13, vec![0, 0])));
    assert_eq!(at(12 + 256 + 257), Some((13, vec![1, 1])));
    assert_eq!(at(12 + 256 + 65536), Some((14, vec![0, 0, 0])));
    assert_eq!(at(12 + 256 + 65536 + 256 * 65536 - 1), Some((14, vec![255, 255, 255])));
    assert_eq!(at(12 + 256 + 65536 + 256 * 65536), None);
    assert_eq!(at(3), None);
}
