//! Files (ARCHITECTURE §5): the guest's filesystem namespace, open files
//! and fd tables. Step 1 has one filesystem, a jailed host directory as
//! `/`; the mount table, tmpfs, procfs and devfs arrive with Step 2.

pub mod dirent;
pub mod epoll;
pub mod eventfd;
pub mod fdtable;
pub mod file;
pub mod hostfs;
pub mod path;
pub mod pipe;
pub mod procfs;
pub mod timerfd;

use hostfs::HostFs;
use path::Lookup;

use crate::errno::Errno;

/// The guest's filesystem namespace.
pub struct Vfs {
    root: HostFs,
}

impl Vfs {
    /// A namespace whose `/` is the host directory `root`.
    pub fn new(root: HostFs) -> Vfs {
        Vfs { root }
    }

    /// The root filesystem.
    pub fn root(&self) -> &HostFs {
        &self.root
    }

    /// Looks up `path` relative to the canonical directory `base`.
    pub fn lookup(&self, base: &[u8], path: &[u8], follow: bool) -> Result<Lookup, Errno> {
        path::lookup(&self.root, base, path, follow)
    }
}
