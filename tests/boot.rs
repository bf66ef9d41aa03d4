//! Booting (issue 7 item 4): the kernel command line and /proc/cmdline,
//! how init is chosen (Linux's kernel_init), reboot(2), and busybox init
//! from /etc/inittab through to poweroff, halt and reboot.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// Guests here finish in a few seconds (busybox init's shutdown sleeps
/// about two): a hang fails well before the default timeout.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);

/// `umvm run --root-dir ROOT WORDS...` in `cfg`, with `stdin`.
fn boot(cfg: Config, root: &Path, words: &[&str], stdin: &[u8]) -> Run {
    run_umvm_words(cfg, root, words, stdin, BOOT_TIMEOUT)
}

/// The configurations without --strace: for runs that end before any
/// guest process starts, which leave no trace to check.
fn plain_configs() -> Vec<Config> {
    traps().into_iter().map(|trap| Config { trap, strace: false }).collect()
}

/// Checks the error contract of a boot that fails: non-zero exit (and no
/// panic), nothing from a guest on stdout, one `umvm: ` line on stderr
/// containing every one of `names`.
fn expect_boot_error(run: &Run, names: &[&str]) {
    assert_ne!(run.code(), 0, "{run}");
    assert_ne!(run.code(), 101, "exit status 101 is a Rust panic\n{run}");
    let err = run.err();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected exactly one stderr line\n{run}");
    assert!(lines[0].starts_with("umvm: "), "{run}");
    for n in names {
        assert!(lines[0].contains(n), "the error does not name {n:?}\n{run}");
    }
}

/// Links busybox applets beyond common::APPLETS into /bin.
fn link_applets(root: &Rootfs, applets: &[&str]) {
    for applet in applets {
        symlink("busybox", &root.host_path(&format!("/bin/{applet}")));
    }
}

// ---------------------------------------------------------------------------
// The kernel command line

#[test]
fn proc_cmdline_is_every_word_joined_by_spaces() {
    let root = Rootfs::system();
    let words = ["mem=64M", "ro", "quiet", "FOO=bar", "hostname=h", "--", "/bin/cat", "/proc/cmdline"];
    for cfg in configs() {
        let run = boot(cfg, root.path(), &words, b"");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        assert_eq!(run.out(), format!("{}\n", words.join(" ")), "{cfg}\n{run}");
    }
    // A bare path is the program, as after `--`; without any word the
    // line is empty (and init the fallback, here /bin/sh reading stdin).
    let cfg = configs()[0];
    let run = boot(cfg, root.path(), &["/bin/cat", "/proc/cmdline"], b"");
    assert_eq!(run.out(), "/bin/cat /proc/cmdline\n", "{run}");
    let run = boot(cfg, root.path(), &[], b"cat /proc/cmdline\n");
    assert_eq!((run.code(), run.out().as_str()), (0, "\n"), "{run}");
}

#[test]
fn unknown_switches_reach_init_as_in_linux() {
    // Linux's unknown_bootoption: `key=value` into init's environment (a
    // later one replacing an earlier one, TERM included), bare words into
    // its argv after argv[0]; `mod.param=` words and the parameters the
    // kernel knows reach neither.
    let root = Rootfs::system();
    root.write(
        "/sbin/init",
        "#!/bin/sh\necho \"argv: $0 $*\"\necho \"FOO=$FOO TERM=$TERM HOME=$HOME\"\n\
         env | grep -E '^(mod|mem|hostname|ro|quiet)' || echo 'no kernel parameters'\n",
        0o755,
    );
    let words = ["FOO=one", "single", "mod.param=1", "mem=32M", "FOO=two", "TERM=vt100", "quiet", "hostname=x", "3"];
    for cfg in configs() {
        let run = boot(cfg, root.path(), &words, b"");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        assert_eq!(
            run.out(),
            "argv: /sbin/init single 3\nFOO=two TERM=vt100 HOME=/\nno kernel parameters\n",
            "{cfg}\n{run}"
        );
    }
}

#[test]
fn init_args_follow_the_double_dash() {
    // init= names the program; the words after `--` are its arguments.
    let root = Rootfs::system();
    for cfg in configs() {
        let run = boot(cfg, root.path(), &["init=/bin/sh", "--", "-c", "echo \"$0:$1\"", "zero", "one"], b"");
        assert_eq!((run.code(), run.out().as_str()), (0, "zero:one\n"), "{cfg}\n{run}");
    }
}

#[test]
fn malformed_known_switches_are_errors_naming_them() {
    let root = Rootfs::system();
    for cfg in plain_configs() {
        for word in ["mem=abc", "mem=", "mem=5X"] {
            let run = boot(cfg, root.path(), &[word, "--", "/bin/true"], b"");
            expect_boot_error(&run, &[word, "not a size"]);
            assert_eq!(run.out(), "", "{run}");
        }
    }
}

