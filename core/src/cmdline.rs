//! The kernel command line (Linux's init/main.c: parse_args and
//! unknown_bootoption; UML: the words on its own command line).
//!
//! Every switch word given to `umvm run` is part of the guest's kernel
//! command line, shown whole in /proc/cmdline. The parameters the kernel
//! knows are taken here; as in Linux, an unknown `key=value` word is put
//! in init's environment and an unknown bare word in init's argv. After
//! `--` come init's arguments: umvm's first word there is the program to
//! run (unless `init=` named one), and so is a bare word that is a path
//! (`umvm run /bin/sh -c CMD`), everything after it being its arguments.

/// Linux's MAX_INIT_ARGS and MAX_INIT_ENVS (CONFIG_INIT_ENV_ARG_LIMIT):
/// more words than this for init's argv or environment is a boot panic.
pub const MAX_INIT_WORDS: usize = 32;

/// Linux's limit on a host name (`__NEW_UTS_LEN`).
pub const MAX_HOSTNAME: usize = 64;

/// Kernel parameters the generic Linux kernel consumes that umvm has no
/// use for (yet): taken, so that they do not reach init's environment.
const CONSUMED_BARE: [&[u8]; 4] = [b"debug", b"rootwait", b"noreboot", b"nosysemu"];
const CONSUMED_KEYS: [&[u8]; 4] = [b"console", b"loglevel", b"rootflags", b"rootdelay"];

/// A command-line word the kernel knows, with a value it cannot use.
#[derive(Debug, thiserror::Error)]
pub enum CmdlineError {
    /// A known parameter's value is malformed.
    #[error("{word}: {why}")]
    BadValue {
        /// The whole word, as given.
        word: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// More words for init's argv or environment than Linux accepts
    /// (it panics: "Too many boot env vars at ...").
    #[error("too many boot {what} vars at `{word}' (at most {MAX_INIT_WORDS})")]
    TooMany {
        /// "env" or "init" (argv), as Linux names them.
        what: &'static str,
        /// The word that was one too many.
        word: String,
    },
}

/// What init is to be, as Linux's kernel_init chooses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitChoice {
    /// A program named on umvm's command line (after `--`, or a bare
    /// path): failing to run it is an error naming it.
    Program(Vec<u8>),
    /// `init=PATH`: failing to run it is Linux's "Requested init PATH
    /// failed" panic.
    Requested(Vec<u8>),
    /// Neither: the first of [`FALLBACK_INITS`] that runs.
    Fallback,
}

/// The programs Linux tries, in order, when no init was named; one that
/// does not exist is skipped silently, one that exists but cannot run is
/// reported and skipped.
pub const FALLBACK_INITS: [&[u8]; 4] = [b"/sbin/init", b"/etc/init", b"/bin/init", b"/bin/sh"];

/// A parsed kernel command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cmdline {
    /// The words, joined by spaces: /proc/cmdline without its newline.
    pub line: Vec<u8>,
    /// `init=`.
    pub init: Option<Vec<u8>>,
    /// The program named after `--` or as a bare path.
    pub program: Option<Vec<u8>>,
    /// init's argv after argv[0]: unknown bare words, then the arguments
    /// after the program or `--`.
    pub init_args: Vec<Vec<u8>>,
    /// Unknown `key=value` words, for init's environment; a later word
    /// replaces an earlier one with the same key, as in Linux.
    pub init_env: Vec<Vec<u8>>,
    /// UML's console and serial line switches (`con=`, `conN=`, `ssl=`,
    /// `sslN=`) as (key, value), in command-line order.
    pub consoles: Vec<(Vec<u8>, Vec<u8>)>,
    /// `mem=`: the guest's memory in bytes.
    pub mem: Option<u64>,
    /// `hostname=`: the initial host name (at most [`MAX_HOSTNAME`] bytes;
    /// Linux truncates a longer one).
    pub hostname: Option<Vec<u8>>,
    /// `root=`: the root device.
    pub root: Option<Vec<u8>>,
    /// `rootfstype=`.
    pub rootfstype: Option<Vec<u8>>,
    /// `ro` (Some(true)) or `rw` (Some(false)), the last one winning.
    pub read_only: Option<bool>,
    /// `quiet`.
    pub quiet: bool,
    /// UML's `ubd...=` words (disks), as (key, value), in order: the key
    /// is the whole part before `=` (`ubd0`, `ubd1r`, ...).
    pub disks: Vec<(Vec<u8>, Vec<u8>)>,
    /// UML's `hostfs=DIR[,append]`: where hostfs mounts come from.
    pub hostfs: Option<Vec<u8>>,
    /// UML's `ethN=TRANSPORT,...` words (network cards), as (key, value), in order.
    pub nics: Vec<(Vec<u8>, Vec<u8>)>,
    /// `ip=`: an interface's address at boot (net::ipconfig), the last word winning.
    pub ip: Option<Vec<u8>>,
    /// UML's `umid=`: the machine's name, for its mconsole directory.
    pub umid: Option<Vec<u8>>,
    /// UML's `uml_dir=`: where umid directories go (default ~/.uml).
    pub uml_dir: Option<Vec<u8>>,
    /// UML's `mconsole=notify:PATH`: the socket told of the mconsole.
    pub mconsole_notify: Option<Vec<u8>>,
}

