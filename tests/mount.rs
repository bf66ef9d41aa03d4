//! mount(2) and umount2(2) as busybox's mount, umount and df use them:
//! tmpfs, proc, sysfs and hostfs mounts, bind mounts, read-only remounts
//! (every write EROFS), unmounts refused while busy unless lazy, and the
//! errors for an unprivileged caller and an unknown type. Where Linux can
//! do the same in a user namespace (tmpfs, bind, remount, umount), the
//! same script runs natively too and must print the same.
//!
//! The guest root is Rootfs::system with mount, umount, df and su linked,
//! a `nobody` in /etc/passwd, empty /mnt, /mnt2 and /sys, and /data with
//! a file.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

/// Each guest here ends in a second or two.
const T: Duration = Duration::from_secs(30);

fn root() -> Rootfs {
    let root = Rootfs::system();
    for applet in ["mount", "umount", "df", "su", "ln", "readlink", "rmdir", "chown"] {
        symlink("busybox", &root.host_path(&format!("/bin/{applet}")));
    }
    root.write("/etc/passwd", "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n", 0o644);
    root.write("/data/x", "data file\n", 0o644);
    for d in ["/mnt", "/mnt2", "/sys"] {
        mkdir(&root.host_path(d), 0o755);
    }
    root
}

/// Runs `sh -c script` as init in every configuration (with the extra
/// `umvm run` words `opts`), each on a fresh root, and asserts it prints
/// `out` on stdout, `err` on stderr, and exits 0.
fn check_with(opts: &[&str], script: &str, out: &str, err: &str) {
    for cfg in configs() {
        let root = root();
        let run = run_guest_opts(cfg, root.path(), opts, &["/bin/sh", "-c", script], b"", T);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), out, "stdout; {what}");
        assert_eq!(run.err(), err, "stderr; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
    }
}

fn check(script: &str, out: &str, err: &str) {
    check_with(&[], script, out, err);
}

/// [`check`], and the same script run natively (as root of a user
/// namespace, chrooted into the same kind of root) prints the same.
fn check_native(script: &str, out: &str, err: &str) {
    let root = root();
    let native = run_native_root(root.path(), &["/bin/sh", "-c", script], b"", T);
    assert_eq!((native.out(), native.err(), native.code), (out.to_string(), err.to_string(), 0), "natively");
    check(script, out, err);
}

#[test]
fn a_tmpfs_mounted_written_and_unmounted_leaves_nothing() {
    let script = "mount -t tmpfs none /mnt && echo hello > /mnt/f && mkdir /mnt/d && ls /mnt && cat /mnt/f && \
                  stat -f -c %T /mnt && umount /mnt && ls -A /mnt && echo gone && ls /data";
    check_native(script, "d\nf\nhello\ntmpfs\ngone\nx\n", "");
    // Options as Linux shows them, and the source given.
    let script = "mount -t tmpfs -o size=1m,mode=750 scratch /mnt && grep ' /mnt ' /proc/mounts && \
                  stat -c %a /mnt && grep -c ' /mnt ' /proc/self/mountinfo && umount /mnt && \
                  echo $(grep -c ' /mnt ' /proc/mounts)";
    check(script, "scratch /mnt tmpfs rw,size=1024k,mode=750 0 0\n750\n1\n0\n", "");
}

