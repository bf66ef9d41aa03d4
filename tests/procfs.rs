//! procfs and devfs as glibc, procps and busybox use them: a process's
//! cmdline, environ, auxv, stat, statm, status, threads and maps;
//! mountinfo and df; /proc/sys; /dev/fd and the standard streams, which
//! reopen what the fd is (a pipe, a deleted file); and ps, top, free,
//! uptime and df from busybox and from Debian's procps and coreutils,
//! which must list exactly the guest's processes, by virtual pid, with
//! sane figures.
//!
//! Where Linux's answer is the reference, the same command also runs
//! natively (run_native_root: chrooted into a copy of the tree, as pid 1
//! of a new pid namespace) and the outputs are compared.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::time::Duration;

/// Each guest here ends in a second or two.
const T: Duration = Duration::from_secs(30);

/// A system root (busybox) with tests/guest/procself.c as /bin/procself.
fn procself_root() -> Rootfs {
    let root = Rootfs::system();
    root.install("procself");
    root
}

/// How a guest's stdout must relate to the native one.
enum Expect<'a> {
    /// Equal to it.
    Native,
    /// Accepted by this check (as the native one must be).
    Check(&'a dyn Fn(&str) -> bool),
}

/// Runs `argv` natively and in every configuration, each on a fresh root
/// made by `make`; asserts that each run exits 0 with nothing on stderr
/// and that its stdout is as `expect` says. Returns the guests' roots and
/// stdouts.
fn run_everywhere(make: impl Fn() -> Rootfs, argv: &[&str], expect: Expect<'_>) -> Vec<(Rootfs, String)> {
    let native_root = make();
    let native = run_native_root(native_root.path(), argv, b"", T);
    let native_ok = match &expect {
        Expect::Native => true,
        Expect::Check(check) => check(&native.out()),
    };
    assert!(native.code == 0 && native.err().is_empty() && native_ok, "natively: {argv:?}\n{native}");
    configs()
        .into_iter()
        .map(|cfg| {
            let root = make();
            let run = run_guest_timeout(cfg, root.path(), argv, b"", T);
            let what = format!("{cfg}\n{run}{native}");
            assert_eq!(run.code(), 0, "{what}");
            assert_eq!(run.err(), "", "{what}");
            match &expect {
                Expect::Native => assert_eq!(run.out(), native.out(), "{what}"),
                Expect::Check(check) => assert!(check(&run.out()), "{what}"),
            }
            let out = run.out();
            (root, out)
        })
        .collect()
}

#[test]
fn cmdline_environ_and_auxv_are_what_exec_gave() {
    // The program compares /proc/self/{cmdline,environ,auxv} byte for byte
    // with its argv, its environment and the auxv on its stack.
    let argv = ["/bin/procself", "args", "two words", "", "last"];
    let ok = |out: &str| out.starts_with("args ok: ") && out.lines().count() == 1;
    run_everywhere(procself_root, &argv, Expect::Check(&ok));
    // A glibc program, started by its dynamic loader (whose AT_BASE the
    // auxv then holds).
    let glibc = || {
        let root = Rootfs::system();
        root.install_with_libs(&guest_program_glibc("procself"), "/bin/procself");
        root
    };
    run_everywhere(glibc, &argv, Expect::Check(&ok));
}

#[test]
fn stat_statm_status_and_task_describe_the_process_and_its_threads() {
    run_everywhere(procself_root, &["/bin/procself", "stat"], Expect::Check(&|out| out == "stat ok\n"));
    run_everywhere(procself_root, &["/bin/procself", "threads"], Expect::Check(&|out| out == "threads ok\n"));
}

#[test]
fn maps_name_guest_files_and_nothing_of_the_host() {
    let make = || {
        let root = procself_root();
        root.write("/data/file", "some data\n", 0o644);
        root
    };
    // A file of the root (hostfs), one of a tmpfs, and the program itself:
    // each mapping must name the file by its guest path, with the device
    // and inode its stat shows.
    let script = "echo x > /tmp/x && exec /bin/procself maps /data/file /tmp/x /bin/procself";
    let ok =
        |out: &str| ["/data/file", "/tmp/x", "/bin/procself"].iter().all(|f| out.contains(&format!("maps ok {f}\n")));
    for (root, out) in run_everywhere(make, &["/bin/sh", "-c", script], Expect::Check(&ok)) {
        let host_root = root.path().to_str().unwrap();
        for leak in [host_root, "umvm-tmpfs", "memfd:", "/dev/shm/"] {
            assert!(!out.contains(leak), "the guest's maps show {leak:?}:\n{out}");
        }
        // The program's own image (copied by the loader into anonymous
        // memory) is named as its file, with its execute permission; the
        // main stack and the stub are labelled.
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.iter().any(|l| l.contains(" r-xp ") && l.ends_with(" /bin/procself")), "{out}");
        assert_eq!(lines.iter().filter(|l| l.ends_with(" [stack]")).count(), 1, "{out}");
        assert_eq!(lines.iter().filter(|l| l.ends_with(" [umvm-stub]")).count(), 1, "{out}");
    }
}

