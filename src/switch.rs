//! `umvm switch`: a thin client of umvm-netio's switch.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{Context, Result};
use umvm_netio::switch::{Switch, DEFAULT_CTL};

/// `umvm switch` options (uml_switch's, GNU-style).
#[derive(clap::Args)]
#[command(after_help = "\
Real UML joins with ethN=daemon,,unix,CTL (Debian's UML defaults to
/var/run/uml-utilities/uml_switch.ctl; say the socket explicitly) and umvm guests
with the same switch. Both must share the switch's network namespace: the data
socket is an abstract name. SIGINT or SIGTERM stops the switch and removes its
control socket.")]
pub struct SwitchArgs {
    /// Flood every frame to every other port, as a hub (uml_switch -hub).
    #[arg(long)]
    hub: bool,

    /// The control socket to listen on. A stale socket there (nobody
    /// listening) is replaced.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CTL)]
    unix: PathBuf,
}

/// Serves until SIGINT or SIGTERM.
pub fn run(args: SwitchArgs) -> Result<i32> {
    let signals = stop_signals().context("umvm switch: cannot catch SIGINT/SIGTERM")?;
    let mut switch = Switch::bind(&args.unix, args.hub).with_context(|| "umvm switch".to_string())?;
    eprintln!(
        "umvm switch: {} on {} (ethN=daemon,,unix,{})",
        if args.hub { "hub" } else { "learning switch" },
        args.unix.display(),
        args.unix.display()
    );
    switch.run(Some(signals.as_raw_fd()))?;
    // Dropping the switch unlinks its control socket.
    Ok(0)
}

/// Blocks SIGINT and SIGTERM and returns a signalfd that becomes
/// readable when one arrives (the switch's poll loop watches it).
fn stop_signals() -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the
    // process is single-threaded here, so sigprocmask covers it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}