impl Cmdline {
    /// Parses the words of `umvm run` after its own options.
    pub fn parse<W: AsRef<[u8]>>(words: &[W]) -> Result<Cmdline, CmdlineError> {
        let words: Vec<&[u8]> = words.iter().map(AsRef::as_ref).collect();
        let mut c = Cmdline { line: words.join(&b' '), ..Cmdline::default() };
        let mut rest = words.iter();
        // Whether the words left are a program's arguments (after `--` or
        // a bare path), not switches.
        let mut args_follow = false;
        for &w in rest.by_ref() {
            if w == b"--" {
                args_follow = true;
                break;
            }
            match w.iter().position(|&b| b == b'=') {
                Some(eq) => c.take_value(w, &w[..eq], &w[eq + 1..])?,
                None if c.program.is_none() && c.init.is_none() && w.contains(&b'/') => {
                    c.program = Some(w.to_vec());
                    args_follow = true;
                    break;
                }
                None => c.take_bare(w)?,
            }
        }
        if args_follow {
            if c.program.is_none() && c.init.is_none() {
                c.program = rest.next().map(|w| w.to_vec());
            }
            for &w in rest {
                c.push_arg(w)?;
            }
        }
        Ok(c)
    }

    /// What init is to be.
    pub fn init_choice(&self) -> InitChoice {
        match (&self.program, &self.init) {
            (Some(p), _) => InitChoice::Program(p.clone()),
            (None, Some(i)) => InitChoice::Requested(i.clone()),
            (None, None) => InitChoice::Fallback,
        }
    }

    /// /proc/cmdline: the line and a newline.
    pub fn proc_text(&self) -> Vec<u8> {
        let mut s = self.line.clone();
        s.push(b'\n');
        s
    }

    /// init's environment: `base` (umvm's defaults) with the command
    /// line's `key=value` words, each replacing a same-key entry.
    pub fn merge_env(&self, base: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut env = base.to_vec();
        for w in &self.init_env {
            let key = key_of(w);
            match env.iter_mut().find(|e| key_of(e) == key) {
                Some(e) => *e = w.clone(),
                None => env.push(w.clone()),
            }
        }
        env
    }

    fn take_value(&mut self, word: &[u8], key: &[u8], val: &[u8]) -> Result<(), CmdlineError> {
        let bad = |why| CmdlineError::BadValue { word: String::from_utf8_lossy(word).into_owned(), why };
        match key {
            b"init" => self.init = Some(val.to_vec()),
            b"mem" => self.mem = Some(parse_size(val).map_err(bad)?),
            b"hostname" => {
                let mut name = val.to_vec();
                if name.len() > MAX_HOSTNAME {
                    tracing::warn!("hostname parameter exceeds {MAX_HOSTNAME} characters and will be truncated");
                    name.truncate(MAX_HOSTNAME);
                }
                self.hostname = Some(name);
            }
            b"root" => self.root = Some(val.to_vec()),
            b"rootfstype" => self.rootfstype = Some(val.to_vec()),
            b"hostfs" => self.hostfs = Some(val.to_vec()),
            b"ip" => self.ip = Some(val.to_vec()),
            b"umid" => self.umid = Some(val.to_vec()),
            b"uml_dir" => self.uml_dir = Some(val.to_vec()),
            b"mconsole" => match val.strip_prefix(b"notify:") {
                Some(path) => self.mconsole_notify = Some(path.to_vec()),
                // UML's mconsole_setup says so and goes on.
                None => tracing::warn!("mconsole_setup : Unknown option - '{}'", String::from_utf8_lossy(val)),
            },
            _ if key.starts_with(b"ubd") => self.disks.push((key.to_vec(), val.to_vec())),
            _ if key.len() > 3 && key.starts_with(b"eth") && key[3..].iter().all(u8::is_ascii_digit) => {
                self.nics.push((key.to_vec(), val.to_vec()))
            }
            _ if is_line_key(key) => self.consoles.push((key.to_vec(), val.to_vec())),
            _ if CONSUMED_KEYS.contains(&key) => {}
            // A module's parameter (`mod.param=v`): not for init.
            _ if key.contains(&b'.') => {}
            _ => {
                if self.init_env.len() >= MAX_INIT_WORDS {
                    return Err(CmdlineError::TooMany { what: "env", word: String::from_utf8_lossy(word).into() });
                }
                match self.init_env.iter_mut().find(|e| key_of(e) == key_of(word)) {
                    Some(e) => *e = word.to_vec(),
                    None => self.init_env.push(word.to_vec()),
                }
            }
        }
        Ok(())
    }

