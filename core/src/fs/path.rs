//! Path walk in the guest's namespace (ARCHITECTURE §5).
//!
//! The walk resolves `.`, `..` and symlinks itself, so absolute symlink
//! targets and `..` at `/` mean the guest's root, never the host's. The
//! common case (no symlink before the last component) costs one host
//! `openat2` of the parent directory; a path with symlinks is walked one
//! component at a time.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use super::hostfs::{self, cstr, HostFs};
use crate::errno::Errno;

/// Linux's limit on symlinks followed in one lookup.
pub const MAX_SYMLINKS: u32 = 40;
/// Linux's PATH_MAX, NUL included.
pub const PATH_MAX: usize = 4096;
/// Linux's NAME_MAX.
pub const NAME_MAX: usize = 255;

/// The result of a lookup: the parent directory and the final name.
pub struct Lookup {
    /// `O_PATH` fd of the directory that holds the final component.
    pub dir: OwnedFd,
    /// The final component (`.` when the path names a directory through
    /// `.`/`..`/`/`).
    pub name: CString,
    /// The canonical absolute guest path of the final component.
    pub path: Vec<u8>,
    /// The final component's stat, when the lookup followed it and it
    /// exists (it is then not a symlink).
    pub stat: Option<libc::stat>,
    /// The path ended with `/`: the final component must be a directory.
    pub must_be_dir: bool,
}

impl Lookup {
    /// The stat of the final component, or ENOENT.
    pub fn existing(&self) -> Result<libc::stat, Errno> {
        self.stat.ok_or(Errno::ENOENT)
    }
}

fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".")
}

/// Normalises components lexically (valid only for symlink-free paths).
fn normalize<'a>(comps: impl Iterator<Item = &'a [u8]>) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    for c in comps {
        if c == b".." {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

fn absolute(comps: &[&[u8]]) -> Vec<u8> {
    let mut p = vec![b'/'];
    p.extend(join(comps));
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

/// Looks up `path` (absolute, or relative to the canonical directory
/// `base`) in `fs`. With `follow`, a symlink as the final component is
/// followed (and the result's `stat` is filled in).
pub fn lookup(fs: &HostFs, base: &[u8], path: &[u8], follow: bool) -> Result<Lookup, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut full = if path[0] == b'/' { path.to_vec() } else { join_base(base, path) };
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
        let (dir, parent_path) = match fs.open_dir(&join(parent)) {
            Ok(fd) => (fd, absolute(&normalize(parent.iter().copied()))),
            Err(Errno::ELOOP) => walk_slow(fs, parent, &mut links)?,
            Err(e) => return Err(e),
        };
        let path = if *name == b"." { parent_path.clone() } else { join_base(&parent_path, name) };
        let cname = cstr(name);
        if !(follow || must_be_dir) {
            return Ok(Lookup { dir, name: cname, path, stat: None, must_be_dir });
        }
        match hostfs::lstat_at(dir.as_fd(), &cname) {
            Ok(st) if hostfs::file_type(&st) == libc::S_IFLNK => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = hostfs::readlink_at(dir.as_fd(), &cname)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                full = if target[0] == b'/' { target } else { join_base(&parent_path, &target) };
                if must_be_dir {
                    full.push(b'/');
                }
            }
            Ok(st) => {
                if must_be_dir && hostfs::file_type(&st) != libc::S_IFDIR {
                    return Err(Errno::ENOTDIR);
                }
                return Ok(Lookup { dir, name: cname, path, stat: Some(st), must_be_dir });
            }
            Err(Errno::ENOENT) => return Ok(Lookup { dir, name: cname, path, stat: None, must_be_dir }),
            Err(e) => return Err(e),
        }
    }
}

/// Walks directory components one by one, following symlinks in the
/// guest's namespace. Returns the directory and its canonical path.
fn walk_slow(fs: &HostFs, comps: &[&[u8]], links: &mut u32) -> Result<(OwnedFd, Vec<u8>), Errno> {
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut pending: VecDeque<Vec<u8>> = comps.iter().map(|c| c.to_vec()).collect();
    while let Some(c) = pending.pop_front() {
        if c == b".." {
            stack.pop();
            continue;
        }
        let here: Vec<&[u8]> = stack.iter().map(|s| s.as_slice()).collect();
        let dir = fs.open_dir(&join(&here))?;
        let name = cstr(&c);
        let st = hostfs::lstat_at(dir.as_fd(), &name)?;
        match hostfs::file_type(&st) {
            libc::S_IFDIR => stack.push(c),
            libc::S_IFLNK => {
                *links += 1;
                if *links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = hostfs::readlink_at(dir.as_fd(), &name)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if target[0] == b'/' {
                    stack.clear();
                }
                for t in components(&target).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(t.to_vec());
                }
            }
            _ => return Err(Errno::ENOTDIR),
        }
    }
    let here: Vec<&[u8]> = stack.iter().map(|s| s.as_slice()).collect();
    Ok((fs.open_dir(&join(&here))?, absolute(&here)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Tree(std::path::PathBuf);
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tree(name: &str) -> (Tree, HostFs) {
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
        let fs = HostFs::open(&root).unwrap();
        (Tree(top), fs)
    }

    #[test]
    fn dotdot_and_symlinks_stay_in_the_root() {
        let (_t, fs) = tree("jail");
        let l = lookup(&fs, b"/", b"/../../a/b/f", true).unwrap();
        assert_eq!(l.path, b"/a/b/f");
        let l = lookup(&fs, b"/", b"/abs/b/../b/f", true).unwrap();
        assert_eq!(l.path, b"/a/b/f");
        let l = lookup(&fs, b"/", b"/a/up/a/up/a/b/f", true).unwrap();
        assert_eq!(l.path, b"/a/b/f");
        assert!(l.stat.is_some());
        // The absolute host path is resolved inside the root: not found.
        // (its directories do not exist under the root).
        assert_eq!(lookup(&fs, b"/", b"/hostabs", true).err(), Some(Errno::ENOENT));
        assert_eq!(lookup(&fs, b"/", b"/loop", true).err(), Some(Errno::ELOOP));
        assert_eq!(lookup(&fs, b"/", b"/loop/x", false).err(), Some(Errno::ELOOP));
        let l = lookup(&fs, b"/a/b", b"..", true).unwrap();
        assert_eq!(l.path, b"/a");
        let l = lookup(&fs, b"/", b"..", true).unwrap();
        assert_eq!(l.path, b"/");
        assert_eq!(lookup(&fs, b"/", b"/a/b/f/", true).err(), Some(Errno::ENOTDIR));
        assert_eq!(lookup(&fs, b"/", b"/a/b/f/x", true).err(), Some(Errno::ENOTDIR));
    }
}
