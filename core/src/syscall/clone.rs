//! fork, vfork and clone (Linux's kernel/fork.c).
//!
//! Every new guest task is a host clone injected into its parent, so the
//! host copies the address space; ptrace attaches the child to the same
//! tracer loop before it runs. Processes are cloned with CLONE_PARENT so
//! that every guest process is a host child of umvm whatever happens to
//! its guest parent. Host tids never reach the guest: the tids the host
//! writes (CLONE_PARENT_SETTID, CLONE_CHILD_SETTID) are rewritten to
//! virtual ones before the guest runs again.
//!
//! vfork is emulated: the host clone shares the address space but does not
//! suspend the parent (the loop must keep serving the child); instead the
//! parent's syscall waits until the child execs or exits.

use std::sync::Arc;

use super::names::nr;
use super::{Ctx, NewTask};
use crate::errno::{Errno, SysResult};
use crate::mm::GuestMem;
use crate::sched::wait::TaskRef;
use crate::task::{Process, ProcessState, Task};

const NAMESPACES: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// Flags the kernel handles itself and never passes to the host.
/// CLONE_UNTRACED would let the child escape ptrace.
const KERNEL_ONLY: u64 =
    (libc::CLONE_VFORK | libc::CLONE_UNTRACED | libc::CLONE_PTRACE | libc::CLONE_PARENT | 0xff) as u64;

/// `fork()`.
pub fn fork(ctx: &mut Ctx<'_>) -> SysResult {
    do_clone(ctx, libc::SIGCHLD as u64, 0, 0, 0, 0)
}

/// `vfork()`.
pub fn vfork(ctx: &mut Ctx<'_>) -> SysResult {
    do_clone(ctx, (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64, 0, 0, 0, 0)
}

/// `clone(flags, stack, parent_tid, child_tid, tls)` (x86-64 order).
pub fn clone(ctx: &mut Ctx<'_>) -> SysResult {
    let [flags, stack, ptid, ctid, tls, _] = ctx.args;
    do_clone(ctx, flags, stack, ptid, ctid, tls)
}

fn do_clone(ctx: &mut Ctx<'_>, flags: u64, stack: u64, ptid: u64, ctid: u64, tls: u64) -> SysResult {
    // Re-run after a vfork: wait until the child lets go.
    if let Some(child) = ctx.task.vfork_child {
        let done = ctx.k.procs().process(child).is_none_or(|c| c.state().vfork_done);
        if !done {
            let q = ctx.task.process.child_wait.clone();
            return Err(ctx.block_on(&q));
        }
        ctx.task.vfork_child = None;
        return Ok(child as i64);
    }
    let has = |f: i32| flags & f as u64 != 0;
    if flags & NAMESPACES != 0 {
        return Err(Errno::EPERM);
    }
    if has(libc::CLONE_PIDFD) {
        // A pidfd is a host fd; guests get them with Step 3's fd plumbing.
        return Err(Errno::EINVAL);
    }
    if (has(libc::CLONE_THREAD) && !has(libc::CLONE_SIGHAND)) || (has(libc::CLONE_SIGHAND) && !has(libc::CLONE_VM)) {
        return Err(Errno::EINVAL);
    }
    let thread = has(libc::CLONE_THREAD);
    let mut host_flags = flags & !KERNEL_ONLY;
    if !thread {
        host_flags |= (libc::CLONE_PARENT | libc::SIGCHLD) as u64;
    }
    let ret = ctx.inject(nr::CLONE, [host_flags, stack, ptid, ctid, tls, 0])?;
    if ret < 0 {
        return Err(Errno(-ret as i32));
    }
    let child_tid = ret as i32;
    let vtid = ctx.k.procs().alloc_id();
    let parent = ctx.task.process.clone();
    let process = if thread {
        parent.state().threads.insert(vtid);
        parent.clone()
    } else {
        let ps = parent.state();
        let ppid = if has(libc::CLONE_PARENT) { ps.ppid } else { parent.vpid };
        // What fork inherits; the rest starts fresh (ProcessState::new).
        let state = ProcessState {
            creds: ps.creds,
            groups: ps.groups.clone(),
            personality: ps.personality,
            nice: ps.nice,
            rlimits: ps.rlimits,
            exe: ps.exe.clone(),
            image: ps.image.clone(),
            comm: ps.comm,
            vfork_done: !has(libc::CLONE_VFORK),
            ..ProcessState::new(ppid, ps.pgid, ps.sid, child_tid, vtid)
        };
        drop(ps);
        let p = Arc::new(Process::new(vtid, parent.sighand.share_or_copy(has(libc::CLONE_SIGHAND)), state));
        match ctx.k.procs().process(ppid) {
            Some(pp) => {
                pp.state().children.insert(vtid);
            }
            None => {
                parent.state().children.insert(vtid);
            }
        }
        ctx.k.procs().insert_process(p.clone());
        p
    };
    ctx.k.procs().insert_thread(vtid, TaskRef { loop_id: ctx.me.loop_id, tid: child_tid });
    if has(libc::CLONE_PARENT_SETTID) {
        ctx.mem.write_val(ptid, &vtid)?;
    }
    let task = Task {
        tid: child_tid,
        vtid,
        process,
        files: ctx.task.files.share_or_copy(has(libc::CLONE_FILES)),
        fs: ctx.task.fs.share_or_copy(has(libc::CLONE_FS)),
        mm: ctx.task.mm.share_or_copy(has(libc::CLONE_VM)),
        comm: ctx.task.comm,
        vfork_child: None,
        fifo_wait: None,
        sig_pending: Default::default(),
    };
    if !thread {
        let mut st = task.process.state();
        st.fs = Some(task.fs.clone());
        st.files = Some(task.files.clone());
        st.mm = Some(task.mm.clone());
    }
    let mut regs = *ctx.regs;
    regs.rax = 0;
    regs.orig_rax = u64::MAX;
    if stack != 0 {
        regs.rsp = stack;
    }
    if has(libc::CLONE_SETTLS) {
        regs.fs_base = tls;
    }
    // The host writes the child's host tid at ctid when the child first
    // runs, before its first stop: rewrite it then.
    let ctid_fix = has(libc::CLONE_CHILD_SETTID).then_some((ctid, vtid));
    ctx.new_tasks.push(NewTask { task, regs, ctid_fix });
    if has(libc::CLONE_VFORK) {
        ctx.task.vfork_child = Some(vtid);
        let q = ctx.task.process.child_wait.clone();
        return Err(ctx.block_on(&q));
    }
    Ok(vtid as i64)
}

/// Rewrites the tid the host stored for CLONE_CHILD_SETTID.
pub fn fix_child_tid(child_tid: i32, fix: (u64, i32)) {
    let _ = GuestMem::new(child_tid).write_val(fix.0, &fix.1);
}