#[test]
fn hostname_switch_sets_the_initial_host_name() {
    let root = Rootfs::system();
    link_applets(&root, &["uname", "hostname"]);
    let script = "uname -n; hostname; cat /proc/sys/kernel/hostname";
    for cfg in configs() {
        let run = boot(cfg, root.path(), &["hostname=guest-7", "--", "/bin/sh", "-c", script], b"");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        assert_eq!(run.out(), "guest-7\nguest-7\nguest-7\n", "{cfg}\n{run}");
        // Without it, the default.
        let run = boot(cfg, root.path(), &["--", "/bin/sh", "-c", "uname -n"], b"");
        assert_eq!(run.out(), "umvm\n", "{cfg}\n{run}");
    }
    // Longer than Linux's 64 bytes: cut, as Linux cuts it.
    let long = "n".repeat(70);
    let run = boot(configs()[0], root.path(), &[&format!("hostname={long}"), "--", "/bin/sh", "-c", "uname -n"], b"");
    assert_eq!(run.out(), format!("{}\n", &long[..64]), "{run}");
}

// ---------------------------------------------------------------------------
// Choosing init

#[test]
fn without_a_program_init_is_bin_sh_when_that_is_all_there_is() {
    let root = Rootfs::new();
    symlink("busybox", &root.host_path("/bin/sh"));
    for cfg in configs() {
        let run = boot(cfg, root.path(), &[], b"echo \"$0 pid $$\"; exit 5\n");
        assert_eq!(run.code(), 5, "{cfg}\n{run}");
        assert_eq!(run.out(), "/bin/sh pid 1\n", "{cfg}\n{run}");
    }
}

#[test]
fn init_fallbacks_are_tried_in_linux_order() {
    let root = Rootfs::system();
    let init = |name: &str| format!("#!/bin/sh\necho \"{name} $0 $*\"\n");
    root.write("/bin/init", init("bin-init"), 0o755);
    // Exists but cannot run: reported on the console and skipped.
    root.write("/etc/init", init("etc-init"), 0o644);
    for cfg in configs() {
        let run = boot(cfg, root.path(), &["single"], b"");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        let out = run.out();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{cfg}\n{run}");
        assert!(
            lines[0].starts_with("Starting init: /etc/init exists but couldn't execute it (error -13"),
            "{cfg}\n{run}"
        );
        assert_eq!(lines[1], "bin-init /bin/init single", "{cfg}\n{run}");
    }
    // /sbin/init comes first (a symlink, as busybox systems have it).
    root.write("/sbin/real-init", init("sbin-init"), 0o755);
    symlink("real-init", &root.host_path("/sbin/init"));
    for cfg in configs() {
        let run = boot(cfg, root.path(), &[], b"");
        assert_eq!((run.code(), run.out().as_str()), (0, "sbin-init /sbin/init \n"), "{cfg}\n{run}");
    }
}

#[test]
fn no_init_at_all_is_one_clear_error() {
    // Only /bin/busybox: none of Linux's fallbacks exists.
    let root = Rootfs::new();
    for cfg in plain_configs() {
        let run = boot(cfg, root.path(), &["quiet"], b"");
        expect_boot_error(&run, &["no init found; try passing init="]);
        assert_eq!(run.out(), "", "{run}");
    }
}

#[test]
fn a_bad_init_switch_is_an_error_naming_the_path_and_errno() {
    let root = Rootfs::system();
    root.write("/etc/not-a-program", "data\n", 0o644);
    for cfg in plain_configs() {
        // Linux panics rather than fall back: so must umvm, though /bin/sh exists.
        let run = boot(cfg, root.path(), &["init=/sbin/nothere"], b"");
        expect_boot_error(&run, &["/sbin/nothere", "ENOENT"]);
        let run = boot(cfg, root.path(), &["init=/etc/not-a-program"], b"");
        expect_boot_error(&run, &["/etc/not-a-program", "EACCES"]);
    }
}

// ---------------------------------------------------------------------------
// reboot(2)

#[test]
fn reboot_refuses_bad_magic_unknown_commands_and_the_unprivileged() {
    let root = Rootfs::system();
    let prog = root.install("reboot_errors");
    let expected = "bad magic1 = -1 EINVAL\nbad magic2 = -1 EINVAL\nmagic2 cad_off = 0\nmagic2a cad_on = 0\n\
                    magic2b cad_off = 0\nmagic2c cad_on = 0\nwide args = 0\nunknown cmd = -1 EINVAL\n\
                    kexec = -1 EINVAL\nsw_suspend = -1 EINVAL\nrestart2 bad string = -1 EFAULT\n\
                    uid 1000 cad_off = -1 EPERM\nuid 1000 bad magic = -1 EPERM\n";
    for cfg in configs() {
        let run = boot(cfg, root.path(), &["--", &prog], b"");
        assert_eq!((run.code(), run.out().as_str()), (0, expected), "{cfg}\n{run}");
    }
}

