//! UML's ubd flags: the letters between `ubdN` and `=` on the command line
//! (specs/uml-interop.md §2).

use crate::error::{Error, Result};

/// The ubd flags of one device. `Default` is UML's default: read-write,
/// buffered by the host unless `s`, COW detection on, locked, discard on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UbdFlags {
    /// `r`: open the image read-only; writes and discards fail.
    pub read_only: bool,
    /// `s`: synchronous; the image is opened O_SYNC, so every completed
    /// write is durable without a flush.
    pub sync: bool,
    /// `d`: data only; never look for a COW header (used by the COW layer,
    /// which must reject a backing file given with it).
    pub data_only: bool,
    /// `c`: shared ("cluster"); take no lock on the image.
    pub shared: bool,
    /// `t`: no trim; discard and write-zeroes are refused.
    pub no_trim: bool,
}

/// UML accepts at most this many flag letters (repeats count).
const MAX_FLAGS: usize = 6;

impl UbdFlags {
    /// Parses the flag letters, with UML's own error messages so that users
    /// moving from UML recognise them.
    pub fn parse(letters: &str) -> Result<UbdFlags> {
        if letters.len() > MAX_FLAGS {
            return Err(Error::Flags("Too many flags specified".into()));
        }
        let mut flags = UbdFlags::default();
        for c in letters.chars() {
            match c {
                'r' => flags.read_only = true,
                's' => flags.sync = true,
                'd' => flags.data_only = true,
                'c' => flags.shared = true,
                't' => flags.no_trim = true,
                _ => return Err(Error::Flags("Expected '=' or flag letter (r, s, c, t or d)".into())),
            }
        }
        Ok(flags)
    }
}

impl std::fmt::Display for UbdFlags {
    /// The letters in UML's order, so that a parsed string prints back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (on, c) in
            [(self.read_only, 'r'), (self.sync, 's'), (self.data_only, 'd'), (self.shared, 'c'), (self.no_trim, 't')]
        {
            if on {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_letter_in_any_order_with_repeats() {
        let f = UbdFlags::parse("tcdsrr").unwrap();
        assert!(f.read_only && f.sync && f.data_only && f.shared && f.no_trim);
        assert_eq!(f.to_string(), "rsdct");
        assert_eq!(UbdFlags::parse("").unwrap(), UbdFlags::default());
    }

    #[test]
    fn rejects_unknown_letters_and_too_many() {
        assert!(UbdFlags::parse("x").unwrap_err().to_string().contains("flag letter"));
        assert!(UbdFlags::parse("rrrrrrr").unwrap_err().to_string().contains("Too many"));
    }
}