/// mountinfo's lines: (id, parent, major:minor, mount point, fs type).
fn parse_mountinfo(text: &str) -> Vec<(u32, u32, String, String, String)> {
    text.lines()
        .map(|l| {
            let (left, right) = l.split_once(" - ").unwrap_or_else(|| panic!("no ' - ' in {l:?}"));
            let f: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            assert!(f.len() >= 6 && r.len() == 3, "mountinfo line {l:?}");
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].to_string(), f[4].to_string(), r[0].to_string())
        })
        .collect()
}

#[test]
fn mountinfo_describes_the_mount_table_and_df_reads_it() {
    let script = "cat /proc/self/mountinfo; echo --; stat -c '%n %D' / /dev /proc /tmp /dev/shm; echo --; \
                  cmp /etc/mtab /proc/mounts && echo mtab ok; echo --; busybox df";
    for cfg in configs() {
        let root = Rootfs::system();
        std::fs::create_dir(root.host_path("/etc")).unwrap();
        symlink("../proc/self/mounts", &root.host_path("/etc/mtab"));
        let run = run_guest_timeout(cfg, root.path(), &["/bin/sh", "-c", script], b"", T);
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        let out = run.out();
        let parts: Vec<&str> = out.split("--\n").collect();
        assert_eq!(parts.len(), 4, "{cfg}\n{run}");
        let mounts = parse_mountinfo(parts[0]);
        let points: Vec<&str> = mounts.iter().map(|m| m.3.as_str()).collect();
        assert_eq!(points, ["/", "/dev", "/proc", "/tmp", "/dev/shm"], "{cfg}\n{run}");
        let types: Vec<&str> = mounts.iter().map(|m| m.4.as_str()).collect();
        assert_eq!(types, ["hostfs", "devtmpfs", "proc", "tmpfs", "tmpfs"], "{cfg}\n{run}");
        // Ids are unique; each parent is the mount the point lies on; the
        // root's parent is outside the table.
        let ids: BTreeSet<u32> = mounts.iter().map(|m| m.0).collect();
        assert_eq!(ids.len(), mounts.len(), "{cfg}\n{run}");
        assert!(!ids.contains(&mounts[0].1), "{cfg}\n{run}");
        let parent_of = |i: usize| mounts.iter().find(|m| m.0 == mounts[i].1).map(|m| m.3.as_str());
        assert_eq!(
            [parent_of(1), parent_of(2), parent_of(3), parent_of(4)],
            [Some("/"), Some("/"), Some("/"), Some("/dev")]
        );
        // Each mount's device is what stat shows for its root (%D: hex).
        for (m, line) in mounts.iter().zip(parts[1].lines()) {
            let (major, minor) = m.2.split_once(':').unwrap();
            let dev = libc::makedev(major.parse().unwrap(), minor.parse().unwrap());
            assert_eq!(line, format!("{} {dev:x}", m.3), "{cfg}\n{run}");
        }
        assert_eq!(parts[2], "mtab ok\n", "{cfg}\n{run}");
        // busybox df: the filesystems with blocks, with sane numbers.
        let df: Vec<Vec<&str>> = parts[3].lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
        let on: Vec<&str> = df.iter().map(|f| f[5]).collect();
        assert_eq!(on, ["/", "/tmp", "/dev/shm"], "{cfg}\n{run}");
        for f in &df {
            let n = |i: usize| f[i].parse::<u64>().unwrap();
            assert!(n(1) > 0 && n(2) + n(3) <= n(1), "{cfg}: df line {f:?}\n{run}");
        }
    }
}

#[test]
fn dev_fd_and_the_standard_streams_lead_to_the_fds() {
    // Compared with Linux (the host's /dev, bind-mounted natively, has the
    // same links): readlink, lstat, reading a pipe and a file through
    // /dev/fd/N, and a file that was unlinked while open.
    let script = r#"for f in /dev/stdin /dev/stdout /dev/stderr /dev/fd; do readlink $f; done
test -L /dev/stdin && test -p /dev/stdin && echo "stdin: a link to a pipe"
echo piped | cat /dev/stdin
echo through-fd-3 > /tmp/f; cat /dev/fd/3 3</tmp/f
exec 4</tmp/f; rm /tmp/f; cat /proc/self/fd/4; readlink /proc/self/fd/4
echo to-stdout > /dev/stdout
echo to-stderr 2>&1 > /dev/stderr
stat -L -c '%F' /dev/fd/4 /dev/stdout
"#;
    let outs = run_everywhere(Rootfs::system, &["/bin/sh", "-c", script], Expect::Native);
    let expected = "/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\n/proc/self/fd\n\
                    stdin: a link to a pipe\npiped\nthrough-fd-3\nthrough-fd-3\n/tmp/f (deleted)\n\
                    to-stdout\nto-stderr\nregular file\nfifo\n";
    assert_eq!(outs[0].1, expected);
}

