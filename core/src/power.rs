//! Ending and restarting the machine (Linux's kernel/reboot.c): what
//! reboot(2)'s commands and ctrl-alt-del ask for, and the one shutdown
//! path every end of the VM takes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::kernel::Kernel;
use crate::sched::Event;
use crate::signal::SigInfoFix;

/// How the machine is to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    /// LINUX_REBOOT_CMD_HALT.
    Halt,
    /// LINUX_REBOOT_CMD_POWER_OFF.
    PowerOff,
    /// LINUX_REBOOT_CMD_RESTART (and RESTART2): boot again.
    Restart,
}

/// The machine's power state: whether ctrl-alt-del reboots, and where a
/// halt, power-off or restart request goes.
pub struct Power {
    /// Linux's C_A_D: ctrl-alt-del restarts at once (true, the default,
    /// LINUX_REBOOT_CMD_CAD_ON) or sends SIGINT to init (CAD_OFF).
    cad_reboots: AtomicBool,
    /// The VM's event channel, while it runs.
    events: Mutex<Option<Sender<Event>>>,
    /// A halt, power-off or restart was asked for: no guest syscall is
    /// served any more (Linux's machine stops at once; nothing the guest
    /// does after reboot(2) may show).
    halting: AtomicBool,
    /// The machine is frozen (mconsole `stop`) until `go`.
    frozen: AtomicBool,
}

impl Default for Power {
    fn default() -> Power {
        Power {
            cad_reboots: AtomicBool::new(true),
            events: Mutex::new(None),
            halting: AtomicBool::new(false),
            frozen: AtomicBool::new(false),
        }
    }
}

impl Power {
    /// Connects requests to the running VM.
    pub fn connect(&self, events: Sender<Event>) {
        *self.events.lock().unwrap_or_else(|e| e.into_inner()) = Some(events);
    }

    /// Lets go of the VM's event channel (a tracer loop died), so that
    /// the VM sees the channel close once every loop is gone.
    pub fn disconnect(&self) {
        *self.events.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Sets what ctrl-alt-del does (LINUX_REBOOT_CMD_CAD_ON/CAD_OFF).
    pub fn set_cad_reboots(&self, on: bool) {
        self.cad_reboots.store(on, Ordering::Relaxed);
    }

    /// Whether the machine is going down (see `halting`).
    pub fn halting(&self) -> bool {
        self.halting.load(Ordering::SeqCst)
    }

    /// Whether the machine is frozen (mconsole `stop`).
    pub fn frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// Whether ctrl-alt-del restarts the machine at once.
    pub fn cad_reboots(&self) -> bool {
        self.cad_reboots.load(Ordering::Relaxed)
    }

    /// Asks the VM to end with `action`. The first request wins; the VM
    /// then tears everything down (shut_down).
    pub fn request(&self, action: PowerAction) {
        self.send(Event::Power(action));
    }

    fn send(&self, event: Event) {
        self.halting.store(true, Ordering::SeqCst);
        if let Some(tx) = &*self.events.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = tx.send(event);
        }
    }
}

/// Linux's panic(): "Kernel panic - not syncing: MSG" on the console,
/// the mconsole PANIC notification to `mconsole=notify:`'s socket (UML's
/// panic notifier: the message and its NUL), and the machine's end, as
/// for a halt; umvm then exits 1 (UML's exit code after a panic, which it
/// then turns into an abort for a core dump).
pub fn panic(k: &Kernel, msg: &str) {
    k.console_message(format!("Kernel panic - not syncing: {msg}").as_bytes());
    if let Some(socket) = k.mconsole_notify.get() {
        let mut data = msg.as_bytes().to_vec();
        data.push(0);
        if let Err(e) = crate::mconsole::server::notify(socket, crate::mconsole::wire::NotifyType::Panic, &data) {
            tracing::debug!("mconsole=notify:{}: {e}", socket.display());
        }
    }
    thaw(k);
    k.power.send(Event::Panicked);
}

impl Power {}

/// Freezes every guest process where it stands (mconsole `stop`): each
/// tracer loop holds its tasks, and what happens to them, until [`thaw`].
/// The guest cannot tell (no signal, no job-control stop); its clocks go
/// on. False when it was frozen already.
pub fn freeze(k: &Kernel) -> bool {
    if k.power.frozen.swap(true, Ordering::SeqCst) {
        return false;
    }
    for id in 0..k.loops.len() {
        k.post(id, crate::sched::Msg::Freeze);
    }
    true
}

