//! The guest side of the mconsole (UML's mconsole_kern.c): what each
//! command does to the machine. Requests arrive as text from the host
//! side ([`super::server`]); every byte of it is untrusted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use umvm_cow::ubd::{UbdSpec, UbdSwitch};

use super::nic_plug::NicPlug;
use super::server::{Handler, ReplySink};
use super::wire::Reply;
use crate::dev::ubd::{Ubd, UbdConfig};
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::power::PowerAction;
use crate::signal::SigInfoFix;

/// UML's help text (mconsole_kern.c's UML_MCONSOLE_HELPTEXT).
pub const HELP: &str = "\
Commands: 
    version - Get kernel version 
    help - Print this message 
    halt - Halt UML 
    reboot - Reboot UML 
    config <dev>=<config> - Add a new device to UML;  
\tsame syntax as command line 
    config <dev> - Query the configuration of a device 
    remove <dev> - Remove a device from UML 
    sysrq <letter> - Performs the SysRq action controlled by the letter 
    cad - invoke the Ctrl-Alt-Del handler 
    stop - pause the UML; it will do nothing until it receives a 'go' 
    go - continue the UML after a 'stop' 
    log <string> - make UML enter <string> into the kernel log
    proc <file> - returns the contents of the UML's /proc/<file>
    stack <pid> - returns the stack of the specified pid
";

/// The commands, in UML's table order: the first whose name is a prefix
/// of the request wins (so `versionX` is `version`).
const COMMANDS: [&str; 13] =
    ["version", "halt", "reboot", "config", "remove", "sysrq", "help", "cad", "stop", "go", "log", "proc", "stack"];

/// UML's MAX_DEV: ubd units 0..15.
const MAX_DISKS: u32 = 16;

/// The sysrq keys umvm serves, as Linux's help line names them.
const SYSRQ_HELP: &str =
    "sysrq: HELP : reboot(b) crash(c) terminate-all-tasks(e) kill-all-tasks(i) poweroff(o) sync(s) show-help(h)";

/// The mconsole commands of one VM.
pub struct Commands {
    k: Weak<Kernel>,
    /// The disks' specs as given (boot and hot-plug), for `config ubdN`.
    specs: Mutex<HashMap<u8, UbdSpec>>,
    /// The version field of `version`'s answer.
    umvm_version: String,
    /// The network cards.
    nics: NicPlug,
}

impl Commands {
    /// Commands acting on `k`, whose boot disks were given by the
    /// `ubd...=` words `disks` (key, value), and whose network cards are
    /// `nics`.
    pub fn new(k: &Arc<Kernel>, disks: &[(Vec<u8>, Vec<u8>)], nics: NicPlug) -> Commands {
        let mut specs = HashMap::new();
        for (key, val) in disks {
            let word = format!("{}={}", String::from_utf8_lossy(key), String::from_utf8_lossy(val));
            if let Ok(UbdSwitch::Device(spec)) = UbdSwitch::parse(&word) {
                specs.insert(spec.unit, spec);
            }
        }
        Commands {
            k: Arc::downgrade(k),
            specs: Mutex::new(specs),
            umvm_version: format!("#1 SMP umvm {}", env!("CARGO_PKG_VERSION")),
            nics,
        }
    }

    fn specs(&self) -> std::sync::MutexGuard<'_, HashMap<u8, UbdSpec>> {
        self.specs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Handler for Commands {
    fn serve(&self, text: &[u8], out: &mut dyn ReplySink) {
        let Some(k) = self.k.upgrade() else { return out.send(Reply::error("The machine is gone")) };
        let Some(name) = COMMANDS.iter().find(|c| text.starts_with(c.as_bytes())) else {
            return out.send(Reply::error("Unknown command"));
        };
        let args = trim(&text[name.len()..]);
        match *name {
            "version" => out.send(Reply::ok(self.version(&k))),
            "halt" => {
                out.send(Reply::ok(""));
                power(&k, PowerAction::Halt);
            }
            "reboot" => {
                out.send(Reply::ok(""));
                power(&k, PowerAction::Restart);
            }
            "config" => out.send(self.config(&k, args)),
            "remove" => out.send(self.remove(&k, args)),
            "sysrq" => sysrq(&k, args.first().copied(), out),
            "help" => out.send(Reply::ok(HELP)),
            "cad" => {
                out.send(Reply::ok(""));
                crate::power::ctrl_alt_del(&k);
            }
            "stop" => {
                out.send(if crate::power::freeze(&k) { Reply::ok("stopped") } else { Reply::error("Already stopped") })
            }
            "go" => out.send(if crate::power::thaw(&k) { Reply::ok("") } else { Reply::error("Not stopped") }),
            "log" => {
                // printk at KERN_WARNING: on the console.
                let line = text[name.len()..].strip_prefix(b" ").unwrap_or(&text[name.len()..]);
                let line = line.strip_suffix(b"\n").unwrap_or(line);
                k.console_message(line);
                out.send(Reply::ok(""));
            }
            "proc" => proc_file(&k, args, out),
            _ => out.send(stack(&k, args)),
        }
    }
}

impl Commands {
    fn version(&self, k: &Kernel) -> Vec<u8> {
        let mut v = b"Linux ".to_vec();
        v.extend_from_slice(&k.hostname.lock().map(|h| h.clone()).unwrap_or_default());
        v.push(b' ');
        v.extend_from_slice(crate::syscall::misc::RELEASE);
        v.push(b' ');
        v.extend_from_slice(self.umvm_version.as_bytes());
        v.extend_from_slice(b" x86_64");
        v
    }