#[test]
fn poweroff_and_halt_from_any_process_end_the_vm_with_status_0() {
    // busybox `poweroff -f` and `halt -f` call reboot(2) directly, here
    // from a child of init; a background job dies with the machine.
    let root = Rootfs::system();
    link_applets(&root, &["poweroff", "halt"]);
    for (applet, line) in [("poweroff", "reboot: Power down"), ("halt", "reboot: System halted")] {
        for cfg in configs() {
            let script = format!("sleep 100 & echo before; {applet} -f; echo after; exit 3");
            let started = Instant::now();
            let run = boot(cfg, root.path(), &["--", "/bin/sh", "-c", &script], b"");
            assert_eq!(run.code(), 0, "{cfg}\n{run}");
            assert_eq!(run.out(), format!("before\n{line}\n"), "{cfg}\n{run}");
            assert!(started.elapsed() < Duration::from_secs(20), "{cfg}: the sleeping job kept the VM up\n{run}");
        }
    }
}

#[test]
fn init_exit_ends_the_vm_with_its_status_and_kills_the_rest() {
    // The machine's end when init exits takes the same shutdown path:
    // a background job does not keep it up.
    let root = Rootfs::system();
    for cfg in configs() {
        let started = Instant::now();
        let run = boot(cfg, root.path(), &["--", "/bin/sh", "-c", "sleep 100 & echo bye; exit 3"], b"");
        assert_eq!((run.code(), run.out().as_str()), (3, "bye\n"), "{cfg}\n{run}");
        assert!(started.elapsed() < Duration::from_secs(20), "{cfg}: the sleeping job kept the VM up\n{run}");
    }
}

#[test]
fn reboot_boots_the_same_command_line_again() {
    // `reboot -f` restarts: init runs again from the same command line in
    // a fresh kernel (a fresh /tmp), the root directory kept.
    let root = Rootfs::system();
    link_applets(&root, &["reboot"]);
    let script = "echo boot >> /boots; ls /tmp; touch /tmp/$MARK; \
                  if [ $(wc -l < /boots) = 1 ]; then reboot -f; fi; echo second boot; exit 4";
    for cfg in configs() {
        let _ = std::fs::remove_file(root.host_path("/boots"));
        let mark = format!("boot-mark-{}-{}", std::process::id(), cfg.trap.name());
        let mark_word = format!("MARK={mark}");
        let run = boot(cfg, root.path(), &[&mark_word, "--", "/bin/sh", "-c", script], b"");
        assert_eq!(run.code(), 4, "{cfg}\n{run}");
        assert_eq!(run.out(), "reboot: Restarting system\nsecond boot\n", "{cfg}\n{run}");
        assert_eq!(std::fs::read_to_string(root.host_path("/boots")).unwrap(), "boot\nboot\n", "{cfg}\n{run}");
        // Neither boot's /tmp outlived it on the host.
        assert_eq!(tmpfs_leftovers(&mark), Vec::<std::path::PathBuf>::new(), "{cfg}\n{run}");
    }
}

