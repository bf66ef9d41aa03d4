//! `umvm mconsole`: a client of a running machine's management console,
//! as Debian's `uml_mconsole` (specs/uml-interop.md §6.7).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use umvm_core::mconsole::wire::{self, ReplyView};

/// How long to wait for each reply datagram.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
#[command(after_help = "\
Prints the reply as uml_mconsole does: `OK TEXT` or `ERR TEXT`. Exits 0 for OK, 1 for ERR,
2 when the machine cannot be reached. Commands: version, help, halt, reboot, cad, stop, go,
sysrq KEY, log TEXT, proc FILE, config ubdN=SPEC, config ubdN, remove ubdN.")]
pub struct MconsoleArgs {
    /// The machine: its umid (looked up in --uml-dir, then $HOME/.uml
    /// and /tmp/uml, as uml_mconsole does), or the socket's path.
    #[arg(value_name = "UMID|SOCKET")]
    machine: String,

    /// Where umid directories are (the machine's uml_dir=).
    #[arg(long, value_name = "DIR")]
    uml_dir: Option<PathBuf>,

    /// The command and its arguments, joined by spaces.
    #[arg(required = true, value_name = "COMMAND", allow_hyphen_values = true, trailing_var_arg = true)]
    command: Vec<String>,
}

/// The socket `machine` names.
fn socket_path(machine: &str, uml_dir: Option<&Path>) -> Result<PathBuf> {
    if machine.contains('/') {
        return Ok(PathBuf::from(machine));
    }
    let mut tried = Vec::new();
    let dirs = uml_dir
        .map(Path::to_path_buf)
        .into_iter()
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".uml")))
        .chain([PathBuf::from("/tmp/uml")]);
    for d in dirs {
        let p = d.join(machine).join("mconsole");
        if p.exists() {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    if Path::new(machine).exists() {
        return Ok(PathBuf::from(machine));
    }
    bail!("no machine {machine}: no socket at {}", tried.join(" or "))
}

/// Sends `text` to the socket at `path` and gathers the reply: whether
/// its last datagram said OK, and the text of all of them.
pub fn request(path: &Path, text: &str) -> Result<(bool, Vec<u8>)> {
    let req = wire::request(text.as_bytes())
        .with_context(|| format!("the command is {} bytes; at most {} fit", text.len(), wire::MAX_DATA - 1))?;
    // Replies go to the sender's address: an abstract one, as uml_mconsole's.
    let name = format!("umvm-mconsole-{}-{:x}", std::process::id(), rand_tag());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).context("mconsole client address")?;
    let sock = UnixDatagram::bind_addr(&addr).context("binding the client socket")?;
    sock.set_read_timeout(Some(REPLY_TIMEOUT))?;
    sock.send_to(&req, path).with_context(|| format!("{}", path.display()))?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; wire::REQUEST_SIZE + 16];
    loop {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                bail!("{}: no reply within {}s", path.display(), REPLY_TIMEOUT.as_secs())
            }
            Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
        };
        let Some(r) = ReplyView::parse(&buf[..n]) else {
            // A bare text answer: the machine did not take our version.
            bail!("{}: {}", path.display(), String::from_utf8_lossy(&buf[..n]));
        };
        out.extend_from_slice(r.text);
        if !r.more {
            return Ok((r.err == 0, out));
        }
    }
}

fn rand_tag() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Runs `umvm mconsole`.
pub fn run(args: MconsoleArgs) -> Result<i32> {
    let path = socket_path(&args.machine, args.uml_dir.as_deref())?;
    let text = args.command.join(" ");
    let (ok, reply) = match request(&path, &text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("umvm mconsole: {}", crate::one_line(&e));
            return Ok(2);
        }
    };
    println!("{} {}", if ok { "OK" } else { "ERR" }, String::from_utf8_lossy(&reply));
    Ok(if ok { 0 } else { 1 })
}
