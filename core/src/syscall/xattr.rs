//! Extended attributes (Linux's fs/xattr.c). None of umvm's filesystems
//! stores them yet, so every call on an existing file fails as Linux
//! fails it on a filesystem without xattr support: EOPNOTSUPP. Programs
//! (ls, cp -a, tar) take that as "no attributes" and go on; a missing
//! file or a bad fd is still ENOENT or EBADF.

use super::Ctx;
use crate::errno::{Errno, SysResult};

/// The `*xattr(path, ...)` calls; `follow` is false for the `l` forms.
fn on_path(ctx: &mut Ctx<'_>, follow: bool) -> SysResult {
    let path = ctx.path(0)?;
    match ctx.special(libc::AT_FDCWD, &path, follow)? {
        super::Special::Host(l) => {
            if l.stat.is_none() {
                // Not followed (the `l` forms): the name itself must exist.
                crate::fs::hostfs::lstat_at(std::os::fd::AsFd::as_fd(&l.dir), &l.name)?;
            }
        }
        super::Special::Dev(crate::dev::devfs::DevPath::Missing)
        | super::Special::Proc(crate::fs::procfs::ProcNode::Missing, _) => return Err(Errno::ENOENT),
        super::Special::Ext2(l) => {
            l.existing()?;
        }
        super::Special::Dev(_) | super::Special::Proc(..) | super::Special::File(_) => {}
    }
    Err(Errno::EOPNOTSUPP)
}

/// getxattr, setxattr, listxattr and removexattr on a path.
pub fn path(ctx: &mut Ctx<'_>) -> SysResult {
    on_path(ctx, true)
}

/// lgetxattr, lsetxattr, llistxattr and lremovexattr.
pub fn lpath(ctx: &mut Ctx<'_>) -> SysResult {
    on_path(ctx, false)
}

/// fgetxattr, fsetxattr, flistxattr and fremovexattr.
pub fn fd(ctx: &mut Ctx<'_>) -> SysResult {
    ctx.file(0)?;
    Err(Errno::EOPNOTSUPP)
}
