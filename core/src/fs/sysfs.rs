//! sysfs (Linux's fs/sysfs), minimal: the directories programs look for
//! (/sys/block, /sys/class, /sys/devices, /sys/fs, /sys/kernel) and, under
//! /sys/block, one directory per block device the disk driver registers,
//! with its `dev`, `size` and `ro`.
//!
//! Like procfs, sysfs is made up by the kernel: where a path walk enters a
//! sysfs mount, the rest of the path is classified here, as if the mount
//! were on /sys, into the node types procfs serves ([`ProcNode`]).

use std::sync::Mutex;

use super::procfs::ProcNode;

/// A block device as /sys/block shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockDevice {
    /// Its name (`ubda`).
    pub name: String,
    /// Its size in 512-byte sectors.
    pub sectors: u64,
    /// Its device number.
    pub major: u32,
    /// Its device number.
    pub minor: u32,
    /// Whether it is read-only.
    pub read_only: bool,
}

/// What sysfs shows beyond its fixed directories, as the drivers register
/// it.
#[derive(Default)]
pub struct Registry {
    block: Mutex<Vec<BlockDevice>>,
}

impl Registry {
    /// Registers a block device (replacing one of the same name).
    pub fn add_block(&self, dev: BlockDevice) {
        let mut b = self.block.lock().unwrap_or_else(|e| e.into_inner());
        b.retain(|d| d.name != dev.name);
        b.push(dev);
        b.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Unregisters the block device `name` (hot-unplug).
    pub fn remove_block(&self, name: &str) {
        self.block.lock().unwrap_or_else(|e| e.into_inner()).retain(|d| d.name != name);
    }

    /// The registered block devices, by name.
    pub fn block_devices(&self) -> Vec<BlockDevice> {
        self.block.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The directories of /sys.
const TOP: [&str; 5] = ["block", "class", "devices", "fs", "kernel"];
/// The files of /sys/block/NAME.
const BLOCK_FILES: [&str; 3] = ["dev", "ro", "size"];

fn dir(names: impl IntoIterator<Item = (Vec<u8>, u8)>) -> ProcNode {
    let mut e = vec![(b".".to_vec(), libc::DT_DIR), (b"..".to_vec(), libc::DT_DIR)];
    e.extend(names);
    ProcNode::Dir(e)
}

/// Classifies an absolute path as if sysfs were mounted on /sys; None
/// when it is not under /sys (a `..` left it). `root` is the caller's
/// root directory, at which `..` stays. sysfs has no links, so `..` is
/// lexical.
pub fn classify(reg: &Registry, root: &[u8], abs: &[u8]) -> Option<ProcNode> {
    let root = super::path::split(root);
    let mut stack: Vec<&[u8]> = Vec::new();
    for c in abs.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".") {
        if c == b".." {
            super::path::dotdot(&mut stack, &root);
        } else {
            stack.push(c);
        }
    }
    if stack.first() != Some(&&b"sys"[..]) {
        return None;
    }
    Some(node(reg, &stack[1..]))
}

fn node(reg: &Registry, rel: &[&[u8]]) -> ProcNode {
    match rel {
        [] => dir(TOP.iter().map(|n| (n.as_bytes().to_vec(), libc::DT_DIR))),
        [top] if TOP.iter().any(|n| n.as_bytes() == *top) && *top != b"block" => dir([]),
        [b"block"] => dir(reg.block_devices().into_iter().map(|d| (d.name.into_bytes(), libc::DT_DIR))),
        [b"block", name, rest @ ..] => {
            let Some(d) = reg.block_devices().into_iter().find(|d| d.name.as_bytes() == *name) else {
                return ProcNode::Missing;
            };
            match rest {
                [] => dir(BLOCK_FILES.iter().map(|n| (n.as_bytes().to_vec(), libc::DT_REG))),
                [b"dev"] => ProcNode::File(format!("{}:{}\n", d.major, d.minor).into_bytes()),
                [b"size"] => ProcNode::File(format!("{}\n", d.sectors).into_bytes()),
                [b"ro"] => ProcNode::File(format!("{}\n", u8::from(d.read_only)).into_bytes()),
                _ => ProcNode::Missing,
            }
        }
        _ => ProcNode::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: Option<ProcNode>) -> Vec<String> {
        match n {
            Some(ProcNode::Dir(e)) => e.into_iter().map(|(n, _)| String::from_utf8(n).unwrap()).collect(),
            _ => panic!("not a directory"),
        }
    }

    fn file(n: Option<ProcNode>) -> String {
        match n {
            Some(ProcNode::File(c)) => String::from_utf8(c).unwrap(),
            _ => panic!("not a file"),
        }
    }

    #[test]
    fn sys_has_its_directories_and_the_registered_block_devices() {
        let reg = Registry::default();
        assert_eq!(entries(classify(&reg, b"/", b"/sys")), [".", "..", "block", "class", "devices", "fs", "kernel"]);
        assert_eq!(entries(classify(&reg, b"/", b"/sys/kernel")), [".", ".."]);
        assert_eq!(entries(classify(&reg, b"/", b"/sys/block")), [".", ".."]);
        assert!(matches!(classify(&reg, b"/", b"/sys/block/ubda"), Some(ProcNode::Missing)));
        assert!(matches!(classify(&reg, b"/", b"/sys/nope"), Some(ProcNode::Missing)));
        reg.add_block(BlockDevice { name: "ubdb".into(), sectors: 8, major: 98, minor: 16, read_only: true });
        reg.add_block(BlockDevice { name: "ubda".into(), sectors: 2048, major: 98, minor: 0, read_only: false });
        assert_eq!(entries(classify(&reg, b"/", b"/sys/block")), [".", "..", "ubda", "ubdb"]);
        assert_eq!(entries(classify(&reg, b"/", b"/sys/block/ubda")), [".", "..", "dev", "ro", "size"]);
        assert_eq!(file(classify(&reg, b"/", b"/sys/block/ubda/size")), "2048\n");
        assert_eq!(file(classify(&reg, b"/", b"/sys/block/ubdb/dev")), "98:16\n");
        assert_eq!(file(classify(&reg, b"/", b"/sys/kernel/../block/ubdb/ro")), "1\n");
        reg.remove_block("ubdb");
        assert_eq!(entries(classify(&reg, b"/", b"/sys/block")), [".", "..", "ubda"]);
        // `..` out of /sys, or at the root: not sysfs's.
        assert!(classify(&reg, b"/", b"/sys/..").is_none());
        assert!(classify(&reg, b"/", b"/sys/../../etc").is_none());
    }
}
