//! The mount table (ARCHITECTURE §5): which filesystem serves which part
//! of the guest's namespace.
//!
//! A mount point is a canonical absolute guest path. The path walk
//! (fs/path.rs) asks the table, component by component, which mount it is
//! on: the mount whose point is the longest prefix of the canonical path
//! walked so far. Host-backed mounts (the hostfs root, tmpfs) are served
//! by a jailed [`HostFs`]; devfs and procfs are made up by the kernel, and
//! a walk that enters them hands the rest of the path to their
//! classifiers (see `Ctx::special`).

use std::fmt::Write as _;
use std::os::fd::AsFd;

use std::sync::Arc;

use super::ext2_mount::Ext2Mount;
use super::hostfs::HostFs;

/// Linux's TMPFS_MAGIC (statfs f_type of tmpfs and devtmpfs).
pub const TMPFS_MAGIC: i64 = 0x0102_1994;
/// Linux's PROC_SUPER_MAGIC.
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// Linux's SYSFS_MAGIC.
pub const SYSFS_MAGIC: i64 = 0x6265_6572;

/// The per-mount flags of mount(2) a mount keeps (MS_RDONLY, MS_NOSUID,
/// MS_NODEV, MS_NOEXEC, MS_NOATIME, MS_NODIRATIME), and how /proc/mounts
/// names them.
pub const MOUNT_FLAGS: [(u64, &str); 6] = [
    (libc::MS_RDONLY, "ro"),
    (libc::MS_NOSUID, "nosuid"),
    (libc::MS_NODEV, "nodev"),
    (libc::MS_NOEXEC, "noexec"),
    (libc::MS_NOATIME, "noatime"),
    (libc::MS_NODIRATIME, "nodiratime"),
];

/// How many mounts a table may hold, unmounted ones included (their
/// indices stay taken: open files remember them). Linux's default
/// fs.mount-max; beyond it mount(2) is ENOSPC.
pub const MAX_MOUNTS: usize = 100_000;

/// The kind of filesystem a mount is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsType {
    /// A jailed host directory (the root).
    HostFs,
    /// A tmpfs: a private, initially empty host directory that lives as
    /// long as the VM.
    Tmpfs,
    /// The kernel's /dev (fs/devfs in dev/devfs.rs).
    Devtmpfs,
    /// The kernel's /proc (fs/procfs.rs).
    Proc,
    /// The kernel's /sys (fs/sysfs.rs).
    Sysfs,
    /// An ext2 filesystem on a disk (fs/ext2_mount.rs).
    Ext2,
}

impl FsType {
    /// Its name in /proc/mounts and /proc/filesystems.
    pub fn name(self) -> &'static str {
        match self {
            FsType::HostFs => "hostfs",
            FsType::Tmpfs => "tmpfs",
            FsType::Devtmpfs => "devtmpfs",
            FsType::Proc => "proc",
            FsType::Sysfs => "sysfs",
            FsType::Ext2 => "ext2",
        }
    }

    /// The type mount(2) names `name`, among those it can mount (`ext3`
    /// is an ext2 mount: an ext3 image without a journal to replay).
    pub fn from_name(name: &[u8]) -> Option<FsType> {
        if name == b"ext3" {
            return Some(FsType::Ext2);
        }
        [FsType::HostFs, FsType::Tmpfs, FsType::Devtmpfs, FsType::Proc, FsType::Sysfs, FsType::Ext2]
            .into_iter()
            .find(|t| t.name().as_bytes() == name)
    }

    /// statfs's f_type for a kernel-made filesystem.
    pub fn magic(self) -> Option<i64> {
        match self {
            FsType::Tmpfs | FsType::Devtmpfs => Some(TMPFS_MAGIC),
            FsType::Proc => Some(PROC_SUPER_MAGIC),
            FsType::Sysfs => Some(SYSFS_MAGIC),
            FsType::HostFs | FsType::Ext2 => None,
        }
    }

    /// Whether the kernel makes its files up (no host directory behind it).
    pub fn is_synthetic(self) -> bool {
        matches!(self, FsType::Devtmpfs | FsType::Proc | FsType::Sysfs)
    }

    /// The st_dev of a kernel-made filesystem's files (anonymous device
    /// numbers, as Linux gives such filesystems).
    pub fn synthetic_dev(self) -> Option<u64> {
        match self {
            FsType::Devtmpfs => Some(libc::makedev(0, 5)),
            FsType::Proc => Some(libc::makedev(0, 4)),
            FsType::Sysfs => Some(libc::makedev(0, 6)),
            FsType::HostFs | FsType::Tmpfs | FsType::Ext2 => None,
        }
    }
}

