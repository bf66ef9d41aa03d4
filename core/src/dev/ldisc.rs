//! The console's line discipline: Linux's N_TTY (drivers/tty/n_tty.c),
//! as a pure state machine. Bytes typed go in through [`Ldisc::receive`],
//! which edits lines, echoes and raises signals; the guest reads with
//! [`Ldisc::read`]; whatever the guest writes goes out through
//! [`Ldisc::output`] (OPOST processing). The caller moves the bytes to and
//! from the host and delivers the signals.
//!
//! What it implements, as Linux does:
//! - canonical mode (ICANON): reads return one line at a time; ERASE,
//!   WERASE and KILL edit the line; EOF ends it without being stored (an
//!   empty line reads as end of file); EOL/EOL2 end it and are stored;
//!   LNEXT quotes the next byte; REPRINT retypes the line;
//! - non-canonical mode: bytes are readable as they arrive (VMIN and
//!   VTIME are the reader's business, see `dev::tty`);
//! - ISIG: INTR, QUIT and SUSP become SIGINT, SIGQUIT and SIGTSTP for the
//!   foreground process group, flushing input unless NOFLSH;
//! - input mapping: ISTRIP, IUCLC, IGNCR, ICRNL, INLCR; IXON's START and
//!   STOP bytes are consumed;
//! - echo: ECHO, ECHOE, ECHOK, ECHOKE, ECHONL, ECHOCTL (`^C`), with the
//!   output column tracked so erasing a tab moves back the right amount;
//! - output: OPOST with ONLCR, OCRNL, ONOCR, ONLRET, OLCUC and XTABS;
//! - IUTF8: a multi-byte character is one column and erases as one.
//!
//! Not implemented: output flow control (STOP does not suspend output),
//! ECHOPRT's hard-copy erase, PARMRK and BRKINT (a console has no parity
//! or breaks).

use std::collections::VecDeque;

use super::termios::{cc::*, Termios};

/// Linux's N_TTY_BUF_SIZE: input the line discipline holds.
pub const BUF_SIZE: usize = 4096;

/// What receiving input asks of the caller.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Echo to write to the terminal (already output-processed).
    pub output: Vec<u8>,
    /// Signals for the foreground process group, in order.
    pub signals: Vec<i32>,
}

/// The state of the line discipline.
#[derive(Debug)]
pub struct Ldisc {
    termios: Termios,
    /// Input the guest may read.
    ready: VecDeque<u8>,
    /// Canonical mode: the lengths of the complete lines in `ready`.
    lines: VecDeque<usize>,
    /// Canonical mode: the line being edited, each byte with the output
    /// column its echo started at.
    edit: Vec<(u8, usize)>,
    /// The next byte is to be taken literally (LNEXT).
    lnext: bool,
    /// The output column (for tabs and erasing).
    column: usize,
    /// The input side ended (the host's stdin closed): reads return what
    /// is left, then end of file.
    hangup: bool,
}

impl Default for Ldisc {
    fn default() -> Ldisc {
        Ldisc::new(Termios::default())
    }
}

fn is_cntrl(c: u8) -> bool {
    c < 0x20 || c == 0x7f
}

fn is_continuation(t: &Termios, c: u8) -> bool {
    t.i(libc::IUTF8) && c & 0xc0 == 0x80
}

impl Ldisc {
    /// A line discipline with settings `termios`.
    pub fn new(termios: Termios) -> Ldisc {
        Ldisc {
            termios,
            ready: VecDeque::new(),
            lines: VecDeque::new(),
            edit: Vec::new(),
            lnext: false,
            column: 0,
            hangup: false,
        }
    }

    /// The current settings.
    pub fn termios(&self) -> Termios {
        self.termios
    }

    /// Changes the settings. Switching canonical mode off makes the line
    /// being edited readable; switching it on makes pending input one
    /// line (n_tty_set_termios).
    pub fn set_termios(&mut self, t: Termios) {
        let was = self.termios.l(libc::ICANON);
        let now = t.l(libc::ICANON);
        if was && !now {
            self.ready.extend(self.edit.drain(..).map(|(c, _)| c));
            self.lines.clear();
            self.lnext = false;
        } else if !was && now {
            self.lines.clear();
            if !self.ready.is_empty() {
                self.lines.push_back(self.ready.len());
            }
        }
        self.termios = t;
    }

