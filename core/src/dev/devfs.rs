//! devfs: the character devices every guest has under /dev, whatever its
//! root filesystem holds (Linux's drivers/char/mem.c, tty).
//!
//! devfs is mounted on /dev (fs/mount.rs); where a path walk enters it,
//! the rest of the path is classified here: /dev, /dev/NAME, or a path
//! through one of its symlinks (/dev/fd and the standard streams, which
//! lead into procfs, as udev sets them up on Linux). Mount points under
//! /dev (shm) belong to their own filesystems. Host device nodes are never
//! opened (hostfs is nodev).

use crate::fs::mount::FsType;

/// A device node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dev {
    /// /dev/null: reads end, writes vanish.
    Null,
    /// /dev/zero: reads zeros.
    Zero,
    /// /dev/full: reads zeros, writes fail with ENOSPC.
    Full,
    /// /dev/random.
    Random,
    /// /dev/urandom.
    Urandom,
    /// /dev/tty: the caller's terminal, the console.
    Tty,
    /// /dev/console.
    Console,
}

/// Every node, in directory order.
pub const NODES: [(&str, Dev); 7] = [
    ("console", Dev::Console),
    ("full", Dev::Full),
    ("null", Dev::Null),
    ("random", Dev::Random),
    ("tty", Dev::Tty),
    ("urandom", Dev::Urandom),
    ("zero", Dev::Zero),
];

/// The symlinks in /dev, in directory order, and their targets.
pub const LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stderr", "/proc/self/fd/2"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
];

/// The names of the ubd disks' block device nodes, by unit.
pub const UBD_NAMES: [&str; 16] = [
    "ubda", "ubdb", "ubdc", "ubdd", "ubde", "ubdf", "ubdg", "ubdh", "ubdi", "ubdj", "ubdk", "ubdl", "ubdm", "ubdn",
    "ubdo", "ubdp",
];

/// The group that owns block device nodes (Debian's `disk`, which udev and
/// devtmpfs give them).
pub const DISK_GID: u32 = 6;

/// What a path names in devfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevPath {
    /// /dev itself.
    Dir,
    /// A node.
    Node(Dev),
    /// The block device node of ubd disk `unit` (one the VM has).
    Block(u8),
    /// A symlink (not followed): its target.
    Link(&'static str),
    /// A path that goes through a symlink: its target, then the rest of
    /// the path (always followed, like any symlink before the last
    /// component).
    Through(&'static str, Vec<u8>),
    /// Under /dev but no such node.
    Missing,
}

impl Dev {
    /// Its (major, minor).
    pub fn number(self) -> (u32, u32) {
        match self {
            Dev::Null => (1, 3),
            Dev::Zero => (1, 5),
            Dev::Full => (1, 7),
            Dev::Random => (1, 8),
            Dev::Urandom => (1, 9),
            Dev::Tty => (5, 0),
            Dev::Console => (5, 1),
        }
    }

    /// Its name under /dev.
    pub fn name(self) -> &'static str {
        NODES.iter().find(|(_, d)| *d == self).map_or("?", |(n, _)| n)
    }

    /// Its stat: a character device, owned by root.
    pub fn stat(self) -> libc::stat {
        // SAFETY: stat is plain integers; all-zero is valid.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let (ma, mi) = self.number();
        st.st_mode = libc::S_IFCHR | if self == Dev::Console { 0o600 } else { 0o666 };
        st.st_rdev = libc::makedev(ma, mi);
        st.st_dev = devfs_dev();
        st.st_ino = 1000 + (ma * 16 + mi) as u64;
        st.st_nlink = 1;
        st.st_blksize = 4096;
        st
    }
}

/// The stat of the block device node of ubd disk `unit`: mode 0660,
/// root:disk, size 0 (as Linux shows device nodes).
pub fn block_stat(unit: u8) -> libc::stat {
    // SAFETY: stat is plain integers; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = libc::S_IFBLK | 0o660;
    st.st_gid = DISK_GID;
    st.st_rdev = crate::fs::do_mounts::ubd_dev(unit);
    st.st_dev = devfs_dev();
    st.st_ino = block_ino(unit);
    st.st_nlink = 1;
    st.st_blksize = 4096;
    st
}

