//! UML's `tuntap` transport with a device name: attach to a TAP device
//! the administrator made (`ip tuntap add dev tap0 mode tap`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::error::NetError;
use crate::port::Transport;

/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// An attached TAP device: read and write move raw frames (IFF_NO_PI).
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Opens /dev/net/tun and attaches to `dev` with IFF_TAP|IFF_NO_PI.
    pub fn attach(dev: &str) -> Result<Tap, NetError> {
        let what = |w: &str| format!("tuntap {dev}: {w}");
        if dev.is_empty() || dev.len() >= libc::IFNAMSIZ || dev.contains(['/', '\0']) {
            return Err(NetError::io(what("bad interface name"), io::Error::from_raw_os_error(libc::EINVAL)));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| NetError::io(what("open /dev/net/tun"), e))?;
        // SAFETY: ifreq is plain old data.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(dev.bytes()) {
            *d = s as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads (and may write back) one ifreq we own.
        if unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut ifr) } < 0 {
            return Err(NetError::io(what("TUNSETIFF"), io::Error::last_os_error()));
        }
        Ok(Tap { file, name: dev.to_string() })
    }

    /// The host interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Transport for Tap {
    fn kind(&self) -> &'static str {
        "tuntap"
    }

    fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is valid for its length.
        let n = unsafe { libc::write(self.fd(), frame.as_ptr().cast(), frame.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for its length.
        let n = unsafe { libc::read(self.fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // A tap read truncates silently: a full buffer means too long.
        Ok(if n as usize == buf.len() { buf.len() + 1 } else { n as usize })
    }
}
