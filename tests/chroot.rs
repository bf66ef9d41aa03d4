//! chroot(2): a process's root directory, as a C program (tests/guest/
//! chroot.c), busybox's `chroot` applet and Debian's coreutils `chroot`
//! see it. Each is run natively first, chrooted into an identical tree in
//! a user namespace (run_native_root), so that an expectation wrong on
//! Linux fails as such; then in the guest, in every configuration.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// These programs end in well under a second natively.
const T: Duration = Duration::from_secs(20);

/// Runs `argv` on `root` natively and in every configuration; asserts
/// stdout is `expected`, stderr `stderr`, and the exit status `code`.
fn check_on(root: &std::path::Path, argv: &[&str], expected: &str, stderr: &str, code: i32) {
    let native = run_native_root(root, argv, b"", T);
    assert_eq!(native.out(), expected, "native stdout is not what the test expects: {argv:?}\n{native}");
    assert_eq!(native.err(), stderr, "native stderr is not what the test expects: {argv:?}\n{native}");
    assert_eq!(native.code, code, "native exit status is not what the test expects: {argv:?}\n{native}");
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root, argv, b"", T);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), expected, "stdout; {what}");
        assert_eq!(run.err(), stderr, "stderr; {what}");
        assert_eq!(run.code(), code, "exit status; {what}");
    }
}

/// A system root with a jail: /etc/hello says "outside", /jail/etc/hello
/// "inside", /jail/sub/hello "sub"; /jail/abs -> /etc, /jail/up ->
/// ../../.., /jail/loop -> loop; the guest program `chroot` in /bin and in
/// /jail/bin, and linked dynamically as /jail/bin/dyn with musl's loader
/// in /jail/lib only.
fn jail() -> Rootfs {
    let root = Rootfs::system();
    root.install("chroot");
    root.write("/etc/hello", "outside\n", 0o644);
    root.write("/jail/etc/hello", "inside\n", 0o644);
    root.write("/jail/sub/hello", "sub\n", 0o644);
    root.write("/jail/bin/chroot", fs::read(guest_program("chroot")).unwrap(), 0o755);
    root.write("/jail/bin/dyn", fs::read(guest_program_dynamic("chroot")).unwrap(), 0o755);
    root.write("/jail/lib/ld-musl-x86_64.so.1", fs::read("/lib/ld-musl-x86_64.so.1").unwrap(), 0o755);
    symlink("/etc", &root.host_path("/jail/abs"));
    symlink("../../..", &root.host_path("/jail/up"));
    symlink("loop", &root.host_path("/jail/loop"));
    root
}

#[test]
fn chroot_confines_paths_symlinks_and_dotdot_and_keeps_the_cwd() {
    let root = jail();
    let expected = "chroot(NULL) = Bad address\n\
        chroot(bad pointer) = Bad address\n\
        chroot(\"\") = No such file or directory\n\
        chroot(/nonexistent) = No such file or directory\n\
        chroot(/etc/hello) = Not a directory\n\
        chroot(/etc/hello/x) = Not a directory\n\
        chroot(/jail/loop) = Symbolic link loop\n\
        drop CAP_SYS_CHROOT = 0\n\
        chroot(/jail) = Operation not permitted\n\
        chroot(/nonexistent) = No such file or directory\n\
        chroot(/etc/hello) = Not a directory\n\
        unprivileged child: exited=1 status=0\n\
        child: chroot(/jail) = 0\n\
        \x20 getcwd after chroot: (unreachable)...\n\
        \x20 /etc/hello: inside\n\
        \x20 /../../etc/hello: inside\n\
        \x20 /abs/hello: inside\n\
        \x20 /up/etc/hello: inside\n\
        \x20 etc/hello: outside\n\
        \x20 jail/abs/hello: inside\n\
        \x20 proc/self/root/etc/hello: inside\n\
        \x20 readlink proc/self/root: /\n\
        \x20 readlink proc/self/fd/N (/etc/hello): /etc/hello\n\
        \x20 proc/self/mounts: 0 lines\n\
        \x20 proc/self/mountinfo: 0 lines\n\
        child: chdir(/) = 0\n\
        \x20 getcwd after chdir(/): / (2)\n\
        child: chdir(..) = 0\n\
        \x20 getcwd after chdir(..): / (2)\n\
        \x20 etc/hello: inside\n\
        parent:\n\
        \x20 readlink /proc/CHILD/root: /jail\n\
        \x20 readlink /proc/CHILD/cwd: /jail\n\
        \x20 /proc/CHILD/root/etc/hello: inside\n\
        child: exited=1 status=0\n\
        chdir(/jail) = 0\n\
        chroot(.) = 0\n\
        \x20 getcwd after chroot(.): / (2)\n\
        \x20 /etc/hello: inside\n\
        grandchild: exited=1 status=0\n\
        static: exec'd in the root\n\
        \x20 getcwd static: / (2)\n\
        \x20 /etc/hello: inside\n\
        \x20 /../etc/hello: inside\n\
        static exec: exited=1 status=0\n\
        dynamic: exec'd in the root\n\
        \x20 getcwd dynamic: / (2)\n\
        \x20 /etc/hello: inside\n\
        \x20 /../etc/hello: inside\n\
        dynamic exec: exited=1 status=0\n\
        fexecve: exec'd in the root\n\
        \x20 getcwd fexecve: / (2)\n\
        \x20 /etc/hello: inside\n\
        \x20 /../etc/hello: inside\n\
        fexecve: exited=1 status=0\n\
        chroot(/sub) = 0\n\
        \x20 /hello: sub\n\
        \x20 /etc/hello: No such file or directory\n\
        \x20 getcwd in /sub: (unreachable)...\n\
        chroot(.) child: exited=1 status=0\n\
        thread: chroot(/jail) = 0\n\
        \x20 /etc/hello: inside\n\
        thread child: exited=1 status=0\n\
        \x20 getcwd parent: / (2)\n\
        \x20 /etc/hello: outside\n";
    check_on(root.path(), &["/bin/chroot"], expected, "", 0);
}

