//! umvm's command line itself: `--help` lists every switch with its
//! meaning, `--version` prints the version, and bad arguments to each
//! subcommand (run, cow, switch, bench) get one line on stderr and a
//! non-zero exit, without a panic.

use std::process::{Command, Output, Stdio};

const UMVM: &str = env!("CARGO_BIN_EXE_umvm");

fn umvm(args: &[&str]) -> Output {
    Command::new(UMVM).args(args).stdin(Stdio::null()).output().expect("cannot run umvm")
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn help_lists_every_subcommand_and_switch() {
    let out = umvm(&["--help"]);
    assert!(out.status.success(), "{}", text(&out));
    let top = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "cow", "switch", "bench"] {
        assert!(top.lines().any(|l| l.trim_start().starts_with(cmd)), "{cmd} not in umvm --help:\n{top}");
    }
    let out = umvm(&["run", "--help"]);
    assert!(out.status.success(), "{}", text(&out));
    let run = String::from_utf8_lossy(&out.stdout);
    for switch in [
        "init=",
        "mem=",
        "hostname=",
        "root=",
        "rootfstype=",
        " ro",
        " rw",
        "ubdN=",
        "ubd=sync",
        "ethN=mcast",
        "ethN=daemon",
        "ethN=tuntap",
        "ethN=ucast",
        "ip=",
        "hostfs=",
        "con=",
        "conN=",
        "con0=",
        "ssl=",
        "sslN=",
        "console=",
        "quiet",
        "null",
        "fd:N",
        "pty",
        "pts",
        "port:N",
        "tty:DEV",
        "xterm",
        "--root-dir",
        "--trap",
        "--console",
        "--strace",
        "--strace-file",
    ] {
        assert!(run.contains(switch), "{switch} not in umvm run --help:\n{run}");
    }
    let out = umvm(&["bench", "--help"]);
    let bench = String::from_utf8_lossy(&out.stdout);
    for w in ["syscall", "fork-exec", "pipe", "files-tmpfs", "files-ext2", "disk-seq", "disk-rand", "untar", "tcp"] {
        assert!(bench.contains(w), "{w} not in umvm bench --help:\n{bench}");
    }
    for flag in ["--rounds", "--size", "--json", "--svg", "--uml", "--no-uml", "UML ratio"] {
        assert!(bench.contains(flag), "{flag} not in umvm bench --help:\n{bench}");
    }
}

#[test]
fn version_prints_the_package_version() {
    let out = umvm(&["--version"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("umvm {}\n", env!("CARGO_PKG_VERSION")));
}

/// Each bad command line: one stderr line starting `umvm: ` that names
/// the bad input, nothing on stdout, a non-zero exit that is not a panic.
#[test]
fn bad_arguments_of_every_subcommand_are_one_line_errors() {
    let missing = "/nonexistent-umvm-test/disk.img";
    for (args, names) in [
        (&[][..], "a command is missing"),
        (&["nosuch"], "nosuch"),
        (&["run", "--trap", "fast"], "fast"),
        (&["run", "--console", "serial"], "serial"),
        (&["run", "--strace-file", "x"], "--strace"),
        (&["run", "mem=lots", "--", "/bin/true"], "mem=lots"),
        (&["run", "con0=fd:x", "--", "/bin/true"], "couldn't parse file descriptor 'x'"),
        (&["run", "con16=null", "--", "/bin/true"], "Device number out of range"),
        (&["run", "ssl=bogus", "--", "/bin/true"], "parse_chan couldn't parse \"bogus\""),
        (&["run", "con0=fd:77", "--", "/bin/true"], "fd:77"),
        (&["run", "hostfs=/tmp,bad", "--", "/bin/true"], "hostfs=/tmp,bad"),
        (&["run", "eth0=carrier-pigeon", "--", "/bin/true"], "eth0=carrier-pigeon"),
        (&["run", &format!("ubd0={missing}"), "--", "/bin/true"], missing),
        (&["cow"], "umvm cow"),
        (&["cow", "info", missing], missing),
        (&["cow", "frobnicate"], "frobnicate"),
        (&["cow", "create"], "required"),
        (&["switch", "--bogus"], "--bogus"),
        (&["switch", "--unix", "/nonexistent-umvm-test/ctl"], "/nonexistent-umvm-test/ctl"),
        (&["bench", "nosuch"], "unknown workload"),
        (&["bench", "--size", "huge"], "huge"),
        (&["bench", "--rounds", "0"], "--rounds 0"),
    ] {
        let out = umvm(args);
        let what = format!("umvm {args:?}: {}", text(&out));
        assert!(!out.status.success(), "{what}");
        assert_ne!(out.status.code(), Some(101), "a panic: {what}");
        assert_eq!(out.stdout, b"", "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "not one line: {what}");
        assert!(err.starts_with("umvm: ") && err.contains(names), "does not name {names:?}: {what}");
    }
}
