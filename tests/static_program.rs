//! Static musl C programs, compiled at test time, run as init on a
//! host-directory root: file syscalls, the console, exit statuses, --strace.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

const FILEOPS_STDOUT: &str = r#"argc=4
argv[0]="/bin/fileops"
argv[1]="two words"
argv[2]=""
argv[3]="ünï"
HOME=/
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
TERM set
pid=1 ppid=0
cwd=/
input: from the host
cwd=/work
a.txt: size=24 mode=640 regular=1
at 7: file
tail: line
pread: HELLO, file
after ftruncate: size=12
a.txt: HELLO, file
appended
sub: mode=700
link -> b.txt
ls /work: .(d) ..(d) b.txt(f) link(l) sub(d)
ls sub: .(d) ..(d) c.txt(f)
via fd 9
cwd=/
cwd=/work
cwd=/bin
ls /: .(d) ..(d) bin(d) input.txt(f) out.txt(f)
done
"#;

#[test]
fn fileops_reads_writes_and_lists_files_and_exits_7() {
    for cfg in configs() {
        let root = Rootfs::new();
        let prog = root.install("fileops");
        write_file(&root.host_path("/input.txt"), "from the host\n", 0o644);

        let run = run_guest(cfg, root.path(), &[&prog, "two words", "", "ünï"]);

        assert_eq!(run.code(), 7, "{cfg}\n{run}");
        assert_eq!(run.out(), FILEOPS_STDOUT, "{cfg}\n{run}");
        assert_eq!(run.err(), "", "{cfg}\n{run}");
        // What the guest did is visible on the host.
        let out = root.host_path("/out.txt");
        assert_eq!(fs::read_to_string(&out).unwrap(), "HELLO, file\nappended\n", "{cfg}");
        assert_eq!(fs::metadata(&out).unwrap().permissions().mode() & 0o7777, 0o640, "{cfg}");
        assert!(!root.host_path("/work").exists(), "{cfg}: /work left behind");
    }
}

#[test]
fn stdin_is_the_guest_fd_0_and_stdout_its_fd_1() {
    // Binary data of a few hundred KiB: many reads, every byte value.
    let input: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let root = Rootfs::new();
    let prog = root.install("stdin_echo");
    for cfg in configs() {
        let run = run_guest_with_stdin(cfg, root.path(), &[&prog], &input);
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        assert!(
            run.stdout == input,
            "{cfg}: stdout differs from stdin ({} bytes in, {} out)\n{}",
            input.len(),
            run.stdout.len(),
            run.err()
        );
        assert_eq!(run.err(), "stdin_echo: 300000 bytes\n", "{cfg}");
    }
}

#[test]
fn empty_stdin_reads_as_end_of_file() {
    let root = Rootfs::new();
    let prog = root.install("stdin_echo");
    for cfg in configs() {
        let run = run_guest(cfg, root.path(), &[&prog]);
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        assert_eq!(run.out(), "", "{cfg}\n{run}");
        assert_eq!(run.err(), "stdin_echo: 0 bytes\n", "{cfg}\n{run}");
    }
}

#[test]
fn umvm_exits_with_init_exit_status() {
    let root = Rootfs::new();
    let prog = root.install("exit_status");
    for cfg in configs() {
        for code in [0, 1, 42, 255] {
            let run = run_guest(cfg, root.path(), &[&prog, &code.to_string()]);
            assert_eq!(run.code(), code, "{cfg}\n{run}");
            assert_eq!(run.out(), "", "{cfg}\n{run}");
        }
    }
}

#[test]
fn init_killed_by_sigsegv_gives_exit_status_139() {
    let root = Rootfs::new();
    let prog = root.install("exit_status");
    for cfg in configs() {
        let run = run_guest(cfg, root.path(), &[&prog, "segv"]);
        assert_eq!(run.code(), 128 + libc::SIGSEGV, "{cfg}\n{run}");
    }
}

#[test]
fn strace_without_file_traces_to_stderr_and_leaves_stdout_alone() {
    let root = Rootfs::new();
    let prog = root.install("fileops");
    write_file(&root.host_path("/input.txt"), "from the host\n", 0o644);
    for trap in traps() {
        // fileops removes what it made except /out.txt: start clean.
        let _ = fs::remove_file(root.host_path("/out.txt"));
        let root_dir = root.path().to_str().unwrap();
        let run = run_umvm(
            &["run", "--root-dir", root_dir, "--trap", trap.name(), "--strace", "--", &prog, "two words", "", "ünï"],
            b"",
        );
        assert_eq!(run.code(), 7, "{trap:?}\n{run}");
        assert_eq!(run.out(), FILEOPS_STDOUT, "{trap:?}\n{run}");
        let err = run.err();
        for call in ["mkdir(", "rename(", "getdents64(", "writev("] {
            assert!(err.lines().any(|l| l.contains(call)), "{trap:?}: no {call} line in the trace on stderr\n{run}");
        }
        assert!(
            err.contains("exit_group(") || err.contains("exited with 7"),
            "{trap:?}: the trace on stderr does not reach the exit\n{run}"
        );
        // The trace names the guest's own paths.
        assert!(err.contains("/work"), "{trap:?}: /work not in trace\n{run}");
    }
}

#[test]
fn static_pie_is_loaded_at_a_random_base_and_runs() {
    let root = Rootfs::new();
    fs::copy(guest_program_static_pie("pie"), root.host_path("/bin/pie")).unwrap();
    for cfg in configs() {
        let first = run_guest(cfg, root.path(), &["/bin/pie", "a", "b"]);
        let second = run_guest(cfg, root.path(), &["/bin/pie", "a", "b"]);
        for run in [&first, &second] {
            assert_eq!(run.code(), 3, "{cfg}\n{run}");
            assert!(run.out().starts_with("main=0x") && run.out().ends_with(" a b\n"), "{cfg}\n{run}");
        }
        // ET_DYN goes where Linux puts it: ELF_ET_DYN_BASE plus a random
        // offset, so two runs differ.
        let addr = |out: &str| u64::from_str_radix(&out[7..out.find(' ').unwrap()], 16).unwrap();
        let (a, b) = (addr(&first.out()), addr(&second.out()));
        assert!(a >= 0x5555_5555_4000 && b >= 0x5555_5555_4000, "{cfg}: {a:#x} {b:#x}");
        assert_ne!(a, b, "{cfg}: static-pie loaded twice at {a:#x}");
    }
}
