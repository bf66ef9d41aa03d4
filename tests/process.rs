//! Processes, threads and signals, as musl C programs (tests/guest/*.c) see
//! them when they run as the guest's init: pthreads, fork/vfork/exec and
//! wait, signal handlers, masks and alternate stacks, EINTR and SA_RESTART,
//! poll/select/epoll, orphans and zombies, process ids and groups; and `#!`
//! scripts.
//!
//! Every program prints a deterministic report. The test first runs it
//! natively, chrooted into an identical tree as pid 1 of a new pid namespace
//! (run_native_root), and checks the report there, so that an expectation
//! that is wrong on Linux fails as such; then in the guest, in every
//! configuration.

mod common;

use common::*;
use std::time::Duration;

/// These programs end in under two seconds natively.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `argv` (guest paths) on `root` natively and in every configuration;
/// asserts stdout is `expected`, stderr empty, and the exit status `code`.
fn check_on(root: &Rootfs, argv: &[&str], expected: &str, code: i32) {
    let native = run_native_root(root.path(), argv, b"", PROGRAM_TIMEOUT);
    assert_eq!(native.out(), expected, "native stdout is not what the test expects: {argv:?}\n{native}");
    assert_eq!(native.err(), "", "native stderr is not empty: {argv:?}\n{native}");
    assert_eq!(native.code, code, "native exit status is not what the test expects: {argv:?}\n{native}");

    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), argv, b"", PROGRAM_TIMEOUT);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), expected, "stdout; {what}");
        assert_eq!(run.err(), "", "stderr; {what}");
        assert_eq!(run.code(), code, "exit status; {what}");
    }
}

/// Installs guest program `name` on a system root and checks it (check_on)
/// run without arguments.
fn check_program(name: &str, expected: &str) {
    let root = Rootfs::system();
    let prog = root.install(name);
    check_on(&root, &[&prog], expected, 0);
}

#[test]
fn threads_share_work_under_a_mutex_condvar_and_barrier() {
    check_program(
        "threads",
        "ready: 8 threads\n\
         round 0: total=160000 serial=1\n\
         round 1: total=320000 serial=1\n\
         round 2: total=480000 serial=1\n\
         counter=480000 (expected 480000)\n\
         join values sum=828\n\
         threads share the pid: yes\n\
         thread ids distinct: yes\n\
         thread ids small: yes\n\
         main tid == pid: yes\n\
         main tls intact: yes\n\
         failures=0\n",
    );
}

#[test]
fn two_hundred_children_are_reaped_with_their_statuses() {
    check_program(
        "children",
        "forked 200 children, pids distinct: yes\n\
         reaped 200, statuses right: 200\n\
         vfork: shared=1234 (child wrote before parent resumed)\n\
         vfork child: exited=1 status=42\n\
         exec busybox true: exited=1 status=0\n\
         exec busybox false: exited=1 status=1\n\
         exec missing: exited=1 status=127\n\
         failures=0\n",
    );
}

#[test]
fn signal_handlers_masks_altstack_and_sigchld() {
    check_program(
        "signals",
        "kill(getpid(), SIGUSR1): handled 1 time(s), si_code=SI_USER, si_pid is mine: yes\n\
         raise(SIGUSR2): handled 1 time(s), si_code=SI_TKILL\n\
         blocked: handled 1 time(s), pending: yes\n\
         unblocked: handled 2 time(s), pending: no\n\
         sigtimedwait: SIGUSR1, si_code=SI_USER, si_pid is mine: yes, handled 2 time(s)\n\
         sigtimedwait with nothing pending: -1 EAGAIN\n\
         sigqueue(SIGUSR2): handled 2 time(s) in all, si_code=SI_QUEUE\n\
         sigaltstack: handler local on the alternate stack: yes, SS_ONSTACK in handler: yes\n\
         sigaltstack after the handler: SS_ONSTACK=0\n\
         SIGCHLD after exit: si_pid is fork's: yes, si_code=CLD_EXITED, si_status=5\n\
         waitpid: exited=1 status=5\n\
         SIGCHLD after SIGTERM: si_pid is fork's: yes, si_code=CLD_KILLED, si_status=15\n\
         waitpid: signaled=1 termsig=15\n\
         SIGUSR1 from a child: si_pid is fork's: yes, si_code=SI_USER\n\
         failures=0\n",
    );
}

