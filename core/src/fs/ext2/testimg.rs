//! Test-only: source trees and the images `mke2fs -d` builds from them.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("umvm-ext2-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where the big sparse file has data: block 0, the single-, double- and
/// (at 1 KiB blocks) triple-indirect ranges.
pub const SPARSE_SIZE: u64 = 70 << 20;
pub const SPARSE_DATA: [u64; 4] = [0, 100 << 10, 10 << 20, SPARSE_SIZE - 5000];

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31).wrapping_add(seed * 7) % 251) as u8).collect()
}

/// The full tree of the brief: nested dirs, a sparse file reaching triple
/// indirect blocks at 1 KiB, fast and slow symlinks, a hard link, a FIFO,
/// an empty file and a 300-entry directory.
pub fn full_tree(root: &Path) {
    let w = |p: &str, data: &[u8]| std::fs::write(root.join(p), data).unwrap();
    std::fs::create_dir_all(root.join("a/b/c")).unwrap();
    w("a/b/c/deep.txt", b"deep inside\n");
    w("a/one.txt", b"one\n");
    w("small.txt", b"hello, ext2\n");
    w("empty", b"");
    w("medium.bin", &pattern(1, 300_000));
    w("exact4k", &pattern(2, 4096));
    let f = std::fs::File::create(root.join("sparse")).unwrap();
    for (i, &off) in SPARSE_DATA.iter().enumerate() {
        f.write_all_at(&pattern(10 + i, 3000), off).unwrap();
    }
    f.set_len(SPARSE_SIZE).unwrap();
    std::os::unix::fs::symlink("small.txt", root.join("fastlink")).unwrap();
    let long = format!("a/b/c/{}/deep.txt", "x".repeat(90));
    std::os::unix::fs::symlink(long, root.join("slowlink")).unwrap();
    std::fs::hard_link(root.join("small.txt"), root.join("a/hardlink")).unwrap();
    let fifo = std::ffi::CString::new(root.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    std::fs::create_dir(root.join("big")).unwrap();
    for i in 0..300 {
        w(&format!("big/an-entry-with-a-longish-name-{i:03}"), format!("{i}\n").as_bytes());
    }
}

/// A small tree for the mutation test: a few dirs, a file with indirect
/// blocks, symlinks and a 40-entry directory, in a 1 MiB image.
pub fn small_tree(root: &Path) {
    std::fs::create_dir_all(root.join("d/e")).unwrap();
    std::fs::write(root.join("d/e/f"), b"f\n").unwrap();
    std::fs::write(root.join("mid"), pattern(3, 40_000)).unwrap();
    std::os::unix::fs::symlink("mid", root.join("l1")).unwrap();
    std::os::unix::fs::symlink("y".repeat(100), root.join("l2")).unwrap();
    for i in 0..40 {
        std::fs::write(root.join(format!("d/n{i:02}")), b"x").unwrap();
    }
}

/// Runs `mke2fs -q -F -t TYPE EXTRA... -d SRC IMAGE SIZE` and returns the
/// image's bytes.
pub fn mke2fs(fstype: &str, extra: &[&str], src: &Path, image: &Path, size: &str) -> Vec<u8> {
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", fstype])
        .args(extra)
        .arg("-d")
        .arg(src)
        .arg(image)
        .arg(size)
        .env("MKE2FS_CONFIG", "/etc/mke2fs.conf")
        .output()
        .expect("mke2fs (e2fsprogs) must be installed");
    assert!(out.status.success(), "mke2fs {fstype} {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(image).unwrap()
}

/// e2fsck's note that a superblock time is less than a day ahead of its
/// own clock: this VM's clock is sometimes stepped back (its time is
/// resynchronised), which is no fault of the image.
pub fn clock_skew(line: &str) -> bool {
    line.starts_with("Superblock last mount time is in the future.")
        || line.starts_with("Superblock last write time is in the future.")
        || line.trim() == "(by less than a day, probably due to the hardware clock being incorrectly set)"
}

/// Runs `e2fsck -fn` and asserts it exits 0 and reports nothing but its
/// pass headings and summary.
pub fn fsck_clean(image: &Path) -> String {
    let out = Command::new("e2fsck").arg("-fn").arg(image).output().expect("e2fsck (e2fsprogs) must be installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let unexpected: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("Pass ") && !l.contains(" files (") && !l.starts_with("e2fsck "))
        .filter(|l| !clock_skew(l))
        .collect();
    assert!(out.status.success() && unexpected.is_empty(), "e2fsck -fn {image:?}: {:?}\n{text}", out.status);
    text
}

pub fn debugfs_cat(image: &Path, path: &str) -> Vec<u8> {
    let out = Command::new("debugfs").arg("-R").arg(format!("cat {path}")).arg(image).output().unwrap();
    assert!(out.status.success(), "debugfs cat {path}");
    out.stdout
}

/// The output of `debugfs -R CMD IMAGE`.
pub fn debugfs(image: &Path, cmd: &str) -> String {
    let out = Command::new("debugfs").arg("-R").arg(cmd).arg(image).output().unwrap();
    assert!(out.status.success(), "debugfs {cmd}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `debugfs -R "ls -p DIR"`: (name, inode, mode, size) of each live
/// entry, `.` and `..` included (debugfs also lists the names left in
/// records whose inode is 0: those are skipped).
pub fn debugfs_ls(image: &Path, dir: &str) -> Vec<(String, u32, u32, u64)> {
    debugfs(image, &format!("ls -p {dir}"))
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('/').collect();
            if f.len() < 7 {
                return None;
            }
            let mode = u32::from_str_radix(f[2], 8).ok()?;
            let ino: u32 = f[1].parse().ok()?;
            (ino != 0).then(|| (f[5].to_string(), ino, mode, f[6].parse().unwrap_or(0)))
        })
        .collect()
}

/// A field of `debugfs -R "stat PATH"`, the text after `key` up to the
/// next run of spaces.
pub fn debugfs_stat(image: &Path, path: &str, key: &str) -> String {
    let text = debugfs(image, &format!("stat {path}"));
    let at = text.find(key).unwrap_or_else(|| panic!("no {key:?} in stat {path}:\n{text}"));
    let rest = text[at + key.len()..].trim_start();
    rest.split("   ").next().unwrap_or("").lines().next().unwrap_or("").trim().to_string()
}
