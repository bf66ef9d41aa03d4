//! Dynamically linked programs: the loader maps the program and the
//! dynamic loader its PT_INTERP names (musl's and glibc's), and the loader
//! maps the libraries. Also `ld.so PROGRAM`, and busybox-free roots made
//! only of a dynamic program, its libraries and its loader.

mod common;

use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

const EXPECTED: &str = "entry ok 1\nphdr ok 1\nbase set 1\narg hello\n";

/// Runs /bin/auxv twice per configuration: the report is right, and the
/// loader's base (on stderr) is randomised.
fn check_auxv(root: &Rootfs) {
    for cfg in configs() {
        let a = run_guest_timeout(cfg, root.path(), &["/bin/auxv", "hello"], b"", T);
        let b = run_guest_timeout(cfg, root.path(), &["/bin/auxv", "hello"], b"", T);
        assert_eq!(a.out(), EXPECTED, "{cfg}\n{a}");
        assert_eq!(a.code(), 0, "{cfg}\n{a}");
        assert_eq!(b.out(), EXPECTED, "{cfg}\n{b}");
        assert_ne!(a.err(), b.err(), "{cfg}: the loader's base is the same in two runs\n{a}\n{b}");
    }
}

#[test]
fn musl_dynamic_program_runs_with_its_loader() {
    let root = Rootfs::new();
    root.write("/bin/auxv", std::fs::read(guest_program_dynamic("auxv")).unwrap(), 0o755);
    // Debian's musl: /lib/ld-musl-x86_64.so.1 is libc.so itself.
    root.write("/lib/ld-musl-x86_64.so.1", std::fs::read("/lib/ld-musl-x86_64.so.1").unwrap(), 0o755);
    check_auxv(&root);
    // The loader run as a program, with the program as its argument.
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &["/lib/ld-musl-x86_64.so.1", "/bin/auxv", "x"], b"", T);
        assert!(run.out().ends_with("arg x\n"), "{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}

#[test]
fn glibc_dynamic_programs_run_with_their_libraries() {
    let root = Rootfs::new();
    root.install_with_libs(&guest_program_glibc("auxv"), "/bin/auxv");
    check_auxv(&root);
    // The host's own dynamic programs: coreutils and bash.
    root.install_with_libs(std::path::Path::new("/bin/bash"), "/bin/bash");
    root.install_with_libs(std::path::Path::new("/bin/ls"), "/bin/ls");
    let script = "x=(a b c); f() { echo \"f:$1:${#x[@]}\"; }; f $(echo sub); /bin/ls /bin";
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &["/bin/bash", "-c", script], b"", T);
        assert_eq!(run.out(), "f:sub:3\nauxv\nbash\nbusybox\nls\n", "{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
    // glibc's loader run as a program.
    let ld = "/lib64/ld-linux-x86-64.so.2";
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &[ld, "/bin/auxv", "y"], b"", T);
        assert!(run.out().ends_with("arg y\n"), "{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}