#[test]
fn a_signal_interrupts_a_blocking_read_or_restarts_it() {
    check_program(
        "eintr",
        "without SA_RESTART: read=-1 errno=EINTR alarms=1\n\
         with SA_RESTART: read=4 data=data errno=none alarms=2\n\
         writer: exited=1 status=0\n\
         nanosleep: -1 errno=EINTR alarms=3 remaining>8s: yes\n\
         ignored signal: read=4 data=late errno=none\n\
         failures=0\n",
    );
}

#[test]
fn poll_select_and_epoll_on_pipes() {
    let mut expected = String::from(
        "poll empty pipe, timeout 0: 0\n\
         poll empty pipe, timeout 50ms: 0\n\
         poll write end: 1 OUT\n\
         poll, child writes: 1 IN\n\
         poll closed fd: 1 NVAL\n\
         poll after last writer closed: 1 HUP\n\
         select empty pipe, timeout 50ms: 0, read set: 0\n\
         select write end: 1, write set: 1\n\
         select, child writes: 1, read set: 1\n\
         pselect empty pipe, timeout 20ms: 0\n",
    );
    // Level-triggered reports a readable pipe until it is drained; edge-
    // triggered only when new data arrives.
    for (mode, again, half) in [("level", 1, 1), ("edge", 0, 0)] {
        expected += &format!(
            "epoll {mode}: empty pipe: 0\n\
             epoll {mode}: empty pipe, timeout 30ms: 0\n\
             epoll {mode}: child writes: 1 IN data=0x1234\n\
             epoll {mode}: again without reading: {again}\n\
             epoll {mode}: after reading 1 of 2 bytes: {half}\n\
             epoll {mode}: after reading everything: 0\n\
             epoll {mode}: new data: 1\n\
             epoll {mode}: write end: 1 OUT data=7\n\
             epoll {mode}: last writer closed: 1 HUP\n"
        );
    }
    expected += "failures=0\n";
    check_program("polls", &expected);
}

#[test]
fn orphans_and_zombies_are_reparented_to_init_and_reaped() {
    check_program(
        "orphan",
        "init: pid=1\n\
         parent: zombie child exited with 11 (left unreaped); exiting\n\
         orphan: ppid was its parent's pid: yes; re-parented, ppid=1\n\
         init: reaped the parent: yes, status 3\n\
         init: reaped the zombie by its pid, status 11\n\
         init: reaped the orphan by its pid, status 12\n\
         init: nothing left: ECHILD\n",
    );
}

#[test]
fn process_ids_sessions_and_groups() {
    check_program(
        "ids",
        "init: pid=1 ppid=0 gettid==getpid: yes\n\
         child: getpid()==fork's return: yes, != parent's: yes, small (<1000): yes, getppid()==parent's pid: yes\n\
         child: grandchild ids right: yes\n\
         setsid child: not a leader before: yes, setsid returned its pid: yes, getsid(0): yes, getpgid(0): yes\n\
         setsid child: setsid again: EPERM\n\
         setsid child: setpgid(0, 0) as session leader: EPERM\n\
         parent: setpgid(child, child): 0\n\
         setpgid child: setpgid(0, 0): 0, getpgid(0)==pid: yes, getpgrp()==pid: yes, session kept: yes\n\
         parent: getpgid(child)==child: yes, getsid(child)==mine: yes\n\
         parent: second child joins the group: 0, getpgid: yes\n\
         parent: kill(-pgrp, SIGTERM): 0, both killed: yes\n\
         getpgid(no such pid): ESRCH\n\
         getsid(no such pid): ESRCH\n\
         kill(no such pid, 0): ESRCH\n\
         setpgid(no such pid): ESRCH\n",
    );
}

// ---------------------------------------------------------------------------
// `#!` scripts, run directly as init (execve of a script needs no fork).
// Their interpreter is /bin/showargs, which prints the argv it got.

/// The report of showargs for `argv`.
fn showargs(argv: &[&str]) -> String {
    let mut s = format!("argc={}\n", argv.len());
    for (i, a) in argv.iter().enumerate() {
        s += &format!("argv[{i}]=\"{a}\"\n");
    }
    s
}

