//! The namespace operations, truncate and evict against images made by
//! mke2fs (1 and 4 KiB blocks, revision 0, ext3): after each scenario the
//! image must pass `e2fsck -fn` silently, and debugfs must show exactly
//! what was done.

use std::path::{Path, PathBuf};

use super::fs::ROOT_INO;
use super::testimg::{debugfs, debugfs_cat, debugfs_ls, debugfs_stat, fsck_clean, mke2fs, Scratch};
use super::wire::{inode_flags, ro_compat, Superblock};
use super::{Error, Ext2, FileType, Inode, RENAME_EXCHANGE, RENAME_NOREPLACE};
use crate::errno::Errno;

/// The time every test stamps (14 Nov 2023), so stat output is known.
const T: u32 = 1_700_000_000;

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(41).wrapping_add(seed * 13) % 249) as u8).collect()
}

/// An image made by mke2fs from an empty tree (or `fill`'s), open in
/// memory, mounted read-write with the clock at [`T`].
struct Img {
    _scratch: Scratch,
    path: PathBuf,
    fs: Option<Ext2<Vec<u8>>>,
}

impl Img {
    fn new(fstype: &str, extra: &[&str], size: &str, fill: impl FnOnce(&Path)) -> Img {
        let s = Scratch::new("namei");
        let src = s.0.join("src");
        std::fs::create_dir(&src).unwrap();
        fill(&src);
        let path = s.0.join("img");
        let bytes = mke2fs(fstype, extra, &src, &path, size);
        let mut fs = Ext2::open(bytes).unwrap();
        fs.set_clock(Some(T));
        fs.mount_rw().unwrap();
        Img { _scratch: s, path, fs: Some(fs) }
    }

    fn fs(&mut self) -> &mut Ext2<Vec<u8>> {
        self.fs.as_mut().unwrap()
    }

    /// Unmounts, writes the image out and checks it with e2fsck; returns
    /// e2fsck's summary. The filesystem is reopened for more work.
    fn check(&mut self) -> String {
        let mut fs = self.fs.take().unwrap();
        fs.unmount().unwrap();
        let bytes = fs.into_source();
        std::fs::write(&self.path, &bytes).unwrap();
        let summary = fsck_clean(&self.path);
        let mut fs = Ext2::open(bytes).unwrap();
        fs.set_clock(Some(T));
        fs.mount_rw().unwrap();
        self.fs = Some(fs);
        summary
    }

    fn ls(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = debugfs_ls(&self.path, dir).into_iter().map(|e| e.0).collect();
        names.sort();
        names
    }