/// The inode number of the block device node of unit `unit`.
fn block_ino(unit: u8) -> u64 {
    3000 + u64::from(unit)
}

/// The unit a /dev name names among `disks` (the units present).
fn block_unit(name: &[u8], disks: &[u8]) -> Option<u8> {
    let unit = UBD_NAMES.iter().position(|n| n.as_bytes() == name)? as u8;
    disks.contains(&unit).then_some(unit)
}

/// The st_dev of devfs's files.
fn devfs_dev() -> u64 {
    FsType::Devtmpfs.synthetic_dev().unwrap_or_default()
}

/// The inode number of the symlink at `LINKS[i]`.
fn link_ino(i: usize) -> u64 {
    2000 + i as u64
}

/// The stat of a symlink of /dev (its size is its target's length).
pub fn link_stat(target: &str) -> libc::stat {
    // SAFETY: stat is plain integers; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = libc::S_IFLNK | 0o777;
    st.st_dev = devfs_dev();
    st.st_ino = link_ino(LINKS.iter().position(|(_, t)| *t == target).unwrap_or(0));
    st.st_nlink = 1;
    st.st_size = target.len() as i64;
    st.st_blksize = 4096;
    st
}

/// The stat of /dev itself, which holds `subdirs` mount points.
pub fn dir_stat(subdirs: usize) -> libc::stat {
    // SAFETY: stat is plain integers; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = libc::S_IFDIR | 0o755;
    st.st_dev = devfs_dev();
    st.st_ino = 1;
    st.st_nlink = 2 + subdirs as u64;
    st.st_blksize = 4096;
    st
}

fn link(name: &[u8]) -> Option<&'static str> {
    LINKS.iter().find(|(n, _)| n.as_bytes() == name).map(|(_, t)| *t)
}

/// Classifies an absolute path, a component at a time as the kernel
/// walks it (`.` and `//` skipped, `..` up a level): a symlink followed
/// by more components is jumped through at once, so `..` after it is
/// relative to its target. `disks` are the units of the VM's disks.
pub fn classify(abs: &[u8], disks: &[u8]) -> Option<DevPath> {
    classify_in(b"/", abs, disks)
}

/// Classifies an absolute namespace path (see [`classify`]) for a process
/// whose root directory is `root`: `..` at the root stays there.
pub fn classify_in(root: &[u8], abs: &[u8], disks: &[u8]) -> Option<DevPath> {
    let root = crate::fs::path::split(root);
    let comps: Vec<&[u8]> = abs.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    let mut stack: Vec<&[u8]> = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        if *c == b".." {
            crate::fs::path::dotdot(&mut stack, &root);
            continue;
        }
        stack.push(c);
        if let ([b"dev", name], true) = (stack.as_slice(), i + 1 < comps.len()) {
            if let Some(target) = link(name) {
                return Some(DevPath::Through(target, comps[i + 1..].join(&b'/')));
            }
        }
    }
    match stack.as_slice() {
        [b"dev"] => Some(DevPath::Dir),
        [b"dev", name] => Some(match (NODES.iter().find(|(n, _)| n.as_bytes() == *name), link(name)) {
            (Some((_, d)), _) => DevPath::Node(*d),
            (None, Some(target)) => DevPath::Link(target),
            (None, None) => block_unit(name, disks).map_or(DevPath::Missing, DevPath::Block),
        }),
        [b"dev", _, ..] => Some(DevPath::Missing),
        _ => None,
    }
}

/// The number of entries in /dev's listing when it holds the mount
/// points `subdirs` and the nodes of the disks `disks`.
pub fn entry_count(subdirs: &[Vec<u8>], disks: &[u8]) -> usize {
    NODES.len() + LINKS.len() + 2 + subdirs.len() + block_names(disks).count()
}