#[test]
fn shebang_passes_the_interpreter_argument_and_script_path() {
    let root = Rootfs::system();
    root.install("showargs");
    root.write("/s/plain", "#!/bin/showargs\necho not a shell\n", 0o755);
    // Linux passes everything after the interpreter as one argument, with
    // surrounding blanks removed and inner ones kept.
    root.write("/s/onearg", "#!/bin/showargs -x  y \t\n", 0o755);
    root.write("/s/blanks", "#! \t/bin/showargs\tone\n", 0o755);
    // No newline at all: the line ends at the end of the file.
    root.write("/s/nonewline", "#!/bin/showargs last", 0o755);

    check_on(&root, &["/s/plain", "a", "b c"], &showargs(&["/bin/showargs", "/s/plain", "a", "b c"]), 0);
    check_on(&root, &["/s/onearg", "z"], &showargs(&["/bin/showargs", "-x  y", "/s/onearg", "z"]), 0);
    check_on(&root, &["/s/blanks"], &showargs(&["/bin/showargs", "one", "/s/blanks"]), 0);
    check_on(&root, &["/s/nonewline"], &showargs(&["/bin/showargs", "last", "/s/nonewline"]), 0);
}

#[test]
fn shebang_scripts_run_by_busybox_sh() {
    let root = Rootfs::system();
    // An interpreter argument that changes the shell's behaviour.
    root.write("/s/strict", "#!/bin/sh -e\necho \"strict: $0 $*\"\nfalse\necho not reached\n", 0o755);
    // The argument selects busybox's applet.
    root.write("/s/bb", "#!/bin/busybox sh\necho \"via busybox: $0 $1\"\nexit 6\n", 0o755);
    check_on(&root, &["/s/strict", "a", "b"], "strict: /s/strict a b\n", 1);
    check_on(&root, &["/s/bb", "arg"], "via busybox: /s/bb arg\n", 6);
}

/// Writes /s/n1 .. /s/nN, where n1's interpreter is /bin/showargs and each
/// nK's is n(K-1), each with argument aK.
fn nested_scripts(root: &Rootfs, n: usize) {
    root.install("showargs");
    root.write("/s/n1", "#!/bin/showargs a1\n", 0o755);
    for k in 2..=n {
        root.write(&format!("/s/n{k}"), format!("#!/s/n{} a{k}\n", k - 1), 0o755);
    }
}

#[test]
fn shebang_interpreters_nest_up_to_linux_depth() {
    // Linux follows five levels of `#!` before the ELF interpreter: the
    // argv grows by (argument, script) at each level.
    let root = Rootfs::system();
    nested_scripts(&root, 5);
    let mut want = vec!["/bin/showargs"];
    let names: Vec<String> = (1..=5).flat_map(|k| [format!("a{k}"), format!("/s/n{k}")]).collect();
    want.extend(names.iter().map(String::as_str));
    want.push("x");
    check_on(&root, &["/s/n5", "x"], &showargs(&want), 0);
}

#[test]
fn shebang_nesting_beyond_linux_depth_fails_with_eloop() {
    // One level more: execve fails with ELOOP, which the shell reports
    // (exec, so no fork is needed).
    let root = Rootfs::system();
    nested_scripts(&root, 6);
    let argv = ["/bin/sh", "-c", "exec /s/n6 x"];
    let native = run_native_root(root.path(), &argv, b"", PROGRAM_TIMEOUT);
    assert_eq!(native.err(), "/bin/sh: exec: line 0: /s/n6: Too many levels of symbolic links\n", "{native}");
    assert_eq!(native.code, 127, "{native}");
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &argv, b"", PROGRAM_TIMEOUT);
        assert_eq!(run.out(), "", "{cfg}\n{run}");
        assert_eq!(run.err(), native.err(), "{cfg}\n{run}");
        assert_eq!(run.code(), 127, "{cfg}\n{run}");
    }
}

#[test]
fn job_control_stops_and_continues_children_as_wait_reports() {
    check_program("jobctl", "stopped: 1 1 sig=19\ncontinued: 1 1\ntstp: 1 sig=20\nterminated: 1 sig=15\n");
}

#[test]
fn getrusage_wait4_and_times_report_real_cpu_time() {
    check_program(
        "usage",
        "wait4 rusage >= 0.25s: yes\nRUSAGE_CHILDREN >= 0.25s: yes\n\
         times children >= 0.25s: yes, clock advances: yes\nRUSAGE_SELF >= 0.15s: yes, maxrss > 0: yes\n",
    );
}

#[test]
fn eventfd_counts_blocks_and_polls() {
    check_program(
        "eventfd",
        "initial: 3\npoll: 1 in=1 out=1\nsum: 7\nempty non-blocking: EAGAIN\nsemaphore: 1 1 EAGAIN\n\
         write max: EINVAL\nblocked child read: 7\n",
    );
}

