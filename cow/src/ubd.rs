//! UML's `ubd` switch (specs/uml-interop.md §2) and opening what it names.
//!
//! `ubd<n>[flags]=<file>[(,|:)<backing>][(,|:)<serial>]`: `n` is 0..15 or
//! a..p; the flags are any of r s d c t (at most 6 letters); fields split
//! on `,` or `:`, empty ones absent. Two names are COW and backing (the COW
//! file is created if missing); one name is auto-detected (a COW magic
//! means COW) unless `d`. `ubd=sync` sets `s` on every device; `ubd=<n>`,
//! an obsolete major number, is ignored.

use std::path::PathBuf;

use umvm_blockio::{BlockDevice, DeviceOptions, DirectMode, Engine, FileId, UbdFlags};

use crate::device::{CowDevice, CowOptions};
use crate::error::{Error, Result};
use crate::header::{Header, MAX_LEN};
use crate::tools;
use crate::wal;

/// UML's MAX_DEV.
pub const MAX_UNITS: u8 = 16;

/// One `ubdN=` device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UbdSpec {
    /// The unit, 0..15 (`ubda` is 0).
    pub unit: u8,
    /// The flags.
    pub flags: UbdFlags,
    /// The first name: the COW file, or the image.
    pub file: PathBuf,
    /// The second name: the backing file.
    pub backing: Option<PathBuf>,
    /// The serial shown to the guest.
    pub serial: Option<String>,
}

/// What a `ubd...` switch says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UbdSwitch {
    /// A device.
    Device(UbdSpec),
    /// `ubd=sync`: every device synchronous.
    SyncAll,
    /// `ubd=<number>`: obsolete, ignored (UML warns).
    Ignored,
}

impl UbdSwitch {
    /// Parses one switch, `ubd...=...`, as written on UML's command line.
    pub fn parse(arg: &str) -> Result<UbdSwitch> {
        let bad = |why: &str| Error::Ubd { spec: arg.to_string(), why: why.to_string() };
        let rest = arg.strip_prefix("ubd").ok_or_else(|| bad("not a ubd switch"))?;
        if let Some(value) = rest.strip_prefix('=') {
            return match value {
                "sync" => Ok(UbdSwitch::SyncAll),
                v if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) => {
                    tracing::warn!("{arg}: fake major numbers are obsolete; ignored");
                    Ok(UbdSwitch::Ignored)
                }
                _ => Err(bad("expected ubd=sync or ubd<n>=<file>")),
            };
        }
        let (unit, rest) = match rest.as_bytes().first() {
            Some(c @ b'a'..=b'p') => (c - b'a', &rest[1..]),
            Some(b'0'..=b'9') => {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                let n: u32 = rest[..digits].parse().map_err(|_| bad("bad device number"))?;
                if n >= u32::from(MAX_UNITS) {
                    return Err(bad(&format!("device number {n} out of range (0 to {})", MAX_UNITS - 1)));
                }
                (n as u8, &rest[digits..])
            }
            _ => return Err(bad("expected a device number (0 to 15) or letter (a to p)")),
        };
        let (letters, value) = rest.split_once('=').ok_or_else(|| bad("Missing '='"))?;
        let flags = UbdFlags::parse(letters).map_err(|e| bad(&e.to_string()))?;
        let mut fields = value.split([',', ':']);
        let mut next = || fields.next().filter(|f| !f.is_empty());
        let file = next().ok_or_else(|| bad("no file name"))?;
        let backing = next().map(PathBuf::from);
        let serial = next().map(str::to_string);
        if flags.data_only && backing.is_some() {
            return Err(bad("the d flag (no COW) and a backing file exclude each other"));
        }
        Ok(UbdSwitch::Device(UbdSpec { unit, flags, file: file.into(), backing, serial }))
    }
}

/// An open ubd disk.
#[derive(Debug)]
pub enum Disk {
    /// A plain image.
    Plain(BlockDevice, FileId),
    /// A COW disk.
    Cow(Box<CowDevice>),
}

