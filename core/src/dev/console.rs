//! The console: umvm's own stdin, stdout and stderr, given to init as its
//! fds 0, 1 and 2.
//!
//! Two modes ([`ConsoleMode`]). As a terminal (the default when stdin is
//! a host terminal), the guest gets umvm's line discipline (`dev::tty`)
//! and the host terminal is put in raw mode. As plain streams (the default
//! otherwise), init's fds are umvm's own, byte for byte: piped data is
//! never edited, echoed or turned into signals; terminal ioctls then go to
//! the host terminal if there is one, else fail with ENOTTY as on a pipe.
//! Whatever the mode, [`TerminalGuard`] restores the host terminal's modes
//! on every exit path.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use std::sync::{Arc, Condvar, Mutex};

use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::sched::wait::WaitQueue;

/// One host stream of the console.
pub struct ConsoleStream {
    fd: OwnedFd,
    tty: bool,
}

impl ConsoleStream {
    /// Duplicates umvm's fd `host` as a console stream; None when umvm
    /// does not have that fd open.
    pub fn dup(host: RawFd) -> Option<ConsoleStream> {
        // SAFETY: F_DUPFD_CLOEXEC on any fd number is safe; failure is -1.
        let fd = unsafe { libc::fcntl(host, libc::F_DUPFD_CLOEXEC, 3) };
        if fd < 0 {
            return None;
        }
        // SAFETY: fcntl returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: isatty only inspects the fd.
        let tty = unsafe { libc::isatty(fd.as_raw_fd()) } == 1;
        Some(ConsoleStream { fd, tty })
    }

    /// The host fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Whether the stream is a host terminal.
    pub fn is_tty(&self) -> bool {
        self.tty
    }
}

/// What the guest's console is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConsoleMode {
    /// A terminal when umvm's stdin is one, plain streams otherwise.
    #[default]
    Auto,
    /// Always a terminal with umvm's line discipline, even over a pipe.
    Tty,
    /// Always umvm's streams, passed through unchanged.
    Pipe,
}

impl std::str::FromStr for ConsoleMode {
    type Err = String;
    fn from_str(s: &str) -> Result<ConsoleMode, String> {
        match s {
            "auto" => Ok(ConsoleMode::Auto),
            "tty" => Ok(ConsoleMode::Tty),
            "pipe" => Ok(ConsoleMode::Pipe),
            _ => Err(format!("{s}: not a console mode (auto, tty or pipe)")),
        }
    }
}

impl ConsoleMode {
    /// Whether the console is a terminal, given umvm's stdin.
    pub fn is_tty(self) -> bool {
        match self {
            // SAFETY: isatty only inspects fd 0.
            ConsoleMode::Auto => (unsafe { libc::isatty(0) }) == 1,
            ConsoleMode::Tty => true,
            ConsoleMode::Pipe => false,
        }
    }
}

/// The host terminal's modes as umvm found them, for every exit path
/// (the guard's drop, and the signal thread on SIGTERM/SIGHUP).
static SAVED_TERMIOS: Mutex<Option<libc::termios>> = Mutex::new(None);

/// Puts the host terminal back as umvm found it.
pub fn restore_terminal() {
    let saved = *SAVED_TERMIOS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = saved {
        // SAFETY: restores modes saved from the same fd.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
    }
}

/// Restores the host terminal's modes when dropped.
pub struct TerminalGuard(());

impl TerminalGuard {
    /// Saves the modes of umvm's stdin, if it is a terminal.
    pub fn save() -> TerminalGuard {
        let mut t = std::mem::MaybeUninit::<libc::termios>::zeroed();
        // SAFETY: tcgetattr fills `t` or fails.
        if unsafe { libc::tcgetattr(0, t.as_mut_ptr()) } == 0 {
            // SAFETY: filled by tcgetattr.
            *SAVED_TERMIOS.lock().unwrap_or_else(|e| e.into_inner()) = Some(unsafe { t.assume_init() });
        }
        TerminalGuard(())
    }