#[test]
fn timerfd_expires_counts_periods_and_polls() {
    check_program(
        "timerfd",
        "one-shot: 1, waited >= 40ms: yes\ndisarmed after expiry: yes\nnot yet: EAGAIN\n\
         periodic: >= 4 periods: yes\npoll: 1 in=1\nabsolute: 1, waited >= 20ms: yes\n",
    );
}

#[test]
fn file_mappings_are_shared_private_and_written_back() {
    check_program(
        "filemap",
        "mapped 1 1\nparent sees child\nchild sees parent\nprivate Phild shared child\nfile child parent\n\
         rdonly shared write: Permission denied\nzero 0\nshared zero page 42\n",
    );
}

/// Credentials cannot be compared natively: run_native_root's user
/// namespace maps uid 0 alone. The expectations follow kernel/sys.c.
#[test]
fn credentials_change_as_linux_allows() {
    let root = Rootfs::system();
    let prog = root.install("creds");
    let expected = "setgroups = 0\ngetgroups(0) = 3\ngetgroups(1) = Invalid argument\nsetresgid(100, 100, 0) = 0\n\
         setresuid(1000, 1000, 0) = 0\nafter setresuid: uid 1000 1000 0 gid 100 100 0 groups 10 20 30\n\
         setgroups unprivileged = Operation not permitted\nsetuid(0) via saved = 0\n\
         after setuid(0): uid 1000 0 0 gid 100 100 0 groups 10 20 30\nsetreuid(-1, 1000) = 0\n\
         after setreuid: uid 1000 1000 0 gid 100 100 0 groups 10 20 30\nsetfsuid(5) returns 1000\n\
         setfsuid(-1) returns 1000\nseteuid(0) back = 0\nsetuid(2000) as root = 0\n\
         after setuid(2000): uid 2000 2000 2000 gid 100 100 0 groups 10 20 30\nsetuid(0) now = Operation not permitted\n\
         setresuid(1, 1, 1) = Operation not permitted\n";
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &[&prog], b"", PROGRAM_TIMEOUT);
        assert_eq!(run.out(), expected, "{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}

#[test]
fn file_locks_conflict_between_processes_and_memfd_is_shared() {
    check_program(
        "filelocks",
        "parent setlk 0\nchild flock nb: Resource temporarily unavailable\nchild getlk: write-locked at 0 len 5\n\
         child setlk: Resource temporarily unavailable\nchild setlk elsewhere: got it\nchild flock waited: 1\n\
         child setlkw waited: 1\nmemfd: from child\nmemfd read: from child\ncopied 5: 34567, in_off 8\n",
    );
}

#[test]
fn absent_subsystems_answer_as_linux_without_them() {
    let root = Rootfs::system();
    let prog = root.install("probes");
    let expected = "socket: Address family not supported by protocol\n\
        socketpair: Address family not supported by protocol\ngetpeername(0): Not a socket\n\
        getpeername(99): Bad file descriptor\nlgetxattr /: Not supported\ngetxattr /nope: No such file or directory\n\
        listxattr /: Not supported\npersonality 0\nset ADDR_NO_RANDOMIZE: old 0\npersonality 0x40000\n\
        sched_getaffinity: ok\ncpus >= 1: 1\ngetcpu: ok\nnode 0\nfadvise pipe: Invalid seek\nnice 0\n\
        setpriority 5: ok\nnice 5\n";
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &[&prog], b"", PROGRAM_TIMEOUT);
        assert_eq!(run.out(), expected, "{cfg}\n{run}");
    }
}

#[test]
fn a_subreaper_adopts_orphans_and_pdeathsig_reaches_them() {
    check_program(
        "reaper",
        "subreaper before: 0\nsubreaper after: 1\nchild subreaper: 0\n\
         grandchild: signal 10 from its parent 1, adopted by the subreaper 1\ngrandchild: pdeathsig was 10\n\
         child exited 3\nreaped the grandchild: 1, status 5\nno more children: 1\npdeathsig 99: -1 Invalid argument\n\
         capbset 0: 1\ncapbset 99: -1 Invalid argument\n",
    );
}