/// Which host-backed mount an object is on, as lookups and open files
/// remember it: the mount's index in the table (rename and link compare
/// it: the host directories of two mounts may share a host filesystem)
/// and the st_dev the guest sees for the mount's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountRef {
    /// The mount's index in the table.
    pub index: usize,
    /// The mount's virtual device number; None: the host's st_dev shows.
    pub dev: Option<u64>,
}

impl MountRef {
    /// Gives a stat from the host the mount's device number.
    pub fn fix_stat(&self, st: &mut libc::stat) {
        if let Some(dev) = self.dev {
            st.st_dev = dev;
        }
    }

    /// Gives a statx from the host the mount's device number.
    pub fn fix_statx(&self, x: &mut libc::statx) {
        if let Some(dev) = self.dev {
            x.stx_dev_major = libc::major(dev);
            x.stx_dev_minor = libc::minor(dev);
        }
    }
}

/// One mounted filesystem.
#[derive(Clone)]
pub struct Mount {
    /// The canonical absolute mount point.
    pub point: Vec<u8>,
    /// The mount point's components (empty for `/`).
    comps: Vec<Vec<u8>>,
    /// What it is.
    pub fstype: FsType,
    /// The host directory serving it, for host-backed mounts.
    pub fs: Option<HostFs>,
    /// The st_dev its files show, when not the host's.
    pub dev: Option<u64>,
    /// Its flags, source and filesystem options.
    pub opts: MountOptions,
    /// The ext2 filesystem serving it, for ext2 mounts.
    pub disk: Option<Arc<Ext2Mount>>,
    /// Unmounted: no walk reaches it, but its index stays taken.
    detached: bool,
}

/// What mount(2) made of a mount beyond its type: its per-mount flags,
/// what /proc/mounts shows as its source, the filesystem's own options
/// it shows, and which directory of the filesystem is mounted.
#[derive(Clone, Debug, Default)]
pub struct MountOptions {
    /// MS_* bits of [`MOUNT_FLAGS`].
    pub flags: u64,
    /// The source (empty: the type's name, as the boot mounts show).
    pub source: Vec<u8>,
    /// The filesystem's options, comma-separated (`size=1m,mode=755`).
    pub data: String,
    /// The mounted directory's path in its filesystem (empty: its root;
    /// a bind mount's source directory otherwise).
    pub root: Vec<u8>,
}

impl Mount {
    /// How many components its mount point has (0 for `/`).
    pub fn depth(&self) -> usize {
        self.comps.len()
    }

    /// The per-mount options /proc/mounts shows (`rw,nosuid,nodev`).
    pub fn options(&self) -> String {
        let mut s = String::from(if self.read_only() { "ro" } else { "rw" });
        for (bit, name) in &MOUNT_FLAGS[1..] {
            if self.opts.flags & bit != 0 {
                s.push(',');
                s.push_str(name);
            }
        }
        s
    }

    /// The filesystem's options (mountinfo's last field): `rw` or `ro`,
    /// then its own.
    pub fn super_options(&self) -> String {
        let rw = if self.read_only() { "ro" } else { "rw" };
        if self.opts.data.is_empty() {
            rw.to_string()
        } else {
            format!("{rw},{}", self.opts.data)
        }
    }

    /// Whether it is mounted read-only (writes through it are EROFS).
    pub fn read_only(&self) -> bool {
        self.opts.flags & libc::MS_RDONLY != 0
    }

    /// Whether it has been unmounted.
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    /// What /proc/mounts shows as its source.
    pub fn source(&self) -> &[u8] {
        if self.opts.source.is_empty() {
            self.fstype.name().as_bytes()
        } else {
            &self.opts.source
        }
    }