#[test]
fn a_read_only_remount_refuses_every_write_until_remounted_rw() {
    let script = "mount -t tmpfs none /mnt && echo a > /mnt/a && mkdir /mnt/d && ln -s a /mnt/s && \
                  mount -o remount,ro /mnt && echo remounted && \
                  touch /mnt/b; touch /mnt/a; mkdir /mnt/e; rm /mnt/a; rmdir /mnt/d; mv /mnt/a /mnt/c; \
                  chmod 600 /mnt/a; chown 1 /mnt/a; ln -s a /mnt/l; ln /mnt/a /mnt/h; mkfifo /mnt/p; \
                  (echo x > /mnt/a) 2>/dev/null || echo no write; mkdir -p /mnt/d && echo mkdir -p ok; \
                  cat /mnt/a; ls /mnt; \
                  mount -o remount,rw /mnt && touch /mnt/b && ls /mnt && umount /mnt";
    let err = "touch: /mnt/b: Read-only file system\n\
               touch: /mnt/a: Read-only file system\n\
               mkdir: can't create directory '/mnt/e': Read-only file system\n\
               rm: can't remove '/mnt/a': Read-only file system\n\
               rmdir: '/mnt/d': Read-only file system\n\
               mv: can't rename '/mnt/a': Read-only file system\n\
               chmod: /mnt/a: Read-only file system\n\
               chown: /mnt/a: Read-only file system\n\
               ln: /mnt/l: Read-only file system\n\
               ln: /mnt/h: Read-only file system\n\
               mkfifo: /mnt/p: Read-only file system\n";
    check_native(script, "remounted\nno write\nmkdir -p ok\na\na\nd\ns\na\nb\nd\ns\n", err);
    // A file open for writing keeps it read-write (EBUSY), and statfs
    // shows the flag.
    let script = "mount -t tmpfs none /mnt && exec 3>/mnt/f && { mount -o remount,ro /mnt || echo busy; } && \
                  exec 3>&- && mount -o remount,ro,nosuid /mnt && grep ' /mnt ' /proc/mounts && \
                  stat -f -c %T /mnt";
    check(
        script,
        "busy\nnone /mnt tmpfs ro,nosuid 0 0\ntmpfs\n",
        "mount: mounting none on /mnt failed: Device or resource busy\n",
    );
}

#[test]
fn proc_and_sysfs_mount_again_elsewhere() {
    let script = "mount -t proc proc /mnt && ls /mnt | grep -c '^1$' && ls /mnt/1 | grep -c '^status$' && \
                  readlink /mnt/self/exe && stat -f -c %T /mnt && grep ' /mnt ' /proc/mounts && umount /mnt && \
                  ls -A /mnt && \
                  mount -t sysfs sysfs /sys && ls /sys && ls -A /sys/block && stat -f -c %t /sys && \
                  grep sysfs /proc/mounts && cd /sys/kernel && cd .. && pwd && cd / && umount /sys && ls -A /sys && \
                  mount -t devtmpfs devtmpfs /mnt2 && echo ok > /mnt2/null && ls /mnt2/zero";
    let out = "1\n1\n/bin/busybox\nproc\nproc /mnt proc rw 0 0\n\
               block\nclass\ndevices\nfs\nkernel\n62656572\nsysfs /sys sysfs rw 0 0\n/sys\n/mnt2/zero\n";
    check(script, out, "");
}

#[test]
fn bind_mounts_show_the_same_directory() {
    let script = "mount --bind /data /mnt && cat /mnt/x && echo new > /mnt/y && cat /data/y && \
                  mount -t tmpfs none /mnt2 && mkdir /mnt2/sub && echo t > /mnt2/sub/t && \
                  mount --bind /mnt2/sub /tmp && cat /tmp/t && umount /mnt2 && cat /tmp/t && umount /tmp && \
                  umount /mnt && ls /mnt /data";
    check_native(script, "data file\nnew\nt\nt\n/data:\nx\ny\n\n/mnt:\n", "");
    let script = "mount --bind /data /mnt && grep -c ' /data /mnt ' /proc/self/mountinfo && \
                  mount -o remount,bind,ro /mnt && touch /mnt/z; touch /data/z && ls /data";
    check(script, "1\nx\nz\n", "touch: /mnt/z: Read-only file system\n");
}

