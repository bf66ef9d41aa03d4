//! Path walk in the guest's namespace (ARCHITECTURE §5).
//!
//! The walk resolves `.`, `..`, symlinks and mount points itself, so
//! absolute symlink targets and `..` at `/` mean the guest's root, never
//! the host's, and `..` at the root of a mount leads to the parent of its
//! mount point.
//!
//! Paths the kernel keeps (a cwd, an open file's path, a lookup's result)
//! are canonical paths of the namespace. A process's root directory
//! (chroot(2)) is one of them: its absolute paths and absolute symlink
//! targets start there, and `..` at it stays there (Linux's
//! `follow_dotdot`); a cwd outside it walks `..` up to the namespace's
//! `/`, as on Linux. [`join_root`] maps a guest's absolute path into the
//! namespace, [`view`] a namespace path back as the process names it. The common case (no symlink and no `..` before the last
//! component) costs one host `openat2` of the parent directory, in the
//! mount that covers it; other paths are walked one component at a time,
//! so that a `..` or a symlink target is taken from the right mount.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use super::hostfs::{self, cstr};
use std::sync::Arc;

use super::ext2::{FileType, Inode};
use super::ext2_mount::{Ext2Mount, ROOT_INO};
use super::mount::{FsType, MountRef, MountTable};
use super::perm::{self, Attr, Who};
use crate::errno::Errno;

/// Linux's limit on symlinks followed in one lookup.
pub const MAX_SYMLINKS: u32 = 40;
/// Linux's PATH_MAX, NUL included.
pub const PATH_MAX: usize = 4096;
/// Linux's NAME_MAX.
pub const NAME_MAX: usize = 255;

/// The result of a lookup on a host-backed mount: the parent directory
/// and the final name.
pub struct Lookup {
    /// `O_PATH` fd of the directory that holds the final component.
    pub dir: OwnedFd,
    /// The final component (`.` when the path names a directory through
    /// `.`/`..`/`/`, or a mount point).
    pub name: CString,
    /// The canonical absolute guest path of the final component.
    pub path: Vec<u8>,
    /// The final component's stat (with the mount's device number), when
    /// the lookup followed it and it exists (it is then not a symlink).
    pub stat: Option<libc::stat>,
    /// The path ended with `/`: the final component must be a directory.
    pub must_be_dir: bool,
    /// The mount the final component is on.
    pub mount: MountRef,
    /// The owner and mode of `dir`, when a checked walk took its stat
    /// (see [`Search`]).
    pub parent: Option<Attr>,
}

impl Lookup {
    /// The stat of the final component, or ENOENT.
    pub fn existing(&self) -> Result<libc::stat, Errno> {
        self.stat.ok_or(Errno::ENOENT)
    }

    /// The stat of the final component itself (a symlink is not
    /// followed), with the mount's device number.
    pub fn lstat(&self) -> Result<libc::stat, Errno> {
        let mut st = hostfs::lstat_at(self.dir.as_fd(), &self.name)?;
        self.mount.fix_stat(&mut st);
        Ok(st)
    }

    /// The owner and mode of the directory that holds the final
    /// component: the walk's, or a new `fstat`.
    pub fn parent_attr(&self) -> Result<Attr, Errno> {
        match self.parent {
            Some(a) => Ok(a),
            None => Ok(Attr::from(&hostfs::fstat(self.dir.as_fd())?)),
        }
    }
}

/// Search (execute) permission on every directory a walk looks a name up
/// in, as Linux's may_lookup checks it, for an unprivileged caller. The
/// walk stats each directory anyway; only the root of each mount (and the
/// directory a `..` leaves) costs an `fstat` more.
pub struct Search<'a> {
    who: &'a Who,
    /// How many lookups at the start of the walk lead to the directory a
    /// relative path starts from (the cwd or a dirfd): Linux starts there
    /// and never checks its ancestors.
    trusted: usize,
    /// The stat of the directory the walk is in, when known.
    dir: Option<libc::stat>,
}

