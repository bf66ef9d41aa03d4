//! The mount table and tmpfs: /tmp and /dev/shm are fresh, empty tmpfs
//! mounts that live as long as the VM, hide the root's own /tmp, are
//! separate filesystems (their own st_dev, EXDEV across, TMPFS_MAGIC from
//! statfs), show in /proc/mounts, and keep the hostfs jail: no path,
//! symlink or `..` in them reaches the host directory behind them, which
//! umvm removes when it exits.
//!
//! The guest root is Rootfs::system (busybox, applet links in /bin, empty
//! /dev, /proc and /tmp) with a file in its own /tmp that the mount must
//! hide, an /etc/passwd, a marker file and symlinks into /tmp.

mod common;

use common::*;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Each guest here ends in a second or two.
const T: Duration = Duration::from_secs(20);

const PASSWD: &str = "root:x:0:0:guest passwd:/:/bin/sh\n";

fn root() -> Rootfs {
    let root = Rootfs::system();
    root.write("/tmp/hidden-by-the-mount", "root's own /tmp\n", 0o644);
    root.write("/etc/passwd", PASSWD, 0o644);
    root.write("/rootmark", "", 0o644);
    symlink("/tmp/x", &root.host_path("/tlink"));
    symlink("/tmp", &root.host_path("tdir"));
    root
}

/// Runs `sh -c script` as init in every configuration, each on a fresh
/// root, and asserts it prints `out`, nothing on stderr, and exits 0.
/// Returns the roots, for checks of what reached the host.
fn check(script: &str, out: &str) -> Vec<Rootfs> {
    configs()
        .into_iter()
        .map(|cfg| {
            let root = root();
            let run = run_guest_timeout(cfg, root.path(), &["/bin/sh", "-c", script], b"", T);
            let what = format!("{cfg}\n{run}");
            assert_eq!(run.err(), "", "stderr; {what}");
            assert_eq!(run.out(), out, "stdout; {what}");
            assert_eq!(run.code(), 0, "exit status; {what}");
            root
        })
        .collect()
}

/// The names in a host directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn tmp_and_dev_shm_start_empty_hide_the_root_and_are_writable() {
    let script = "ls -a /tmp /dev/shm; stat -c '%n %a %F' /tmp /dev/shm; \
                  echo hello > /tmp/f; echo shm > /dev/shm/g; cat /tmp/f /dev/shm/g; ls /tmp; ls /dev/shm; \
                  ls /dev; ls -l /dev | grep ' shm$' | cut -c1";
    let out = "/dev/shm:\n.\n..\n\n/tmp:\n.\n..\n\
               /tmp 1777 directory\n/dev/shm 1777 directory\n\
               hello\nshm\nf\ng\n\
               console\nfd\nfull\nnull\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\nd\n";
    for root in check(script, out) {
        // The guest's files went to the tmpfs, not to the root's /tmp.
        assert_eq!(names(&root.host_path("/tmp")), ["hidden-by-the-mount"]);
        assert!(names(&root.host_path("/dev")).is_empty());
    }
}

#[test]
fn tmp_files_persist_across_processes_but_not_across_vms() {
    check(
        "echo one > /tmp/a; sh -c 'cat /tmp/a; echo two >> /tmp/a'; (mkdir /tmp/d; echo three > /tmp/d/b); \
         cat /tmp/a /tmp/d/b; ls /tmp",
        "one\none\ntwo\nthree\na\nd\n",
    );
    // Every VM starts with empty mounts.
    check("ls -a /tmp /dev/shm", "/dev/shm:\n.\n..\n\n/tmp:\n.\n..\n");
}