    /// Discards all input (TCFLSH, TCSETSF, a signal character).
    pub fn flush_input(&mut self) {
        self.ready.clear();
        self.lines.clear();
        self.edit.clear();
        self.lnext = false;
    }

    /// Marks the input side ended. A partial line is kept and made
    /// readable, as if EOF had been typed: Linux flushes it on hangup, but
    /// umvm's input ends when a pipe does, and its last line must not be
    /// lost for want of a newline.
    pub fn hang_up(&mut self) {
        if !self.edit.is_empty() {
            self.end_line();
        }
        self.hangup = true;
    }

    /// Whether the input side ended.
    pub fn hung_up(&self) -> bool {
        self.hangup
    }

    /// Whether the input thread may hand over more bytes (there is room
    /// for readable input; the edited line has its own limit).
    pub fn has_room(&self) -> bool {
        self.ready.len() < BUF_SIZE
    }

    /// Bytes a read could return now (FIONREAD): in canonical mode, those
    /// of complete lines.
    pub fn available(&self) -> usize {
        self.ready.len()
    }

    /// Whether a read would return now, with `vmin` the non-canonical
    /// minimum (poll: Linux's input_available_p).
    pub fn readable(&self, vmin: usize) -> bool {
        if self.hangup {
            return true;
        }
        if self.termios.l(libc::ICANON) {
            !self.lines.is_empty()
        } else {
            self.ready.len() >= vmin.max(1)
        }
    }

    /// Takes up to `max` bytes of input. In canonical mode at most one
    /// line; `Some(empty)` is end of file (an EOF on an empty line, or
    /// hangup with nothing left); `None` means nothing to read yet.
    pub fn read(&mut self, max: usize) -> Option<Vec<u8>> {
        if self.termios.l(libc::ICANON) {
            if let Some(len) = self.lines.front_mut() {
                let n = (*len).min(max);
                if n == *len {
                    self.lines.pop_front();
                } else {
                    *len -= n;
                }
                return Some(self.ready.drain(..n).collect());
            }
        } else if !self.ready.is_empty() {
            let n = self.ready.len().min(max);
            return Some(self.ready.drain(..n).collect());
        }
        self.hangup.then(Vec::new)
    }

    /// Processes bytes typed at the terminal, up to and including the
    /// first that raises a signal, and returns how many it took. Linux
    /// sends that signal before it receives the next byte, so a reader
    /// never sees what was typed after ^C before the ^C's signal: the
    /// caller sends `fx.signals`, then calls again with the rest.
    pub fn receive(&mut self, input: &[u8], fx: &mut Effects) -> usize {
        for (i, &c) in input.iter().enumerate() {
            let raised = fx.signals.len();
            self.receive_byte(c, fx);
            if fx.signals.len() > raised {
                return i + 1;
            }
        }
        input.len()
    }

