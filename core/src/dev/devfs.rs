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

/// What a path names in devfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevPath {
    /// /dev itself.
    Dir,
    /// A node.
    Node(Dev),
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
/// relative to its target.
pub fn classify(abs: &[u8]) -> Option<DevPath> {
    classify_in(b"/", abs)
}

/// Classifies an absolute namespace path (see [`classify`]) for a process
/// whose root directory is `root`: `..` at the root stays there.
pub fn classify_in(root: &[u8], abs: &[u8]) -> Option<DevPath> {
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
            (None, None) => DevPath::Missing,
        }),
        [b"dev", _, ..] => Some(DevPath::Missing),
        _ => None,
    }
}

/// The number of entries in /dev's listing when it holds the mount
/// points `subdirs`.
pub fn entry_count(subdirs: &[Vec<u8>]) -> usize {
    NODES.len() + LINKS.len() + 2 + subdirs.len()
}

/// The getdents64 records of /dev, whose mount points (directories of
/// other filesystems, such as `shm`) are `subdirs`, from entry `from` on,
/// fitting `room` bytes; returns the bytes and the next entry index.
pub fn dirents(from: usize, room: usize, subdirs: &[Vec<u8>]) -> (Vec<u8>, usize) {
    let mut entries: Vec<crate::fs::dirent::Entry<'_>> = vec![(b".", 1, libc::DT_DIR), (b"..", 1, libc::DT_DIR)];
    entries.extend(NODES.iter().map(|(n, d)| (n.as_bytes(), d.stat().st_ino, libc::DT_CHR)));
    entries.extend(LINKS.iter().enumerate().map(|(i, (n, _))| (n.as_bytes(), link_ino(i), libc::DT_LNK)));
    entries.extend(subdirs.iter().enumerate().map(|(i, n)| (n.as_slice(), 2 + i as u64, libc::DT_DIR)));
    crate::fs::dirent::records(&entries, from, room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_classify_lexically() {
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
    fn dirents_list_every_node() {
        let shm = [b"shm".to_vec()];
        let (buf, next) = dirents(0, 4096, &shm);
        assert_eq!(next, entry_count(&shm));
        assert!(buf.windows(4).any(|w| w == b"null"));
        assert!(buf.windows(4).any(|w| w == b"shm\0"));
        assert!(buf.windows(6).any(|w| w == b"stdin\0"));
        let (_, next) = dirents(0, 48, &shm);
        assert!(next < NODES.len());
    }
}
