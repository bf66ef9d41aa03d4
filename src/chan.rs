//! UML's console and serial line switches: `con=`, `conN=`, `ssl=`,
//! `sslN=` with a channel `IN[,OUT]` (null, fd:N, pty, pts, port:N,
//! tty:DEV, xterm, or `none`), parsed with UML's messages.
//!
//! umvm's guest has one console: its fds 0, 1 and 2, which the kernel
//! takes from umvm's own at boot. So the console's channels (`con0=`, or
//! `con=` for every console) are put in place by moving host fds onto
//! umvm's 0, 1 and 2 before the VM is built: `null` is /dev/null, `fd:N`
//! is host fd N, `pty`/`pts` a new host pseudo-terminal whose name is
//! printed as UML prints it, `port:N` the first TCP connection to
//! 127.0.0.1:N, `tty:DEV` that host terminal. Other consoles and serial
//! lines (con1..con15, ssl0..ssl63) do not exist in umvm: their switches
//! are checked and otherwise ignored.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};

/// UML's MAX_TTYS (virtual consoles) and NR_PORTS (serial lines).
const MAX_TTYS: u32 = 16;
const NR_PORTS: u32 = 64;

/// One direction's channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chan {
    Null,
    Fd(RawFd),
    /// `pty` (UML: an old BSD pty) and `pts` (Unix98): both a Unix98
    /// pseudo-terminal here.
    Pty,
    Port(u16),
    Tty(PathBuf),
    Xterm,
}

/// A line's configuration: its input and output channels, or None for
/// `none` (the line left unconfigured).
pub type LineConf = Option<(Chan, Chan)>;

/// Which line a switch names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// `con=` (None: every console) or `conN=`.
    Con(Option<u32>),
    /// `ssl=` or `sslN=`.
    Ssl(Option<u32>),
}

/// Parses one channel as UML's parse_chan does.
fn parse_chan(s: &str) -> Result<Chan> {
    let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
    Ok(match (kind, s.contains(':')) {
        ("null", false) => Chan::Null,
        ("pty" | "pts", false) => Chan::Pty,
        ("xterm", false) => Chan::Xterm,
        ("fd", true) => {
            if arg.is_empty() {
                bail!("fd_init : channel type 'fd' must specify a file descriptor");
            }
            Chan::Fd(arg.parse().map_err(|_| anyhow!("fd_init : couldn't parse file descriptor '{arg}'"))?)
        }
        ("port", true) => Chan::Port(arg.parse().map_err(|_| anyhow!("port_init : couldn't parse port '{arg}'"))?),
        ("tty", true) if !arg.is_empty() => Chan::Tty(PathBuf::from(arg)),
        _ => bail!("parse_chan couldn't parse \"{s}\""),
    })
}

/// Parses `KEY=VALUE` of a con/ssl switch: which line, and its channels.
pub fn parse_switch(key: &str, value: &str) -> Result<(Line, LineConf)> {
    // UML's names for the lines in its messages.
    let (name, digits, max) = match key {
        k if k.starts_with("con") => ("console", &k[3..], MAX_TTYS),
        k if k.starts_with("ssl") => ("serial line", &k[3..], NR_PORTS),
        _ => bail!("{key}: not a console or serial line switch"),
    };
    // UML's line_setup messages.
    let init = format!("{}={value}", digits);
    let which = if digits.is_empty() {
        None
    } else {
        let n: u32 = digits.parse().map_err(|_| {
            anyhow!("Failed to set up {name} with configuration string \"{init}\" : Couldn't parse device number")
        })?;
        if n >= max {
            bail!("Failed to set up {name} with configuration string \"{init}\" : Device number out of range");
        }
        Some(n)
    };
    let line = if name == "console" { Line::Con(which) } else { Line::Ssl(which) };
    if value == "none" {
        return Ok((line, None));
    }
    let (input, output) = value.split_once(',').unwrap_or((value, value));
    let parse = |c: &str| parse_chan(c).with_context(|| format!("{key}={value}"));
    Ok((line, Some((parse(input)?, parse(output)?))))
}

