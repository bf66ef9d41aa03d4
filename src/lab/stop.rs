//! `umvm lab stop`: SIGTERM to every guest's umvm (which ends its guest
//! and writes its disks back), then to the switches; SIGKILL to what is
//! still there after a while; the state file removed.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::file::Lab;
use super::start::plural;
use super::state::{self, State};

/// How long guests (then switches) get to end after SIGTERM.
const GRACE: Duration = Duration::from_secs(10);

/// Stops the running lab `lab`.
pub fn stop(lab: &Lab) -> Result<i32> {
    let st = state::read(lab)?;
    let (guests, switches) = stop_state(lab, &st, true)?;
    println!("lab {}: stopped {} and {}", lab.name, plural(guests, "guest"), plural(switches, "switch"));
    Ok(0)
}

/// Stops every process of `st` and removes the state file; returns how
/// many guests and switches were still running. With `report`, says which
/// needed SIGKILL.
pub fn stop_state(lab: &Lab, st: &State, report: bool) -> Result<(usize, usize)> {
    let guests: Vec<(String, i32, bool)> = st.guests.iter().map(|g| (g.name.clone(), g.pid, g.alive())).collect();
    // Once a process was seen to be the lab's, its end is its becoming a
    // zombie (its files, and so its disks' locks, are closed by then), not
    // its command line emptying, which happens earlier in its exit.
    let g = end(&guests, |i| state::running(st.guests[i].pid), report);
    let switches: Vec<(String, i32, bool)> =
        st.switches.iter().map(|s| (format!("switch {}", s.network), s.pid, s.alive())).collect();
    let s = end(&switches, |i| state::running(st.switches[i].pid), report);
    for sw in &st.switches {
        // A killed switch leaves its socket behind.
        let _ = std::fs::remove_file(&sw.ctl);
    }
    state::remove(lab)?;
    Ok((g, s))
}

/// Ends one guest as [`stop_state`] ends them all (a dead one is left as it is).
pub fn stop_guest(g: &super::state::GuestState) {
    let pid = g.pid;
    end(&[(format!("guest {}", g.name), pid, g.alive())], |_| state::running(pid), true);
}

/// SIGTERM to each running process of `procs` (name, pid, running), a
/// wait until `alive(i)` is false for all, SIGKILL (to its process group)
/// for what is left after [`GRACE`]. Returns how many were running.
fn end(procs: &[(String, i32, bool)], alive: impl Fn(usize) -> bool, report: bool) -> usize {
    let running: Vec<usize> = (0..procs.len()).filter(|&i| procs[i].2).collect();
    for &i in &running {
        // SAFETY: kill has no memory-safety preconditions; the pid was
        // just seen running this lab's command line.
        unsafe { libc::kill(procs[i].1, libc::SIGTERM) };
    }
    let deadline = Instant::now() + GRACE;
    let mut left: Vec<usize> = running.clone();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        reap();
        left.retain(|&i| alive(i));
    }
    for &i in &left {
        if report {
            eprintln!("umvm lab: {} (pid {}) did not end on SIGTERM: killed", procs[i].0, procs[i].1);
        }
        // SAFETY: as above; each lab process leads its own process group.
        unsafe { libc::kill(-procs[i].1, libc::SIGKILL) };
    }
    reap();
    running.len()
}

/// Reaps children of this process that ended (when `lab start` stops a
/// lab it started, the processes are its children).
fn reap() {
    loop {
        // SAFETY: waitpid with a null status pointer is allowed.
        let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}