    fn take_bare(&mut self, word: &[u8]) -> Result<(), CmdlineError> {
        match word {
            b"ro" => self.read_only = Some(true),
            b"rw" => self.read_only = Some(false),
            b"quiet" => self.quiet = true,
            _ if CONSUMED_BARE.contains(&word) => {}
            _ if word.contains(&b'.') => {}
            _ => self.push_arg(word)?,
        }
        Ok(())
    }

    fn push_arg(&mut self, word: &[u8]) -> Result<(), CmdlineError> {
        if self.init_args.len() >= MAX_INIT_WORDS {
            return Err(CmdlineError::TooMany { what: "init", word: String::from_utf8_lossy(word).into() });
        }
        self.init_args.push(word.to_vec());
        Ok(())
    }
}

/// The key of an environment entry, with its `=`.
fn key_of(entry: &[u8]) -> &[u8] {
    match entry.iter().position(|&b| b == b'=') {
        Some(eq) => &entry[..=eq],
        None => entry,
    }
}

/// `con`, `conN`, `ssl` or `sslN` (N decimal digits; `console` is not).
fn is_line_key(key: &[u8]) -> bool {
    [&b"con"[..], b"ssl"].iter().any(|p| key.strip_prefix(*p).is_some_and(|n| n.iter().all(u8::is_ascii_digit)))
}

