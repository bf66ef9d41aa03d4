//! umvm: the command-line front end. A thin client of umvm-core's `Vm`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::sync::Arc;

use umvm_core::cmdline::Cmdline;
use umvm_core::dev::ubd::{Ubd, UbdConfig};
use umvm_core::fs::do_mounts::RootSpec;
use umvm_core::vm::DEFAULT_MEM;
use umvm_core::{ConsoleMode, Ending, TrapMode, VmBuilder};
use umvm_cow::ubd::{UbdSpec, UbdSwitch};

mod bench;
mod chan;
mod cow;
mod lab;
mod mconsole;
mod switch;

#[derive(Parser)]
#[command(name = "umvm", version, about = "A user-mode virtual machine for x86-64 Linux")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot a guest. The words after umvm's options are the kernel
    /// command line (see `umvm run --help`).
    Run(RunArgs),
    /// UML copy-on-write disks: create, inspect, merge.
    #[command(subcommand)]
    Cow(cow::CowCmd),
    /// A hub or learning switch that UML (ethN=daemon) and umvm guests
    /// join, speaking uml_switch's protocol. Default control socket:
    /// /tmp/uml.ctl, as uml_switch.
    Switch(switch::SwitchArgs),
    /// Many guests from one lab file: `umvm lab LABFILE` starts them;
    /// `umvm lab status|exec|restart|stop|clean LABFILE` manage them (docs/lab.md).
    Lab(lab::LabArgs),
    /// Runs workloads on the host and in a guest, alternating, and prints
    /// host time, guest time and their ratio (see `umvm bench --help`).
    Bench(bench::BenchArgs),
    /// Sends a command to a running machine's management console, as
    /// uml_mconsole: `umvm mconsole UMID version`.
    Mconsole(mconsole::MconsoleArgs),
}

#[derive(clap::Args)]
#[command(after_help = CMDLINE_HELP)]
struct RunArgs {
    /// Host directory to use as the guest's root filesystem (hostfs,
    /// read-write, jailed).
    #[arg(long, value_name = "DIR")]
    root_dir: Option<PathBuf>,

    /// How guest syscalls are caught: seccomp (default) or sysemu.
    #[arg(long, value_name = "MODE", default_value = "seccomp")]
    trap: TrapMode,

    /// What the guest's console is: tty (umvm's line discipline; a host
    /// terminal on stdin is put in raw mode), pipe (umvm's stdin, stdout
    /// and stderr passed through byte for byte), or auto (tty when stdin
    /// is a terminal, else pipe).
    #[arg(long, value_name = "MODE", default_value = "auto")]
    console: ConsoleMode,

    /// Print every guest syscall with its arguments and result.
    #[arg(long)]
    strace: bool,

    /// Write --strace output to FILE instead of stderr.
    #[arg(long, value_name = "FILE", requires = "strace")]
    strace_file: Option<PathBuf>,

    /// The kernel command line: UML/Linux switches, then `--` and init's
    /// program and arguments (details below).
    #[arg(allow_hyphen_values = true, value_name = "SWITCHES")]
    rest: Vec<OsString>,

    /// After `--`: init's program and arguments.
    #[arg(last = true, value_name = "PROGRAM ARGS")]
    after: Vec<OsString>,
}