#[test]
fn a_busy_mount_stays_unless_unmounted_lazily() {
    let script = "mount -t tmpfs none /mnt
                  mkdir /mnt/d
                  cd /mnt/d
                  umount /mnt || echo busy
                  cd /
                  sleep 3 </mnt/d &
                  sleep 1
                  umount /mnt || echo busy again
                  umount -l /mnt && echo lazy
                  ls -A /mnt
                  umount /mnt || echo not mounted
                  umount /data || echo not a mount point";
    check_native(
        script,
        "busy\nbusy again\nlazy\nnot mounted\nnot a mount point\n",
        "umount: can't unmount /mnt: Device or resource busy\n\
         umount: can't unmount /mnt: Device or resource busy\n\
         umount: can't unmount /mnt: Invalid argument\n\
         umount: can't unmount /data: Invalid argument\n",
    );
    // The namespace's root stays; a mount with another below it too.
    let script = "umount / || echo root busy; mount -t tmpfs none /mnt && mkdir /mnt/in && \
                  mount -t tmpfs none /mnt/in && { umount /mnt || echo parent busy; } && umount /mnt/in && umount /mnt";
    check(
        script,
        "root busy\nparent busy\n",
        "umount: can't unmount /: Device or resource busy\numount: can't unmount /mnt: Device or resource busy\n",
    );
}

#[test]
fn hostfs_mounts_a_host_directory_within_the_hostfs_prefix() {
    let host = TempDir::new("hostfs");
    let pre = host.path().join("pre");
    std::fs::create_dir_all(pre.join("sub")).unwrap();
    write_file(&pre.join("sub/f"), "host file\n", 0o644);
    write_file(&host.path().join("secret"), "secret\n", 0o644);
    symlink("..", &pre.join("up"));
    symlink(host.path(), &pre.join("abs"));
    let prefix = format!("hostfs={}", pre.display());
    let script = "mount -t hostfs none /mnt -o /sub && cat /mnt/f && echo w > /mnt/g && grep ' /mnt ' /proc/mounts && \
                  umount /mnt && mount -t hostfs none /mnt && ls /mnt && umount /mnt && \
                  for o in /../.. .. /up /abs /sub/../..; do mount -t hostfs none /mnt -o $o || echo refused $o; done; \
                  ls -A /mnt";
    let out = "host file\nnone /mnt hostfs rw,/sub 0 0\nabs\nsub\nup\n\
               refused /../..\nrefused ..\nrefused /up\nrefused /abs\nrefused /sub/../..\n";
    let refused = "mount: permission denied (are you root?)\n".repeat(5);
    check_with(&[&prefix], script, out, &refused);
    assert_eq!(std::fs::read_to_string(pre.join("sub/g")).unwrap(), "w\n");
    // Without the switch, any host path (as UML allows).
    let script = format!("mount -t hostfs none /mnt -o {} && cat /mnt/secret", host.path().display());
    check(&script, "secret\n", "");
    assert!(Path::new(&pre).join("sub/f").exists());
}

#[test]
fn only_root_mounts_and_unknown_types_are_refused() {
    let script = "su nobody -s /bin/sh -c 'mount -t tmpfs none /mnt; umount /tmp'; \
                  mount -t nosuchfs none /mnt; mount -t tmpfs none /nonexistent; mount -t tmpfs none /data/x; \
                  mount -t tmpfs -o bogus none /mnt; ls -A /mnt; echo $(grep -c ' /mnt ' /proc/mounts)";
    check(
        script,
        "0\n",
        "mount: permission denied (are you root?)\n\
         umount: can't unmount /tmp: Operation not permitted\n\
         mount: mounting none on /mnt failed: No such device\n\
         mount: mounting none on /nonexistent failed: No such file or directory\n\
         mount: mounting none on /data/x failed: Not a directory\n\
         mount: mounting none on /mnt failed: Invalid argument\n",
    );
}

#[test]
fn mount_without_arguments_and_df_list_the_table() {
    let script = "mount -t tmpfs -o size=2m none /mnt && mount --bind /data /mnt2 && mount && \
                  df /mnt | tail -1 | cut -c1-20 && df | grep -c ' /mnt'";
    let out = "hostfs on / type hostfs (rw)\ndevtmpfs on /dev type devtmpfs (rw)\nproc on /proc type proc (rw)\n\
               tmpfs on /tmp type tmpfs (rw,nosuid,nodev)\ntmpfs on /dev/shm type tmpfs (rw,nosuid,nodev)\n\
               none on /mnt type tmpfs (rw,size=2048k)\nhostfs on /mnt2 type hostfs (rw)\n\
               none                \n2\n";
    check(script, out, "");
}
