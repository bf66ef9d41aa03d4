//! execve and execveat (Linux's fs/exec.c).
//!
//! Everything that can fail cleanly (lookup, permissions, `#!` chains,
//! ELF checks, argument limits) is checked first, while the old program
//! still runs and the caller still gets an errno. Then the task re-execs
//! the stub (a clean address space, the same host pid) and the loader
//! maps the new program from the guest's filesystem. A failure past that
//! point kills the process, as Linux does.

use super::names::nr;
use super::Ctx;
use crate::errno::{Errno, SysResult};
use crate::mm::loader::MAX_ARGS_TOTAL;
use crate::stub;
use crate::task::{exec, MmContext, Shared};
use crate::trap::inject::{inject_regs, InjectError};
use crate::trap::ptrace;

/// `execve(path, argv, envp)`.
pub fn execve(ctx: &mut Ctx<'_>) -> SysResult {
    do_execve(ctx, libc::AT_FDCWD, 0, 0)
}

/// `execveat(dirfd, path, argv, envp, flags)`.
pub fn execveat(ctx: &mut Ctx<'_>) -> SysResult {
    let flags = ctx.int(4);
    if flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    do_execve(ctx, ctx.int(0), 1, flags)
}

fn do_execve(ctx: &mut Ctx<'_>, dirfd: i32, first: usize, flags: i32) -> SysResult {
    let (path_ptr, argv_ptr, envp_ptr) = (ctx.args[first], ctx.args[first + 1], ctx.args[first + 2]);
    let mut path = if path_ptr == 0 { return Err(Errno::EFAULT) } else { ctx.path(first)? };
    let mut by_fd = None;
    if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        // fexecve: the file the fd was opened as (its path, as the caller
        // sees it, for AT_EXECFN).
        let f = ctx.task.files.lock().get(dirfd)?;
        path = ctx.view(&f.path);
        by_fd = Some(f);
    }
    let argv = ctx.mem.read_cstr_array(argv_ptr, MAX_ARGS_TOTAL)?;
    let envp = ctx.mem.read_cstr_array(envp_ptr, MAX_ARGS_TOTAL)?;
    let total: usize = argv.iter().chain(&envp).map(|s| s.len() + 1 + 8).sum();
    if total > MAX_ARGS_TOTAL {
        return Err(Errno::E2BIG);
    }
    // /proc/self/exe and friends lead into the root filesystem.
    let found = match by_fd {
        Some(f) => super::Special::File(f),
        None => ctx.special(dirfd, &path, true)?,
    };
    let target = match found {
        super::Special::Host(l) => l.path,
        super::Special::Ext2(l) => l.path,
        // A host file reached through /proc/PID/fd: by its path.
        super::Special::File(f)
            if matches!(f.kind, crate::fs::file::FileKind::Host { .. } | crate::fs::file::FileKind::Ext2(_)) =>
        {
            f.path.clone()
        }
        super::Special::Dev(_) | super::Special::Proc(..) | super::Special::File(_) => return Err(Errno::EACCES),
    };
    let (root, cwd) = {
        let fs = ctx.task.fs.lock();
        (fs.root.clone(), fs.cwd.clone())
    };
    let at = exec::Place { root: &root, cwd: &cwd };
    let who = super::dac::fs_who(ctx);
    let mut resolved = exec::resolve(ctx.k, at, &target, argv, who.as_ref()).map_err(|e| e.errno())?;
    resolved.execfn = path.clone();

    // The point of no return: a fresh address space.
    let [p, a, e] = stub::reexec_args();
    let after = match inject_regs(ctx.task.tid, ctx.regs, nr::EXECVE, [p, a, e, 0, 0, 0]) {
        Ok(r) => r,
        Err(InjectError::Ptrace(e)) => return Err(e),
        Err(e) => {
            ctx.died = Some(e);
            return Err(Errno::EFAULT);
        }
    };
    if after.rip != stub::entry() + 1 {
        // The stub's exec failed: the old program goes on.
        let r = after.rax as i64;
        return Err(if r < 0 { Errno(-r as i32) } else { Errno::ENOEXEC });
    }
    // What a new program image does not keep.
    ctx.task.mm = Shared::new(MmContext::default());
    let files = ctx.task.files.lock().clone();
    ctx.task.files = Shared::new(files);
    ctx.task.files.lock().close_on_exec();
    ctx.task.process.sighand.lock().reset_for_exec();
    {
        // Set-user-ID and set-group-ID programs, then the capabilities and
        // saved ids every exec recomputes; the new program's auxv shows them.
        let mut st = ctx.task.process.state();
        let c = &mut st.creds;
        (c.euid, c.egid) = resolved.exe.owner.exec_ids(c.euid, c.egid, c.no_new_privs);
        super::creds::on_exec(c);
    }
    match exec::load_into(ctx.task, &after, resolved, &envp) {
        Ok(regs) => ctx.new_regs = Some(regs),
        Err(err) => {
            tracing::warn!("execve: {err}: killing the process");
            ptrace::kill_thread(ctx.task.tid, ctx.task.tid);
            return Err(Errno::EFAULT);
        }
    }
    let ppid = {
        let mut st = ctx.task.process.state();
        st.did_exec = true;
        // POSIX timers do not survive execve (ITIMER_REAL does).
        st.posix_timers.clear(ctx.k);
        st.vfork_done = true;
        st.ppid
    };
    if let Some(parent) = ctx.k.procs().process(ppid) {
        ctx.k.wake_all(&parent.child_wait);
    }
    Ok(0)
}