#[test]
fn capabilities_follow_capset_the_bounding_set_and_execve() {
    check_program(
        "caps",
        "root: eff 1ffffffffff prm 1ffffffffff inh 000000000\n\
        by pid: eff 1ffffffffff prm 1ffffffffff inh 000000000\n\
        \x20 CapInh:\t0000000000000000\n\
        \x20 CapPrm:\t000001ffffffffff\n\
        \x20 CapEff:\t000001ffffffffff\n\
        \x20 CapBnd:\t000001ffffffffff\n\
        \x20 CapAmb:\t0000000000000000\n\
        v1 = 0, low word ffffffff, second record untouched: 1\n\
        v2 = 0, high word 1ff\n\
        bad version = Invalid argument, version now 20080522\n\
        bad version, NULL data = 0, version now 20080522\n\
        good version, NULL data = 0\n\
        bad header = Bad address\n\
        bad data = Bad address\n\
        pid -1 = Invalid argument\n\
        no such pid = No such process\n\
        capset bad version = Invalid argument, version now 20080522\n\
        capset bad data = Bad address\n\
        drop CAP_CHOWN from effective = 0\n\
        raise it again = 0\n\
        permitted = CAP_SYS_CHROOT only = 0\n\
        permitted back up = Operation not permitted\n\
        effective beyond permitted = Operation not permitted\n\
        inheritable beyond permitted = Operation not permitted\n\
        inheritable within = 0\n\
        capset of another pid = Operation not permitted\n\
        child's: eff 000000000 prm 000040000 inh 000040000\n\
        bounding has CAP_SYS_CHROOT: 1, cap 64: Invalid argument\n\
        effective emptied = 0\n\
        after exec: eff 1ffffffffff prm 1ffffffffff inh 000000000\n\
        \x20 keepcaps 0, bounding has CAP_SYS_CHROOT: 1\n\
        PR_CAPBSET_DROP without CAP_SETPCAP = Operation not permitted\n\
        PR_CAPBSET_DROP = 0\n\
        after exec: eff 1fffffbffff prm 1fffffbffff inh 000000000\n\
        \x20 keepcaps 0, bounding has CAP_SYS_CHROOT: 0\n",
    );
}