    /// `config DEV=SPEC` (hot-plug) or `config DEV` (query).
    fn config(&self, k: &Kernel, args: &[u8]) -> Reply {
        let Ok(args) = std::str::from_utf8(args) else { return Reply::error("Bad configuration option") };
        if let Some(rest) = args.strip_prefix("ubd") {
            return match rest.split_once('=') {
                Some(_) => self.plug(k, args),
                None => self.query(k, rest),
            };
        }
        if let Some(rest) = args.strip_prefix("eth") {
            return match rest.contains('=') {
                true => self.nics.plug(k, args),
                false => self.nics.query(rest),
            };
        }
        Reply::error("Bad configuration option")
    }

    fn query(&self, k: &Kernel, name: &str) -> Reply {
        let Some(unit) = parse_unit(name).filter(|&n| n < MAX_DISKS) else {
            return Reply::error("ubd_get_config : device number out of range");
        };
        let unit = unit as u8;
        if k.vfs.disk(unit).is_none() {
            return Reply::ok("");
        }
        match self.specs().get(&unit) {
            Some(s) => {
                let mut t = s.file.display().to_string();
                if let Some(b) = &s.backing {
                    t.push(',');
                    t.push_str(&b.display().to_string());
                }
                Reply::ok(t)
            }
            None => Reply::ok(k.vfs.disk(unit).map(|d| d.path().display().to_string()).unwrap_or_default()),
        }
    }

    /// Plugs in a disk (UML's ubd_config): the switch's syntax.
    fn plug(&self, k: &Kernel, word: &str) -> Reply {
        let spec = match UbdSwitch::parse(word) {
            Ok(UbdSwitch::Device(spec)) => spec,
            Ok(_) => return Reply::ok(""),
            Err(e) => return Reply::error(e.to_string()),
        };
        if k.vfs.disk(spec.unit).is_some() {
            return Reply::error("Device already configured");
        }
        // As the command line's disks (see the CLI): a page cache of most
        // of the memory, a fifth of it dirty, readahead up to 1 MiB.
        let mem = k.mem_bytes;
        let config = UbdConfig {
            cache_limit: mem / 4 * 3,
            dirty_limit: mem / 5,
            readahead_max: 1 << 20,
            ..UbdConfig::default()
        };
        let disk = match Ubd::open_with(&spec, false, config) {
            Ok(d) => Arc::new(d),
            Err(e) => return Reply::error(e.to_string()),
        };
        if let Err(e) = disk.start_writeback_thread(std::time::Duration::from_secs(1)) {
            return Reply::error(format!("ubd{}: starting its writeback thread: {e}", spec.unit));
        }
        let unit = spec.unit;
        if let Err(e) = k.vfs.plug_disk(disk.clone()) {
            let _ = disk.shutdown();
            return Reply::errno(e.0, "Device already configured");
        }
        self.specs().insert(unit, spec);
        Reply::ok("")
    }

    /// `remove DEV` (UML's mconsole_remove and ubd_remove).
    fn remove(&self, k: &Kernel, args: &[u8]) -> Reply {
        let Some(rest) = args.strip_prefix(b"ubd") else {
            return match args.strip_prefix(b"eth") {
                Some(rest) => self.nics.remove(k, &String::from_utf8_lossy(rest)),
                None => Reply::error("Bad remove option"),
            };
        };
        let Some(unit) = std::str::from_utf8(rest).ok().and_then(parse_unit) else {
            return Reply::error("Couldn't parse device number");
        };
        if unit >= MAX_DISKS {
            return Reply::error(format!("Invalid device number - must be between 0 and {}", MAX_DISKS - 1));
        }
        match k.vfs.unplug_disk(unit as u8) {
            Ok(()) => {
                self.specs().remove(&(unit as u8));
                Reply::ok("")
            }
            Err(Errno::EBUSY) => Reply::errno(libc::EBUSY, "Device is currently open"),
            Err(e) => Reply::errno(e.0, "Device doesn't exist"),
        }
    }
}

/// Leading and trailing blanks off (UML's skip_spaces; a trailing
/// newline from a shell-typed command).
fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}

