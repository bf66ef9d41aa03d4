//! umvm: the command-line front end. A thin client of umvm-core's `Vm`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use umvm_core::dev::ubd::Ubd;
use umvm_core::fs::do_mounts::RootSpec;
use umvm_core::{ConsoleMode, TrapMode, VmBuilder};
use umvm_cow::ubd::{UbdSpec, UbdSwitch};

mod cow;

#[derive(Parser)]
#[command(name = "umvm", version, about = "A user-mode virtual machine for x86-64 Linux")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot a guest. UML-style switches (init=PATH, mem=SIZE) may be
    /// given as words; arguments after `--` are init's program and argv.
    Run(RunArgs),
    /// UML copy-on-write disks: create, inspect, merge.
    #[command(subcommand)]
    Cow(cow::CowCmd),
}

#[derive(clap::Args)]
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

    /// UML switches (init=PATH, mem=SIZE, hostfs=DIR), then `--` and
    /// init's argv.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "SWITCHES")]
    rest: Vec<OsString>,
}

/// Parses a UML size: a number with an optional K, M or G suffix.
fn parse_size(s: &str) -> Result<u64> {
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num.parse().with_context(|| format!("mem={s}: not a size (e.g. 256M)"))?;
    n.checked_mul(mult).with_context(|| format!("mem={s}: too large"))
}

fn run(args: RunArgs) -> Result<i32> {
    let mut vm = VmBuilder::new().trap(args.trap).console(args.console);
    if let Some(dir) = &args.root_dir {
        vm = vm.root_dir(dir);
    }
    let mut words = args.rest.into_iter();
    let mut init: Vec<Vec<u8>> = Vec::new();
    let mut disks: Vec<UbdSpec> = Vec::new();
    let mut sync_all = false;
    let mut root = RootSpec::default();
    for w in words.by_ref() {
        if w == "--" {
            break;
        }
        let w = w.into_string().map_err(|w| anyhow::anyhow!("switch {w:?} is not UTF-8"))?;
        match w.split_once('=') {
            Some(("init", path)) => init = vec![path.as_bytes().to_vec()],
            Some(("mem", size)) => vm = vm.mem(parse_size(size)?),
            Some(("root", dev)) => root.device = dev.to_string(),
            Some(("rootfstype", t)) => root.fstype = Some(t.to_string()),
            Some((key, _)) if key.starts_with("ubd") => match UbdSwitch::parse(&w)? {
                UbdSwitch::Device(spec) => {
                    disks.retain(|d| d.unit != spec.unit);
                    disks.push(spec);
                }
                UbdSwitch::SyncAll => sync_all = true,
                UbdSwitch::Ignored => {}
            },
            None if w == "ro" => root.read_only = true,
            None if w == "rw" => root.read_only = false,
            // UML's hostfs=DIR[,append]: hostfs mounts come from DIR. The
            // `append` flag (open files O_APPEND) is not kept.
            Some(("hostfs", spec)) => {
                let (dir, flags) = spec.split_once(',').unwrap_or((spec, ""));
                if dir.is_empty() || flags.split(',').any(|f| !f.is_empty() && f != "append") {
                    bail!("{w}: expected hostfs=DIR or hostfs=DIR,append");
                }
                vm = vm.hostfs_prefix(dir);
            }
            _ if init.is_empty() && !w.contains('=') => {
                // A bare program path without `--`.
                init.push(w.into_bytes());
                break;
            }
            _ => bail!("{w}: unknown switch (umvm knows init=, mem=, ubdN=, root=, rootfstype=, ro, rw and hostfs=)"),
        }
    }
    init.extend(words.map(OsStringExt::into_vec));
    for mut spec in disks {
        spec.flags.sync |= sync_all;
        let disk = Arc::new(Ubd::open(&spec, false)?);
        // Dirty pages reach the disk within a few seconds, as with
        // Linux's dirty_writeback_centisecs, whatever the guest does.
        disk.start_writeback_thread(std::time::Duration::from_secs(1))
            .with_context(|| format!("ubd{}: starting its writeback thread", spec.unit))?;
        vm = vm.disk(disk);
    }
    vm = vm.root(root);
    vm = vm.init(init);
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
            Some(f) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(f).with_context(|| format!("--strace-file {}", f.display()))?,
            )),
            None => Box::new(std::io::stderr()),
        };
        vm = vm.strace(sink);
    }
    Ok(vm.build()?.run()?)
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

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("UMVM_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let status = match cli.command {
        Cmd::Run(args) => run(args),
        Cmd::Cow(cmd) => cow::run(cmd),
    };
    match status {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("umvm: {}", one_line(&e));
            std::process::exit(1);
        }
    }
}