/// Host paths of files named `name` in any umvm tmpfs backing directory
/// (`umvm-tmpfs-*/MOUNT/name` under /dev/shm or the temp dir, where
/// fs/tmpfs.rs puts them).
fn tmpfs_leftovers(name: &str) -> Vec<std::path::PathBuf> {
    let bases = [std::path::PathBuf::from("/dev/shm"), std::env::temp_dir()];
    let mut found = Vec::new();
    for base in bases.iter().filter_map(|b| std::fs::read_dir(b).ok()) {
        for dir in base.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("umvm-tmpfs-")) {
            for mount in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                let p = mount.path().join(name);
                if p.exists() {
                    found.push(p);
                }
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------
// busybox init

/// A system root booting busybox init: /sbin/init -> busybox, the applets
/// init and its scripts use, `inittab` and `rcs` as /etc/inittab and
/// /etc/init.d/rcS.
fn busybox_init_root(inittab: &str, rcs: &str) -> Rootfs {
    let root = Rootfs::system();
    mkdir(&root.host_path("/sbin"), 0o755);
    symlink("../bin/busybox", &root.host_path("/sbin/init"));
    link_applets(&root, &["poweroff", "halt", "reboot", "sync", "hostname"]);
    root.write("/etc/inittab", inittab, 0o644);
    root.write("/etc/init.d/rcS", rcs, 0o755);
    root
}

#[test]
fn busybox_init_runs_rcs_and_its_shutdown_actions_then_powers_off() {
    let inittab = "::sysinit:/etc/init.d/rcS\n\
                   ::once:/bin/sh -c 'echo once ran; sleep 1; poweroff'\n\
                   ::respawn:/bin/sleep 1000\n\
                   ::shutdown:/bin/sh -c 'echo shutdown action; echo down >> /shutdowns'\n";
    let rcs = "#!/bin/sh\necho \"rcS ran as $$ on $(hostname)\"\n";
    let root = busybox_init_root(inittab, rcs);
    for cfg in configs() {
        let _ = std::fs::remove_file(root.host_path("/shutdowns"));
        let run = boot(cfg, root.path(), &["hostname=bb"], b"");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        let out = run.out();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.first().is_some_and(|l| l.starts_with("rcS ran as ") && l.ends_with(" on bb")), "{cfg}\n{run}");
        assert_eq!(&lines[1..], ["once ran", "shutdown action", "reboot: Power down"], "{cfg}\n{run}");
        assert!(run.err().contains("Requesting system poweroff"), "{cfg}\n{run}");
        assert_eq!(std::fs::read_to_string(root.host_path("/shutdowns")).unwrap(), "down\n", "{cfg}\n{run}");
    }
}

#[test]
fn busybox_halt_ends_the_vm_with_status_0() {
    let root = busybox_init_root("::sysinit:/etc/init.d/rcS\n", "#!/bin/sh\necho up\nhalt\n");
    for cfg in configs() {
        let run = boot(cfg, root.path(), &[], b"");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        assert_eq!(run.out(), "up\nreboot: System halted\n", "{cfg}\n{run}");
    }
}

#[test]
fn busybox_reboot_boots_again_then_poweroff_ends_it() {
    // rcS counts the boots in a file on the root directory and reboots on
    // the first only.
    let rcs = "#!/bin/sh\necho boot >> /boots\nn=$(wc -l < /boots)\necho \"boot $n\"\n\
               if [ \"$n\" = 1 ]; then reboot; else poweroff; fi\n";
    let root = busybox_init_root("::sysinit:/etc/init.d/rcS\n::shutdown:/bin/echo going down\n", rcs);
    for cfg in configs() {
        let _ = std::fs::remove_file(root.host_path("/boots"));
        let run = boot(cfg, root.path(), &[], b"");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        assert_eq!(
            run.out(),
            "boot 1\ngoing down\nreboot: Restarting system\nboot 2\ngoing down\nreboot: Power down\n",
            "{cfg}\n{run}"
        );
        if let Some(trace) = &run.strace {
            // One trace file for both boots: the restart, then the power-off.
            let restart = trace.find("reboot(0xfee1dead, 0x28121969, 0x1234567,");
            let poweroff = trace.find("reboot(0xfee1dead, 0x28121969, 0x4321fedc,");
            assert!(restart.is_some() && restart < poweroff, "{cfg}\n{run}");
        }
        assert_eq!(std::fs::read_to_string(root.host_path("/boots")).unwrap(), "boot\nboot\n", "{cfg}\n{run}");
    }
}

#[test]
fn busybox_init_gives_the_console_a_shell_that_can_power_off() {
    // askfirst: "Please press Enter", then a login shell on the console
    // (its controlling terminal with --console tty: no job-control
    // complaint), whose `poweroff` goes through init.
    let inittab = "::sysinit:/etc/init.d/rcS\n::askfirst:-/bin/sh\n::shutdown:/bin/echo going down\n";
    let root = busybox_init_root(inittab, "#!/bin/sh\necho rcS ran\n");
    link_applets(&root, &["tty"]);
    for cfg in configs() {
        let run = boot(cfg, root.path(), &["--console", "tty"], b"\necho \"shell $$ on $(tty)\"; poweroff\n");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        let out = run.out().replace('\r', "");
        // (The terminal echoes the typed-ahead input first; busybox init's
        // own messages go to the console too.)
        let at = |s: &str| out.find(s).unwrap_or_else(|| panic!("{cfg}: no {s:?} in the output\n{run}"));
        let order = [
            at("\nrcS ran\n"),
            at("Please press Enter to activate this console."),
            at("\nshell "),
            at("going down\n"),
            at("Requesting system poweroff"),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{cfg}: out of order\n{run}");
        let shell = out[order[2] + 1..].lines().next().unwrap();
        assert!(shell.starts_with("shell ") && shell.ends_with(" on /dev/console"), "{cfg}\n{run}");
        assert!(!out.contains("job control turned off"), "{cfg}\n{run}");
        assert!(out.ends_with("\nreboot: Power down\n"), "{cfg}\n{run}");
    }
}