impl<'a> Search<'a> {
    /// Checks for `who` a walk of `path`, absolute from the canonical root
    /// directory `root` (chroot(2)) or relative to the canonical `base`.
    pub fn new(who: &'a Who, root: &[u8], base: &[u8], path: &[u8]) -> Search<'a> {
        Search::from_dir(who, if path.first() == Some(&b'/') { root } else { base })
    }

    /// Checks for `who` a walk of a namespace path that starts in the
    /// canonical directory `start` (a root, a cwd, a dirfd, where a magic
    /// link leads): Linux never checks the directories above it.
    pub fn from_dir(who: &'a Who, start: &[u8]) -> Search<'a> {
        Search { who, trusted: components(start).count(), dir: None }
    }

    /// Checks search permission on the directory at `stack` before a name
    /// is looked up in it; `fd` is that directory when open. Directories
    /// of the kernel's own filesystems are not checked.
    fn check<C: AsRef<[u8]>>(&mut self, t: &MountTable, stack: &[C], dir: Option<&DirRef>) -> Result<(), Errno> {
        if self.trusted > 0 {
            self.trusted -= 1;
            return Ok(());
        }
        let st = match (self.dir, dir) {
            (Some(st), _) => st,
            (None, Some(d)) => d.fstat()?,
            (None, None) => {
                let m = t.covering(stack);
                if t.get(m).fstype.is_synthetic() {
                    return Ok(());
                }
                open_in(t, m, stack)?.fstat()?
            }
        };
        self.dir = Some(st);
        perm::permission(&Attr::from(&st), self.who, perm::MAY_EXEC)
    }
}

/// Where a path leads.
// A lookup lives for one syscall and is moved once: not worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Resolved {
    /// A host-backed mount.
    Found(Lookup),
    /// Into a filesystem the kernel makes up (devfs, procfs), at this
    /// absolute path: what is left of it is that filesystem's to resolve
    /// (procfs has symlinks of its own).
    Synthetic(FsType, Vec<u8>),
    /// An ext2 mount.
    Ext2(Ext2Lookup),
}

/// The result of a lookup on an ext2 mount: the parent directory and the
/// final name, as for [`Lookup`].
pub struct Ext2Lookup {
    /// The filesystem.
    pub fs: Arc<Ext2Mount>,
    /// The inode of the directory that holds the final component.
    pub dir: u32,
    /// The final component (`.` for a directory named by `.`, `..`, `/`
    /// or a mount point).
    pub name: Vec<u8>,
    /// The canonical absolute guest path of the final component.
    pub path: Vec<u8>,
    /// The final component's inode when it exists (its target, when the
    /// lookup followed a symlink).
    pub inode: Option<Inode>,
    /// The path ended with `/`: the final component must be a directory.
    pub must_be_dir: bool,
    /// The mount the final component is on.
    pub mount: MountRef,
}

impl Ext2Lookup {
    /// The final component's inode, or ENOENT.
    pub fn existing(&self) -> Result<&Inode, Errno> {
        self.inode.as_ref().ok_or(Errno::ENOENT)
    }

    /// The stat of the final component, or ENOENT.
    pub fn stat(&self) -> Result<libc::stat, Errno> {
        Ok(self.fs.stat(self.existing()?))
    }

    /// The owner and mode of the directory that holds the final component.
    pub fn parent_attr(&self) -> Result<Attr, Errno> {
        Ok(Attr::from(&self.fs.stat(&self.fs.inode(self.dir)?)))
    }
}

/// A directory a walk is in.
enum DirRef {
    /// On a host-backed mount: an `O_PATH` fd.
    Host(OwnedFd),
    /// On an ext2 mount: the filesystem and the directory's inode.
    Ext2(Arc<Ext2Mount>, u32),
}

impl DirRef {
    /// The directory's own stat.
    fn fstat(&self) -> Result<libc::stat, Errno> {
        match self {
            DirRef::Host(fd) => hostfs::fstat(fd.as_fd()),
            DirRef::Ext2(fs, ino) => Ok(fs.stat(&fs.inode(*ino)?)),
        }
    }

    /// The stat of `name` in it (a symlink not followed); ENOENT when
    /// there is none.
    fn lstat(&self, name: &[u8]) -> Result<libc::stat, Errno> {
        match self {
            DirRef::Host(fd) => hostfs::lstat_at(fd.as_fd(), &cstr(name)),
            DirRef::Ext2(fs, ino) => match fs.lookup(*ino, name)? {
                Some(i) => Ok(fs.stat(&i)),
                None => Err(Errno::ENOENT),
            },
        }
    }

    /// The target of the symlink `name` in it.
    fn readlink(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        match self {
            DirRef::Host(fd) => hostfs::readlink_at(fd.as_fd(), &cstr(name)),
            DirRef::Ext2(fs, ino) => match fs.lookup(*ino, name)? {
                Some(i) => fs.read_link(i.ino),
                None => Err(Errno::ENOENT),
            },
        }
    }
}

/// How far a walk of the parent directories got.
enum Walk {
    /// A directory of a host-backed or ext2 mount: the mount, the
    /// directory and the canonical path.
    Dir(usize, DirRef, Vec<u8>),
    /// Into a kernel-made filesystem (see [`Resolved::Synthetic`]).
    Synthetic(FsType, Vec<u8>),
}

fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".")
}

/// Normalises an absolute path lexically (valid only where no symlink
/// precedes a `..`).
pub fn normalize(path: &[u8]) -> Vec<u8> {
    normalize_in(b"/", path)
}

/// Normalises an absolute namespace path lexically for a process whose
/// root is the canonical `root`: `..` at the root stays there.
pub fn normalize_in(root: &[u8], path: &[u8]) -> Vec<u8> {
    let root = split(root);
    let mut out: Vec<&[u8]> = Vec::new();
    for c in components(path) {
        if c == b".." {
            dotdot(&mut out, &root);
        } else {
            out.push(c);
        }
    }
    absolute(&out)
}

/// The components of a canonical absolute path.
pub fn split(path: &[u8]) -> Vec<&[u8]> {
    components(path).collect()
}