    /// Whether the canonical absolute path `path` is at or under its
    /// mount point.
    pub fn holds(&self, path: &[u8]) -> bool {
        path == self.point.as_slice()
            || self.point == b"/"
            || (path.starts_with(&self.point) && path.get(self.point.len()) == Some(&b'/'))
    }
}

/// The mounts of one namespace, in mount order.
#[derive(Clone)]
pub struct MountTable {
    mounts: Vec<Mount>,
}

/// The first virtual device minor given to tmpfs mounts (major 0, as for
/// Linux's anonymous block devices).
const FIRST_TMPFS_MINOR: u32 = 0x20;

impl MountTable {
    /// A table with `root` mounted as hostfs on `/`.
    pub fn new(root: HostFs) -> MountTable {
        MountTable {
            mounts: vec![Mount {
                point: b"/".to_vec(),
                comps: Vec::new(),
                fstype: FsType::HostFs,
                fs: Some(root),
                dev: None,
                opts: MountOptions::default(),
                disk: None,
                detached: false,
            }],
        }
    }

    /// A table with the ext2 filesystem `disk` mounted on `/`.
    pub fn new_ext2(disk: Arc<Ext2Mount>) -> MountTable {
        MountTable {
            mounts: vec![Mount {
                point: b"/".to_vec(),
                comps: Vec::new(),
                fstype: FsType::Ext2,
                fs: None,
                dev: Some(disk.dev()),
                opts: ext2_options(&disk),
                disk: Some(disk),
                detached: false,
            }],
        }
    }

    /// Mounts the ext2 filesystem `disk` on the canonical path `point`.
    pub fn mount_ext2(&mut self, point: &[u8], disk: Arc<Ext2Mount>) -> usize {
        let dev = Some(disk.dev());
        self.push_with(point, FsType::Ext2, None, dev, ext2_options(&disk));
        let m = self.mounts.last_mut().expect("pushed");
        m.disk = Some(disk);
        self.mounts.len() - 1
    }

    /// Mounts a kernel-made filesystem on the canonical path `point`.
    pub fn mount_synthetic(&mut self, point: &[u8], fstype: FsType) {
        debug_assert!(fstype.is_synthetic());
        self.push(point, fstype, None, None);
    }

    /// Mounts the host directory `fs` as a tmpfs on the canonical path
    /// `point`, with a device number of its own: distinct from every other
    /// mount's and from the host device of the root directory, so that
    /// `find -xdev` and `du -x` see the mount boundary even when the host
    /// directories share a host filesystem.
    pub fn mount_tmpfs(&mut self, point: &[u8], fs: HostFs) {
        let dev = self.anon_dev();
        self.push(point, FsType::Tmpfs, Some(fs), Some(dev));
    }

    /// A device number no mount has (nor the root's host directory), for
    /// a new filesystem of the host-backed kind (an anonymous device).
    pub fn anon_dev(&self) -> u64 {
        let root_dev = self.mounts[0].fs.as_ref().and_then(|r| super::hostfs::fstat(r.as_fd()).ok());
        let taken = |d: u64| root_dev.is_some_and(|st| st.st_dev == d) || self.mounts.iter().any(|m| m.dev == Some(d));
        let mut minor = FIRST_TMPFS_MINOR;
        while taken(libc::makedev(0, minor)) {
            minor += 1;
        }
        libc::makedev(0, minor)
    }

    fn push(&mut self, point: &[u8], fstype: FsType, fs: Option<HostFs>, dev: Option<u64>) {
        let flags = if fstype == FsType::Tmpfs { libc::MS_NOSUID | libc::MS_NODEV } else { 0 };
        let opts = MountOptions { flags, ..MountOptions::default() };
        self.push_with(point, fstype, fs, dev, opts);
    }

    fn push_with(&mut self, point: &[u8], fstype: FsType, fs: Option<HostFs>, dev: Option<u64>, opts: MountOptions) {
        let comps: Vec<Vec<u8>> = point.split(|&b| b == b'/').filter(|c| !c.is_empty()).map(<[u8]>::to_vec).collect();
        let mut point = vec![b'/'];
        point.extend(comps.join(&b'/'));
        self.mounts.push(Mount { point, comps, fstype, fs, dev, opts, disk: None, detached: false });
    }

