//! File permissions with the guest's virtual credentials (fs/perm.rs):
//! an unprivileged guest user is refused what Linux refuses it, and owns
//! what it creates.
//!
//! These cannot be compared natively: run_native_root's user namespace
//! maps uid 0 alone. The expectations follow Linux's fs/namei.c and
//! fs/attr.c (generic_permission, may_open, may_create, may_delete,
//! setattr_prepare).

mod common;

use common::*;
use std::time::Duration;

const PROGRAM_TIMEOUT: Duration = Duration::from_secs(20);

const EXPECTED: &str = "\
access real R_OK priv/x: EACCES
faccessat AT_EACCESS priv/x: 0
open relative in cwd under priv: 0
open absolute under priv: EACCES
stat priv/x: EACCES
stat priv: 0
chdir priv: EACCES
open d/f read: 0
open d/f write: EACCES
open d/f read trunc: EACCES
open d/f path: 0
open w write: EISDIR
open d/new creat: EACCES
open d/f creat excl: EEXIST
open w/mine creat: 0
w/mine: 1000:100 640
open sg/file creat: 0
sg/file: 1000:50 640
mkdir d/f: EEXIST
mkdir d/n: EACCES
mkdir w/md: 0
w/md: 1000:100 750
mkdir sg/sub: 0
sg/sub: 1000:50 2755
mkfifo d/fifo: EACCES
mkfifo w/fifo: 0
w/fifo: 1000:100 644
symlink d/l: EACCES
symlink w/l: 0
w/l: 1000:100 777
link w/mine d/hl: EACCES
link w/mine w/hl: 0
unlink d/f: EACCES
rmdir d/sub: EACCES
unlink s/rootf: EPERM
rename s/rootf: EPERM
rename w/mine d/m: EACCES
rename w/ww over s/rootf: EPERM
rename s/minef w/minef: 0
unlink w/hl: 0
chmod d/f: EPERM
chmod w/mine 2640: 0
w/mine: 1000:100 2640
chmod w/other 2644: 0
w/other: 1000:7 644
chown w/mine 1000 -1: 0
chown w/mine -1 50: 0
w/mine: 1000:50 2640
chown w/mine -1 7: EPERM
chown w/mine 0 -1: EPERM
chown d/f -1 100: EPERM
chown w/suid -1 50: 0
w/suid: 1000:50 755
utimensat d/f explicit: EPERM
utimensat d/f now: EACCES
utimensat w/ww now: 0
utimensat w/ww explicit: EPERM
utimensat w/mine explicit: 0
truncate d/f: EACCES
truncate w/mine: 0
fchmod d/f: EPERM
fchown d/f: EPERM
access d/f R_OK: 0
access d/f W_OK: EACCES
access w/noexec X_OK: EACCES
execve w/noexec: EACCES
";

/// On the tmpfs and on the root filesystem, in every configuration.
#[test]
fn unprivileged_users_get_linux_permission_checks() {
    let root = Rootfs::system();
    let prog = root.install("perms");
    for base in ["/tmp/t", "/data"] {
        for cfg in configs() {
            let _ = std::fs::remove_dir_all(root.host_path(base));
            let run = run_guest_timeout(cfg, root.path(), &[&prog, base], b"", PROGRAM_TIMEOUT);
            assert_eq!(run.out(), EXPECTED, "{base} {cfg}\n{run}");
            assert_eq!(run.code(), 0, "{base} {cfg}\n{run}");
        }
    }
}

/// Debian's su to nobody: root's files are refused, and what nobody
/// creates is nobody's.
#[test]
fn debian_su_nobody_is_refused_root_files_and_owns_its_own() {
    let Some(dir) = debian_copy() else { return };
    let script = "su nobody -s /bin/sh -c 'echo x >> /etc/passwd; touch /tmp/n; mkdir /var/tmp/nd; \
                  stat -c \"%u:%g %n\" /tmp/n /var/tmp/nd; rm /etc/hostname'; tail -c 2 /etc/passwd | od -c | head -1";
    for cfg in configs() {
        let run = run_guest_timeout(cfg, dir.path(), &["/bin/bash", "-c", script], b"", PROGRAM_TIMEOUT);
        assert_eq!(run.out(), "65534:65534 /tmp/n\n65534:65534 /var/tmp/nd\n0000000   n  \\n\n", "{cfg}\n{run}");
        assert!(run.err().contains("/etc/passwd: Permission denied"), "{cfg}\n{run}");
        assert!(run.err().contains("cannot remove '/etc/hostname': Permission denied"), "{cfg}\n{run}");
        let _ = std::fs::remove_dir(dir.path().join("var/tmp/nd"));
    }
}

/// Set-user-ID and set-group-ID programs (Linux's bprm_fill_uid and
/// cap_bprm_creds_from_file): guest-only, since they need uids the
/// native user namespace does not map. The expected text is what the same
/// program printed on the host, chrooted as real root.
#[test]
fn setuid_and_setgid_programs_change_the_effective_ids() {
    let root = Rootfs::system();
    let prog = root.install("setid");
    let expected = "nnp at start 0\n\
        plain, as 2000:\n  uid 2000/2000/2000 gid 3000/3000/3000 secure 0 nnp 0\n\
        setuid, as 2000:\n  uid 2000/1000/1000 gid 3000/3000/3000 secure 1 nnp 0\n\
        setgid, as 2000:\n  uid 2000/2000/2000 gid 3000/1000/1000 secure 1 nnp 0\n\
        setuid+setgid, as 2000:\n  uid 2000/1000/1000 gid 3000/1000/1000 secure 1 nnp 0\n\
        setgid without group x, as 2000:\n  uid 2000/2000/2000 gid 3000/3000/3000 secure 0 nnp 0\n\
        setuid+setgid, as 2000, no_new_privs:\n  uid 2000/2000/2000 gid 3000/3000/3000 secure 0 nnp 1\n\
        setuid, as root:\n  uid 0/1000/1000 gid 0/0/0 secure 1 nnp 0\n\
        prctl bad args: -1\n";
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &[&prog], b"", PROGRAM_TIMEOUT);
        assert_eq!(run.out(), expected, "{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}