/// The console's (tty0's) channels from every con/ssl switch: `con0=`
/// if given, else `con=`, else UML's default `fd:0,fd:1`. Every switch is
/// checked; those for lines umvm does not have are otherwise ignored.
pub fn console_conf(switches: &[(String, String)]) -> Result<LineConf> {
    let mut all: Option<LineConf> = None;
    let mut con0: Option<LineConf> = None;
    for (key, value) in switches {
        match parse_switch(key, value)? {
            (Line::Con(None), conf) => all = Some(conf),
            (Line::Con(Some(0)), conf) => con0 = Some(conf),
            (_, Some((Chan::Null, Chan::Null)) | None) => {}
            (_, Some(_)) => {
                tracing::info!("{key}={value}: umvm has one console (con0) and no serial lines; ignored")
            }
        }
    }
    Ok(con0.or(all).unwrap_or(Some((Chan::Fd(0), Chan::Fd(1)))))
}

/// A new pseudo-terminal: (master, slave's name). The slave stays open
/// (leaked on purpose) so that reading the master never fails with EIO
/// while no terminal program has the slave open.
fn open_pty() -> Result<(OwnedFd, String)> {
    // SAFETY: posix_openpt returns a new fd or -1.
    let m = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if m < 0 {
        return Err(std::io::Error::last_os_error()).context("cannot open /dev/ptmx");
    }
    // SAFETY: m is a new fd that nothing else owns.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: grantpt/unlockpt take the master fd; ptsname_r writes at
    // most buf.len() bytes, NUL-terminated, into buf.
    let ok = unsafe {
        libc::grantpt(m) == 0 && libc::unlockpt(m) == 0 && libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()) == 0
    };
    if !ok {
        return Err(std::io::Error::last_os_error()).context("cannot set up a pseudo-terminal");
    }
    // SAFETY: ptsname_r succeeded, so buf holds a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .with_context(|| format!("cannot open {name}"))?;
    std::mem::forget(slave);
    Ok((master, name))
}

/// A host fd for `chan`.
fn open_chan(chan: &Chan, input: bool) -> Result<OwnedFd> {
    Ok(match chan {
        Chan::Null => {
            let f = std::fs::OpenOptions::new().read(input).write(!input).open("/dev/null").context("/dev/null")?;
            f.into()
        }
        Chan::Fd(n) => {
            // SAFETY: F_DUPFD_CLOEXEC on any number is safe; -1 on failure.
            let fd = unsafe { libc::fcntl(*n, libc::F_DUPFD_CLOEXEC, 3) };
            if fd < 0 {
                bail!("fd:{n}: umvm has no file descriptor {n}");
            }
            // SAFETY: a new fd that nothing else owns.
            unsafe { OwnedFd::from_raw_fd(fd) }
        }
        Chan::Pty => {
            let (master, name) = open_pty()?;
            // UML's message (chan_kern.c / stdio_console.c).
            println!("Virtual console 0 assigned device '{name}'");
            master
        }
        Chan::Port(port) => {
            let l = std::net::TcpListener::bind(("127.0.0.1", *port))
                .with_context(|| format!("port:{port}: cannot listen on 127.0.0.1:{port}"))?;
            eprintln!("umvm: con0: waiting for a connection to 127.0.0.1:{port} (telnet or nc)");
            let (s, _) = l.accept().with_context(|| format!("port:{port}: accept"))?;
            s.into()
        }
        Chan::Tty(dev) => {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOCTTY)
                .open(dev)
                .with_context(|| format!("tty:{}", dev.display()))?;
            f.into()
        }
        Chan::Xterm => bail!("xterm: umvm does not open terminal emulators; use pty and attach one to it"),
    })
}

