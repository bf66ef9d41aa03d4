//! Mounting the root filesystem from the kernel command line (Linux's
//! init/do_mounts.c): `root=` names the disk, `rootfstype=` the
//! filesystem, `ro` and `rw` how it is mounted.

use std::sync::Arc;

use super::ext2;
use super::ext2_mount::Ext2Mount;
use crate::dev::ubd::{Ubd, UbdError};

/// The ubd driver's block major (UML's UBD_MAJOR).
pub const UBD_MAJOR: u32 = 98;
/// How often a mounted disk filesystem checks whether data has been
/// dirty long enough to commit (Linux's dirty_writeback_centisecs, 5 s,
/// checks less often; the expiry itself is the disk's).
pub const COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Minors per ubd disk (UML gives each disk 16, for partitions).
pub const UBD_MINORS: u32 = 16;

/// What the command line says about the root filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootSpec {
    /// `root=`: the device (`/dev/ubda` unless given).
    pub device: String,
    /// `rootfstype=`, if given.
    pub fstype: Option<String>,
    /// `ro` (the last of `ro` and `rw` wins; rw by default, as UML).
    pub read_only: bool,
}

impl Default for RootSpec {
    fn default() -> Self {
        RootSpec { device: "/dev/ubda".into(), fstype: None, read_only: false }
    }
}

/// Why the root filesystem could not be mounted: Linux would panic with
/// "VFS: Unable to mount root fs"; umvm says which input is at fault.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// `root=` names no ubd device.
    #[error("root={0}: not a ubd device (expected /dev/ubda to /dev/ubdp, or 98:N)")]
    BadDevice(String),
    /// `root=` names a disk the command line does not give.
    #[error("root={device}: no such disk (give ubd{unit}=IMAGE)")]
    NoDisk {
        /// The device named.
        device: String,
        /// Its unit.
        unit: u8,
    },
    /// A filesystem type umvm cannot mount as root.
    #[error("rootfstype={0}: umvm mounts ext2 (and ext3 without a journal to recover) as root")]
    BadType(String),
    /// The disk could not be opened.
    #[error(transparent)]
    Ubd(#[from] UbdError),
    /// The thread that commits the filesystem could not be started.
    #[error("root={device}: starting its commit timer: {source}")]
    Timer {
        /// The device.
        device: String,
        /// What the host said.
        source: std::io::Error,
    },
    /// The filesystem on it could not be mounted.
    #[error("root={device} ({file}): {source}")]
    Mount {
        /// The device.
        device: String,
        /// The image file behind it.
        file: String,
        /// What is wrong.
        source: ext2::Error,
    },
}

/// The unit `root=` names: `/dev/ubdX` (X in a..p, or 0..15 as UML's
/// old names), or a `major:minor` of the ubd major.
pub fn root_unit(device: &str) -> Option<u8> {
    if let Some(rest) = device.strip_prefix("/dev/ubd") {
        return match rest.as_bytes() {
            [c @ b'a'..=b'p'] => Some(c - b'a'),
            _ => rest.parse::<u8>().ok().filter(|&n| n < 16),
        };
    }
    let (major, minor) = device.split_once(':')?;
    let (major, minor): (u32, u32) = (major.parse().ok()?, minor.parse().ok()?);
    (major == UBD_MAJOR && minor % UBD_MINORS == 0 && minor / UBD_MINORS < 16).then_some((minor / UBD_MINORS) as u8)
}

/// The device number of ubd disk `unit` (its whole-disk node).
pub fn ubd_dev(unit: u8) -> u64 {
    libc::makedev(UBD_MAJOR, u32::from(unit) * UBD_MINORS)
}

/// Mounts the root filesystem `spec` names on one of `disks`.
pub fn mount_root(disks: &[Arc<Ubd>], spec: &RootSpec) -> Result<Arc<Ext2Mount>, RootError> {
    let unit = root_unit(&spec.device).ok_or_else(|| RootError::BadDevice(spec.device.clone()))?;
    match spec.fstype.as_deref() {
        None | Some("ext2" | "ext3") => {}
        Some(t) => return Err(RootError::BadType(t.into())),
    }
    let disk = disks
        .iter()
        .find(|d| d.unit() == unit)
        .ok_or_else(|| RootError::NoDisk { device: spec.device.clone(), unit })?;
    let read_only = spec.read_only || disk.read_only();
    let file = disk.path().display().to_string();
    let fail = |source| RootError::Mount { device: spec.device.clone(), file: file.clone(), source };
    // Linux's kernel mounts the root as /dev/root.
    let fs =
        Ext2Mount::new(Box::new(disk.clone()), disk.clone(), ubd_dev(unit), read_only, b"/dev/root").map_err(fail)?;
    // As Linux's ext2_fill_super: a filesystem larger than its disk would
    // read past the end (a truncated image).
    let fs_bytes = fs.size_bytes();
    if fs_bytes > disk.size() {
        let why = format!("truncated: the filesystem is {fs_bytes} bytes, the disk {} bytes", disk.size());
        return Err(fail(ext2::Error::Unsupported(why)));
    }
    fs.set_direct_source(disk.clone());
    let fs = Arc::new(fs);
    fs.start_commit_timer(COMMIT_INTERVAL)
        .map_err(|source| RootError::Timer { device: spec.device.clone(), source })?;
    Ok(fs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_names_a_ubd_unit() {
        assert_eq!(root_unit("/dev/ubda"), Some(0));
        assert_eq!(root_unit("/dev/ubdp"), Some(15));
        assert_eq!(root_unit("/dev/ubd3"), Some(3));
        assert_eq!(root_unit("98:16"), Some(1));
        for bad in ["/dev/ubdq", "/dev/sda", "98:1", "8:0", "/dev/ubd16", "/dev/ubdab", ""] {
            assert_eq!(root_unit(bad), None, "{bad}");
        }
    }
}