/// What `umvm run --help` says about the kernel command line.
const CMDLINE_HELP: &str = "\
The kernel command line (shown in the guest's /proc/cmdline, words joined by spaces):
  init=PATH         run PATH as init; if it cannot run, umvm fails naming it
  mem=SIZE          the guest's memory: a number with K, M or G (default 256M;
                    UML's is 64M). /proc/meminfo and sysinfo(2) report it,
                    tmpfs's size=N% is a share of it, and each disk's page
                    cache is held under three quarters of it. It is a real
                    limit, as RAM without swap: a process touching more is
                    killed by the OOM killer (\"Out of memory: Killed
                    process\" on stderr), and an allocation larger than it
                    fails with ENOMEM
  hostname=NAME     the initial host name (default umvm; at most 64 bytes)
  root=DEV, rootfstype=TYPE, ro, rw, ubdN=FILE
                    the root device and disks (UML syntax)
  ethN=mcast[,MAC[,GROUP[,PORT[,TTL]]]], ethN=daemon[,MAC[,unix[,CTL]]],
  ethN=tuntap,TAPDEV[,MAC], ethN=ucast,[MAC],REMOTE[,LPORT[,RPORT]]
                    a network card on one of UML's transports (UML syntax)
  ip=ADDR/PREFIX[,GATEWAY[,DEV]]
                    configure eth0 (or DEV) at boot; Linux's
                    ip=CLIENT::GW:NETMASK:HOST:DEV:off form too
  hostfs=DIR[,append]
                    confine hostfs mounts (mount none /mnt -t hostfs -o PATH)
                    to DIR, as UML
  ubd=sync          open every disk O_SYNC (UML syntax)
  con=CHAN, con0=CHAN, conN=CHAN
                    UML's virtual consoles: con= sets every console, conN= one
                    (N < 16). umvm's guest has one console, con0 (its fds 0, 1
                    and 2; default fd:0,fd:1); con1..con15 are accepted and
                    ignored
  ssl=CHAN, sslN=CHAN
                    UML's serial lines (N < 64): accepted and ignored (umvm
                    has none)
      CHAN is IN[,OUT] (one channel for both when OUT is missing), or none:
        null        no input, output discarded
        fd:N        umvm's file descriptor N
        pty, pts    a new host pseudo-terminal; umvm prints its name as UML
                    does (\"Virtual console 0 assigned device '/dev/pts/N'\")
        port:N      the first TCP connection to 127.0.0.1:N (umvm waits for it)
        tty:DEV     the host terminal DEV
        xterm       not supported (use pty and attach a terminal to it)
  console=TTY       accepted as in Linux (the console is con0)
  quiet             accepted as in Linux (umvm prints few kernel messages)
  umid=NAME, uml_dir=DIR, mconsole=notify:SOCKET
                    the management console socket DIR/NAME/mconsole (default
                    ~/.uml and a random NAME, printed at boot on a terminal)
  KEY=VALUE         any other switch with `=` is put in init's environment
  WORD              any other bare word is passed to init as an argument
  /PATH ARGS...     a bare path: the program to run as init, with the words
                    after it as its arguments
  -- PROGRAM ARGS   the same (with init=, the words after `--` are its arguments)
Without a program or init=, umvm runs the first of /sbin/init, /etc/init,
/bin/init and /bin/sh that exists, as Linux does.

umvm exits with init's exit status (128+N if signal N killed it), or 0 when the
guest halts or powers off (reboot(2), e.g. busybox poweroff). A guest reboot
boots the same command line again.";

fn run(args: RunArgs) -> Result<i32> {
    let mut vm = VmBuilder::new().trap(args.trap).console(args.console).mconsole(true);
    if let Some(dir) = &args.root_dir {
        vm = vm.root_dir(dir);
    }
    let mut words: Vec<Vec<u8>> = args.rest.into_iter().map(OsStringExt::into_vec).collect();
    if !args.after.is_empty() {
        // clap takes the `--` itself; on the kernel command line it stays.
        words.push(b"--".to_vec());
        words.extend(args.after.into_iter().map(OsStringExt::into_vec));
    }
    vm = vm.cmdline(&words)?;
    let cl = Cmdline::parse(&words)?;
    let lines: Vec<(String, String)> = cl
        .consoles
        .iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    let console = chan::console_conf(&lines)?;
    vm = disks(vm, &cl)?;
    vm = nics(vm, &cl)?;
    let term = std::env::var("TERM").unwrap_or_else(|_| "linux".into());
    vm = vm.env(vec![
        b"HOME=/".to_vec(),
        format!("TERM={term}").into_bytes(),
        b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_vec(),
    ]);
    if std::env::var_os("UMVM_NO_PIN").is_some_and(|v| v != "0") {
        vm = vm.pin(false);
    }
    if args.strace {
        let sink: Box<dyn std::io::Write + Send> = match &args.strace_file {
            Some(f) => {
                // After a guest reboot the trace goes on where the last
                // boot's ended.
                let file = if std::env::var_os(RESTARTED).is_some() {
                    std::fs::OpenOptions::new().append(true).create(true).open(f)
                } else {
                    std::fs::File::create(f)
                };
                Box::new(std::io::BufWriter::new(file.with_context(|| format!("--strace-file {}", f.display()))?))
            }
            None => Box::new(std::io::stderr()),
        };
        vm = vm.strace(sink);
    }
    // Last, so that an error before it still reaches umvm's own stderr.
    chan::apply_console(&console)?;
    match vm.build()?.run()? {
        Ending::Restart => restart(),
        ending => Ok(ending.exit_code()),
    }
}

/// Acts on the command line's disk and host switches: opens each
/// `ubdN=` disk (UML's syntax; a later switch for a unit replaces an
/// earlier one), says where the root filesystem is (`root=`,
/// `rootfstype=`, `ro`, `rw`), and limits hostfs mounts (`hostfs=`).
fn disks(mut vm: VmBuilder, cl: &Cmdline) -> Result<VmBuilder> {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).context("a switch is not UTF-8");
    let mut specs: Vec<UbdSpec> = Vec::new();
    let mut sync_all = false;
    for (key, val) in &cl.disks {
        let word = format!("{}={}", text(key)?, text(val)?);
        match UbdSwitch::parse(&word)? {
            UbdSwitch::Device(spec) => {
                specs.retain(|d| d.unit != spec.unit);
                specs.push(spec);
            }
            UbdSwitch::SyncAll => sync_all = true,
            UbdSwitch::Ignored => {}
        }
    }
    // Each disk's page cache may use most of the guest's memory, as a
    // Linux guest's page cache would; a fifth of that may be dirty (Linux's
    // dirty_ratio).
    let mem = cl.mem.unwrap_or(DEFAULT_MEM);
    // Readahead up to 1 MiB: a private page missed is read with O_DIRECT,
    // which the host does not read ahead, and this disk's requests only
    // reach its speed at about that size (see benches/blockio.rs).
    let config =
        UbdConfig { cache_limit: mem / 4 * 3, dirty_limit: mem / 5, readahead_max: 1 << 20, ..UbdConfig::default() };
    for mut spec in specs {
        spec.flags.sync |= sync_all;
        let disk = Arc::new(Ubd::open_with(&spec, false, config)?);
        // Dirty pages reach the disk within a few seconds, as with
        // Linux's dirty_writeback_centisecs, whatever the guest does.
        disk.start_writeback_thread(std::time::Duration::from_secs(1))
            .with_context(|| format!("ubd{}: starting its writeback thread", spec.unit))?;
        vm = vm.disk(disk);
    }
    let mut root = RootSpec::default();
    if let Some(dev) = &cl.root {
        root.device = text(dev)?;
    }
    root.fstype = cl.rootfstype.as_deref().map(text).transpose()?;
    root.read_only = cl.read_only.unwrap_or(false);
    vm = vm.root(root);
    if let Some(spec) = &cl.hostfs {
        // UML's hostfs=DIR[,append]: the `append` flag (open files
        // O_APPEND) is not kept.
        let spec = text(spec)?;
        let (dir, flags) = spec.split_once(',').unwrap_or((&spec, ""));
        if dir.is_empty() || flags.split(',').any(|f| !f.is_empty() && f != "append") {
            anyhow::bail!("hostfs={spec}: expected hostfs=DIR or hostfs=DIR,append");
        }
        vm = vm.hostfs_prefix(dir);
    }
    Ok(vm)
}