    fn stat(&self, path: &str, key: &str) -> String {
        debugfs_stat(&self.path, path, key)
    }
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The configurations every scenario runs on: 1 KiB and 4 KiB blocks,
/// revision 0, and ext3 (a journal ext2 must leave alone).
const CONFIGS: &[(&str, &[&str])] = &[
    ("ext2", &["-b", "1024"]),
    ("ext2", &["-b", "4096"]),
    ("ext2", &["-b", "1024", "-r", "0"]),
    ("ext3", &["-b", "4096"]),
];

#[test]
fn every_operation_passes_fsck_and_shows_in_debugfs() {
    for &(fstype, extra) in CONFIGS {
        let mut img = Img::new(fstype, extra, "16M", |_| {});
        let fs = img.fs();
        let d1 = fs.mkdir(ROOT_INO, b"d1", 0o755, 1000, 100).unwrap();
        let d2 = fs.mkdir(ROOT_INO, b"d2", 0o1777, 0, 0).unwrap();
        let sub = fs.mkdir(d1.ino, b"sub", 0o700, 1000, 100).unwrap();
        assert_eq!(fs.mkdir(d1.ino, b"sub", 0o700, 0, 0).unwrap_err().errno(), Errno::EEXIST);
        let mut file = fs.create(d1.ino, b"file", 0o644, 1000, 100).unwrap();
        fs.write(&mut file, 0, b"file data\n").unwrap();
        let null = fs.mknod(ROOT_INO, b"null", libc::S_IFCHR as u16 | 0o666, libc::makedev(1, 3), 0, 0).unwrap();
        fs.mknod(ROOT_INO, b"sda1", libc::S_IFBLK as u16 | 0o660, libc::makedev(8, 1), 0, 6).unwrap();
        fs.mknod(ROOT_INO, b"wide", libc::S_IFCHR as u16 | 0o600, libc::makedev(300, 70000), 0, 0).unwrap();
        fs.mknod(ROOT_INO, b"fifo", libc::S_IFIFO as u16 | 0o640, 0, 0, 0).unwrap();
        fs.mknod(ROOT_INO, b"sock", libc::S_IFSOCK as u16 | 0o755, 0, 0, 0).unwrap();
        assert_eq!(null.rdev(), (1, 3));
        let err = fs.mknod(ROOT_INO, b"bad", libc::S_IFCHR as u16, libc::makedev(5000, 1), 0, 0).unwrap_err();
        assert_eq!(err.errno(), Errno::EINVAL);
        assert_eq!(fs.mknod(ROOT_INO, b"bad", libc::S_IFDIR as u16, 0, 0, 0).unwrap_err().errno(), Errno::EINVAL);
        fs.symlink(ROOT_INO, b"fast", b"d1/file", 0, 0).unwrap();
        let fast59 = vec![b'f'; 59];
        fs.symlink(ROOT_INO, b"fast59", &fast59, 0, 0).unwrap();
        let slow_target = vec![b's'; 60];
        let slow = fs.symlink(d2.ino, b"slow", &slow_target, 0, 0).unwrap();
        assert_eq!(fs.read_link(&fs.inode(slow.ino).unwrap()).unwrap(), slow_target);
        assert_eq!(fs.symlink(ROOT_INO, b"e", b"", 0, 0).unwrap_err().errno(), Errno::ENOENT);
        let bs = fs.geometry().block_size as usize;
        let too_long = vec![b'x'; bs];
        assert_eq!(fs.symlink(ROOT_INO, b"e", &too_long, 0, 0).unwrap_err().errno(), Errno::ENAMETOOLONG);
        fs.symlink(ROOT_INO, b"longest", &too_long[1..], 0, 0).unwrap();
        // Hard links up and down.
        let linked = fs.link(file.ino, d2.ino, b"hard").unwrap();
        assert_eq!(linked.links, 2);
        assert_eq!(fs.link(d1.ino, d2.ino, b"dirlink").unwrap_err().errno(), Errno::EPERM);
        assert_eq!(fs.link(file.ino, d2.ino, b"hard").unwrap_err().errno(), Errno::EEXIST);
        fs.link(file.ino, ROOT_INO, b"hard2").unwrap();
        assert_eq!(fs.unlink(ROOT_INO, b"hard2").unwrap().links, 2);
        assert_eq!(fs.unlink(ROOT_INO, b"d1").unwrap_err().errno(), Errno::EISDIR);
        assert_eq!(fs.unlink(ROOT_INO, b"nothing").unwrap_err().errno(), Errno::ENOENT);
        // A directory moves across parents.
        assert!(fs.rename(d1.ino, b"sub", d2.ino, b"moved", 0).unwrap().is_none());
        // A file replaces another: the victim's last link goes.
        let mut victim = fs.create(d2.ino, b"victim", 0o600, 0, 0).unwrap();
        fs.write(&mut victim, 0, &pattern(1, 20_000)).unwrap();
        let replaced = fs.rename(d2.ino, b"hard", d2.ino, b"victim", 0).unwrap().unwrap();
        assert_eq!((replaced.ino, replaced.links), (victim.ino, 0));
        fs.evict(victim.ino).unwrap();
        // An empty directory is replaced by one from the other parent.
        let empty = fs.mkdir(d2.ino, b"empty", 0o755, 0, 0).unwrap();
        fs.mkdir(d1.ino, b"x", 0o750, 0, 0).unwrap();
        let gone = fs.rename(d1.ino, b"x", d2.ino, b"empty", 0).unwrap().unwrap();
        assert_eq!((gone.ino, gone.links), (empty.ino, 0));
        fs.evict(empty.ino).unwrap();
        // rmdir of an empty directory, refusals for the rest.
        fs.mkdir(d2.ino, b"gone", 0o755, 0, 0).unwrap();
        assert_eq!(fs.rmdir(d2.ino, b"gone").unwrap().links, 0);
        assert_eq!(fs.rmdir(ROOT_INO, b"d2").unwrap_err().errno(), Errno::ENOTEMPTY);
        assert_eq!(fs.rmdir(ROOT_INO, b"null").unwrap_err().errno(), Errno::ENOTDIR);
        let summary = img.check();

        assert_eq!(
            img.ls("/"),
            sorted(&[
                ".",
                "..",
                "lost+found",
                "d1",
                "d2",
                "null",
                "sda1",
                "wide",
                "fifo",
                "sock",
                "fast",
                "fast59",
                "longest"
            ])
        );
        assert_eq!(img.ls("/d1"), sorted(&[".", "..", "file"]));
        assert_eq!(img.ls("/d2"), sorted(&[".", "..", "victim", "moved", "empty", "slow"]));
        // d1: its entry in / and its '.' (sub and x moved away).
        assert_eq!(img.stat("/d1", "Links:"), "2");
        // d2: its entry, its ., and .. of moved and empty.
        assert_eq!(img.stat("/d2", "Links:"), "4");
        assert_eq!(img.stat("/d2", "Mode:"), "01777");
        assert_eq!(img.stat("/", "Links:"), "5");
        assert_eq!(img.stat("/d2/victim", "Links:"), "2");
        assert_eq!(img.stat("/d2/victim", "Inode:"), file.ino.to_string());
        assert_eq!(debugfs_cat(&img.path, "/d2/victim"), b"file data\n");
        assert_eq!(img.stat("/d2/moved", "Inode:"), sub.ino.to_string());
        let moved_ls = debugfs_ls(&img.path, "/d2/moved");
        assert!(moved_ls.iter().any(|e| e.0 == ".." && e.1 == d2.ino), "{moved_ls:?}");
        assert_eq!(img.stat("/d2/moved", "User:"), "1000");
        assert_eq!(img.stat("/null", "Device major/minor number:"), "01:03 (hex 01:03)");
        assert_eq!(img.stat("/sda1", "Device major/minor number:"), "08:01 (hex 08:01)");
        assert_eq!(img.stat("/sda1", "Type:"), "block special");
        assert_eq!(img.stat("/wide", "(New-style) Device major/minor number:"), "300:70000 (hex 12c:11170)");
        assert_eq!(img.stat("/fifo", "Type:"), "FIFO");
        assert_eq!(img.stat("/sock", "Type:"), "socket");
        assert_eq!(img.stat("/sock", "Mode:"), "0755");
        assert_eq!(img.stat("/fast", "Fast link dest:"), "\"d1/file\"");
        assert_eq!(img.stat("/fast59", "Fast link dest:"), format!("\"{}\"", "f".repeat(59)));
        assert_eq!(img.stat("/d2/slow", "Size:"), "60");
        assert_eq!(img.stat("/longest", "Size:"), (bs - 1).to_string());
        let text = img.stat("/d1/file", "ctime:");
        assert!(text.starts_with(&format!("{T:#x}")), "{text}");
        let img_fs = img.fs();
        assert_eq!(img_fs.read_link(&img_fs.lookup_inode(d2.ino, b"slow").unwrap().unwrap()).unwrap(), slow_target);
        assert!(summary.contains("/"), "{summary}");
    }
}

#[test]
fn rename_follows_linux_semantics() {
    let mut img = Img::new("ext2", &["-b", "1024"], "8M", |_| {});
    let fs = img.fs();
    let a = fs.mkdir(ROOT_INO, b"a", 0o755, 0, 0).unwrap();
    let b = fs.mkdir(a.ino, b"b", 0o755, 0, 0).unwrap();
    let c = fs.mkdir(b.ino, b"c", 0o755, 0, 0).unwrap();
    let f = fs.create(a.ino, b"f", 0o644, 0, 0).unwrap();
    let g = fs.create(ROOT_INO, b"g", 0o644, 0, 0).unwrap();
    let e = |r: Result<Option<Inode>, Error>| r.unwrap_err().errno();
    assert_eq!(e(fs.rename(ROOT_INO, b"a", c.ino, b"a", 0)), Errno::EINVAL);
    assert_eq!(e(fs.rename(ROOT_INO, b"a", a.ino, b"self", 0)), Errno::EINVAL);
    assert_eq!(e(fs.rename(a.ino, b"b", ROOT_INO, b"g", 0)), Errno::ENOTDIR);
    assert_eq!(e(fs.rename(ROOT_INO, b"g", a.ino, b"b", 0)), Errno::EISDIR);
    assert_eq!(e(fs.rename(b.ino, b"c", ROOT_INO, b"a", 0)), Errno::ENOTEMPTY);
    assert_eq!(e(fs.rename(ROOT_INO, b"g", a.ino, b"f", RENAME_NOREPLACE)), Errno::EEXIST);
    assert_eq!(e(fs.rename(ROOT_INO, b"nope", a.ino, b"f", 0)), Errno::ENOENT);
    assert_eq!(e(fs.rename(ROOT_INO, b"g", a.ino, b"new", RENAME_EXCHANGE)), Errno::ENOENT);
    assert_eq!(e(fs.rename(ROOT_INO, b"g", a.ino, b"f", 4)), Errno::EINVAL);
    assert_eq!(e(fs.rename(ROOT_INO, b"g", a.ino, b"f", 3)), Errno::EINVAL);
    // Two names of one inode: nothing happens.
    fs.link(g.ino, a.ino, b"g2").unwrap();
    assert!(fs.rename(ROOT_INO, b"g", a.ino, b"g2", 0).unwrap().is_none());
    assert_eq!(fs.inode(g.ino).unwrap().links, 2);
    assert!(fs.lookup_inode(ROOT_INO, b"g").unwrap().is_some());
    // Same name: a no-op too.
    assert!(fs.rename(ROOT_INO, b"g", ROOT_INO, b"g", 0).unwrap().is_none());
    // Within one directory, a directory renamed keeps its links.
    fs.rename(a.ino, b"b", a.ino, b"b2", 0).unwrap();
    assert_eq!(fs.inode(a.ino).unwrap().links, 3);
    // Exchange a file in a with directory c in b2: c's '..' becomes a, the
    // link counts of a and b2 follow.
    fs.rename(a.ino, b"f", b.ino, b"c", RENAME_EXCHANGE).unwrap();
    assert_eq!(fs.lookup_inode(a.ino, b"f").unwrap().unwrap().ino, c.ino);
    assert_eq!(fs.lookup_inode(b.ino, b"c").unwrap().unwrap().ino, f.ino);
    assert_eq!(fs.inode(a.ino).unwrap().links, 4);
    assert_eq!(fs.inode(b.ino).unwrap().links, 2);
    // A directory moves up and its old parent can then be removed.
    fs.rename(a.ino, b"f", ROOT_INO, b"top", 0).unwrap();
    fs.unlink(b.ino, b"c").unwrap();
    fs.evict(f.ino).unwrap();
    fs.rmdir(a.ino, b"b2").unwrap();
    img.check();
    assert_eq!(img.ls("/"), sorted(&[".", "..", "lost+found", "a", "g", "top"]));
    assert_eq!(img.ls("/a"), sorted(&[".", "..", "g2"]));
    assert_eq!(img.stat("/a", "Links:"), "2");
    assert_eq!(img.stat("/top", "Inode:"), c.ino.to_string());
    assert!(debugfs_ls(&img.path, "/top").iter().any(|e| e.0 == ".." && e.1 == ROOT_INO));
    assert_eq!(img.stat("/", "Links:"), "5");
    assert_eq!(img.stat("/g", "Links:"), "2");
}

/// The superblock's free block and inode counts.
fn free_counts(fs: &Ext2<Vec<u8>>) -> (u64, u64) {
    let s = fs.statfs();
    (s.free, s.ffree)
}

#[test]
fn link_unlink_to_zero_and_evict_free_everything() {
    for &(fstype, extra) in CONFIGS {
        let mut img = Img::new(fstype, extra, "16M", |_| {});
        let fs = img.fs();
        let before = free_counts(fs);
        let d = fs.mkdir(ROOT_INO, b"d", 0o755, 0, 0).unwrap();
        let mut f = fs.create(d.ino, b"f", 0o644, 0, 0).unwrap();
        fs.write(&mut f, 0, &pattern(2, 300_000)).unwrap();
        fs.write(&mut f, 5 << 20, b"far").unwrap();
        for i in 0..5 {
            fs.link(f.ino, ROOT_INO, format!("l{i}").as_bytes()).unwrap();
        }
        assert_eq!(fs.inode(f.ino).unwrap().links, 6);
        fs.symlink(d.ino, b"slow", &[b'z'; 300], 0, 0).unwrap();
        for i in 0..5 {
            assert_eq!(fs.unlink(ROOT_INO, format!("l{i}").as_bytes()).unwrap().links, 5 - i);
        }
        assert_eq!(fs.evict(f.ino).unwrap_err().errno(), Errno::EINVAL);
        let last = fs.unlink(d.ino, b"f").unwrap();
        assert_eq!(last.links, 0);
        // Linking an inode with no links left: ENOENT (no O_TMPFILE here).
        assert_eq!(fs.link(f.ino, d.ino, b"back").unwrap_err().errno(), Errno::ENOENT);
        fs.evict(f.ino).unwrap();
        // Evicting twice is harmless.
        fs.evict(f.ino).unwrap();
        let sl = fs.unlink(d.ino, b"slow").unwrap();
        fs.evict(sl.ino).unwrap();
        fs.rmdir(ROOT_INO, b"d").unwrap();
        assert_eq!(free_counts(fs), before);
        let dead = fs.inode(f.ino).unwrap();
        assert_eq!((dead.dtime, dead.blocks, dead.size), (T, 0, 0));
        img.check();
        assert_eq!(img.ls("/"), sorted(&[".", "..", "lost+found"]));
    }
}

#[test]
fn five_thousand_entries_then_half_deleted() {
    for bs in ["1024", "4096"] {
        let mut img = Img::new("ext2", &["-b", bs, "-N", "6000"], "32M", |_| {});
        let fs = img.fs();
        let d = fs.mkdir(ROOT_INO, b"big", 0o755, 0, 0).unwrap();
        let name = |i: usize| format!("entry-number-{i:05}-{}", "n".repeat(i % 40));
        for i in 0..5000 {
            fs.create(d.ino, name(i).as_bytes(), 0o644, 0, 0).unwrap();
        }
        for i in (0..5000).step_by(2) {
            let gone = fs.unlink(d.ino, name(i).as_bytes()).unwrap();
            fs.evict(gone.ino).unwrap();
        }
        // Freed slots are reused.
        let size = fs.inode(d.ino).unwrap().size;
        for i in 0..100 {
            fs.create(d.ino, format!("again-{i}").as_bytes(), 0o600, 0, 0).unwrap();
        }
        assert_eq!(fs.inode(d.ino).unwrap().size, size);
        img.check();
        let names = img.ls("/big");
        assert_eq!(names.len(), 2 + 2500 + 100);
        for i in 0..5000 {
            assert_eq!(names.binary_search(&name(i)).is_ok(), i % 2 == 1, "{}", name(i));
        }
    }
}

#[test]
fn triple_indirect_file_truncated_down_frees_every_block() {
    let mut img = Img::new("ext2", &["-b", "1024"], "16M", |_| {});
    let fs = img.fs();
    let before = free_counts(fs);
    let mut f = fs.create(ROOT_INO, b"huge", 0o644, 0, 0).unwrap();
    // 12 direct + 256 single + 65536 double blocks: triple from here.
    let triple = (12 + 256 + 65536) * 1024u64;
    let pieces =
        [(0u64, 40_000usize), (200_000, 5000), (10 << 20, 5000), (triple - 3000, 9000), (triple + (70 << 20), 3000)];
    for (i, &(off, len)) in pieces.iter().enumerate() {
        fs.write(&mut f, off, &pattern(i, len)).unwrap();
    }
    let end = triple + (70 << 20) + 3000;
    assert_eq!(fs.inode(f.ino).unwrap().size, end);
    img.check();
    assert_eq!(img.stat("/huge", "Size:"), end.to_string());
    let data = debugfs_cat(&img.path, "/huge");
    for (i, &(off, len)) in pieces.iter().enumerate() {
        assert!(data[off as usize..off as usize + len] == pattern(i, len)[..], "piece {i}");
    }
    // Down into the double-indirect range, then the direct one, then 0.
    let fs = img.fs();
    let mut f = fs.inode(f.ino).unwrap();
    fs.truncate(&mut f, (10 << 20) + 100).unwrap();
    let mid = fs.inode(f.ino).unwrap();
    assert!(mid.block[14] == 0 && mid.block[13] != 0);
    fs.truncate(&mut f, 5000).unwrap();
    let small = fs.inode(f.ino).unwrap();
    assert_eq!(small.block[12..], [0, 0, 0]);
    assert_eq!(small.blocks, 5 * 2);
    assert_eq!(free_counts(fs).0, before.0 - 5);
    let mut tail = vec![1u8; 1024];
    // The rest of the last block reads as zero after growing again.
    fs.truncate(&mut f, 7000).unwrap();
    assert_eq!(fs.read(&f, 5000, &mut tail).unwrap(), 1024);
    assert!(tail.iter().all(|&b| b == 0));
    img.check();
    assert_eq!(img.stat("/huge", "Size:"), "7000");
    assert_eq!(img.stat("/huge", "Blockcount:"), "10");
    let data = debugfs_cat(&img.path, "/huge");
    assert!(data[..5000] == pattern(0, 5000)[..] && data[5000..].iter().all(|&b| b == 0));
    let fs = img.fs();
    fs.truncate(&mut f, 0).unwrap();
    assert_eq!(free_counts(fs).0, before.0);
    assert_eq!(fs.truncate(&mut f, u64::MAX / 2).unwrap_err().errno(), Errno::EFBIG);
    img.check();
}

#[test]
fn sizes_past_2_gib_set_large_file_even_on_revision_0() {
    for extra in [&["-b", "1024", "-r", "0"][..], &["-b", "4096", "-r", "0"][..]] {
        let mut img = Img::new("ext2", extra, "8M", |_| {});
        let fs = img.fs();
        assert_eq!(fs.geometry().ro_compat & ro_compat::LARGE_FILE, 0);
        let mut f = fs.create(ROOT_INO, b"sparse", 0o644, 0, 0).unwrap();
        fs.write(&mut f, 3 << 30, b"past 2 GiB").unwrap();
        let mut g = fs.create(ROOT_INO, b"grown", 0o644, 0, 0).unwrap();
        fs.truncate(&mut g, 5 << 30).unwrap();
        assert_ne!(fs.geometry().ro_compat & ro_compat::LARGE_FILE, 0);
        img.check();
        assert_eq!(img.stat("/sparse", "Size:"), ((3u64 << 30) + 10).to_string());
        assert_eq!(img.stat("/grown", "Size:"), (5u64 << 30).to_string());
        let sb = debugfs(&img.path, "stats");
        assert!(sb.contains("large_file"), "{sb}");
    }
}

#[test]
fn mount_state_and_refusal() {
    let s = Scratch::new("mount");
    let src = s.0.join("src");
    std::fs::create_dir(&src).unwrap();
    let path = s.0.join("img");
    let bytes = mke2fs("ext2", &["-b", "1024"], &src, &path, "4M");
    let sb = |b: &[u8]| {
        let v = Superblock::new_unchecked(b[1024..2048].to_vec());
        (v.state(), u16::from_le_bytes([b[1024 + 52], b[1024 + 53]]), v.mtime(), v.wtime())
    };
    let (state, mounts, _, _) = sb(&bytes);
    assert_eq!(state, 1);
    let mut fs = Ext2::open(bytes.clone()).unwrap();
    fs.set_clock(Some(T));
    fs.mount_rw().unwrap();
    let img = fs.into_source();
    assert_eq!(sb(&img), (0, mounts + 1, T, T));
    let mut fs = Ext2::open(img).unwrap();
    fs.set_clock(Some(T + 5));
    fs.unmount().unwrap();
    let img = fs.into_source();
    assert_eq!(sb(&img), (1, mounts + 1, T, T + 5));
    std::fs::write(&path, &img).unwrap();
    fsck_clean(&path);
    // A read-only-compatible feature we cannot write: EROFS.
    let mut ro = bytes;
    ro[1024 + 100] |= 0x40; // extra_isize
    let mut fs = Ext2::open(ro).unwrap();
    assert_eq!(fs.mount_rw().unwrap_err().errno(), Errno::EROFS);
}

#[test]
fn full_image_enospc_everywhere_and_reserved_blocks() {
    for bs in ["1024", "4096"] {
        let mut img = Img::new("ext2", &["-b", bs, "-m", "20", "-N", "200"], "2M", |_| {});
        let fs = img.fs();
        let st = fs.statfs();
        assert!(st.avail < st.free && st.free - st.avail == st.free.min(st.free - st.avail));
        let d = fs.mkdir(ROOT_INO, b"d", 0o755, 0, 0).unwrap();
        let mut f = fs.create(d.ino, b"filler", 0o644, 0, 0).unwrap();
        fs.set_reserved_ok(false);
        let chunk = pattern(5, 4096);
        let err = loop {
            let end = f.size;
            if let Err(e) = fs.write(&mut f, end, &chunk) {
                break e;
            }
        };
        assert_eq!(err.errno(), Errno::ENOSPC);
        let st = fs.statfs();
        assert!(st.free > 0 && st.avail == 0, "{st:?}");
        // Root may go on into the reserve.
        fs.set_reserved_ok(true);
        let err = loop {
            let end = f.size;
            if let Err(e) = fs.write(&mut f, end, &chunk) {
                break e;
            }
        };
        assert_eq!(err.errno(), Errno::ENOSPC);
        assert_eq!(fs.statfs().free, 0);
        // Everything needing a block fails cleanly; what needs none works.
        let no_space = |r: Result<Inode, Error>| assert_eq!(r.unwrap_err().errno(), Errno::ENOSPC);
        no_space(fs.mkdir(ROOT_INO, b"m", 0o755, 0, 0));
        no_space(fs.symlink(ROOT_INO, b"s", &[b'q'; 100], 0, 0));
        let mut fill = 0;
        loop {
            let name = format!("{fill:03}-{}", "p".repeat(200));
            match fs.symlink(d.ino, name.as_bytes(), b"t", 0, 0) {
                Ok(_) => fill += 1,
                Err(e) => {
                    assert_eq!(e.errno(), Errno::ENOSPC);
                    break;
                }
            }
            assert!(fill < 200);
        }
        let s = fs.statfs();
        img.check();
        let fs = img.fs();
        assert_eq!(fs.statfs().ffree, s.ffree);
        // Freeing makes room again.
        let gone = fs.unlink(d.ino, b"filler").unwrap();
        fs.evict(gone.ino).unwrap();
        fs.mkdir(ROOT_INO, b"m", 0o755, 0, 0).unwrap();
        img.check();
    }
}

#[test]
fn top_level_directories_spread_over_groups() {
    // 1 KiB blocks, 8192 per group: 4 groups.
    let mut img = Img::new("ext2", &["-b", "1024"], "32M", |_| {});
    let fs = img.fs();
    let ipg = fs.geometry().inodes_per_group;
    let mut groups = Vec::new();
    for i in 0..4 {
        let d = fs.mkdir(ROOT_INO, format!("top{i}").as_bytes(), 0o755, 0, 0).unwrap();
        groups.push((d.ino - 1) / ipg);
        // A subdirectory stays with its parent.
        let sub = fs.mkdir(d.ino, b"sub", 0o755, 0, 0).unwrap();
        assert_eq!((sub.ino - 1) / ipg, (d.ino - 1) / ipg);
    }
    groups.sort();
    groups.dedup();
    // Linux's Orlov rule too: only groups with at least the average free
    // blocks qualify, which the backup superblocks' groups here do not.
    assert!(groups.len() >= 2, "{groups:?}");
    let summary = img.check();
    assert!(summary.contains("files"));
    let dirs = debugfs(&img.path, "stats");
    assert!(dirs.matches("directories").count() >= 4, "{dirs}");
}

#[test]
fn htree_directories_are_edited_as_plain_ones() {
    let mut img = Img::new("ext2", &["-b", "1024", "-O", "dir_index"], "8M", |src| {
        std::fs::create_dir(src.join("big")).unwrap();
        for i in 0..400 {
            std::fs::write(src.join(format!("big/a-file-with-a-long-name-{i:04}")), b"x").unwrap();
        }
    });
    // Index it as e2fsck -D does.
    let mut fs = img.fs.take().unwrap();
    fs.unmount().unwrap();
    std::fs::write(&img.path, fs.into_source()).unwrap();
    let out = std::process::Command::new("e2fsck").arg("-fyD").arg(&img.path).output().unwrap();
    assert!(out.status.code().unwrap_or(8) <= 1, "{}", String::from_utf8_lossy(&out.stdout));
    let mut fs = Ext2::open(std::fs::read(&img.path).unwrap()).unwrap();
    fs.set_clock(Some(T));
    fs.mount_rw().unwrap();
    let big = fs.lookup_inode(ROOT_INO, b"big").unwrap().unwrap();
    assert_ne!(big.flags & inode_flags::INDEX, 0, "e2fsck -D did not index");
    assert_eq!(fs.read_dir(&big).unwrap().len(), 402);
    img.fs = Some(fs);
    let fs = img.fs();
    fs.create(big.ino, b"new-one", 0o644, 0, 0).unwrap();
    let gone = fs.unlink(big.ino, b"a-file-with-a-long-name-0007").unwrap();
    fs.evict(gone.ino).unwrap();
    assert_eq!(fs.inode(big.ino).unwrap().flags & inode_flags::INDEX, 0);
    img.check();
    let names = img.ls("/big");
    assert_eq!(names.len(), 402);
    assert!(names.contains(&"new-one".to_string()) && !names.contains(&"a-file-with-a-long-name-0007".to_string()));
}

#[test]
fn entries_record_their_type() {
    let mut img = Img::new("ext2", &["-b", "1024"], "4M", |_| {});
    let fs = img.fs();
    fs.mknod(ROOT_INO, b"p", libc::S_IFIFO as u16 | 0o600, 0, 0, 0).unwrap();
    fs.symlink(ROOT_INO, b"l", b"p", 0, 0).unwrap();
    let d = fs.mkdir(ROOT_INO, b"d", 0o755, 0, 0).unwrap();
    let entries = fs.read_dir(&fs.inode(ROOT_INO).unwrap()).unwrap();
    let ty = |n: &[u8]| entries.iter().find(|e| e.name == n).unwrap().file_type;
    assert_eq!((ty(b"p"), ty(b"l"), ty(b"d")), (FileType::Fifo, FileType::Symlink, FileType::Directory));
    let inner = fs.read_dir(&d).unwrap();
    assert_eq!(
        inner.iter().map(|e| (e.name.clone(), e.ino)).collect::<Vec<_>>(),
        [(b".".to_vec(), d.ino), (b"..".to_vec(), ROOT_INO)]
    );
    img.check();
}