/// Lets a frozen machine go on (mconsole `go`). False when it was not
/// frozen.
pub fn thaw(k: &Kernel) -> bool {
    if !k.power.frozen.swap(false, Ordering::SeqCst) {
        return false;
    }
    for id in 0..k.loops.len() {
        k.post(id, crate::sched::Msg::Go);
    }
    true
}

/// The console line Linux's kernel_halt, kernel_power_off and
/// kernel_restart print (`pr_emerg` with "reboot: " before it).
pub fn message(action: PowerAction, restart_cmd: Option<&[u8]>) -> Vec<u8> {
    let mut m = b"reboot: ".to_vec();
    match (action, restart_cmd) {
        (PowerAction::Halt, _) => m.extend_from_slice(b"System halted"),
        (PowerAction::PowerOff, _) => m.extend_from_slice(b"Power down"),
        (PowerAction::Restart, None) => m.extend_from_slice(b"Restarting system"),
        (PowerAction::Restart, Some(cmd)) => {
            m.extend_from_slice(b"Restarting system with command '");
            m.extend_from_slice(cmd);
            m.push(b'\'');
        }
    }
    m
}

/// Ctrl-alt-del (mconsole `cad`): a restart, or SIGINT to init when the
/// guest turned that off (Linux's ctrl_alt_del).
pub fn ctrl_alt_del(k: &Kernel) {
    if k.power.cad_reboots() {
        k.console_message(&message(PowerAction::Restart, None));
        k.power.request(PowerAction::Restart);
    } else if let Some(init) = k.procs().process(1) {
        let fix = SigInfoFix { code: libc::SI_KERNEL, pid: 0, uid: 0, status: 0, value: None, timer: None };
        crate::signal::send::to_process(k, &init, libc::SIGINT, fix);
    }
}

/// How long shut_down waits for the guest's processes to die.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Sends SIGKILL to every live guest process but the one whose host pid
/// is `spare`: the machine stops at once when reboot(2) asks (the caller
/// stays, blocked in reboot, until shut_down).
pub fn kill_others(k: &Kernel, spare: i32) {
    for p in k.procs().processes() {
        let pid = {
            let st = p.state();
            if st.exit.is_some() || st.host_pid == spare {
                continue;
            }
            st.host_pid
        };
        // SAFETY: kill takes plain integers; the pid is a traced guest
        // process (see shut_down).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Ends the machine, whatever ended it (init's exit or a reboot(2)
/// command): kills every guest process, waits until the tracer loops saw
/// them die, then releases the filesystems (Vfs::shutdown).
pub fn shut_down(k: &Kernel) {
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        // Killed again each round: a fork in progress may have added one.
        let live: Vec<i32> = k
            .procs()
            .processes()
            .filter_map(|p| {
                let st = p.state();
                st.exit.is_none().then_some(st.host_pid)
            })
            .collect();
        if live.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            tracing::warn!("{} guest processes outlived the shutdown", live.len());
            break;
        }
        for pid in live {
            // SAFETY: kill takes plain integers. The pid is a guest process
            // umvm traces: only its loop reaps it, and records the exit
            // right after, so the pid is ours (or a zombie) when read.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    k.vfs.shutdown();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_lines_are_linuxs() {
        let m = |a, c: Option<&[u8]>| String::from_utf8(message(a, c)).unwrap();
        assert_eq!(m(PowerAction::Halt, None), "reboot: System halted");
        assert_eq!(m(PowerAction::PowerOff, None), "reboot: Power down");
        assert_eq!(m(PowerAction::Restart, None), "reboot: Restarting system");
        assert_eq!(m(PowerAction::Restart, Some(b"bios")), "reboot: Restarting system with command 'bios'");
    }

    #[test]
    fn ctrl_alt_del_reboots_until_turned_off_and_requests_reach_the_vm_once_connected() {
        let p = Power::default();
        assert!(p.cad_reboots(), "Linux's C_A_D starts on");
        p.set_cad_reboots(false);
        assert!(!p.cad_reboots());
        p.set_cad_reboots(true);
        assert!(p.cad_reboots());
        // Before the VM runs, a request goes nowhere (and does not block).
        p.request(PowerAction::Halt);
        let (tx, rx) = std::sync::mpsc::channel();
        p.connect(tx);
        p.request(PowerAction::PowerOff);
        assert!(matches!(rx.try_recv(), Ok(Event::Power(PowerAction::PowerOff))));
        assert!(rx.try_recv().is_err());
        p.disconnect();
        assert!(rx.recv().is_err(), "the channel closes once the power state lets go");
    }
}