/// Takes a `..` on the walk `stack`: the parent directory, except at the
/// root `root` (as components), where `..` leads to the root itself.
pub fn dotdot<C: AsRef<[u8]>>(stack: &mut Vec<C>, root: &[&[u8]]) {
    let at_root = stack.len() == root.len() && stack.iter().zip(root).all(|(a, b)| a.as_ref() == *b);
    if !at_root {
        stack.pop();
    }
}

/// The namespace path of `path`, an absolute path as a process whose
/// root is the canonical `root` names it: the root's path in front of it.
pub fn join_root(root: &[u8], path: &[u8]) -> Vec<u8> {
    if root == b"/" {
        return path.to_vec();
    }
    if path.iter().all(|&b| b == b'/') {
        return root.to_vec();
    }
    let mut p = root.to_vec();
    if path.first() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(path);
    p
}

/// The canonical namespace path `path` as seen from the root `root`, or
/// None when it is not at or under that root.
pub fn under_root(root: &[u8], path: &[u8]) -> Option<Vec<u8>> {
    if root == b"/" {
        return Some(path.to_vec());
    }
    let rest = path.strip_prefix(root)?;
    match rest.first() {
        None => Some(b"/".to_vec()),
        Some(b'/') => Some(rest.to_vec()),
        Some(_) => None,
    }
}

/// What Linux's `d_path` shows a process whose root is `root` of the
/// kernel's name for an object (a canonical namespace path, or a name such
/// as `pipe:[N]`): a path relative to the root when it is under it, else
/// the namespace path unchanged (Linux prints a path it cannot reach from
/// the root from the namespace's `/`). A " (deleted)" mark stays at the
/// end.
pub fn view(root: &[u8], name: &[u8]) -> Vec<u8> {
    if root == b"/" || name.first() != Some(&b'/') {
        return name.to_vec();
    }
    let (path, mark) = match name.strip_suffix(b" (deleted)") {
        Some(p) => (p, &b" (deleted)"[..]),
        None => (name, &b""[..]),
    };
    match under_root(root, path) {
        Some(mut v) => {
            v.extend_from_slice(mark);
            v
        }
        None => name.to_vec(),
    }
}

fn absolute<C: AsRef<[u8]>>(comps: &[C]) -> Vec<u8> {
    let mut p = Vec::new();
    for c in comps {
        p.push(b'/');
        p.extend_from_slice(c.as_ref());
    }
    if p.is_empty() {
        p.push(b'/');
    }
    p
}

/// Joins a canonical absolute directory and a relative path.
pub fn join_base(base: &[u8], rel: &[u8]) -> Vec<u8> {
    let mut p = base.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(rel);
    p
}

/// Opens the directory at the canonical `comps` (at or under the mount
/// point) of host-backed or ext2 mount `m`. A symlink on the way is
/// ELOOP, as for `openat2` with RESOLVE_NO_SYMLINKS: the slow walk
/// follows it.
fn open_in<C: AsRef<[u8]>>(t: &MountTable, m: usize, comps: &[C]) -> Result<DirRef, Errno> {
    let mount = t.get(m);
    let rel = comps.iter().skip(mount.depth()).map(AsRef::as_ref);
    if let Some(disk) = &mount.disk {
        let mut ino = ROOT_INO;
        for c in rel {
            let i = disk.lookup(ino, c)?.ok_or(Errno::ENOENT)?;
            match i.file_type() {
                FileType::Directory => ino = i.ino,
                FileType::Symlink => return Err(Errno::ELOOP),
                _ => return Err(Errno::ENOTDIR),
            }
        }
        return Ok(DirRef::Ext2(disk.clone(), ino));
    }
    let fs = mount.fs.as_ref().ok_or(Errno::EIO)?;
    let rel: Vec<&[u8]> = rel.collect();
    fs.open_dir(&rel.join(&b'/')).map(DirRef::Host)
}

/// Looks up `path` (absolute from the canonical root directory `root`, or
/// relative to the canonical directory `base`) in the namespace of `t`.
/// With `follow`, a symlink as the final component is followed (and the
/// result's `stat` is filled in).
pub fn resolve(t: &MountTable, root: &[u8], base: &[u8], path: &[u8], follow: bool) -> Result<Resolved, Errno> {
    resolve_as(t, root, base, path, follow, None)
}

/// [`resolve`], checking search permission on the way when `search` is
/// given (an unprivileged caller; see [`Search::new`]): such walks go one
/// component at a time.
pub fn resolve_as(
    t: &MountTable,
    root: &[u8],
    base: &[u8],
    path: &[u8],
    follow: bool,
    search: Option<&mut Search<'_>>,
) -> Result<Resolved, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let full = if path[0] == b'/' { join_root(root, path) } else { join_base(base, path) };
    resolve_from_as(t, root, full, follow, search)
}

/// Looks up the absolute namespace path `full` (already rooted: where a
/// procfs link such as /proc/PID/root leads) for a process whose root is
/// `root`, which the walk's `..` and absolute symlinks respect.
pub fn resolve_from(t: &MountTable, root: &[u8], full: Vec<u8>, follow: bool) -> Result<Resolved, Errno> {
    resolve_from_as(t, root, full, follow, None)
}