    /// Mounts a filesystem on the canonical path `point` (mount(2)), on
    /// top of whatever is mounted there: `fs` serves a host-backed type,
    /// `dev` is the st_dev its files show when not the host's. Returns its
    /// index; ENOSPC when the table is full ([`MAX_MOUNTS`]).
    pub fn mount_at(
        &mut self,
        point: &[u8],
        fstype: FsType,
        fs: Option<HostFs>,
        dev: Option<u64>,
        opts: MountOptions,
    ) -> Result<usize, crate::errno::Errno> {
        if self.mounts.len() >= MAX_MOUNTS {
            return Err(crate::errno::Errno::ENOSPC);
        }
        self.push_with(point, fstype, fs, dev, opts);
        Ok(self.mounts.len() - 1)
    }

    /// The mounts that hang below mount `index`: mounted later, on a
    /// point under its point (what umount2 must take along, or refuse).
    pub fn submounts(&self, index: usize) -> Vec<usize> {
        let Some(m) = self.mounts.get(index).filter(|m| !m.detached) else { return Vec::new() };
        let n = m.comps.len();
        (index + 1..self.mounts.len())
            .filter(|&j| {
                let c = &self.mounts[j];
                !c.detached && c.comps.len() >= n && c.comps[..n] == m.comps[..]
            })
            .collect()
    }

    /// Unmounts mount `index` and its [`MountTable::submounts`]: no walk
    /// reaches them any more (their indices stay taken). Returns the
    /// filesystems they held, for the caller to release. The root mount
    /// cannot be unmounted (EBUSY); EINVAL for a mount already gone.
    pub fn unmount(&mut self, index: usize) -> Result<Vec<Option<HostFs>>, crate::errno::Errno> {
        if index == 0 {
            return Err(crate::errno::Errno::EBUSY);
        }
        if self.mounts.get(index).is_none_or(|m| m.detached) {
            return Err(crate::errno::Errno::EINVAL);
        }
        let mut gone = self.submounts(index);
        gone.push(index);
        Ok(gone
            .into_iter()
            .map(|i| {
                let m = &mut self.mounts[i];
                m.detached = true;
                m.fs.take()
            })
            .collect())
    }

    /// Changes the per-mount flags of mount `index` (MS_REMOUNT).
    pub fn set_flags(&mut self, index: usize, flags: u64) {
        if let Some(m) = self.mounts.get_mut(index) {
            m.opts.flags = flags;
        }
    }

    /// Changes what mount `index` shows as its source (a disk mounted
    /// again shows the name it was mounted by this time).
    pub fn set_source(&mut self, index: usize, source: Vec<u8>) {
        if let Some(m) = self.mounts.get_mut(index) {
            m.opts.source = source;
        }
    }

    /// Changes the filesystem options mount `index` shows (a remount that
    /// gives new ones).
    pub fn set_data(&mut self, index: usize, data: String) {
        if let Some(m) = self.mounts.get_mut(index) {
            m.opts.data = data;
        }
    }

    /// Whether mount `index` is read-only; an index no mount has is not.
    pub fn is_read_only(&self, index: usize) -> bool {
        self.mounts.get(index).is_some_and(Mount::read_only)
    }

    /// The mount at `index`, unmounted or not; None for an index never
    /// given.
    pub fn try_get(&self, index: usize) -> Option<&Mount> {
        self.mounts.get(index)
    }

    /// Every mount, unmounted ones included, in mount order.
    pub fn iter_all(&self) -> impl Iterator<Item = &Mount> {
        self.mounts.iter()
    }

    /// Whether the table is full ([`MAX_MOUNTS`]): mount(2) is ENOSPC.
    pub fn is_full(&self) -> bool {
        self.mounts.len() >= MAX_MOUNTS
    }

    /// Every mount, in mount order.
    pub fn iter(&self) -> impl Iterator<Item = &Mount> {
        self.mounts.iter().filter(|m| !m.detached)
    }

    /// The mount at `index`.
    pub fn get(&self, index: usize) -> &Mount {
        &self.mounts[index]
    }

    /// The root mount's host directory, when the root is host-backed.
    pub fn root(&self) -> Option<&HostFs> {
        self.mounts[0].fs.as_ref()
    }