impl UbdSpec {
    /// Opens the device, as UML does: with a backing file, the COW file
    /// (created if it does not exist); with one name, a COW file if it has
    /// the magic (unless `d`), else a plain image.
    pub fn open(&self, engine: &mut Engine, force_backing: bool) -> Result<Disk> {
        let opts = CowOptions { flags: self.flags, backing: self.backing.clone(), force_backing, buffered: false };
        self.replay_log()?;
        if let Some(backing) = &self.backing {
            if !self.file.exists() {
                tracing::info!("Creating \"{}\" as COW file for \"{}\"", self.file.display(), backing.display());
                tools::create(&self.file, backing, false)?;
            }
            return CowDevice::open(&self.file, &opts, engine).map(|d| Disk::Cow(Box::new(d)));
        }
        if !self.flags.data_only && is_cow(&self.file)? {
            return CowDevice::open(&self.file, &opts, engine).map(|d| Disk::Cow(Box::new(d)));
        }
        let dev = BlockDevice::open(
            &self.file,
            DeviceOptions { flags: self.flags, direct: DirectMode::Auto, expected_size: None },
        )
        .map_err(Error::block(&self.file))?;
        let id = dev.register(engine).map_err(Error::block(&self.file))?;
        Ok(Disk::Plain(dev, id))
    }
}

impl UbdSpec {
    /// Applies the write-ahead log of a commit umvm was stopped in
    /// ([`wal::replay`]), before the disk is read. A log without its
    /// image belongs to a file that is gone: it is removed. With the `c`
    /// flag another VM may have the disk open and its log in use: then
    /// the log is left alone.
    fn replay_log(&self) -> Result<()> {
        let log = wal::log_path(&self.file);
        if !self.file.exists() {
            if log.exists() {
                tracing::warn!("{}: removing the log of a disk that is gone", log.display());
                std::fs::remove_file(&log).map_err(Error::io(&log))?;
            }
            return Ok(());
        }
        match wal::replay(&self.file) {
            Err(Error::Io { source, .. }) if self.flags.shared && source.kind() == std::io::ErrorKind::WouldBlock => {
                Ok(())
            }
            r => r.map(drop),
        }
    }
}

/// Whether `path` starts with a COW magic (a broken header still counts:
/// opening it then says what is wrong).
fn is_cow(path: &std::path::Path) -> Result<bool> {
    use std::io::Read;
    let mut head = Vec::with_capacity(MAX_LEN);
    std::fs::File::open(path).and_then(|f| f.take(MAX_LEN as u64).read_to_end(&mut head)).map_err(Error::io(path))?;
    Ok(!matches!(Header::parse(&head), Ok(None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(s: &str) -> UbdSpec {
        match UbdSwitch::parse(s).unwrap() {
            UbdSwitch::Device(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_umls_forms() {
        let d = dev("ubd0=root.cow,root.img");
        assert_eq!(
            (d.unit, d.file.to_str(), d.backing.as_deref().and_then(|p| p.to_str())),
            (0, Some("root.cow"), Some("root.img"))
        );
        let d = dev("ubdbrc=a:b:SER1");
        assert_eq!(d.unit, 1);
        assert!(d.flags.read_only && d.flags.shared);
        assert_eq!(d.serial.as_deref(), Some("SER1"));
        let d = dev("ubd15=File,,Serial");
        assert_eq!((d.unit, d.backing, d.serial.as_deref()), (15, None, Some("Serial")));
        assert!(dev("ubd2tsd=img").flags.data_only);
        assert_eq!(UbdSwitch::parse("ubd=sync").unwrap(), UbdSwitch::SyncAll);
        assert_eq!(UbdSwitch::parse("ubd=98").unwrap(), UbdSwitch::Ignored);
    }

    #[test]
    fn refuses_malformed_switches_with_umls_words() {
        for (s, want) in [
            ("ubd0x=img", "flag letter"),
            ("ubd0rrrrrrr=img", "Too many flags"),
            ("ubd0", "Missing '='"),
            ("ubd16=img", "out of range"),
            ("ubdq=img", "device number"),
            ("ubd0=", "no file name"),
            ("ubd0d=a,b", "exclude"),
        ] {
            let e = UbdSwitch::parse(s).unwrap_err().to_string();
            assert!(e.contains(want) && e.starts_with(s), "{s}: {e}");
        }
    }
}
