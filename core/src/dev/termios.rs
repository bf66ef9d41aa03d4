//! The kernel's `struct termios` (what TCGETS and TCSETS copy), as a typed
//! value parsed from and written to the guest's bytes.
//!
//! This is the kernel layout of include/uapi/asm-generic/termbits.h, not
//! a C library's: four 32-bit flag words, the line discipline number and
//! 19 control characters, 36 bytes in all.

/// Size of the kernel's `struct termios` on x86-64.
pub const SIZE: usize = 36;
/// Number of control characters (NCCS).
pub const NCCS: usize = 19;

/// Control character indices (c_cc), as Linux numbers them.
pub mod cc {
    /// ^C: SIGINT.
    pub const VINTR: usize = 0;
    /// ^\: SIGQUIT.
    pub const VQUIT: usize = 1;
    /// DEL: erase one character.
    pub const VERASE: usize = 2;
    /// ^U: erase the line.
    pub const VKILL: usize = 3;
    /// ^D: end of file.
    pub const VEOF: usize = 4;
    /// Non-canonical read timeout, in tenths of a second.
    pub const VTIME: usize = 5;
    /// Non-canonical read minimum byte count.
    pub const VMIN: usize = 6;
    /// ^Q: restart output.
    pub const VSTART: usize = 8;
    /// ^S: stop output.
    pub const VSTOP: usize = 9;
    /// ^Z: SIGTSTP.
    pub const VSUSP: usize = 10;
    /// An extra end-of-line character.
    pub const VEOL: usize = 11;
    /// ^R: reprint the line.
    pub const VREPRINT: usize = 12;
    /// ^W: erase a word.
    pub const VWERASE: usize = 14;
    /// ^V: take the next character literally.
    pub const VLNEXT: usize = 15;
    /// A second extra end-of-line character.
    pub const VEOL2: usize = 16;
}

/// A control character slot that is switched off (`_POSIX_VDISABLE`).
pub const DISABLED: u8 = 0;

/// Terminal settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    /// Input modes (ICRNL, IXON...).
    pub iflag: u32,
    /// Output modes (OPOST, ONLCR...).
    pub oflag: u32,
    /// Control modes (baud rate, CS8...).
    pub cflag: u32,
    /// Local modes (ICANON, ECHO, ISIG...).
    pub lflag: u32,
    /// Line discipline number (0: N_TTY).
    pub line: u8,
    /// Control characters.
    pub cc: [u8; NCCS],
}

impl Default for Termios {
    /// Linux's `tty_std_termios`: what a new terminal starts with.
    fn default() -> Termios {
        Termios {
            iflag: libc::ICRNL | libc::IXON,
            oflag: libc::OPOST | libc::ONLCR,
            cflag: libc::B38400 | libc::CS8 | libc::CREAD | libc::HUPCL,
            lflag: libc::ISIG
                | libc::ICANON
                | libc::ECHO
                | libc::ECHOE
                | libc::ECHOK
                | libc::ECHOCTL
                | libc::ECHOKE
                | libc::IEXTEN,
            line: 0,
            // INIT_C_CC of include/linux/tty.h.
            cc: *b"\x03\x1c\x7f\x15\x04\x00\x01\x00\x11\x13\x1a\x00\x12\x0f\x17\x16\x00\x00\x00",
        }
    }
}

fn word(b: &[u8; SIZE], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl Termios {
    /// Parses the kernel layout. Every bit pattern is a valid termios:
    /// unknown flags are kept and ignored, as Linux does.
    pub fn from_bytes(b: &[u8; SIZE]) -> Termios {
        let mut cc = [0u8; NCCS];
        cc.copy_from_slice(&b[17..17 + NCCS]);
        Termios { iflag: word(b, 0), oflag: word(b, 4), cflag: word(b, 8), lflag: word(b, 12), line: b[16], cc }
    }

    /// The kernel layout.
    pub fn to_bytes(&self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        b[0..4].copy_from_slice(&self.iflag.to_ne_bytes());
        b[4..8].copy_from_slice(&self.oflag.to_ne_bytes());
        b[8..12].copy_from_slice(&self.cflag.to_ne_bytes());
        b[12..16].copy_from_slice(&self.lflag.to_ne_bytes());
        b[16] = self.line;
        b[17..].copy_from_slice(&self.cc);
        b
    }

    /// Whether input flag `f` is set.
    pub fn i(&self, f: u32) -> bool {
        self.iflag & f != 0
    }

    /// Whether output flag `f` is set.
    pub fn o(&self, f: u32) -> bool {
        self.oflag & f != 0
    }

    /// Whether local flag `f` is set.
    pub fn l(&self, f: u32) -> bool {
        self.lflag & f != 0
    }

    /// Whether byte `c` is the (enabled) control character at `idx`.
    pub fn is(&self, idx: usize, c: u8) -> bool {
        self.cc[idx] != DISABLED && self.cc[idx] == c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_kernel_layout() {
        let t = Termios::default();
        let b = t.to_bytes();
        assert_eq!(Termios::from_bytes(&b), t);
        // The layout libc's tcgetattr expects: iflag first, VINTR at 17.
        assert_eq!(word(&b, 0), libc::ICRNL | libc::IXON);
        assert_eq!(b[17 + cc::VINTR], 3);
        assert_eq!(b[17 + cc::VMIN], 1);
    }
}