/// [`resolve_from`], checking search permission on the way when `search`
/// is given (see [`Search::from_dir`] for where its checks start).
pub fn resolve_from_as(
    t: &MountTable,
    root: &[u8],
    mut full: Vec<u8>,
    follow: bool,
    mut search: Option<&mut Search<'_>>,
) -> Result<Resolved, Errno> {
    let root_comps = split(root);
    let mut links = 0;
    loop {
        let must_be_dir = full.len() > 1 && full.ends_with(b"/");
        let mut comps: Vec<&[u8]> = components(&full).collect();
        if comps.iter().any(|c| c.len() > NAME_MAX) {
            return Err(Errno::ENAMETOOLONG);
        }
        // A path ending in `..` (or naming `/`) names a directory: look it
        // up whole and operate on its `.`.
        if comps.last().is_none_or(|c| *c == b"..") {
            comps.push(b".");
        }
        let (name, parent) = comps.split_last().expect("at least one component");
        let fast = if search.is_none() { walk_fast(t, parent)? } else { None };
        let walked = match fast {
            Some(w) => w,
            None => walk_slow(t, &root_comps, parent, &mut links, search.as_deref_mut())?,
        };
        if let (Some(s), Walk::Dir(_, dir, _)) = (search.as_deref_mut(), &walked) {
            if *name != b"." {
                s.check(t, parent, Some(dir))?;
            }
        }
        let parent_stat = search.as_deref().and_then(|s| s.dir.as_ref().map(Attr::from));
        let at = match &walked {
            Walk::Dir(_, _, p) | Walk::Synthetic(_, p) => p,
        };
        let path = if *name == b"." { at.clone() } else { join_base(at, name) };
        // A mount point as the final component means the mounted root.
        if *name != b"." {
            if let Some(m) = t.at_path(&path) {
                let mount = t.get(m);
                if mount.fstype.is_synthetic() {
                    return Ok(Resolved::Synthetic(mount.fstype, path));
                }
                let mref = t.mount_ref(m);
                if let Some(fs) = &mount.disk {
                    let (fs, dir, name, inode) = (fs.clone(), ROOT_INO, b".".to_vec(), Some(fs.inode(ROOT_INO)?));
                    return Ok(Resolved::Ext2(Ext2Lookup { fs, dir, name, path, inode, must_be_dir, mount: mref }));
                }
                let dir = mount.fs.as_ref().ok_or(Errno::EIO)?.open_dir(b"")?;
                let mut st = hostfs::lstat_at(dir.as_fd(), &cstr(b"."))?;
                mref.fix_stat(&mut st);
                let stat = (follow || must_be_dir).then_some(st);
                let name = cstr(b".");
                let parent = None;
                return Ok(Resolved::Found(Lookup { dir, name, path, stat, must_be_dir, mount: mref, parent }));
            }
        }
        let (m, dir, parent_path) = match walked {
            Walk::Synthetic(fstype, _) => return Ok(Resolved::Synthetic(fstype, path)),
            Walk::Dir(m, dir, parent_path) => (m, dir, parent_path),
        };
        let mount = t.mount_ref(m);
        let parent = parent_stat;
        // An ext2 directory is read to look the name up anyway: its inode
        // comes along whether or not the caller follows links.
        let inode = match &dir {
            DirRef::Ext2(fs, d) => Some(fs.lookup(*d, name)?),
            DirRef::Host(_) => None,
        };
        let found = |dir, stat, inode| found(dir, name, path.clone(), stat, inode, must_be_dir, mount, parent);
        if !(follow || must_be_dir) {
            return Ok(found(dir, None, inode.flatten()));
        }
        let lst = match (&dir, &inode) {
            (DirRef::Ext2(fs, _), Some(Some(i))) => Ok(fs.stat(i)),
            (DirRef::Ext2(..), _) => Err(Errno::ENOENT),
            (DirRef::Host(_), _) => dir.lstat(name),
        };
        match lst {
            Ok(st) if hostfs::file_type(&st) == libc::S_IFLNK => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = dir.readlink(name)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if let Some(s) = search.as_deref_mut() {
                    // The target starts in the link's directory, already
                    // searched, or (absolute) at the root, whose
                    // ancestors are never checked.
                    let start = if target[0] == b'/' { root } else { &parent_path[..] };
                    s.trusted = components(start).count();
                }
                full = if target[0] == b'/' { join_root(root, &target) } else { join_base(&parent_path, &target) };
                if must_be_dir {
                    full.push(b'/');
                }
            }
            Ok(mut st) => {
                if must_be_dir && hostfs::file_type(&st) != libc::S_IFDIR {
                    return Err(Errno::ENOTDIR);
                }
                mount.fix_stat(&mut st);
                return Ok(found(dir, Some(st), inode.flatten()));
            }
            Err(Errno::ENOENT) => return Ok(found(dir, None, None)),
            Err(e) => return Err(e),
        }
    }
}