/// Parses a UML size (`mem=`): a decimal number with an optional K, M or
/// G suffix.
pub fn parse_size(s: &[u8]) -> Result<u64, &'static str> {
    const NOT_A_SIZE: &str = "not a size (e.g. 256M)";
    let (num, shift) = match s.last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n: u64 = std::str::from_utf8(num).map_err(|_| NOT_A_SIZE)?.parse().map_err(|_| NOT_A_SIZE)?;
    n.checked_mul(1 << shift).ok_or("too large")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_switches_are_taken_not_passed_to_init() {
        let c = parse(&["con=null", "con0=fd:0,fd:1", "ssl=pty", "ssl12=null", "console=tty0", "cons=1", "con1x=2"]);
        let keys: Vec<&[u8]> = c.consoles.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, [&b"con"[..], b"con0", b"ssl", b"ssl12"]);
        assert_eq!(c.consoles[1].1, b"fd:0,fd:1");
        assert_eq!(c.init_env, bytes(&["cons=1", "con1x=2"]));
    }

    fn parse(words: &[&str]) -> Cmdline {
        Cmdline::parse(words).unwrap()
    }

    fn bytes(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn the_line_is_every_word_joined_by_spaces() {
        let c = parse(&["mem=64M", "ro", "init=/bin/sh", "--", "-c", "echo hi"]);
        assert_eq!(c.line, b"mem=64M ro init=/bin/sh -- -c echo hi");
        assert_eq!(c.proc_text(), b"mem=64M ro init=/bin/sh -- -c echo hi\n");
        assert_eq!(parse(&[]).proc_text(), b"\n");
    }

    #[test]
    fn known_parameters_are_taken() {
        let c = parse(&["mem=1G", "hostname=box", "root=/dev/ubda", "rootfstype=ext2", "ro", "quiet", "ubd0=a.img"]);
        assert_eq!(c.mem, Some(1 << 30));
        assert_eq!(c.hostname.as_deref(), Some(&b"box"[..]));
        assert_eq!(c.root.as_deref(), Some(&b"/dev/ubda"[..]));
        assert_eq!(c.rootfstype.as_deref(), Some(&b"ext2"[..]));
        assert_eq!(c.read_only, Some(true));
        assert!(c.quiet);
        assert_eq!(c.disks, vec![(b"ubd0".to_vec(), b"a.img".to_vec())]);
        assert!(c.init_env.is_empty() && c.init_args.is_empty(), "{c:?}");
        assert_eq!(parse(&["ro", "rw"]).read_only, Some(false));
        let c = parse(&["umid=vm1", "uml_dir=/tmp/u", "mconsole=notify:/tmp/n.sock", "mconsole=bogus"]);
        assert_eq!(c.umid.as_deref(), Some(&b"vm1"[..]));
        assert_eq!(c.uml_dir.as_deref(), Some(&b"/tmp/u"[..]));
        assert_eq!(c.mconsole_notify.as_deref(), Some(&b"/tmp/n.sock"[..]));
        assert!(c.init_env.is_empty(), "{c:?}");
    }

    #[test]
    fn unknown_words_go_to_init_as_in_linux() {
        let c = parse(&["FOO=1", "single", "mod.opt=2", "FOO=3", "BAR=", "console=ttyS0", "x.y"]);
        assert_eq!(c.init_env, bytes(&["FOO=3", "BAR="]));
        assert_eq!(c.init_args, bytes(&["single"]));
        assert_eq!(c.init_choice(), InitChoice::Fallback);
        let env = c.merge_env(&bytes(&["HOME=/", "FOOD=x", "FOO=0"]));
        assert_eq!(env, bytes(&["HOME=/", "FOOD=x", "FOO=3", "BAR="]));
    }

    #[test]
    fn init_is_chosen_as_linux_does_with_umvm_program_words() {
        let c = parse(&["init=/bin/sh", "-s", "--", "-c", "x=1"]);
        assert_eq!(c.init_choice(), InitChoice::Requested(b"/bin/sh".to_vec()));
        assert_eq!(c.init_args, bytes(&["-s", "-c", "x=1"]));
        let c = parse(&["mem=8M", "--", "/bin/echo", "a=b", "--"]);
        assert_eq!(c.init_choice(), InitChoice::Program(b"/bin/echo".to_vec()));
        assert_eq!(c.init_args, bytes(&["a=b", "--"]));
        // A bare path is the program; what follows is its argv, switches or not.
        let c = parse(&["single", "/bin/env", "mem=x", "ro"]);
        assert_eq!(c.init_choice(), InitChoice::Program(b"/bin/env".to_vec()));
        assert_eq!(c.init_args, bytes(&["single", "mem=x", "ro"]));
        assert_eq!(c.mem, None);
        // `--` alone, or nothing after it: the fallback list.
        assert_eq!(parse(&["--"]).init_choice(), InitChoice::Fallback);
    }

    #[test]
    fn malformed_known_parameters_are_errors_naming_the_word() {
        for w in ["mem=abc", "mem=", "mem=12Q", "mem=99999999999G", "mem=-1"] {
            let e = Cmdline::parse(&[w]).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{w}: ")), "{e}");
        }
    }

    #[test]
    fn too_many_words_for_init_is_an_error() {
        let env: Vec<String> = (0..=MAX_INIT_WORDS).map(|i| format!("V{i}=1")).collect();
        let e = Cmdline::parse(&env).unwrap_err().to_string();
        assert!(e.contains("too many boot env vars at `V32=1'"), "{e}");
        assert!(Cmdline::parse(&env[..MAX_INIT_WORDS]).is_ok());
        let args: Vec<String> = (0..=MAX_INIT_WORDS).map(|i| format!("w{i}")).collect();
        assert!(Cmdline::parse(&args).unwrap_err().to_string().contains("boot init vars"));
    }

    #[test]
    fn a_long_hostname_is_truncated_as_linux_does() {
        let long = format!("hostname={}", "h".repeat(70));
        assert_eq!(parse(&[&long]).hostname.unwrap().len(), MAX_HOSTNAME);
        assert_eq!(parse(&["hostname="]).hostname.as_deref(), Some(&b""[..]));
    }
}