/// UML's ubd parse_unit: a number, or a letter a..z, and nothing after.
fn parse_unit(s: &str) -> Option<u32> {
    match s.as_bytes() {
        [c @ b'a'..=b'z'] => Some(u32::from(c - b'a')),
        _ if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    }
}

/// Halts or restarts the machine (the path reboot(2) takes), letting a
/// frozen machine go first so that its processes can die.
fn power(k: &Kernel, action: PowerAction) {
    crate::power::thaw(k);
    k.console_message(&crate::power::message(action, None));
    k.power.request(action);
}

/// Sends `sig` to every guest process but init (Linux's send_sig_all).
fn signal_all_but_init(k: &Kernel, sig: i32) {
    let procs: Vec<_> = k.procs().processes().filter(|p| p.vpid != 1).cloned().collect();
    for p in procs {
        let fix = SigInfoFix { code: libc::SI_KERNEL, pid: 0, uid: 0, status: 0, value: None, timer: None };
        crate::signal::send::to_process(k, &p, sig, fix);
    }
}

/// Writes back every mounted disk filesystem and every disk (sync(2)).
fn sync_all(k: &Kernel) {
    for m in k.vfs.mounts().iter() {
        if let Some(d) = &m.disk {
            let _ = d.sync();
        }
    }
    for d in k.vfs.disks().iter().filter(|d| !d.writeback_held()) {
        if let Err(e) = d.flush() {
            tracing::warn!("sysrq sync: {e}");
        }
    }
}

/// `sysrq KEY`: the keys that make sense for umvm; the console lines
/// Linux prints are printed and streamed back.
fn sysrq(k: &Kernel, key: Option<u8>, out: &mut dyn ReplySink) {
    let say = |out: &mut dyn ReplySink, line: &str| {
        k.console_message(line.as_bytes());
        out.send(Reply::partial(format!("{line}\n")));
    };
    match key {
        Some(b'b') => {
            out.send(Reply::ok(""));
            k.console_message(b"sysrq: Resetting");
            crate::power::thaw(k);
            k.power.request(PowerAction::Restart);
            return;
        }
        Some(b'o') => {
            say(out, "sysrq: Power Off");
            out.send(Reply::ok(""));
            crate::power::thaw(k);
            k.power.request(PowerAction::PowerOff);
            return;
        }
        Some(b'c') => {
            // Linux panics inside the handler and the client would wait
            // for an answer that never comes: this one is answered first.
            say(out, "sysrq: Trigger a crash");
            out.send(Reply::ok(""));
            crate::power::panic(k, "sysrq triggered crash");
            return;
        }
        Some(b's') => {
            say(out, "sysrq: Emergency Sync");
            sync_all(k);
            say(out, "Emergency Sync complete");
        }
        Some(b'e') => {
            say(out, "sysrq: Terminate All Tasks");
            signal_all_but_init(k, libc::SIGTERM);
        }
        Some(b'i') => {
            say(out, "sysrq: Kill All Tasks");
            signal_all_but_init(k, libc::SIGKILL);
        }
        _ => say(out, SYSRQ_HELP),
    }
    out.send(Reply::ok(""));
}

/// `proc FILE`: a file of the guest's /proc, the machine's own or a
/// process's (`proc 1/status`), read as the kernel reads it
/// (procfs::read_as_kernel), streamed as UML does: "\n" first, then the
/// contents, then "".
fn proc_file(k: &Kernel, path: &[u8], out: &mut dyn ReplySink) {
    let Some(data) = crate::fs::procfs::read_as_kernel(k, path) else {
        return out.send(Reply::error("Failed to open file"));
    };
    out.send(Reply::partial("\n"));
    for piece in data.chunks(4095) {
        out.send(Reply::partial(piece.to_vec()));
    }
    out.send(Reply::ok(""));
}

/// `stack PID`: umvm keeps no kernel stacks to show.
fn stack(k: &Kernel, args: &[u8]) -> Reply {
    let Some(pid) = std::str::from_utf8(args).ok().and_then(|s| s.parse::<i32>().ok()) else {
        return Reply::error("Please specify a pid");
    };
    if k.procs().process(pid).is_none() {
        return Reply::error("Couldn't find that pid");
    }
    Reply::error("umvm keeps no kernel stack to show")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_blanks_parse_as_umls() {
        assert_eq!(parse_unit("0"), Some(0));
        assert_eq!(parse_unit("15"), Some(15));
        assert_eq!(parse_unit("b"), Some(1));
        assert_eq!(parse_unit(""), None);
        assert_eq!(parse_unit("1x"), None);
        assert_eq!(parse_unit("B"), None);
        assert_eq!(trim(b"  ubd1 \n"), b"ubd1");
        assert_eq!(trim(b"   "), b"");
        assert!(HELP.len() > 511, "UML's help takes two datagrams");
    }
}