    /// Switches the host terminal to raw mode: every byte typed goes to
    /// the guest's line discipline, and output is not processed twice.
    pub fn raw(&self) {
        let saved = *SAVED_TERMIOS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut t) = saved {
            // SAFETY: cfmakeraw edits a local copy; tcsetattr applies it.
            unsafe {
                libc::cfmakeraw(&mut t);
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Result of a read from a console stream.
pub fn read(s: &ConsoleStream, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::read(s.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            r => return r.map(|n| n as usize),
        }
    }
}

/// Writes all of `data` to a console stream (a console write is not
/// split by umvm: short writes are retried).
pub fn write(s: &ConsoleStream, mut data: &[u8]) -> Result<usize, Errno> {
    let total = data.len();
    while !data.is_empty() {
        // SAFETY: `data` is readable for its length.
        let n = unsafe { libc::write(s.fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            Err(e) if total == data.len() => return Err(e),
            Err(_) => break,
            Ok(n) => data = &data[n as usize..],
        }
    }
    Ok(total - data.len())
}

/// Whether a host fd has input (or end of file) right now.
pub fn host_readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd, zero timeout.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

/// Console input readiness: tasks that found no input wait on `queue`;
/// a watcher thread, armed by them, polls umvm's stdin and wakes them.
/// (The tracer loop never blocks on the console.)
#[derive(Default)]
pub struct ConsoleInput {
    /// Tasks waiting for console input.
    pub queue: Arc<WaitQueue>,
    armed: Mutex<bool>,
    cv: Condvar,
}

impl ConsoleInput {
    /// Asks the watcher to wake `queue` when stdin has input.
    pub fn arm(&self) {
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_one();
    }

    /// The watcher thread's body.
    pub fn watch(&self, k: &Kernel) {
        loop {
            {
                let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
                while !*armed {
                    armed = self.cv.wait(armed).unwrap_or_else(|e| e.into_inner());
                }
                *armed = false;
            }
            let mut p = libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 };
            // SAFETY: one pollfd; blocks until stdin has input or ends.
            let n = unsafe { libc::poll(&mut p, 1, -1) };
            if n < 0 && Errno::last() == Errno::EINTR {
                self.arm();
                continue;
            }
            k.wake_all(&self.queue);
            if p.revents & libc::POLLNVAL != 0 {
                return;
            }
        }
    }
}

/// The console as a controlling terminal: its session and foreground
/// process group (job control), which terminal signals go to.
pub struct ConsoleTty {
    state: Mutex<(i32, i32)>,
}

impl Default for ConsoleTty {
    fn default() -> Self {
        // init's session and group until a process says otherwise.
        ConsoleTty { state: Mutex::new((1, 1)) }
    }
}

impl ConsoleTty {
    /// (session, foreground process group).
    pub fn get(&self) -> (i32, i32) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the foreground process group.
    pub fn set_foreground(&self, pgrp: i32) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = pgrp;
    }

    /// Makes the console the controlling terminal of `sid`, led by group `pgrp`.
    pub fn set_session(&self, sid: i32, pgrp: i32) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = (sid, pgrp);
    }
}

/// Host signals a terminal raises (^C, ^\\, ^Z, a resize): umvm takes them
/// instead of dying or stopping, and the guest's foreground job gets them.
/// SIGTERM and SIGHUP end umvm, after it restored the host terminal.
pub const TERMINAL_SIGNALS: [i32; 6] =
    [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGWINCH, libc::SIGTERM, libc::SIGHUP];

/// Blocks the terminal signals in the calling thread (and the threads it
/// starts), so that only the forwarding thread takes them.
pub fn block_terminal_signals() {
    // SAFETY: plain sigset manipulation on a local, then sigprocmask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in TERMINAL_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// The forwarding thread: each terminal signal umvm receives goes to the
/// console's foreground process group; SIGTERM and SIGHUP end the VM.
pub fn forward_terminal_signals(k: &Kernel) {
    // SAFETY: as in block_terminal_signals; sigwait fills `sig`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in TERMINAL_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        loop {
            let mut sig = 0;
            if libc::sigwait(&set, &mut sig) != 0 {
                return;
            }
            if sig == libc::SIGTERM || sig == libc::SIGHUP {
                // The guest's processes die with umvm (PDEATHSIG and
                // PTRACE_O_EXITKILL); the terminal must not stay raw, and
                // the tmpfs directories must not stay behind on the host,
                // and what the guest wrote to its disks must reach them
                // (unmounted cleanly, as UML's halt on SIGTERM does).
                restore_terminal();
                k.vfs.release();
                crate::mconsole::server::remove_dirs();
                libc::_exit(128 + sig);
            }
            crate::dev::tty::forward_host_signal(k, sig);
        }
    }
}