#[test]
fn proc_mounts_lists_the_mount_table() {
    let table = "hostfs / hostfs rw 0 0\ndevtmpfs /dev devtmpfs rw 0 0\nproc /proc proc rw 0 0\n\
                 tmpfs /tmp tmpfs rw,nosuid,nodev 0 0\ntmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n";
    let mount = "hostfs on / type hostfs (rw)\ndevtmpfs on /dev type devtmpfs (rw)\nproc on /proc type proc (rw)\n\
                 tmpfs on /tmp type tmpfs (rw,nosuid,nodev)\ntmpfs on /dev/shm type tmpfs (rw,nosuid,nodev)\n";
    check("cat /proc/mounts /proc/self/mounts; /bin/busybox mount", &format!("{table}{table}{mount}"));
    check("grep tmpfs /proc/filesystems", "nodev\ttmpfs\nnodev\tdevtmpfs\n");
}

#[test]
fn statfs_reports_tmpfs_and_df_works() {
    check(
        "stat -f -c '%n %T' /tmp /dev/shm /tmp/.. /proc /dev /dev/shm/.. | grep -v '^/tmp/.. '",
        "/tmp tmpfs\n/dev/shm tmpfs\n/proc proc\n/dev tmpfs\n/dev/shm/.. tmpfs\n",
    );
    // df lists every mount with blocks (the host's for hostfs and tmpfs).
    check(
        "/bin/busybox df /tmp /dev/shm | awk '{print $1, $NF}'; /bin/busybox df | awk '{print $NF}' | grep -c '^/'",
        "Filesystem on\ntmpfs /tmp\ntmpfs /dev/shm\n3\n",
    );
}

#[test]
fn system_calls_see_separate_filesystems() {
    let want = "statfs /tmp tmpfs: 1\nstatfs /dev/shm tmpfs: 1\nstatfs /dev tmpfs: 1\nstatfs /proc proc: 1\n\
                statfs / not tmpfs: 1\ntmpfs blocks: 1 nosuid,nodev: 1\nstatfs missing: No such file or directory\n\
                fstatfs tmpfs file: 1\nfstatfs pipe: 1\n\
                st_dev / /tmp /dev/shm distinct: 1\nst_dev /tmp/f is /tmp's: 1\nst_dev /tmp/.. is /'s: 1\n\
                fstat st_dev is /tmp's: 1\nstatx dev is /tmp's: 1\nstatx fd dev is /tmp's: 1\n/tmp mode: 1777\n\
                mapped: tmpfs data\n\
                rename(\"/tmp/f\", \"/f\"): EXDEV\nrename(\"/tmp/f\", \"/dev/shm/f\"): EXDEV\n\
                link(\"/tmp/f\", \"/f\"): EXDEV\nlink(\"/tmp/nope\", \"/f\"): ENOENT\n\
                rename_noreplace(\"/tmp/f\", \"/f\"): EXDEV\n\
                rename(\"/tmp/f\", \"/tmp/g\"): ok\nlink(\"/tmp/g\", \"/tmp/h\"): ok\nnlink: 2\n\
                rmdir(\"/tmp\"): EBUSY\nrmdir(\"/dev/shm\"): EBUSY\nrename(\"/tmp\", \"/tmp2\"): EBUSY\n\
                unlink(\"/tmp\"): EISDIR\nmkdir(\"/tmp\", 0755): EEXIST\n\
                cwd: /tmp\ncwd st_dev is /tmp's: 1\ncwd: /\ncwd st_dev is /'s: 1\n";
    for cfg in configs() {
        let root = root();
        let prog = root.install("tmpfs");
        let run = run_guest_timeout(cfg, root.path(), &[&prog], b"", T);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.err(), "", "stderr; {what}");
        assert_eq!(run.out(), want, "stdout; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
        assert!(!root.host_path("/f").exists(), "a rename or link crossed mounts; {what}");
    }
}