/// A lookup's result in directory `dir`.
#[allow(clippy::too_many_arguments)]
fn found(
    dir: DirRef,
    name: &[u8],
    path: Vec<u8>,
    stat: Option<libc::stat>,
    inode: Option<Inode>,
    must_be_dir: bool,
    mount: MountRef,
    parent: Option<Attr>,
) -> Resolved {
    match dir {
        DirRef::Host(fd) => {
            Resolved::Found(Lookup { dir: fd, name: cstr(name), path, stat, must_be_dir, mount, parent })
        }
        DirRef::Ext2(fs, dir) => {
            Resolved::Ext2(Ext2Lookup { fs, dir, name: name.to_vec(), path, inode, must_be_dir, mount })
        }
    }
}

/// The fast walk: the parent directories in one `openat2` on the mount
/// that covers them. Only for parents without `..` (which may leave a
/// mount, or follow a symlink lexical normalisation would skip); None
/// when the slow walk must do it (a `..`, or a symlink on the way).
fn walk_fast(t: &MountTable, parent: &[&[u8]]) -> Result<Option<Walk>, Errno> {
    if parent.contains(&&b".."[..]) {
        return Ok(None);
    }
    let m = t.covering(parent);
    let fstype = t.get(m).fstype;
    if fstype.is_synthetic() {
        return Ok(Some(Walk::Synthetic(fstype, absolute(parent))));
    }
    match open_in(t, m, parent) {
        Ok(fd) => Ok(Some(Walk::Dir(m, fd, absolute(parent)))),
        Err(Errno::ELOOP) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Walks directory components one by one, following symlinks and mount
/// points in the guest's namespace, within the root directory `root`,
/// checking search permission on the way when `search` is given. Returns
/// the directory reached, or where the walk entered a kernel-made
/// filesystem.
fn walk_slow(
    t: &MountTable,
    root: &[&[u8]],
    comps: &[&[u8]],
    links: &mut u32,
    mut search: Option<&mut Search<'_>>,
) -> Result<Walk, Errno> {
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut pending: VecDeque<Vec<u8>> = comps.iter().map(|c| c.to_vec()).collect();
    if let Some(s) = search.as_deref_mut() {
        s.dir = None;
    }
    while let Some(c) = pending.pop_front() {
        if c == b".." {
            if let Some(s) = search.as_deref_mut() {
                s.trusted = 0;
                s.check(t, &stack, None)?;
                s.dir = None;
            }
            dotdot(&mut stack, root);
            continue;
        }
        // A mount point is the root of the mounted filesystem, a
        // directory, whatever the parent filesystem has under that name.
        stack.push(c);
        if t.at(&stack).is_some() {
            if let Some(s) = search.as_deref_mut() {
                s.check(t, &stack[..stack.len() - 1], None)?;
                s.dir = None;
            }
            continue;
        }
        let c = stack.pop().expect("pushed above");
        let m = t.covering(&stack);
        let fstype = t.get(m).fstype;
        if fstype.is_synthetic() {
            let rest: Vec<Vec<u8>> = std::iter::once(c).chain(pending).collect();
            return Ok(Walk::Synthetic(fstype, join_base(&absolute(&stack), &rest.join(&b'/'))));
        }
        let dir = open_in(t, m, &stack)?;
        if let Some(s) = search.as_deref_mut() {
            s.check(t, &stack, Some(&dir))?;
        }
        let st = dir.lstat(&c)?;
        match hostfs::file_type(&st) {
            libc::S_IFDIR => {
                if let Some(s) = search.as_deref_mut() {
                    s.dir = Some(st);
                }
                stack.push(c)
            }
            libc::S_IFLNK => {
                *links += 1;
                if *links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = dir.readlink(&c)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if target[0] == b'/' {
                    stack = root.iter().map(|c| c.to_vec()).collect();
                }
                if let Some(s) = search.as_deref_mut() {
                    s.trusted = 0;
                    if target[0] == b'/' {
                        s.dir = None;
                    }
                }
                for t in components(&target).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(t.to_vec());
                }
            }
            _ => return Err(Errno::ENOTDIR),
        }
    }
    let m = t.covering(&stack);
    let fstype = t.get(m).fstype;
    if fstype.is_synthetic() {
        return Ok(Walk::Synthetic(fstype, absolute(&stack)));
    }
    Ok(Walk::Dir(m, open_in(t, m, &stack)?, absolute(&stack)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::hostfs::HostFs;
    use std::os::unix::fs::symlink;
    use std::path::{Path, PathBuf};

    struct Tree(PathBuf);
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A host tree: `top/secret` (the host's), the guest root `top/root`
    /// and, for the mount tests, tmpfs directories `top/tmp` and `top/shm`.
    fn tree(name: &str) -> (Tree, PathBuf) {
        let top = std::env::temp_dir().join(format!("umvm-path-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&top);
        let root = top.join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(top.join("secret"), "host secret").unwrap();
        std::fs::write(root.join("a/b/f"), "guest file").unwrap();
        symlink("/a", root.join("abs")).unwrap();
        symlink("../..", root.join("a/up")).unwrap();
        symlink(top.join("secret"), root.join("hostabs")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        (Tree(top.clone()), top)
    }

    fn lookup(t: &MountTable, base: &[u8], path: &[u8], follow: bool) -> Result<Lookup, Errno> {
        lookup_in(t, b"/", base, path, follow)
    }

    fn lookup_in(t: &MountTable, root: &[u8], base: &[u8], path: &[u8], follow: bool) -> Result<Lookup, Errno> {
        match resolve(t, root, base, path, follow)? {
            Resolved::Found(l) => Ok(l),
            Resolved::Synthetic(fstype, at) => panic!("{fstype:?} at {}", String::from_utf8_lossy(&at)),
            Resolved::Ext2(l) => panic!("ext2 at {}", String::from_utf8_lossy(&l.path)),
        }
    }

    fn synthetic(t: &MountTable, path: &[u8]) -> (FsType, String) {
        match resolve(t, b"/", b"/", path, true) {
            Ok(Resolved::Synthetic(fstype, at)) => (fstype, String::from_utf8(at).unwrap()),
            Ok(Resolved::Found(l)) => panic!("found {}", String::from_utf8_lossy(&l.path)),
            Ok(Resolved::Ext2(l)) => panic!("ext2 {}", String::from_utf8_lossy(&l.path)),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn dotdot_and_symlinks_stay_in_the_root() {
        let (_t, top) = tree("jail");
        let t = MountTable::new(HostFs::open(&top.join("root")).unwrap());
        let l = lookup(&t, b"/", b"/../../a/b/f", true).unwrap();
        assert_eq!(l.path, b"/a/b/f");
        let l = lookup(&t, b"/", b"/abs/b/../b/f", true).unwrap();
        assert_eq!(l.path, b"/a/b/f");
        let l = lookup(&t, b"/", b"/a/up/a/up/a/b/f", true).unwrap();
        assert_eq!(l.path, b"/a/b/f");
        assert!(l.stat.is_some());
        // The absolute host path is resolved inside the root: not found.
        // (its directories do not exist under the root).
        assert_eq!(lookup(&t, b"/", b"/hostabs", true).err(), Some(Errno::ENOENT));
        assert_eq!(lookup(&t, b"/", b"/loop", true).err(), Some(Errno::ELOOP));
        assert_eq!(lookup(&t, b"/", b"/loop/x", false).err(), Some(Errno::ELOOP));
        let l = lookup(&t, b"/a/b", b"..", true).unwrap();
        assert_eq!(l.path, b"/a");
        let l = lookup(&t, b"/", b"..", true).unwrap();
        assert_eq!(l.path, b"/");
        assert_eq!(lookup(&t, b"/", b"/a/b/f/", true).err(), Some(Errno::ENOTDIR));
        assert_eq!(lookup(&t, b"/", b"/a/b/f/x", true).err(), Some(Errno::ENOTDIR));
    }

    #[test]
    fn a_root_directory_confines_absolute_paths_symlinks_and_dotdot() {
        let (_t, top) = tree("chroot");
        let root = top.join("root");
        symlink("/b", root.join("a/absb")).unwrap();
        symlink("/absb/f", root.join("a/b/to-f")).unwrap();
        let t = MountTable::new(HostFs::open(&root).unwrap());
        let jail = b"/a";
        // Absolute paths start at the root; `..` at the root stays there.
        let l = lookup_in(&t, jail, jail, b"/b/f", true).unwrap();
        assert_eq!((l.path.as_slice(), read(&l).as_str()), (&b"/a/b/f"[..], "guest file"));
        for p in [&b"/../../b/f"[..], b"/b/../../b/f", b"../b/f", b"/up/b/f", b"/absb/f", b"/b/to-f"] {
            let l = lookup_in(&t, jail, jail, p, true).unwrap();
            assert_eq!(l.path, b"/a/b/f", "{}", String::from_utf8_lossy(p));
        }
        assert_eq!(lookup_in(&t, jail, jail, b"/..", true).unwrap().path, b"/a");
        assert_eq!(lookup_in(&t, jail, b"/a/b", b"../../..", true).unwrap().path, b"/a");
        // Without the root, /absb means /b, which does not exist.
        assert_eq!(lookup(&t, b"/", b"/a/absb/f", true).err(), Some(Errno::ENOENT));
        // A cwd outside the root is walked as it is, `..` up to `/`.
        let l = lookup_in(&t, jail, b"/", b"a/b/f", true).unwrap();
        assert_eq!(l.path, b"/a/b/f");
        assert_eq!(lookup_in(&t, b"/a/b", b"/a", b"../../a/b/f", true).unwrap().path, b"/a/b/f");
        // Coming back into the root, `..` stops there again.
        assert_eq!(lookup_in(&t, b"/a/b", b"/a", b"../a/b/../f", true).unwrap().path, b"/a/b/f");
        assert_eq!(lookup_in(&t, jail, b"/", b"..", true).unwrap().path, b"/");
        // ... but an absolute symlink met there leads into the root.
        let l = lookup_in(&t, b"/a/b", b"/", b"a/absb", true).unwrap();
        assert_eq!((l.path.as_slice(), l.stat.is_none()), (&b"/a/b/b"[..], true));
        assert_eq!(lookup_in(&t, jail, b"/", b"a/absb/f", true).unwrap().path, b"/a/b/f");
    }

    #[test]
    fn search_permission_is_checked_below_the_root_only() {
        use std::os::unix::fs::PermissionsExt;
        let (_t, top) = tree("search");
        let root = top.join("root");
        symlink("/b", root.join("a/absb")).unwrap();
        let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        // The namespace's `/` and the jail's b are closed to others.
        mode(&root, 0o700);
        mode(&root.join("a"), 0o711);
        mode(&root.join("a/b"), 0o700);
        let t = MountTable::new(HostFs::open(&root).unwrap());
        // SAFETY: getuid has no preconditions.
        let other = Who { uid: unsafe { libc::getuid() } + 1, gid: 4242, groups: Vec::new(), caps: 0 };
        let walk = |root: &[u8], base: &[u8], path: &[u8]| {
            let mut s = Search::new(&other, root, base, path);
            match resolve_as(&t, root, base, path, true, Some(&mut s)) {
                Ok(Resolved::Found(l)) => Ok(l.path),
                Ok(Resolved::Synthetic(..) | Resolved::Ext2(_)) => panic!("not a host lookup"),
                Err(e) => Err(e),
            }
        };
        let jail = b"/a";
        for p in [&b"/b/f"[..], b"/absb/f", b"/../b/f", b"b/f"] {
            assert_eq!(walk(jail, jail, p), Err(Errno::EACCES), "{}", String::from_utf8_lossy(p));
        }
        mode(&root.join("a/b"), 0o711);
        // Above the root (and above a cwd) nothing is checked...
        for p in [&b"/b/f"[..], b"/absb/f", b"/../b/f", b"b/f"] {
            assert_eq!(walk(jail, jail, p).as_deref(), Ok(&b"/a/b/f"[..]), "{}", String::from_utf8_lossy(p));
        }
        assert_eq!(walk(b"/", b"/a/b", b"f").as_deref(), Ok(&b"/a/b/f"[..]));
        // ... but without the root, `/` is walked and refuses.
        assert_eq!(walk(b"/", b"/", b"/a/b/f"), Err(Errno::EACCES));
        assert_eq!(walk(b"/", b"/a", b"../a/b/f"), Err(Errno::EACCES));
        mode(&root, 0o755);
    }

    #[test]
    fn paths_are_shown_from_the_root() {
        assert_eq!(join_root(b"/", b"/x"), b"/x");
        assert_eq!(join_root(b"/a/b", b"/x/y"), b"/a/b/x/y");
        assert_eq!(join_root(b"/a/b", b"//"), b"/a/b");
        assert_eq!(under_root(b"/a", b"/a/b").as_deref(), Some(&b"/b"[..]));
        assert_eq!(under_root(b"/a", b"/a").as_deref(), Some(&b"/"[..]));
        assert_eq!(under_root(b"/a", b"/ab"), None);
        assert_eq!(under_root(b"/a", b"/"), None);
        assert_eq!(view(b"/a", b"/a/f (deleted)"), b"/f (deleted)");
        assert_eq!(view(b"/a", b"/b/f"), b"/b/f");
        assert_eq!(view(b"/a", b"pipe:[3]"), b"pipe:[3]");
        assert_eq!(normalize_in(b"/a", b"/a/../../x/.."), b"/a");
        assert_eq!(normalize_in(b"/", b"/a/../../x"), b"/x");
    }

    /// The root of `top/root` with devfs, procfs and tmpfs at `top/tmp`
    /// on /tmp and `top/shm` on /dev/shm; the root has a /tmp of its own
    /// (hidden by the mount) and symlinks into and out of the mounts.
    fn mounted(name: &str) -> (Tree, MountTable) {
        let (tree, top) = tree(name);
        let root = top.join("root");
        let w = |p: &Path, s: &str| std::fs::write(p, s).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        w(&root.join("tmp/hidden"), "hidden by the mount");
        std::fs::create_dir_all(top.join("tmp/sub")).unwrap();
        std::fs::create_dir_all(top.join("shm")).unwrap();
        w(&top.join("tmp/x"), "tmpfs file");
        w(&top.join("shm/s"), "shm file");
        symlink("/tmp/x", root.join("to-tmp")).unwrap();
        symlink("/tmp", root.join("tmpdir")).unwrap();
        symlink("/dev", root.join("devdir")).unwrap();
        symlink("/a/b", top.join("tmp/to-root")).unwrap();
        symlink("../../../../a/b/f", top.join("tmp/sub/esc")).unwrap();
        symlink("../x", top.join("tmp/sub/rel")).unwrap();
        symlink("/proc/self", top.join("tmp/proc")).unwrap();
        let mut t = MountTable::new(HostFs::open(&root).unwrap());
        t.mount_synthetic(b"/dev", FsType::Devtmpfs);
        t.mount_synthetic(b"/proc", FsType::Proc);
        t.mount_tmpfs(b"/tmp", HostFs::open(&top.join("tmp")).unwrap());
        t.mount_tmpfs(b"/dev/shm", HostFs::open(&top.join("shm")).unwrap());
        (tree, t)
    }

    fn read(l: &Lookup) -> String {
        // SAFETY: the name is a C string and the dir fd is open.
        let fd = unsafe { libc::openat(std::os::fd::AsRawFd::as_raw_fd(&l.dir), l.name.as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0, "open {}", String::from_utf8_lossy(&l.path));
        // SAFETY: openat returned a new fd that nothing else owns.
        let mut f = std::fs::File::from(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).unwrap();
        s
    }

    #[test]
    fn lookups_cross_mount_points_both_ways() {
        let (_t, t) = mounted("mounts");
        let root_dev = lookup(&t, b"/", b"/a", true).unwrap().existing().unwrap().st_dev;
        // Into the tmpfs, by the fast path and by the slow one.
        let l = lookup(&t, b"/", b"/tmp/x", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index, read(&l).as_str()), (&b"/tmp/x"[..], 3, "tmpfs file"));
        let dev = l.existing().unwrap().st_dev;
        assert_ne!(dev, root_dev);
        assert_eq!(Some(dev), t.get(3).dev);
        let l = lookup(&t, b"/", b"/a/../tmp/x", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index), (&b"/tmp/x"[..], 3));
        // The mount point itself is the tmpfs root, not the root's /tmp.
        let l = lookup(&t, b"/", b"/tmp", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index, l.name.as_bytes()), (&b"/tmp"[..], 3, &b"."[..]));
        assert_eq!(l.existing().unwrap().st_dev, dev);
        assert!(lookup(&t, b"/", b"/tmp/hidden", true).unwrap().stat.is_none());
        let l = lookup(&t, b"/", b"/tmp/", false).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index), (&b"/tmp"[..], 3));
        // `..` from the tmpfs root (and below it) goes back to the root.
        for p in [&b"/tmp/.."[..], b"/tmp/sub/../..", b"/tmp/../tmp/.."] {
            let l = lookup(&t, b"/", p, true).unwrap();
            assert_eq!((l.path.as_slice(), l.mount.index), (&b"/"[..], 0), "{}", String::from_utf8_lossy(p));
        }
        let l = lookup(&t, b"/tmp/sub", b"../../a/b/f", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index), (&b"/a/b/f"[..], 0));
        let l = lookup(&t, b"/tmp", b"..", true).unwrap();
        assert_eq!(l.path, b"/");
        // /dev/shm is a tmpfs of its own inside devfs.
        let l = lookup(&t, b"/", b"/dev/shm/s", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index, read(&l).as_str()), (&b"/dev/shm/s"[..], 4, "shm file"));
        assert_ne!(l.existing().unwrap().st_dev, dev);
        let l = lookup(&t, b"/", b"/dev/shm", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index), (&b"/dev/shm"[..], 4));
        let l = lookup(&t, b"/tmp", b"../dev/shm/../shm/s", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index), (&b"/dev/shm/s"[..], 4));
    }

    #[test]
    fn symlinks_resolve_in_the_guest_namespace_across_mounts() {
        let (_t, t) = mounted("links");
        // A root symlink into the tmpfs, as the last component and before it.
        let l = lookup(&t, b"/", b"/to-tmp", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index, read(&l).as_str()), (&b"/tmp/x"[..], 3, "tmpfs file"));
        let l = lookup(&t, b"/", b"/tmpdir/sub/../x", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index), (&b"/tmp/x"[..], 3));
        // Not followed: the link itself, on the root.
        let l = lookup(&t, b"/", b"/to-tmp", false).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index), (&b"/to-tmp"[..], 0));
        // Absolute and climbing symlinks in the tmpfs land in the root,
        // never in the host directory above the tmpfs.
        let l = lookup(&t, b"/", b"/tmp/to-root/f", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index, read(&l).as_str()), (&b"/a/b/f"[..], 0, "guest file"));
        let l = lookup(&t, b"/", b"/tmp/sub/esc", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index, read(&l).as_str()), (&b"/a/b/f"[..], 0, "guest file"));
        let l = lookup(&t, b"/", b"/tmp/sub/rel", true).unwrap();
        assert_eq!((l.path.as_slice(), read(&l).as_str()), (&b"/tmp/x"[..], "tmpfs file"));
        assert_eq!(lookup(&t, b"/", b"/tmp/../secret", true).unwrap().stat.map(|_| ()), None);
        // Into the kernel's filesystems: their own classifiers take over.
        assert_eq!(synthetic(&t, b"/dev/null"), (FsType::Devtmpfs, "/dev/null".into()));
        assert_eq!(synthetic(&t, b"/devdir/null"), (FsType::Devtmpfs, "/dev/null".into()));
        assert_eq!(synthetic(&t, b"/tmp/../dev"), (FsType::Devtmpfs, "/dev".into()));
        assert_eq!(synthetic(&t, b"/tmp/proc"), (FsType::Proc, "/proc/self".into()));
        assert_eq!(synthetic(&t, b"/tmp/proc/cwd/../x"), (FsType::Proc, "/proc/self/cwd/../x".into()));
        let l = lookup(&t, b"/", b"/devdir/shm/s", true).unwrap();
        assert_eq!((l.path.as_slice(), l.mount.index), (&b"/dev/shm/s"[..], 4));
    }
}