/// Opens each `ethN=` network card's host transport (UML's syntax and
/// messages; a later switch for a unit replaces an earlier one). UML's
/// warnings (a random MAC, a global one) are printed, not fatal.
fn nics(mut vm: VmBuilder, cl: &Cmdline) -> Result<VmBuilder> {
    let mut specs: Vec<(u32, String, umvm_netio::ParsedSpec)> = Vec::new();
    for (key, val) in &cl.nics {
        let word = format!("{}={}", String::from_utf8_lossy(key), String::from_utf8_lossy(val));
        let (unit, spec) = umvm_netio::spec::parse_eth(&word).map_err(|e| anyhow::anyhow!("{word}: {e}"))?;
        specs.retain(|(u, _, _)| *u != unit);
        specs.push((unit, word, spec));
    }
    specs.sort_by_key(|(u, _, _)| *u);
    for (unit, word, spec) in specs {
        for w in &spec.warnings {
            eprintln!("umvm: eth{unit}: {w}");
        }
        let port = umvm_netio::open(&spec).with_context(|| word.clone())?;
        vm = vm.nic(&format!("eth{unit}"), port);
    }
    Ok(vm)
}

/// Set in umvm's own environment (never the guest's) when it executes
/// itself for a guest reboot.
const RESTARTED: &str = "UMVM_RESTARTED";

/// Boots again after the guest restarted the machine, as UML's main()
/// does: umvm executes itself with the same command line, so the new
/// boot starts from a fresh process (the VM has torn everything down).
fn restart() -> Result<i32> {
    let mut argv = std::env::args_os();
    let arg0 = argv.next().unwrap_or_else(|| "umvm".into());
    // /proc/self/exe: this very binary, even if its path changed since.
    let e = Command::new("/proc/self/exe").arg0(arg0).args(argv).env(RESTARTED, "1").exec();
    Err(e).context("cannot restart: executing umvm again failed")
}

/// An error and its causes on one line, `outer: cause: cause`, leaving
/// out a cause whose words the message already has (the library errors
/// name their source in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The command line, or exit: help and version are printed as clap
/// prints them; a usage error is one line, `umvm: WHAT`, exit status 2.
fn parse_args() -> Cli {
    use clap::error::ErrorKind;
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => e.exit(),
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // The usage line says which command lacks its subcommand.
            let text = e.render().to_string();
            let usage = text.lines().find_map(|l| l.trim().strip_prefix("Usage: ")).unwrap_or("umvm <COMMAND>");
            eprintln!("umvm: a command is missing: usage: {usage} (see --help)");
            std::process::exit(2);
        }
        Err(e) => {
            let text = e.render().to_string();
            let words: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .map(|l| l.strip_prefix("error: ").unwrap_or(l))
                .collect();
            eprintln!("umvm: {} (see umvm --help)", words.join(" "));
            std::process::exit(2);
        }
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("UMVM_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .init();
    let cli = parse_args();
    let status = match cli.command {
        Cmd::Run(args) => run(args),
        Cmd::Cow(cmd) => cow::run(cmd),
        Cmd::Switch(args) => switch::run(args),
        Cmd::Lab(args) => lab::run(args),
        Cmd::Bench(args) => bench::run(args),
        Cmd::Mconsole(args) => mconsole::run(args),
    };
    match status {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("umvm: {}", one_line(&e));
            std::process::exit(1);
        }
    }
}