/// What changes of user id do to the capabilities. Not compared with a
/// native run: its user namespace maps only uid 0. (Run natively as real
/// root, it prints the same but for the sets' values where the host's
/// bounding set lacks some capabilities.)
#[test]
fn leaving_uid_0_drops_capabilities_unless_keepcaps() {
    let root = Rootfs::system();
    let prog = root.install("caps");
    let expected = "setuid(1000) = 0\n\
        after setuid: eff 000000000 prm 000000000 inh 000000000\n\
        chroot(/) = Operation not permitted\n\
        capset back = Operation not permitted\n\
        seteuid(1000) = 0\n\
        after seteuid(1000): eff 000000000 prm 1ffffffffff inh 000000000\n\
        seteuid(0) = 0\n\
        after seteuid(0): eff 1ffffffffff prm 1ffffffffff inh 000000000\n\
        after setfsuid(1000): eff 1fef7fffde0 prm 1ffffffffff inh 000000000\n\
        after setfsuid(0): eff 1ffffffffff prm 1ffffffffff inh 000000000\n\
        PR_SET_KEEPCAPS = 0\n\
        PR_SET_KEEPCAPS 2 = Invalid argument\n\
        setresuid(1000) = 0\n\
        kept: eff 000000000 prm 1ffffffffff inh 000000000\n\
        keepcaps 1\n\
        raise CAP_SYS_CHROOT = 0\n\
        chroot(/) as uid 1000 = 0\n\
        after exec: eff 000000000 prm 000000000 inh 000000000\n\
        \x20 keepcaps 0, bounding has CAP_SYS_CHROOT: 1\n";
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &[&prog, "setuid"], b"", PROGRAM_TIMEOUT);
        assert_eq!(run.out(), expected, "{cfg}\n{run}");
        assert_eq!(run.err(), "", "{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}

#[test]
fn fifo_opened_read_write_is_both_ends_and_never_waits() {
    check_program(
        "fifo_rdwr",
        "mkfifo = 0\n\
        open O_RDWR alone = 0\n\
        empty: poll = 1, OUT\n\
        write = 2\n\
        FIONREAD = 2\n\
        with data: poll = 1, IN OUT\n\
        epoll_ctl = 0\n\
        epoll = 1, IN OUT\n\
        same fd: read = \"hi\"\n\
        open O_RDONLY = 0\n\
        open O_WRONLY|O_NONBLOCK = 0\n\
        write other end = 2\n\
        O_RDONLY end: read = \"xy\"\n\
        write rw end = 4\n\
        O_RDONLY end: read = \"to r\"\n\
        waiting: poll = 1, IN\n\
        rw end: read = \"late\"\n\
        child status = 0\n\
        drained: read = Resource temporarily unavailable\n\
        open O_WRONLY|O_NONBLOCK after close = No such device or address\n\
        pipe = 0\n\
        reopen O_RDWR = 0\n\
        write reopened = 2\n\
        pipe read end: read = \"ab\"\n\
        write reopened again = 2\n\
        reopened: read = \"cd\"\n\
        reopened empty: poll = 1, OUT\n\
        read end, writer left: read = Resource temporarily unavailable\n\
        read end, no writer: read = \"\"\n",
    );
}

#[test]
fn splice_tee_and_vmsplice_move_data_between_pipes_files_and_memory() {
    check_program(
        "splice",
        "pipe -> file at offset 0, 5 = 5\n\
        \x20 offset now 5, position 0\n\
        \x20 file: \"hello\"\n\
        pipe -> file at its position, 100 = 6\n\
        \x20 position now 6\n\
        \x20 file: \" world\"\n\
        file at offset 1 -> pipe, 4 = 4\n\
        \x20 offset now 5\n\
        \x20 pipe: \"worl\"\n\
        file at its position 2 -> pipe, 100 = 4\n\
        \x20 position now 6\n\
        \x20 pipe: \"orld\"\n\
        file past its end -> pipe = 0\n\
        pipe -> pipe, 4 = 4\n\
        \x20 source: \"ef\"\n\
        \x20 destination: \"abcd\"\n\
        tee, 10 = 3\n\
        \x20 tee source: \"xyz\"\n\
        \x20 tee destination: \"xyz\"\n\
        /proc/self/comm -> pipe = Invalid argument\n\
        /proc/sys/kernel/ngroups_max -> pipe = 6\n\
        \x20 pipe: \"65536$\"\n\
        /dev/zero -> pipe, 3 = 3\n\
        \x20 pipe: \"000\"\n\
        pipe -> /dev/null = 4\n\
        \x20 pipe: Resource temporarily unavailable\n\
        /dev/null -> pipe = Invalid argument\n\
        pipe -> /dev/full = Invalid argument\n\
        \x20 pipe: \"full\"\n\
        100000-byte file -> empty pipe = 65536\n\
        full pipe -> file = 65536\n\
        pipe (filled later) -> file = 4\n\
        \x20 file: \"lateld\"\n\
        len 0, bad fds = 0\n\
        unknown flag = Invalid argument\n\
        bad fd = Bad file descriptor\n\
        no pipe = Invalid argument\n\
        offset for a pipe = Invalid seek\n\
        same pipe = Invalid argument\n\
        offset not readable = Bad address\n\
        negative offset = Invalid argument\n\
        write end as source = Bad file descriptor\n\
        O_APPEND destination = Invalid argument\n\
        \x20 pipe: \"a\"\n\
        empty pipe, SPLICE_F_NONBLOCK = Resource temporarily unavailable\n\
        eventfd -> pipe = Invalid argument\n\
        directory -> pipe = Invalid argument\n\
        tee file = Invalid argument\n\
        tee same pipe = Invalid argument\n\
        tee unknown flag = Invalid argument\n\
        tee len 0 = 0\n\
        tee empty, SPLICE_F_NONBLOCK = Resource temporarily unavailable\n\
        vmsplice into pipe = 9\n\
        \x20 pipe: \"vmspliced\"\n\
        vmsplice out of pipe = 4\n\
        \x20 got \"back\"\n\
        vmsplice on a file = Bad file descriptor\n\
        vmsplice bad iovec = Bad address\n\
        vmsplice unknown flag = Invalid argument\n\
        vmsplice empty = 0\n\
        vmsplice empty pipe, nonblocking = Resource temporarily unavailable\n\
        file -> pipe without reader = Broken pipe\n\
        pipe -> pipe without reader = Broken pipe\n\
        vmsplice without reader = Broken pipe\n\
        \x20 pipe: \"z\"\n\
        pipe without writer -> file = 0\n",
    );
}

#[test]
fn sigaction_refuses_bad_input_as_linux_does() {
    check_program(
        "sigaction_errors",
        "size 4: Invalid argument\nsignal 0: Invalid argument\nsignal 65: Invalid argument\n\
         SIGKILL: Invalid argument\nSIGSTOP query: ok\nbad act: Bad address\nafter bad act: default\n\
         bad oldact: Bad address\nafter bad oldact: installed\nraised\n",
    );
}