    fn receive_byte(&mut self, mut c: u8, fx: &mut Effects) {
        let t = self.termios;
        if t.i(libc::ISTRIP) {
            c &= 0x7f;
        }
        if t.i(libc::IUCLC) && t.l(libc::IEXTEN) {
            c = c.to_ascii_lowercase();
        }
        if self.lnext {
            self.lnext = false;
            // Its echo overwrites the "^\b" LNEXT echoed.
            self.put(c, fx);
            return;
        }
        if t.i(libc::IXON) && (t.is(VSTART, c) || t.is(VSTOP, c)) {
            return;
        }
        if t.l(libc::ISIG) {
            for (idx, sig) in [(VINTR, libc::SIGINT), (VQUIT, libc::SIGQUIT), (VSUSP, libc::SIGTSTP)] {
                if t.is(idx, c) {
                    if !t.l(libc::NOFLSH) {
                        self.flush_input();
                    }
                    if t.l(libc::ECHO) {
                        self.echo(c, fx);
                    }
                    fx.signals.push(sig);
                    return;
                }
            }
        }
        if c == b'\r' {
            if t.i(libc::IGNCR) {
                return;
            }
            if t.i(libc::ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.i(libc::INLCR) {
            c = b'\r';
        }
        if t.l(libc::ICANON) {
            if t.is(VERASE, c) || t.is(VKILL, c) || (t.is(VWERASE, c) && t.l(libc::IEXTEN)) {
                self.erase(c, fx);
                return;
            }
            if t.is(VLNEXT, c) && t.l(libc::IEXTEN) {
                self.lnext = true;
                if t.l(libc::ECHO) && t.l(libc::ECHOCTL) {
                    self.out(b"^\x08", fx);
                }
                return;
            }
            if t.is(VREPRINT, c) && t.l(libc::ECHO) && t.l(libc::IEXTEN) {
                self.echo(c, fx);
                self.out(b"\n", fx);
                let line: Vec<u8> = self.edit.iter().map(|e| e.0).collect();
                self.edit.clear();
                for b in line {
                    let col = self.column;
                    self.echo(b, fx);
                    self.edit.push((b, col));
                }
                return;
            }
            if c == b'\n' {
                if t.l(libc::ECHO) || t.l(libc::ECHONL) {
                    self.out(b"\n", fx);
                }
                self.edit.push((c, self.column));
                self.end_line();
                return;
            }
            if t.is(VEOF, c) {
                self.end_line();
                return;
            }
            if t.is(VEOL, c) || (t.is(VEOL2, c) && t.l(libc::IEXTEN)) {
                let col = self.column;
                if t.l(libc::ECHO) {
                    self.echo(c, fx);
                }
                self.edit.push((c, col));
                self.end_line();
                return;
            }
        }
        self.put(c, fx);
    }

    /// Stores an ordinary byte (n_tty_receive_char).
    fn put(&mut self, c: u8, fx: &mut Effects) {
        let canon = self.termios.l(libc::ICANON);
        if canon && self.edit.len() >= BUF_SIZE - 1 {
            // The line is full: Linux drops the byte (and beeps with IMAXBEL).
            if self.termios.i(libc::IMAXBEL) {
                self.out(b"\x07", fx);
            }
            return;
        }
        let col = self.column;
        if self.termios.l(libc::ECHO) {
            self.echo(c, fx);
        }
        if canon {
            self.edit.push((c, col));
        } else {
            self.ready.push_back(c);
        }
    }

    fn end_line(&mut self) {
        let len = self.edit.len();
        self.ready.extend(self.edit.drain(..).map(|(c, _)| c));
        self.lines.push_back(len);
    }

    /// ERASE, WERASE or KILL on the line being edited (eraser()).
    fn erase(&mut self, c: u8, fx: &mut Effects) {
        let t = self.termios;
        if self.edit.is_empty() {
            return;
        }
        let kill = t.is(VKILL, c);
        let word = !kill && t.is(VWERASE, c) && !t.is(VERASE, c);
        if kill {
            if !t.l(libc::ECHO) {
                self.edit.clear();
                return;
            }
            if !(t.l(libc::ECHOK) && t.l(libc::ECHOKE) && t.l(libc::ECHOE)) {
                self.edit.clear();
                self.echo(c, fx);
                if t.l(libc::ECHOK) {
                    self.out(b"\n", fx);
                }
                return;
            }
        }
        let mut seen_word = false;
        while let Some(&(ch, col)) = self.edit.last() {
            if word {
                let in_word = ch.is_ascii_alphanumeric() || ch == b'_';
                if in_word {
                    seen_word = true;
                } else if seen_word {
                    break;
                }
            }
            self.edit.pop();
            // A multi-byte character goes as a whole.
            if is_continuation(&t, ch) {
                while self.edit.last().is_some_and(|&(b, _)| is_continuation(&t, b)) {
                    self.edit.pop();
                }
                if self.edit.last().is_some_and(|&(b, _)| b >= 0xc0) {
                    self.edit.pop();
                }
            }
            if t.l(libc::ECHO) {
                if !kill && !word && !t.l(libc::ECHOE) {
                    self.echo(c, fx);
                } else if ch == b'\t' {
                    let back = self.column.saturating_sub(col);
                    self.out(&vec![b'\x08'; back], fx);
                } else {
                    let width = if is_cntrl(ch) {
                        if t.l(libc::ECHOCTL) {
                            2
                        } else {
                            0
                        }
                    } else {
                        1
                    };
                    for _ in 0..width {
                        self.out(b"\x08 \x08", fx);
                    }
                }
            }
            if !kill && !word {
                break;
            }
        }
    }

    /// Echoes one input byte: control bytes as `^X` under ECHOCTL.
    fn echo(&mut self, c: u8, fx: &mut Effects) {
        if self.termios.l(libc::ECHOCTL) && is_cntrl(c) && c != b'\t' {
            self.out(&[b'^', c ^ 0x40], fx);
        } else {
            self.out(&[c], fx);
        }
    }

    fn out(&mut self, data: &[u8], fx: &mut Effects) {
        let mut o = std::mem::take(&mut fx.output);
        self.output(data, &mut o);
        fx.output = o;
    }

    /// Output processing (OPOST) of bytes written to the terminal.
    pub fn output(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let t = self.termios;
        if !t.o(libc::OPOST) {
            out.extend_from_slice(data);
            return;
        }
        out.reserve(data.len());
        for &c in data {
            match c {
                b'\n' => {
                    if t.o(libc::ONLRET) {
                        self.column = 0;
                    }
                    if t.o(libc::ONLCR) {
                        self.column = 0;
                        out.extend_from_slice(b"\r\n");
                    } else {
                        out.push(b'\n');
                    }
                }
                b'\r' => {
                    if t.o(libc::ONOCR) && self.column == 0 {
                        continue;
                    }
                    if t.o(libc::OCRNL) {
                        if t.o(libc::ONLRET) {
                            self.column = 0;
                        }
                        out.push(b'\n');
                    } else {
                        self.column = 0;
                        out.push(b'\r');
                    }
                }
                b'\t' => {
                    let spaces = 8 - (self.column & 7);
                    self.column += spaces;
                    if t.oflag & libc::TABDLY == libc::XTABS {
                        out.extend(std::iter::repeat_n(b' ', spaces));
                    } else {
                        out.push(b'\t');
                    }
                }
                b'\x08' => {
                    self.column = self.column.saturating_sub(1);
                    out.push(c);
                }
                _ => {
                    let mut c = c;
                    if !is_cntrl(c) {
                        if t.o(libc::OLCUC) {
                            c = c.to_ascii_uppercase();
                        }
                        if !is_continuation(&t, c) {
                            self.column += 1;
                        }
                    }
                    out.push(c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(l: &mut Ldisc, s: &[u8]) -> Effects {
        let mut fx = Effects::default();
        let mut rest = s;
        while !rest.is_empty() {
            rest = &rest[l.receive(rest, &mut fx)..];
        }
        fx
    }

    #[test]
    fn canonical_lines_echo_and_crlf() {
        let mut l = Ldisc::default();
        let fx = typed(&mut l, b"echo hi\r");
        assert_eq!(fx.output, b"echo hi\r\n");
        assert!(l.readable(1));
        assert_eq!(l.read(100).unwrap(), b"echo hi\n");
        assert_eq!(l.read(100), None);
        // One line per read, even when two are ready; short reads split it.
        typed(&mut l, b"ab\ncd\n");
        assert_eq!(l.read(1).unwrap(), b"a");
        assert_eq!(l.read(100).unwrap(), b"b\n");
        assert_eq!(l.read(100).unwrap(), b"cd\n");
    }

    #[test]
    fn erase_kill_and_word_erase() {
        let mut l = Ldisc::default();
        let fx = typed(&mut l, b"abc\x7f");
        assert_eq!(fx.output, b"abc\x08 \x08");
        typed(&mut l, b"d one two\x17\n");
        assert_eq!(l.read(100).unwrap(), b"abd one \n");
        let fx = typed(&mut l, b"xyz\x15");
        // ECHOKE: the killed line is erased character by character.
        assert_eq!(fx.output, b"xyz\x08 \x08\x08 \x08\x08 \x08");
        typed(&mut l, b"ok\n");
        assert_eq!(l.read(100).unwrap(), b"ok\n");
        // A control byte echoed as ^X takes two columns to erase; a tab
        // goes back to where it started.
        let fx = typed(&mut l, b"\x01\x7f");
        assert_eq!(fx.output, b"^A\x08 \x08\x08 \x08");
        let fx = typed(&mut l, b"ab\t\x7f");
        assert_eq!(fx.output, b"ab\t\x08\x08\x08\x08\x08\x08");
    }

    #[test]
    fn eof_on_empty_line_reads_as_end_of_file() {
        let mut l = Ldisc::default();
        typed(&mut l, b"partial\x04");
        assert_eq!(l.read(100).unwrap(), b"partial");
        typed(&mut l, b"\x04");
        assert_eq!(l.read(100).unwrap(), b"");
        assert_eq!(l.read(100), None);
    }

    #[test]
    fn hangup_keeps_a_partial_line_then_reads_end_of_file() {
        let mut l = Ldisc::default();
        typed(&mut l, b"no newline");
        l.hang_up();
        assert!(l.readable(1));
        assert_eq!(l.read(100).unwrap(), b"no newline");
        assert_eq!(l.read(100).unwrap(), b"");
    }

    #[test]
    fn signal_characters_flush_and_echo() {
        let mut l = Ldisc::default();
        let fx = typed(&mut l, b"junk\x03");
        assert_eq!(fx.signals, vec![libc::SIGINT]);
        assert_eq!(fx.output, b"junk^C");
        assert_eq!(l.available(), 0);
        let fx = typed(&mut l, b"\x1a\x1c");
        assert_eq!(fx.signals, vec![libc::SIGTSTP, libc::SIGQUIT]);
        // Each signal goes out before the bytes after it are taken.
        let mut fx = Effects::default();
        assert_eq!(l.receive(b"a\x03b\n", &mut fx), 2);
        assert_eq!(fx.signals, vec![libc::SIGINT]);
        assert_eq!(l.available(), 0);
        assert_eq!(l.receive(b"b\n", &mut fx), 2);
        assert_eq!(l.read(100).unwrap(), b"b\n");
        // Without ISIG they are data.
        let mut t = l.termios();
        t.lflag &= !libc::ISIG;
        l.set_termios(t);
        typed(&mut l, b"\x03\n");
        assert_eq!(l.read(100).unwrap(), b"\x03\n");
    }

    #[test]
    fn raw_mode_passes_bytes_through() {
        let mut l = Ldisc::default();
        let mut t = l.termios();
        t.lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN);
        t.iflag &= !(libc::ICRNL | libc::IXON);
        t.oflag &= !libc::OPOST;
        l.set_termios(t);
        let fx = typed(&mut l, b"a\r\x03\x04\x7f\x11");
        assert_eq!(fx, Effects::default());
        assert_eq!(l.read(3).unwrap(), b"a\r\x03");
        assert_eq!(l.read(100).unwrap(), b"\x04\x7f\x11");
        let mut out = Vec::new();
        l.output(b"x\ny", &mut out);
        assert_eq!(out, b"x\ny");
    }

    #[test]
    fn switching_modes_keeps_pending_input() {
        let mut l = Ldisc::default();
        typed(&mut l, b"half");
        assert!(!l.readable(1));
        let mut t = l.termios();
        t.lflag &= !libc::ICANON;
        l.set_termios(t);
        assert_eq!(l.read(100).unwrap(), b"half");
        typed(&mut l, b"more");
        t.lflag |= libc::ICANON;
        l.set_termios(t);
        assert_eq!(l.read(100).unwrap(), b"more");
    }

    #[test]
    fn lnext_quotes_and_echoctl_shows_controls() {
        let mut l = Ldisc::default();
        let fx = typed(&mut l, b"\x16\x03\n");
        assert!(fx.signals.is_empty());
        assert_eq!(fx.output, b"^\x08^C\r\n");
        assert_eq!(l.read(100).unwrap(), b"\x03\n");
    }

    #[test]
    fn utf8_characters_erase_whole() {
        let mut l = Ldisc::default();
        let mut t = l.termios();
        t.iflag |= libc::IUTF8;
        l.set_termios(t);
        let fx = typed(&mut l, "aé\x7f\n".as_bytes());
        assert_eq!(fx.output, "aé\x08 \x08\r\n".as_bytes());
        assert_eq!(l.read(100).unwrap(), b"a\n");
    }

    #[test]
    fn long_lines_are_capped_not_overflowed() {
        let mut l = Ldisc::default();
        let mut t = l.termios();
        t.lflag &= !libc::ECHO;
        l.set_termios(t);
        typed(&mut l, &vec![b'x'; BUF_SIZE + 100]);
        typed(&mut l, b"\n");
        let line = l.read(usize::MAX).unwrap();
        assert_eq!(line.len(), BUF_SIZE);
        assert_eq!(line.last(), Some(&b'\n'));
    }
}