/// Puts the console's channels on umvm's fds 0 (input) and 1 and 2
/// (output), where the kernel takes the console from. Default channels
/// (fd:0,fd:1) change nothing.
pub fn apply_console(conf: &LineConf) -> Result<()> {
    let (input, output) = match conf {
        // UML leaves an unconfigured line without channels: no input,
        // output discarded.
        None => (Chan::Null, Chan::Null),
        Some((i, o)) => (i.clone(), o.clone()),
    };
    if input == Chan::Fd(0) && output == Chan::Fd(1) {
        return Ok(());
    }
    // One pty, port or tty for both directions when both name it.
    let shared = input == output && matches!(input, Chan::Pty | Chan::Port(_) | Chan::Tty(_));
    let in_fd = open_chan(&input, true)?;
    let out_fd = if shared {
        // SAFETY: dup of a valid fd; -1 on failure.
        let fd = unsafe { libc::fcntl(in_fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("dup");
        }
        // SAFETY: a new fd that nothing else owns.
        unsafe { OwnedFd::from_raw_fd(fd) }
    } else {
        open_chan(&output, false)?
    };
    for (from, to) in [(&in_fd, 0), (&out_fd, 1), (&out_fd, 2)] {
        // SAFETY: dup2 onto 0, 1, 2 replaces umvm's own stdio, which
        // nothing in umvm holds as an owned object.
        if unsafe { libc::dup2(from.as_raw_fd(), to) } < 0 {
            return Err(std::io::Error::last_os_error()).context("dup2 of the console's channel");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(words: &[(&str, &str)]) -> Result<LineConf> {
        let v: Vec<(String, String)> = words.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        console_conf(&v)
    }

    #[test]
    fn channels_parse_as_uml() {
        assert_eq!(parse_chan("null").unwrap(), Chan::Null);
        assert_eq!(parse_chan("fd:3").unwrap(), Chan::Fd(3));
        assert_eq!(parse_chan("pts").unwrap(), Chan::Pty);
        assert_eq!(parse_chan("port:9000").unwrap(), Chan::Port(9000));
        assert_eq!(parse_chan("tty:/dev/tty5").unwrap(), Chan::Tty("/dev/tty5".into()));
        assert_eq!(parse_chan("fd:x").unwrap_err().to_string(), "fd_init : couldn't parse file descriptor 'x'");
        assert_eq!(
            parse_chan("fd:").unwrap_err().to_string(),
            "fd_init : channel type 'fd' must specify a file descriptor"
        );
        assert_eq!(parse_chan("port:99999").unwrap_err().to_string(), "port_init : couldn't parse port '99999'");
        assert_eq!(parse_chan("telnet").unwrap_err().to_string(), "parse_chan couldn't parse \"telnet\"");
    }

    #[test]
    fn switches_pick_the_console() {
        assert_eq!(conf(&[]).unwrap(), Some((Chan::Fd(0), Chan::Fd(1))));
        assert_eq!(conf(&[("con", "null"), ("ssl", "pty")]).unwrap(), Some((Chan::Null, Chan::Null)));
        assert_eq!(conf(&[("con0", "fd:0,fd:1"), ("con", "null")]).unwrap(), Some((Chan::Fd(0), Chan::Fd(1))));
        assert_eq!(conf(&[("con0", "none")]).unwrap(), None);
        assert_eq!(conf(&[("con0", "fd:5,null")]).unwrap(), Some((Chan::Fd(5), Chan::Null)));
        let e = format!("{:#}", conf(&[("con16", "null")]).unwrap_err());
        assert_eq!(e, "Failed to set up console with configuration string \"16=null\" : Device number out of range");
        let e = format!("{:#}", conf(&[("ssl64", "null")]).unwrap_err());
        assert!(e.contains("Device number out of range"), "{e}");
        let e = format!("{:#}", conf(&[("con1", "bogus")]).unwrap_err());
        assert_eq!(e, "con1=bogus: parse_chan couldn't parse \"bogus\"");
    }
}
