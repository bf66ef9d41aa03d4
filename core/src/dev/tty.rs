//! The console as a terminal: umvm's stdin and stdout behind the N_TTY
//! line discipline of `dev::ldisc`.
//!
//! When umvm's stdin is a host terminal, umvm switches it to raw mode for
//! the whole run (restoring it on every exit path, see
//! `console::TerminalGuard`), so every key reaches this line discipline:
//! ^C becomes SIGINT for the guest's foreground job, never for umvm, and
//! echo, line editing and CR/LF mapping are the guest's settings. The same
//! code serves a pipe or a file on stdin (`--console tty`), so the guest
//! sees one behaviour whatever umvm's stdin is.
//!
//! An input thread reads the host's stdin as long as the line discipline
//! has room, feeds it, writes the echo and sends the signals; readers
//! wait on [`Tty::readers`] in the tracer loop, never blocking it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::ldisc::{Effects, Ldisc};
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::sched::wait::WaitQueue;
use crate::signal::{send, SigInfoFix};

/// `struct winsize`: rows, columns, and two pixel sizes nobody uses.
pub type Winsize = [u16; 4];

/// The console terminal.
pub struct Tty {
    ldisc: Mutex<Ldisc>,
    /// Signalled when a reader made room in the line discipline.
    room: Condvar,
    winsize: Mutex<Winsize>,
    /// Tasks waiting for input.
    pub readers: Arc<WaitQueue>,
    input: OwnedFd,
    output: Option<OwnedFd>,
    host_terminal: bool,
}

fn dup(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on any fd number is safe; failure is -1.
    let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    // SAFETY: fcntl returned a new fd that nothing else owns.
    (d >= 0).then(|| unsafe { OwnedFd::from_raw_fd(d) })
}

fn host_winsize(fd: RawFd) -> Option<Winsize> {
    let mut ws: Winsize = [0; 4];
    // SAFETY: TIOCGWINSZ writes one struct winsize (four u16) into `ws`.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, ws.as_mut_ptr()) };
    (r == 0).then_some(ws)
}

impl Tty {
    /// A terminal over umvm's fds 0 (input) and 1 (output); None when
    /// umvm has no stdin.
    pub fn new() -> Option<Tty> {
        let input = dup(0)?;
        let output = dup(1);
        // SAFETY: isatty only inspects the fd.
        let host_terminal = unsafe { libc::isatty(input.as_raw_fd()) } == 1;
        // Without a host terminal to ask, the classic console size.
        let ws = host_winsize(0).or_else(|| host_winsize(1)).filter(|w| w[0] > 0).unwrap_or([24, 80, 0, 0]);
        Some(Tty {
            ldisc: Mutex::new(Ldisc::default()),
            room: Condvar::new(),
            winsize: Mutex::new(ws),
            readers: Arc::default(),
            input,
            output,
            host_terminal,
        })
    }

    /// Whether the input is a host terminal (which umvm puts in raw mode).
    pub fn on_host_terminal(&self) -> bool {
        self.host_terminal
    }

    /// The line discipline, locked.
    pub fn ldisc(&self) -> MutexGuard<'_, Ldisc> {
        self.ldisc.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes input for a reader (see [`Ldisc::read`]) and lets the input
    /// thread go on if it was waiting for room.
    pub fn take(&self, l: &mut Ldisc, max: usize) -> Option<Vec<u8>> {
        let r = l.read(max);
        if r.as_ref().is_some_and(|d| !d.is_empty()) {
            self.room.notify_one();
        }
        r
    }

    /// Discards pending input (TCFLSH).
    pub fn flush_input(&self, l: &mut Ldisc) {
        l.flush_input();
        self.room.notify_one();
    }

    /// Writes guest output: processed by the line discipline, then all of
    /// it to the host. EIO when the host side is gone.
    pub fn write(&self, data: &[u8]) -> Result<usize, Errno> {
        let mut out = Vec::new();
        let mut l = self.ldisc();
        l.output(data, &mut out);
        self.emit(&out)?;
        drop(l);
        Ok(data.len())
    }

    /// Writes bytes to the host's output (the caller holds the line
    /// discipline, which keeps echo and output in order).
    fn emit(&self, mut data: &[u8]) -> Result<(), Errno> {
        let Some(fd) = &self.output else { return Ok(()) };
        while !data.is_empty() {
            // SAFETY: `data` is readable for its length.
            let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
            match Errno::result(n) {
                Err(Errno::EINTR) => continue,
                Err(_) => return Err(Errno::EIO),
                Ok(n) => data = &data[n as usize..],
            }
        }
        Ok(())
    }

    /// The window size.
    pub fn winsize(&self) -> Winsize {
        *self.winsize.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the window size; a change sends SIGWINCH to the foreground
    /// process group, as Linux's tty_do_resize does.
    pub fn set_winsize(&self, k: &Kernel, ws: Winsize) {
        let changed = {
            let mut cur = self.winsize.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *cur, ws) != ws
        };
        if changed {
            signal_foreground(k, libc::SIGWINCH);
        }
    }

    /// The host terminal was resized (umvm got SIGWINCH): the guest's
    /// terminal takes the new size.
    pub fn host_resized(&self, k: &Kernel) {
        if let Some(ws) = host_winsize(self.input.as_raw_fd()).or_else(|| host_winsize(1)) {
            self.set_winsize(k, ws);
        }
    }

    /// The input thread's body: reads umvm's stdin while the line
    /// discipline has room; at end of input the terminal hangs up.
    pub fn run_input(&self, k: &Kernel) {
        let mut buf = [0u8; 1024];
        loop {
            {
                let mut l = self.ldisc();
                while !l.has_room() {
                    l = self.room.wait(l).unwrap_or_else(|e| e.into_inner());
                }
            }
            // SAFETY: `buf` is writable for its length.
            let n = unsafe { libc::read(self.input.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 && Errno::last() == Errno::EINTR {
                continue;
            }
            if n <= 0 {
                self.ldisc().hang_up();
            }
            let mut rest = &buf[..n.max(0) as usize];
            while !rest.is_empty() {
                let mut fx = Effects::default();
                {
                    let mut l = self.ldisc();
                    rest = &rest[l.receive(rest, &mut fx)..];
                    // A closed host output loses the echo, not the input.
                    let _ = self.emit(&fx.output);
                }
                // Posted before the wake-up below (same inbox, in order):
                // a reader takes the signal before the bytes after it.
                for sig in fx.signals {
                    signal_foreground(k, sig);
                }
            }
            k.wake_all(&self.readers);
            if n <= 0 {
                return;
            }
        }
    }
}

/// Sends a terminal signal to the console's foreground process group.
pub fn signal_foreground(k: &Kernel, sig: i32) {
    let (_, fg) = k.console_tty.get();
    let fix = SigInfoFix { code: libc::SI_KERNEL, pid: 0, uid: 0, status: 0, value: None, timer: None };
    let _ = send::to_group(k, fg, sig, fix);
}

/// A signal umvm received from the host: a resize of the host terminal
/// resizes the guest's; ^C and the like (typed while the console is not
/// a terminal) go to the guest's foreground job.
pub fn forward_host_signal(k: &Kernel, sig: i32) {
    match (&k.tty, sig) {
        (Some(tty), libc::SIGWINCH) => tty.host_resized(k),
        _ => signal_foreground(k, sig),
    }
}