#[test]
fn proc_sys_names_the_kernel() {
    let script = "cd /proc/sys/kernel && cat hostname osrelease pid_max ngroups_max; uname -nr; \
                  busybox hostname guest && cat hostname; cat /proc/sys/vm/overcommit_memory";
    let host_overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap();
    let expected = format!("umvm\n6.1.0-umvm\n4194304\n65536\numvm 6.1.0-umvm\nguest\n{host_overcommit}");
    for cfg in configs() {
        let root = Rootfs::system();
        let run = run_guest_timeout(cfg, root.path(), &["/bin/sh", "-c", script], b"", T);
        assert_eq!(run.out(), expected, "{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}

#[test]
fn busybox_ps_top_free_uptime_and_df_see_the_guest() {
    let script = "sleep 5 & until read c < /proc/$!/comm && [ $c = sleep ]; do :; done; \
                  busybox ps -o pid,ppid,vsz,rss,comm; echo --; busybox top -b -n1; echo --; busybox free; echo --; \
                  busybox uptime";
    for cfg in configs() {
        let root = Rootfs::system();
        let run = run_guest_timeout(cfg, root.path(), &["/bin/sh", "-c", script], b"", T);
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        let out = run.out();
        let parts: Vec<&str> = out.split("--\n").collect();
        assert_eq!(parts.len(), 4, "{cfg}\n{run}");
        // ps: sh (init), sleep, and ps itself, with memory sizes.
        let ps: Vec<Vec<&str>> = parts[0].lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
        let pids: Vec<(&str, &str, &str)> = ps.iter().map(|f| (f[0], f[1], f[4])).collect();
        assert_eq!(pids, [("1", "0", "sh"), ("2", "1", "sleep"), ("3", "1", "busybox")], "{cfg}\n{run}");
        assert!(ps.iter().all(|f| f[2] != "0" && f[3] != "0"), "ps shows a zero size\n{cfg}\n{run}");
        // top: the same processes, and memory that adds up.
        let top = parts[1];
        assert!(top.starts_with("Mem: "), "{cfg}\n{run}");
        let top_pids: BTreeSet<&str> = top
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("PID"))
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(top_pids, BTreeSet::from(["1", "2", "4"]), "{cfg}\n{run}");
        // free: 256 MiB in all (umvm's default), some used, the rest free.
        let mem: Vec<u64> =
            parts[2].lines().nth(1).unwrap().split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
        assert_eq!(mem[0], 256 * 1024, "{cfg}\n{run}");
        assert!(mem[1] > 0 && mem[2] > 0 && mem[1] + mem[2] <= mem[0], "{cfg}\n{run}");
        assert!(parts[3].contains(" up ") && parts[3].contains("load average: "), "{cfg}\n{run}");
    }
}

// ---------------------------------------------------------------------------
// Debian: bash, procps and coreutils

/// A guest's stderr without umvm's own notes about syscalls it does not
/// implement (Debian's programs try a socket to nscd, and fadvise).
fn guest_err(run: &Run) -> String {
    run.err().lines().filter(|l| !l.contains("WARN unimplemented syscall")).map(|l| format!("{l}\n")).collect()
}

/// Runs `bash -c script` natively and in every configuration on the shared
/// Debian image (the scripts only read it) and returns the native run and
/// the guests' runs; None without the image.
fn debian(script: &str) -> Option<(NativeRun, Vec<(Config, Run)>)> {
    let root = debian_root()?;
    let argv = ["/bin/bash", "-c", script];
    let native = run_native_root(root, &argv, b"", T);
    let runs = configs().into_iter().map(|cfg| (cfg, run_guest_timeout(cfg, root, &argv, b"", T))).collect();
    Some((native, runs))
}

#[test]
fn bash_process_substitution_reads_and_writes_dev_fd() {
    let script = r#"cat <(echo x)
diff <(echo a; echo b) <(printf 'a\nb\n') && echo same
while read l; do echo "got $l"; done < <(printf '1\n2\n')
echo y > >(cat); wait $!
ld=/lib64/ld-linux-x86-64.so.2; $ld /bin/readlink /proc/self/exe; readlink /proc/self/exe
"#;
    let Some((native, runs)) = debian(script) else { return };
    assert_eq!(native.code, 0, "{native}");
    for (cfg, run) in runs {
        assert_eq!(run.out(), native.out(), "{cfg}\n{run}{native}");
        assert_eq!(guest_err(&run), native.err(), "{cfg}\n{run}{native}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}

#[test]
fn procps_lists_exactly_the_guests_processes() {
    // The background sleep is waited for (until it has exec'd) with
    // builtins only, and ps is not the script's last command (which bash
    // would exec), so that the guest's pids are 1 (bash), 2 (sleep) and 3
    // (ps). Natively, in a fresh pid namespace, the set-up's commands took
    // a few pids first.
    let wait = "sleep 5 & until read c < /proc/$!/comm && [ $c = sleep ]; do :; done";
    let Some((native, runs)) = debian(&format!("{wait}; ps -e -o pid=,ppid=,comm=; exit")) else { return };
    // (Column widths follow pid_max, which is the host's natively.)
    let words = |s: String| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let n = words(native.out());
    let next = |pid: &str| (pid.parse::<i32>().unwrap() + 1).to_string();
    assert!(n.len() == 9 && n[..3] == ["1", "0", "bash"] && n[4..6] == ["1", "sleep"], "{native}");
    assert!(n[6] == next(&n[3]) && n[7..] == ["1", "ps"], "{native}");
    for (cfg, run) in runs {
        assert_eq!(words(run.out()), ["1", "0", "bash", "2", "1", "sleep", "3", "1", "ps"], "{cfg}\n{run}{native}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
    // ps aux and top: the same three, with sizes and sane totals.
    let script = format!("{wait}; ps aux; echo --; top -b -n1; echo --; free; echo --; uptime; echo --; df");
    let Some((native, runs)) = debian(&script) else { return };
    assert_eq!(native.code, 0, "{native}");
    for (cfg, run) in runs {
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{what}");
        assert_eq!(guest_err(&run), "", "{what}");
        let out = run.out();
        let parts: Vec<&str> = out.split("--\n").collect();
        assert_eq!(parts.len(), 5, "{what}");
        let aux: Vec<Vec<&str>> = parts[0].lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
        let pids: Vec<&str> = aux.iter().map(|f| f[1]).collect();
        assert_eq!(pids, ["1", "2", "3"], "{what}");
        // USER PID %CPU %MEM VSZ RSS
        assert!(aux.iter().all(|f| f[0] == "root" && f[4] != "0" && f[5] != "0"), "{what}");
        let top = parts[1];
        assert!(top.contains("Tasks:   3 total"), "{what}");
        let top_pids: BTreeSet<&str> = top
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("PID"))
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(top_pids, BTreeSet::from(["1", "2", "4"]), "{what}");
        let mem: Vec<u64> =
            parts[2].lines().nth(1).unwrap().split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
        // total used free shared buff/cache available
        assert_eq!(mem[0], 256 * 1024, "{what}");
        assert!(mem[1] > 0 && mem[2] > 0 && mem[1] + mem[2] <= mem[0], "{what}");
        assert!(parts[3].contains(" up ") && parts[3].contains("load average: "), "{what}");
        let df: Vec<&str> = parts[4].lines().skip(1).filter_map(|l| l.split_whitespace().last()).collect();
        assert_eq!(df, ["/", "/tmp", "/dev/shm"], "{what}");
    }
}

#[test]
fn glibc_and_util_linux_read_proc() {
    // getconf reads /proc/sys/kernel/ngroups_max; findmnt parses
    // mountinfo into a tree; a dynamic program's maps show its libraries
    // by their guest paths.
    let script = "getconf NGROUPS_MAX; findmnt -n -l -o TARGET,FSTYPE; \
                  grep -c ' /usr/lib/x86_64-linux-gnu/libc.so.6$' /proc/self/maps; cat /proc/self/maps";
    let Some((native, runs)) = debian(script) else { return };
    assert_eq!(native.code, 0, "{native}");
    let host_root = debian_root().unwrap().to_str().unwrap();
    for (cfg, run) in runs {
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{what}");
        let out = run.out();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], native.out().lines().next().unwrap(), "{what}{native}");
        let mounts: Vec<Vec<&str>> = lines[1..6].iter().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(
            mounts,
            [["/", "hostfs"], ["/dev", "devtmpfs"], ["/proc", "proc"], ["/tmp", "tmpfs"], ["/dev/shm", "tmpfs"]],
            "{what}"
        );
        assert_ne!(lines[6], "0", "{what}");
        assert!(!out.contains(host_root), "the guest's maps show the host path {host_root}\n{what}");
    }
}