#[test]
fn mv_across_mounts_copies() {
    // busybox mv falls back to copy and unlink on EXDEV.
    let roots = check(
        "echo data > /tmp/f; mv /tmp/f /moved; cat /moved; ls -a /tmp; \
         echo shm > /dev/shm/s; mv /dev/shm/s /tmp/s; cat /tmp/s; ls /dev/shm | wc -l",
        "data\n.\n..\nshm\n0\n",
    );
    for root in roots {
        assert_eq!(fs::read_to_string(root.host_path("/moved")).unwrap(), "data\n");
    }
}

#[test]
fn st_dev_separates_mounts_for_find_xdev() {
    check(
        "touch /tmp/tmpmark /dev/shm/shmmark; stat -c %d / /tmp /dev/shm /tmp/tmpmark | sort -u | wc -l; \
         find / -xdev -name '*mark'; find /tmp /dev/shm -name '*mark'",
        "3\n/rootmark\n/tmp/tmpmark\n/dev/shm/shmmark\n",
    );
}

#[test]
fn dotdot_from_tmp_lands_in_the_root() {
    check(
        "cd -P /tmp/.. && pwd -P && ls -d bin; cd /tmp && cd -P .. && pwd -P; cd -P /dev/shm/../.. && pwd -P; \
         cat /tmp/../etc/passwd; ls /tmp/../bin/busybox",
        &format!("/\nbin\n/\n/\n{PASSWD}/tmp/../bin/busybox\n"),
    );
}

#[test]
fn symlinks_resolve_across_mounts() {
    // /tlink -> /tmp/x and /tdir -> /tmp live on the root.
    check(
        "echo data > /tmp/x; cat /tlink; cat /tdir/x; ls /tdir; echo more > /tlink; cat /tmp/x; \
         ln -s /etc/passwd /tmp/abs; cat /tmp/abs; ln -s /tdir/x /dev/shm/l; cat /dev/shm/l; \
         ln -s ../../tmp /dev/shm/up; ls /dev/shm/up/",
        &format!("data\ndata\nx\nmore\n{PASSWD}more\nabs\nx\n"),
    );
}

#[test]
fn nothing_under_tmp_escapes_to_the_host() {
    let listing = "bin\ndev\netc\nproc\nrootmark\ntdir\ntlink\ntmp\n";
    check(
        "ln -s ../../../../etc/passwd /tmp/esc; cat /tmp/esc; \
         ln -s /../../../../../etc/passwd /dev/shm/esc; cat /dev/shm/esc; \
         cat /tmp/../../../etc/passwd; ls /tmp/../../..; cd /dev/shm; cd -P ../../../..; pwd -P; \
         mkdir -p /tmp/a/b; ln -s ../../../../../.. /tmp/a/b/up; ls /tmp/a/b/up/",
        &format!("{PASSWD}{PASSWD}{PASSWD}{listing}/\n{listing}"),
    );
}

// ---------------------------------------------------------------------------
// The host directory behind the mounts

/// Where umvm puts tmpfs backing directories (as fs/tmpfs.rs chooses):
/// both candidates, so that a leftover is found wherever it is.
fn backing_bases() -> Vec<PathBuf> {
    vec![PathBuf::from("/dev/shm"), std::env::temp_dir()]
}