    /// The mount a canonical path (as components) is on: the one whose
    /// point is its longest prefix (the latest mounted, on a tie).
    pub fn covering<C: AsRef<[u8]>>(&self, comps: &[C]) -> usize {
        covering_in(&self.mounts, comps)
    }

    /// The mount whose point is exactly this canonical path, if any.
    pub fn at<C: AsRef<[u8]>>(&self, comps: &[C]) -> Option<usize> {
        self.mounts.iter().rposition(|m| {
            !m.detached
                && m.comps.len() == comps.len()
                && m.comps.iter().zip(comps).all(|(a, b)| a.as_slice() == b.as_ref())
        })
    }

    /// The mount whose point is exactly the canonical absolute path
    /// `path`, if any.
    pub fn at_path(&self, path: &[u8]) -> Option<usize> {
        let comps: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
        self.at(&comps)
    }

    /// Whether the canonical absolute path `path` is a mount point.
    pub fn is_mount_point(&self, path: &[u8]) -> bool {
        self.at_path(path).is_some()
    }

    /// How objects on mount `index` remember it.
    pub fn mount_ref(&self, index: usize) -> MountRef {
        MountRef { index, dev: self.mounts[index].dev }
    }

    /// The names of the mount points directly under the canonical
    /// directory `dir` (a kernel-made directory lists them: `shm` in /dev).
    pub fn children_of(&self, dir: &[u8]) -> Vec<Vec<u8>> {
        let parent: Vec<&[u8]> = dir.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
        self.mounts
            .iter()
            .filter(|m| {
                !m.detached
                    && m.comps.len() == parent.len() + 1
                    && m.comps.iter().zip(&parent).all(|(a, b)| a.as_slice() == *b)
            })
            .filter_map(|m| m.comps.last().cloned())
            .collect()
    }

    /// The st_dev the files of mount `index` show.
    pub fn dev(&self, index: usize) -> u64 {
        let m = &self.mounts[index];
        m.dev.or(m.fstype.synthetic_dev()).unwrap_or_else(|| {
            m.fs.as_ref().and_then(|fs| super::hostfs::fstat(fs.as_fd()).ok()).map_or(0, |st| st.st_dev)
        })
    }

    /// /proc/PID/mountinfo (Linux's show_mountinfo): one line per mount,
    /// `ID PARENT MAJOR:MINOR ROOT POINT OPTIONS - TYPE SOURCE SUPER`.
    /// Mounts are numbered from 1 in mount order; a mount's parent is the
    /// earlier mount its point lies on, and the root's is 0, which no
    /// mount of the namespace has (as in Linux, where the namespace's
    /// root hangs from a mount outside it). No mount propagates, so there
    /// are no optional fields. As for a reader whose root directory is
    /// `root`: mount points relative to it, and mounts outside it left out.
    pub fn mountinfo(&self, root: &[u8]) -> String {
        let mut s = String::new();
        for (i, m) in self.mounts.iter().enumerate().filter(|(_, m)| !m.detached) {
            let Some(point) = super::path::under_root(root, &m.point) else { continue };
            let parent = if i == 0 {
                0
            } else {
                let up = &m.comps[..m.comps.len().saturating_sub(1)];
                covering_in(&self.mounts[..i], up) + 1
            };
            let dev = self.dev(i);
            let (id, major, minor) = (i + 1, libc::major(dev), libc::minor(dev));
            let (point, options, fstype) = (escape(&point), m.options(), m.fstype.name());
            let (source, sb, mroot) = (escape(m.source()), m.super_options(), escape(mount_root(m)));
            let _ = writeln!(s, "{id} {parent} {major}:{minor} {mroot} {point} {options} - {fstype} {source} {sb}");
        }
        s
    }

    /// /proc/mounts: one `SOURCE POINT TYPE OPTIONS 0 0` line per mount,
    /// for a reader whose root directory is `root` (see
    /// [`MountTable::mountinfo`]).
    pub fn proc_mounts(&self, root: &[u8]) -> String {
        let mut s = String::new();
        for m in self.iter() {
            let Some(point) = super::path::under_root(root, &m.point) else { continue };
            let (point, source) = (escape(&point), escape(m.source()));
            let data = if m.opts.data.is_empty() { String::new() } else { format!(",{}", m.opts.data) };
            let _ = writeln!(s, "{source} {point} {} {}{data} 0 0", m.fstype.name(), m.options());
        }
        s
    }
}