#[test]
fn busybox_chroot_runs_a_shell_in_the_jail() {
    let root = jail();
    root.write("/jail/bin/busybox", busybox_bytes(), 0o755);
    for applet in ["sh", "cat", "ls", "readlink"] {
        symlink("busybox", &root.host_path(&format!("/jail/bin/{applet}")));
    }
    let script = "cat /etc/hello; cd /../..; pwd; ls /; readlink /abs; cat /abs/hello /up/sub/hello; \
                  cd sub; pwd; cat ../../etc/hello";
    let argv = ["/bin/busybox", "chroot", "/jail", "/bin/sh", "-c", script];
    let expected = "inside\n/\nabs\nbin\netc\nlib\nloop\nsub\nup\n/etc\ninside\nsub\n/sub\ninside\n";
    check_on(root.path(), &argv, expected, "", 0);
    // A missing directory: busybox reports chroot's errno.
    let argv = ["/bin/busybox", "chroot", "/nonexistent", "/bin/sh"];
    let stderr = "chroot: can't change root directory to '/nonexistent': No such file or directory\n";
    check_on(root.path(), &argv, "", stderr, 1);
}

#[test]
fn coreutils_chroot_runs_a_dynamic_program_with_the_jails_libraries() {
    let Some(shared) = debian_root() else { return };
    // The jail is made in /tmp: the guest's is a tmpfs, so the shared image
    // is not written. Natively /tmp is the image's own: a private copy.
    let script = "set -e; j=/tmp/jail; mkdir -p $j/bin $j/lib64 $j/lib/x86_64-linux-gnu; \
                  cp /bin/echo $j/bin/; cp /lib64/ld-linux-x86-64.so.2 $j/lib64/; \
                  cp /lib/x86_64-linux-gnu/libc.so.6 $j/lib/x86_64-linux-gnu/; \
                  chroot $j /bin/echo in the jail; \
                  cd $j/bin && chroot .. echo relative; \
                  chroot $j /bin/sh -c true || echo \"no shell: $?\"; rm -r $j";
    let argv = ["/bin/bash", "-c", script];
    let expected = "in the jail\nrelative\nno shell: 127\n";
    let stderr = "chroot: failed to run command '/bin/sh': No such file or directory\n";
    let Some(copy) = debian_copy() else { return };
    let native = run_native_root(copy.path(), &argv, b"", T);
    assert_eq!((native.out(), native.err(), native.code), (expected.into(), stderr.into(), 0), "{native}");
    for cfg in configs() {
        let run = run_guest_timeout(cfg, shared, &argv, b"", T);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), expected, "stdout; {what}");
        assert_eq!(run.err(), stderr, "stderr; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
    }
}

/// chroot with the permission checks of the virtual credentials
/// (fs/perm.rs): a user's paths, programs, loader and `#!` interpreters
/// are walked from the jail's root with search permission checked, and
/// the filesystem capabilities (not uid 0) override the checks. Not
/// compared natively: run_native_root's user namespace maps uid 0 alone.
#[test]
fn a_user_in_a_jail_gets_permission_checks_from_its_root() {
    let root = jail();
    let prog = root.install("chroot_perms");
    root.write("/jail/bin/inner", fs::read(guest_program("chroot_perms")).unwrap(), 0o755);
    root.write("/jail/bin/dynp", fs::read(guest_program_dynamic("chroot_perms")).unwrap(), 0o755);
    root.write("/jail/priv/f", "secret\n", 0o644);
    root.write("/jail/priv/x", fs::read(guest_program("chroot_perms")).unwrap(), 0o755);
    root.write("/jail/s-ok", "#!/bin/inner script\n", 0o755);
    root.write("/jail/s-priv", "#!/priv/x\n", 0o755);
    fs::create_dir(root.host_path("/jail/other")).unwrap();
    let expected = "root: open /other/.: 0\n\
        fsuid 1000: open /priv/f: EACCES\n\
        fsuid 1000: open /other/.: 0\n\
        fsuid 0: open /priv/f: 0\n\
        no DAC capabilities: open /other/.: EACCES\n\
        no DAC capabilities: open /priv/f (root's): 0\n\
        capabilities back: open /other/.: 0\n\
        open /priv/f: EACCES\n\
        open /../priv/f: EACCES\n\
        open /etc/hello: 0\n\
        chdir /priv: EACCES\n\
        chroot /priv: EACCES\n\
        chroot /etc: EPERM\n\
        execve /priv/x: EACCES\n\
        execve /s-priv: EACCES\n\
        paths: exited=1 status=0\n\
        dynamic: uid 1000, /etc/hello: inside\n\
        dynamic: exited=1 status=0\n\
        script: uid 1000, /etc/hello: inside\n\
        script: exited=1 status=0\n\
        execve /bin/dynp: EACCES\n\
        dynamic, /lib closed: exited=1 status=0\n\
        execve /s-ok: EACCES\n\
        script, interpreter closed: exited=1 status=0\n";
    for cfg in configs() {
        // The program closes `/` and /jail/bin/inner: open them again.
        for (path, mode) in [("/", 0o755), ("/jail/bin/inner", 0o755)] {
            fs::set_permissions(root.host_path(path), fs::Permissions::from_mode(mode)).unwrap();
        }
        let run = run_guest_timeout(cfg, root.path(), &[&prog], b"", T);
        assert_eq!(run.out(), expected, "{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}