/// The backing directories of the umvm with host pid `pid`.
fn backing_dirs(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("umvm-tmpfs-{pid}-");
    backing_bases()
        .into_iter()
        .filter_map(|b| fs::read_dir(b).ok())
        .flatten()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Starts `umvm run` on `root` in configuration `cfg` with `argv`.
fn spawn(cfg: Config, root: &Path, trace: &Path, argv: &[&str]) -> std::process::Child {
    let mut args: Vec<OsString> =
        vec!["run".into(), "--root-dir".into(), root.into(), "--trap".into(), cfg.trap.name().into()];
    if cfg.strace {
        args.extend(["--strace".into(), "--strace-file".into(), trace.into()]);
    }
    args.push("--".into());
    args.extend(argv.iter().map(OsString::from));
    Command::new(umvm())
        .args(&args)
        .env_remove("RUST_LOG")
        .env_remove("UMVM_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Kills a umvm that a failed assertion left waiting (its guests die with
/// it), unless disarmed before something else reaps it.
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill has no memory-safety preconditions; the pid is
            // our unreaped child's.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

#[test]
fn the_host_directory_is_private_and_removed_when_umvm_exits() {
    // The guest fills its mounts (a locked directory too), then waits for
    // the host to see them there and drop a file in.
    let script = "echo marker > /tmp/m; echo shm > /dev/shm/s; mkdir -p /tmp/locked/in; chmod 0 /tmp/locked; \
                  : > /tmp/ready; \
                  while [ ! -e /tmp/go ]; do sleep 0.05; done; cat /tmp/go";
    for cfg in configs() {
        let root = root();
        let trace = TempDir::new("trace");
        let child = spawn(cfg, root.path(), &trace.path().join("strace.txt"), &["/bin/sh", "-c", script]);
        let pid = child.id();
        let mut guard = KillOnDrop(Some(pid));
        let deadline = Instant::now() + T;
        let dir = loop {
            let found: Vec<PathBuf> = backing_dirs(pid).into_iter().filter(|d| d.join("tmp/ready").exists()).collect();
            if let [d] = found.as_slice() {
                break d.clone();
            }
            assert!(Instant::now() < deadline, "{cfg}: no backing directory with tmp/ready for pid {pid}");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&dir), 0o700, "{cfg}: {}", dir.display());
        assert_eq!(mode(&dir.join("tmp")), 0o1777, "{cfg}");
        assert_eq!(fs::read_to_string(dir.join("tmp/m")).unwrap(), "marker\n");
        assert_eq!(fs::read_to_string(dir.join("dev-shm/s")).unwrap(), "shm\n");
        fs::write(dir.join("tmp/go"), "from the host\n").unwrap();
        // From here wait_with_timeout reaps it, or kills it on a timeout.
        guard.0 = None;
        let (status, out, err) = wait_with_timeout(child, b"", T, "umvm run");
        let what =
            format!("{cfg}: stdout {:?} stderr {:?}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&err));
        assert_eq!(String::from_utf8_lossy(&out), "from the host\n", "{what}");
        assert!(status.success(), "{what}");
        assert!(!dir.exists(), "{what}: {} is left", dir.display());
        assert!(backing_dirs(pid).is_empty(), "{what}");
    }
}

#[test]
fn the_host_directory_is_removed_when_umvm_fails() {
    let root = root();
    let trace = TempDir::new("trace");
    let cfg = configs()[0];
    // init cannot start: umvm exits with an error after building the VM.
    // (A directory an earlier, killed umvm with the same pid left is not
    // this run's.)
    let before: Vec<PathBuf> =
        backing_bases().into_iter().filter_map(|b| fs::read_dir(b).ok()).flatten().map(|e| e.unwrap().path()).collect();
    let new_dirs = |pid| backing_dirs(pid).into_iter().filter(|d| !before.contains(d)).collect::<Vec<_>>();
    let child = spawn(cfg, root.path(), &trace.path().join("strace.txt"), &["/no/such/init"]);
    let pid = child.id();
    let (status, _, err) = wait_with_timeout(child, b"", T, "umvm run");
    let err = String::from_utf8_lossy(&err);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("/no/such/init"), "{err}");
    assert!(new_dirs(pid).is_empty(), "{:?}", new_dirs(pid));
    // An init that fails: umvm exits with its status, and cleans up.
    let child = spawn(cfg, root.path(), &trace.path().join("strace.txt"), &["/bin/sh", "-c", "exit 3"]);
    let pid = child.id();
    let (status, _, err) = wait_with_timeout(child, b"", T, "umvm run");
    assert_eq!(status.code(), Some(3), "{}", String::from_utf8_lossy(&err));
    assert!(new_dirs(pid).is_empty(), "{:?}", new_dirs(pid));
}
