//! The VM's process table: virtual pids to processes, virtual tids to the
//! loop and host thread that serve them.

use std::collections::HashMap;
use std::sync::Arc;

use super::Process;
use crate::sched::wait::TaskRef;

/// Linux's default pid_max: virtual pids wrap below it.
pub const PID_MAX: i32 = 4_194_304;

/// Every process and thread of a VM.
#[derive(Default)]
pub struct ProcTable {
    procs: HashMap<i32, Arc<Process>>,
    threads: HashMap<i32, TaskRef>,
    last: i32,
}

impl ProcTable {
    /// Allocates a free virtual id (a pid for a process, or a tid for a
    /// thread: they share one space, as in Linux).
    pub fn alloc_id(&mut self) -> i32 {
        loop {
            self.last = if self.last >= PID_MAX - 1 { 2 } else { self.last + 1 };
            if !self.procs.contains_key(&self.last) && !self.threads.contains_key(&self.last) {
                return self.last;
            }
        }
    }

    /// The last id handed out (/proc/loadavg, /proc/stat).
    pub fn last_id(&self) -> i32 {
        self.last
    }

    /// Adds a process.
    pub fn insert_process(&mut self, p: Arc<Process>) {
        self.procs.insert(p.vpid, p);
    }

    /// Removes a reaped process.
    pub fn remove_process(&mut self, vpid: i32) -> Option<Arc<Process>> {
        self.procs.remove(&vpid)
    }

    /// A process by virtual pid.
    pub fn process(&self, vpid: i32) -> Option<Arc<Process>> {
        self.procs.get(&vpid).cloned()
    }

    /// Every process.
    pub fn processes(&self) -> impl Iterator<Item = &Arc<Process>> {
        self.procs.values()
    }

    /// Records where thread `vtid` runs.
    pub fn insert_thread(&mut self, vtid: i32, at: TaskRef) {
        self.threads.insert(vtid, at);
    }

    /// Forgets a thread that ended.
    pub fn remove_thread(&mut self, vtid: i32) {
        self.threads.remove(&vtid);
    }

    /// Where thread `vtid` runs.
    pub fn thread(&self, vtid: i32) -> Option<TaskRef> {
        self.threads.get(&vtid).copied()
    }
}

impl ProcTable {
    /// Whether process group `pgid` is orphaned (Linux's
    /// will_become_orphaned_pgrp): no live member has a parent in another
    /// group of the same session. Job control stops are not sent to such
    /// a group, since nobody would continue it. A parent that is init does
    /// not count, as for the host's global init.
    pub fn pgrp_orphaned(&self, pgid: i32) -> bool {
        for p in self.processes() {
            let (pg, sid, ppid, dead) = {
                let s = p.state();
                (s.pgid, s.sid, s.ppid, s.exit.is_some())
            };
            if pg != pgid || dead || ppid <= 1 {
                continue;
            }
            if let Some(parent) = self.process(ppid) {
                let s = parent.state();
                if s.pgid != pgid && s.sid == sid {
                    return false;
                }
            }
        }
        true
    }
}