/// The options of a new ext2 mount: its source device, and read-only
/// when the filesystem is.
fn ext2_options(disk: &Ext2Mount) -> MountOptions {
    // umvm never updates access times on a disk: say so, as `noatime`.
    let flags = libc::MS_NOATIME | if disk.read_only() { libc::MS_RDONLY } else { 0 };
    MountOptions { flags, source: disk.source.clone(), ..MountOptions::default() }
}

/// The index of the mount among `mounts` whose point is the longest
/// prefix of a canonical path (the latest mounted, on a tie).
fn covering_in<C: AsRef<[u8]>>(mounts: &[Mount], comps: &[C]) -> usize {
    let mut best = 0;
    for (i, m) in mounts.iter().enumerate() {
        let n = m.comps.len();
        if !m.detached
            && n <= comps.len()
            && n >= mounts[best].comps.len()
            && m.comps.iter().zip(comps).all(|(a, b)| a.as_slice() == b.as_ref())
        {
            best = i;
        }
    }
    best
}

/// The directory of its filesystem a mount shows (mountinfo's 4th field).
fn mount_root(m: &Mount) -> &[u8] {
    if m.opts.root.is_empty() {
        b"/"
    } else {
        &m.opts.root
    }
}

/// Escapes a path as /proc/mounts does (octal for space, tab, newline and
/// backslash), so that each line stays six fields.
fn escape(p: &[u8]) -> String {
    let mut s = String::new();
    for &b in p {
        match b {
            b' ' | b'\t' | b'\n' | b'\\' => {
                let _ = write!(s, "\\{b:03o}");
            }
            _ => s.push(b as char),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (std::path::PathBuf, MountTable) {
        let dir = std::env::temp_dir().join(format!("umvm-mount-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut t = MountTable::new(HostFs::open(&dir).unwrap());
        t.mount_synthetic(b"/dev", FsType::Devtmpfs);
        t.mount_synthetic(b"/proc", FsType::Proc);
        t.mount_tmpfs(b"/tmp", HostFs::open(&dir).unwrap());
        t.mount_tmpfs(b"/dev/shm", HostFs::open(&dir).unwrap());
        (dir, t)
    }

    #[test]
    fn the_longest_prefix_covers_a_path() {
        let (dir, t) = table();
        let c = |p: &str| t.get(t.covering(&p.split('/').filter(|c| !c.is_empty()).collect::<Vec<_>>())).point.clone();
        assert_eq!(c("/"), b"/");
        assert_eq!(c("/tmp"), b"/tmp");
        assert_eq!(c("/tmp/a/b"), b"/tmp");
        assert_eq!(c("/tmpx"), b"/");
        assert_eq!(c("/dev/null"), b"/dev");
        assert_eq!(c("/dev/shm/x"), b"/dev/shm");
        assert!(t.is_mount_point(b"/dev/shm"));
        assert!(!t.is_mount_point(b"/dev/shm/x"));
        assert_eq!(t.children_of(b"/dev"), vec![b"shm".to_vec()]);
        let devs: Vec<_> = t.iter().filter_map(|m| m.dev).collect();
        assert_eq!(devs.len(), 2);
        assert_ne!(devs[0], devs[1]);
        assert_eq!(
            t.proc_mounts(b"/"),
            "hostfs / hostfs rw 0 0\ndevtmpfs /dev devtmpfs rw 0 0\nproc /proc proc rw 0 0\n\
             tmpfs /tmp tmpfs rw,nosuid,nodev 0 0\ntmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n"
        );
        let root = t.dev(0);
        let (tmp, shm) = (devs[0], devs[1]);
        let d = |dev: u64| format!("{}:{}", libc::major(dev), libc::minor(dev));
        assert_eq!(
            t.mountinfo(b"/"),
            format!(
                "1 0 {} / / rw - hostfs hostfs rw\n2 1 0:5 / /dev rw - devtmpfs devtmpfs rw\n\
                 3 1 0:4 / /proc rw - proc proc rw\n4 1 {} / /tmp rw,nosuid,nodev - tmpfs tmpfs rw\n\
                 5 2 {} / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw\n",
                d(root),
                d(tmp),
                d(shm)
            )
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
