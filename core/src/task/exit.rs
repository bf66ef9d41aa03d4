//! The end of threads and processes: zombies, re-parenting to init,
//! SIGCHLD, the end of the VM when init ends (Linux's kernel/exit.c).

use std::sync::Arc;

use super::{ExitStatus, Process, Task};
use crate::kernel::Kernel;
use crate::signal::{self, SigInfoFix};

/// What the end of a thread means for the VM.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Nothing beyond the thread itself.
    Thread,
    /// Its process is now a zombie (or was reaped at once).
    Process,
    /// It was init's last thread: the VM halts with this status.
    Init(ExitStatus),
}

/// Records that `task`'s host thread ended with `status`.
pub fn thread_exited(k: &Kernel, task: &Task, status: ExitStatus) -> Ended {
    let p = &task.process;
    k.procs().remove_thread(task.vtid);
    let usage = crate::trap::ptrace::take_exit_usage(task.tid);
    let status = {
        let mut st = p.state();
        st.usage_dead_threads.add(usage);
        st.threads.remove(&task.vtid);
        if !st.threads.is_empty() {
            return Ended::Thread;
        }
        let s = st.group_exit.unwrap_or(status);
        st.exit = Some(s);
        // A zombie holds no files: its pipe ends close now, not at reaping.
        st.files = None;
        st.fs = None;
        // Nor timers (Linux's exit_itimers).
        st.posix_timers.clear(k);
        s
    };
    if p.vpid == 1 {
        return Ended::Init(status);
    }
    process_exited(k, p, status);
    Ended::Process
}

/// A process's last thread is gone: hand its children to their new
/// reaper, send those that asked for it their parent-death signal,
/// release a vfork parent, and tell its parent (or let it be reaped at
/// once when the parent ignores SIGCHLD).
///
/// Linux sends PR_SET_PDEATHSIG's signal when the *thread* that forked
/// the child exits; umvm sends it when the parent process exits, which is
/// what programs that use it (with a single-threaded parent) expect.
fn process_exited(k: &Kernel, p: &Arc<Process>, status: ExitStatus) {
    let (ppid, children) = {
        let mut st = p.state();
        st.vfork_done = true;
        (st.ppid, std::mem::take(&mut st.children))
    };
    if let Some(reaper) = new_reaper(k, ppid) {
        for c in children {
            let Some(child) = k.procs().process(c) else { continue };
            let (zombie, pdeathsig) = {
                let mut cs = child.state();
                cs.ppid = reaper.vpid;
                (cs.exit, cs.pdeathsig)
            };
            reaper.state().children.insert(c);
            match zombie {
                Some(s) => notify_parent(k, &reaper, c, s),
                None if pdeathsig != 0 => {
                    let uid = p.state().creds.uid;
                    let fix = SigInfoFix { code: libc::SI_USER, pid: p.vpid, uid, status: 0, value: None, timer: None };
                    signal::send::to_process(k, &child, pdeathsig, fix);
                }
                None => {}
            }
        }
    }
    let Some(parent) = k.procs().process(ppid) else { return };
    if parent.sighand.lock().autoreap() {
        parent.state().children.remove(&p.vpid);
        k.procs().remove_process(p.vpid);
        k.wake_all(&parent.child_wait);
        return;
    }
    notify_parent(k, &parent, p.vpid, status);
}

/// Who adopts the orphans of a process whose parent is `ppid`: the
/// nearest live ancestor that is a child subreaper, else init (Linux's
/// find_new_reaper).
fn new_reaper(k: &Kernel, mut ppid: i32) -> Option<Arc<Process>> {
    let procs = k.procs();
    // Bounded by the depth of the tree; a cycle cannot arise (ppids only
    // ever point at older processes or init), but stay safe regardless.
    for _ in 0..procs.processes().count() {
        if ppid <= 1 {
            break;
        }
        let Some(a) = procs.process(ppid) else { break };
        let st = a.state();
        if st.subreaper && st.exit.is_none() {
            drop(st);
            return Some(a);
        }
        ppid = st.ppid;
    }
    procs.process(1)
}

fn notify_parent(k: &Kernel, parent: &Arc<Process>, child: i32, status: ExitStatus) {
    k.wake_all(&parent.child_wait);
    let (code, st) = match status {
        ExitStatus::Exited(c) => (libc::CLD_EXITED, c),
        ExitStatus::Killed(s) => (libc::CLD_KILLED, s),
    };
    let fix = SigInfoFix { code, pid: child, uid: 0, status: st, value: None, timer: None };
    signal::send::to_process(k, parent, libc::SIGCHLD, fix);
}

/// A thread of `p` entered a job-control stop: the first one makes the
/// process stopped, for wait (WUNTRACED) and a SIGCHLD (CLD_STOPPED)
/// unless the parent asked for none (SA_NOCLDSTOP).
pub fn process_stopped(k: &Kernel, p: &Arc<Process>, sig: i32) {
    let ppid = {
        let mut st = p.state();
        if st.stopped.is_some() {
            return;
        }
        st.stopped = Some((sig, false));
        st.continued = false;
        st.ppid
    };
    notify_job_change(k, ppid, p.vpid, libc::CLD_STOPPED, sig);
}

/// SIGCONT resumes a stopped process: every thread goes on, and the
/// parent may learn of it (WCONTINUED, CLD_CONTINUED).
pub fn process_continued(k: &Kernel, p: &Arc<Process>) {
    let (ppid, threads) = {
        let mut st = p.state();
        if st.stopped.take().is_none() {
            return;
        }
        st.continued = true;
        (st.ppid, st.threads.iter().copied().collect::<Vec<_>>())
    };
    for vtid in threads {
        if let Some(at) = k.procs().thread(vtid) {
            k.post(at.loop_id, crate::sched::Msg::Continue(at.tid));
        }
    }
    notify_job_change(k, ppid, p.vpid, libc::CLD_CONTINUED, libc::SIGCONT);
}

fn notify_job_change(k: &Kernel, ppid: i32, child: i32, code: i32, status: i32) {
    let Some(parent) = k.procs().process(ppid) else { return };
    k.wake_all(&parent.child_wait);
    if parent.sighand.lock().get(libc::SIGCHLD).flags & libc::SA_NOCLDSTOP as u64 != 0 {
        return;
    }
    let fix = SigInfoFix { code, pid: child, uid: 0, status, value: None, timer: None };
    signal::send::to_process(k, &parent, libc::SIGCHLD, fix);
}
