//! devfs: the character devices every guest has under /dev, whatever its
//! root filesystem holds (Linux's drivers/char/mem.c, tty).
//!
//! devfs is mounted on /dev (fs/mount.rs); where a path walk enters it,
//! the rest of the path is classified here, lexically (devfs has no
//! symlinks): /dev or /dev/NAME. Mount points under /dev (shm) belong to
//! their own filesystems. Host device nodes are never opened (hostfs is
//! nodev).

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

/// What a path names in devfs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevPath {
    /// /dev itself.
    Dir,
    /// A node.
    Node(Dev),
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
        st.st_dev = libc::makedev(0, 5);
        st.st_ino = 1000 + (ma * 16 + mi) as u64;
        st.st_nlink = 1;
        st.st_blksize = 4096;
        st
    }
}

/// The stat of /dev itself, which holds `subdirs` mount points.
pub fn dir_stat(subdirs: usize) -> libc::stat {
    // SAFETY: stat is plain integers; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = libc::S_IFDIR | 0o755;
    st.st_dev = libc::makedev(0, 5);
    st.st_ino = 1;
    st.st_nlink = 2 + subdirs as u64;
    st.st_blksize = 4096;
    st
}

/// Classifies an absolute path, normalised lexically (`.`, `..`, `//`).
pub fn classify(abs: &[u8]) -> Option<DevPath> {
    let mut comps: Vec<&[u8]> = Vec::new();
    for c in abs.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                comps.pop();
            }
            c => comps.push(c),
        }
    }
    match comps.as_slice() {
        [b"dev"] => Some(DevPath::Dir),
        [b"dev", name] => {
            Some(NODES.iter().find(|(n, _)| n.as_bytes() == *name).map_or(DevPath::Missing, |(_, d)| DevPath::Node(*d)))
        }
        [b"dev", _, ..] => Some(DevPath::Missing),
        _ => None,
    }
}

/// The number of entries in /dev's listing when it holds the mount
/// points `subdirs`.
pub fn entry_count(subdirs: &[Vec<u8>]) -> usize {
    NODES.len() + 2 + subdirs.len()
}

/// The getdents64 records of /dev, whose mount points (directories of
/// other filesystems, such as `shm`) are `subdirs`, from entry `from` on,
/// fitting `room` bytes; returns the bytes and the next entry index.
pub fn dirents(from: usize, room: usize, subdirs: &[Vec<u8>]) -> (Vec<u8>, usize) {
    let mut entries: Vec<crate::fs::dirent::Entry<'_>> = vec![(b".", 1, libc::DT_DIR), (b"..", 1, libc::DT_DIR)];
    entries.extend(NODES.iter().map(|(n, d)| (n.as_bytes(), d.stat().st_ino, libc::DT_CHR)));
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
    }

    #[test]
    fn dirents_list_every_node() {
        let shm = [b"shm".to_vec()];
        let (buf, next) = dirents(0, 4096, &shm);
        assert_eq!(next, entry_count(&shm));
        assert!(buf.windows(4).any(|w| w == b"null"));
        assert!(buf.windows(4).any(|w| w == b"shm\0"));
        let (_, next) = dirents(0, 48, &shm);
        assert!(next < NODES.len());
    }
}