/// The block device nodes of the units `disks`: (name, unit).
fn block_names(disks: &[u8]) -> impl Iterator<Item = (&'static str, u8)> + '_ {
    UBD_NAMES.iter().enumerate().map(|(u, n)| (*n, u as u8)).filter(|(_, u)| disks.contains(u))
}

/// The getdents64 records of /dev, whose mount points (directories of
/// other filesystems, such as `shm`) are `subdirs` and whose disks are
/// the units `disks`, from entry `from` on, fitting `room` bytes; returns
/// the bytes and the next entry index.
pub fn dirents(from: usize, room: usize, subdirs: &[Vec<u8>], disks: &[u8]) -> (Vec<u8>, usize) {
    let mut entries: Vec<crate::fs::dirent::Entry<'_>> = vec![(b".", 1, libc::DT_DIR), (b"..", 1, libc::DT_DIR)];
    entries.extend(NODES.iter().map(|(n, d)| (n.as_bytes(), d.stat().st_ino, libc::DT_CHR)));
    entries.extend(block_names(disks).map(|(n, u)| (n.as_bytes(), block_ino(u), libc::DT_BLK)));
    entries.extend(LINKS.iter().enumerate().map(|(i, (n, _))| (n.as_bytes(), link_ino(i), libc::DT_LNK)));
    entries.extend(subdirs.iter().enumerate().map(|(i, n)| (n.as_slice(), 2 + i as u64, libc::DT_DIR)));
    crate::fs::dirent::records(&entries, from, room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_classify_lexically() {
        let classify = |p: &[u8]| classify(p, &[]);
        assert_eq!(classify(b"/dev/null"), Some(DevPath::Node(Dev::Null)));
        assert_eq!(classify(b"/tmp/../dev//zero"), Some(DevPath::Node(Dev::Zero)));
        assert_eq!(classify(b"/dev"), Some(DevPath::Dir));
        assert_eq!(classify(b"/dev/nope"), Some(DevPath::Missing));
        assert_eq!(classify(b"/devx/null"), None);
        assert_eq!(classify(b"/bin/sh"), None);
        assert_eq!(classify(b"/dev/stdin"), Some(DevPath::Link("/proc/self/fd/0")));
        assert_eq!(classify(b"/dev/fd/63"), Some(DevPath::Through("/proc/self/fd", b"63".to_vec())));
        assert_eq!(classify(b"/dev/fd/../x"), Some(DevPath::Through("/proc/self/fd", b"../x".to_vec())));
    }

    #[test]
    fn disks_have_block_nodes() {
        assert_eq!(classify(b"/dev/ubda", &[0, 2]), Some(DevPath::Block(0)));
        assert_eq!(classify(b"/dev/ubdc", &[0, 2]), Some(DevPath::Block(2)));
        assert_eq!(classify(b"/dev/ubdb", &[0, 2]), Some(DevPath::Missing));
        assert_eq!(classify(b"/dev/ubda/x", &[0]), Some(DevPath::Missing));
        let st = block_stat(1);
        assert_eq!(st.st_mode, libc::S_IFBLK | 0o660);
        assert_eq!((libc::major(st.st_rdev), libc::minor(st.st_rdev)), (98, 16));
        assert_eq!((st.st_uid, st.st_gid, st.st_size), (0, DISK_GID, 0));
        let (buf, next) = dirents(0, 4096, &[], &[0, 2]);
        assert_eq!(next, entry_count(&[], &[0, 2]));
        assert!(buf.windows(5).any(|w| w == b"ubda\0"));
        assert!(buf.windows(5).any(|w| w == b"ubdc\0"));
        assert!(!buf.windows(4).any(|w| w == b"ubdb"));
    }

    #[test]
    fn dirents_list_every_node() {
        let shm = [b"shm".to_vec()];
        let (buf, next) = dirents(0, 4096, &shm, &[]);
        assert_eq!(next, entry_count(&shm, &[]));
        assert!(buf.windows(4).any(|w| w == b"null"));
        assert!(buf.windows(4).any(|w| w == b"shm\0"));
        assert!(buf.windows(6).any(|w| w == b"stdin\0"));
        let (_, next) = dirents(0, 48, &shm, &[]);
        assert!(next < NODES.len());
    }
}
