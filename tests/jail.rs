//! The hostfs root is a jail: no path, `..`, absolute or relative symlink,
//! or /proc trick reaches outside DIR.
//!
//! Layout: a parent P holds `secret` (the host's) and the guest root
//! R = P/root, which holds a `secret` of its own. Every way out of R that
//! resolves must land on R's files, never on P's or the host's.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const GUEST_SECRET: &str = "guest secret\n";

struct Jail {
    parent: TempDir,
    /// The host secret's content, unique per test.
    secret: String,
}

impl Jail {
    fn new() -> Jail {
        let parent = TempDir::new("jail");
        let p = parent.path();
        let secret = format!("HOST-SECRET-{}\n", p.file_name().unwrap().to_str().unwrap());
        write_file(&p.join("secret"), &secret, 0o644);

        let r = p.join("root");
        make_rootfs(&r);
        write_file(&r.join("secret"), GUEST_SECRET, 0o644);
        mkdir(&r.join("etc"), 0o755);
        write_file(&r.join("etc/marker"), "guest etc\n", 0o644);
        // Absolute symlinks naming host paths.
        symlink(p, &r.join("escape"));
        symlink(p.join("secret"), &r.join("hostfile"));
        symlink("/etc", &r.join("etcl"));
        // Relative symlinks climbing out.
        symlink("../secret", &r.join("esc2"));
        mkdir(&r.join("sub"), 0o755);
        symlink("../../secret", &r.join("sub/deeprel"));
        symlink("../../../../../../../../../../..", &r.join("sub/up"));
        mkdir(&r.join("d"), 0o755);
        symlink("/", &r.join("d/abs"));
        // Loops, and chains longer and shorter than Linux's 40 links.
        symlink("loop2", &r.join("loop1"));
        symlink("loop1", &r.join("loop2"));
        symlink("self", &r.join("self"));
        mkdir(&r.join("chain"), 0o755);
        for i in 0..50 {
            let target = if i == 49 { "/secret".to_string() } else { format!("c{}", i + 1) };
            symlink(target, &r.join(format!("chain/c{i}")));
        }
        for i in 0..10 {
            let target = if i == 9 { "/secret".to_string() } else { format!("s{}", i + 1) };
            symlink(target, &r.join(format!("chain/s{i}")));
        }
        Jail { parent, secret }
    }

    fn root(&self) -> PathBuf {
        self.parent.path().join("root")
    }

    fn parent_name(&self) -> String {
        self.parent.path().file_name().unwrap().to_string_lossy().into_owned()
    }

    /// Runs `busybox ARGS` in the guest and checks status and output
    /// exactly; the host secret must never show up.
    fn expect(&self, cfg: Config, args: &[&str], code: i32, stdout: &str, stderr: &str) {
        let mut argv = vec!["/bin/busybox"];
        argv.extend_from_slice(args);
        let run = run_guest(cfg, &self.root(), &argv);
        let what = format!("busybox {args:?}: {cfg}\n{run}");
        let secret = self.secret.trim_end();
        assert!(
            !run.out().contains(secret) && !run.err().contains(secret),
            "the host secret leaked into the guest; {what}"
        );
        assert_eq!(run.out(), stdout, "stdout; {what}");
        assert_eq!(run.err(), stderr, "stderr; {what}");
        assert_eq!(run.code(), code, "exit status; {what}");
    }

    /// The names in R, sorted as busybox sorts them (bytewise).
    fn root_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(self.root()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }
}

fn enoent(applet: &str, path: &str) -> String {
    match applet {
        "cat" => format!("cat: can't open '{path}': No such file or directory\n"),
        _ => format!("{applet}: {path}: No such file or directory\n"),
    }
}

#[test]
fn dotdot_above_the_root_stays_at_the_root() {
    let jail = Jail::new();
    let above = format!("/../{}/secret", jail.parent_name());
    for cfg in configs() {
        jail.expect(cfg, &["cat", "/../secret"], 0, GUEST_SECRET, "");
        jail.expect(cfg, &["cat", "../../../../../../../../secret"], 0, GUEST_SECRET, "");
        jail.expect(cfg, &["cat", "/bin/../../../secret"], 0, GUEST_SECRET, "");
        jail.expect(cfg, &["cat", &above], 1, "", &enoent("cat", &above));
        let hostname = "/../../etc/hostname";
        jail.expect(cfg, &["cat", hostname], 1, "", &enoent("cat", hostname));
    }
}

#[test]
fn absolute_symlinks_to_host_paths_resolve_inside_the_root() {
    let jail = Jail::new();
    for cfg in configs() {
        jail.expect(cfg, &["cat", "/escape/secret"], 1, "", &enoent("cat", "/escape/secret"));
        jail.expect(cfg, &["cat", "/hostfile"], 1, "", &enoent("cat", "/hostfile"));
        // /etcl -> /etc is the guest's /etc, not the host's.
        jail.expect(cfg, &["ls", "/etcl/"], 0, "marker\n", "");
        jail.expect(cfg, &["cat", "/etcl/marker"], 0, "guest etc\n", "");
        jail.expect(cfg, &["cat", "/etcl/hostname"], 1, "", &enoent("cat", "/etcl/hostname"));
        jail.expect(cfg, &["cat", "/d/abs/secret"], 0, GUEST_SECRET, "");
        jail.expect(cfg, &["cat", "/d/abs/../../secret"], 0, GUEST_SECRET, "");
    }
}

#[test]
fn relative_symlinks_climbing_out_stay_inside_the_root() {
    let jail = Jail::new();
    for cfg in configs() {
        jail.expect(cfg, &["cat", "/esc2"], 0, GUEST_SECRET, "");
        jail.expect(cfg, &["cat", "/sub/deeprel"], 0, GUEST_SECRET, "");
        jail.expect(cfg, &["cat", "/sub/up/secret"], 0, GUEST_SECRET, "");
        jail.expect(cfg, &["cat", "sub/up/../../secret"], 0, GUEST_SECRET, "");
        // readlink shows the link as it is; only resolution is jailed.
        jail.expect(cfg, &["readlink", "/esc2"], 0, "../secret\n", "");
        jail.expect(cfg, &["readlink", "-f", "/sub/deeprel"], 0, "/secret\n", "");
    }
}

#[test]
fn cd_dotdot_from_the_root_lists_the_guest_root() {
    let jail = Jail::new();
    let names = jail.root_names();
    let lines: String = names.iter().map(|n| format!("{n}\n")).collect();
    let words = format!("/\n{}\n", names.join(" "));
    for cfg in configs() {
        // The last command of `sh -c` runs without a fork, so ls runs too.
        jail.expect(cfg, &["sh", "-c", "cd /..; ls"], 0, &lines, "");
        jail.expect(cfg, &["sh", "-c", "cd /.. && pwd && echo *"], 0, &words, "");
        jail.expect(cfg, &["sh", "-c", "cd /; cd ../../..; pwd; echo *"], 0, &words, "");
        jail.expect(cfg, &["sh", "-c", "cd -P /sub/up; pwd; echo *"], 0, &words, "");
        jail.expect(
            cfg,
            &["sh", "-c", "cd /escape"],
            2,
            "",
            "sh: cd: line 0: can't cd to /escape: No such file or directory\n",
        );
    }
}

#[test]
fn proc_self_root_does_not_reach_the_host_root() {
    let jail = Jail::new();
    for cfg in configs() {
        // procfs's root link is the guest's own root, never the host's.
        let root_listing = run_guest(cfg, &jail.root(), &["/bin/busybox", "ls", "-a", "/"]).out();
        assert!(root_listing.contains("bin"), "{cfg}: {root_listing}");
        jail.expect(cfg, &["ls", "-a", "/proc/self/root/"], 0, &root_listing, "");
        jail.expect(cfg, &["ls", "-a", "/proc/1/root/.."], 0, &root_listing, "");
        let p = "/proc/self/root/etc/hostname";
        jail.expect(cfg, &["cat", p], 1, "", &enoent("cat", p));
        // `..` above the root link is the guest's root again (and its own
        // /secret), as Linux walks it.
        jail.expect(cfg, &["cat", "/proc/1/root/../secret"], 0, GUEST_SECRET, "");
    }
}

#[test]
fn symlink_loops_fail_with_eloop_instead_of_hanging() {
    let jail = Jail::new();
    let eloop = |p: &str| format!("cat: can't open '{p}': Too many levels of symbolic links\n");
    for cfg in configs() {
        jail.expect(cfg, &["cat", "/loop1"], 1, "", &eloop("/loop1"));
        jail.expect(cfg, &["cat", "/self"], 1, "", &eloop("/self"));
        jail.expect(cfg, &["cat", "/self/x"], 1, "", &eloop("/self/x"));
        // 50 links in a row is more than Linux follows; 10 is fine.
        jail.expect(cfg, &["cat", "/chain/c0"], 1, "", &eloop("/chain/c0"));
        jail.expect(cfg, &["cat", "/chain/s0"], 0, GUEST_SECRET, "");
    }
}

#[test]
fn rename_and_link_cannot_move_files_out_of_the_root() {
    let jail = Jail::new();
    let p = jail.parent.path();
    let r = jail.root();
    let host_secret = p.join("secret");
    for cfg in configs() {
        // `/..` is `/`: the file stays in the root, under the new name.
        jail.expect(cfg, &["mv", "/secret", "/../moved"], 0, "", "");
        assert!(!p.join("moved").exists(), "{cfg}: mv wrote to the root's parent");
        assert_eq!(fs::read_to_string(r.join("moved")).unwrap(), GUEST_SECRET, "{cfg}");
        let err = "mv: can't rename '/moved': No such file or directory\n";
        jail.expect(cfg, &["mv", "/moved", "/escape/moved"], 1, "", err);
        jail.expect(cfg, &["mv", "/moved", "/secret"], 0, "", "");

        // link(2) does not follow a symlink: this links the escaping
        // symlink itself, which still resolves inside the root.
        jail.expect(cfg, &["ln", "/hostfile", "/stolen"], 0, "", "");
        jail.expect(cfg, &["cat", "/stolen"], 1, "", &enoent("cat", "/stolen"));
        assert!(fs::symlink_metadata(r.join("stolen")).unwrap().file_type().is_symlink(), "{cfg}");
        fs::remove_file(r.join("stolen")).unwrap();
        assert_eq!(fs::metadata(&host_secret).unwrap().nlink(), 1, "{cfg}: the host secret got a link");

        jail.expect(cfg, &["ln", "/../secret", "/linked"], 0, "", "");
        jail.expect(cfg, &["cat", "/linked"], 0, GUEST_SECRET, "");
        fs::remove_file(r.join("linked")).unwrap();
        assert_eq!(fs::read_to_string(&host_secret).unwrap(), jail.secret, "{cfg}");
    }
}

/// A device node the guest makes must not open the host's device: here the
/// host disk that holds the guest root (skipped where that is not a real
/// block device, e.g. on tmpfs or overlayfs).
#[test]
fn a_guest_made_device_node_cannot_read_the_host_disk() {
    let jail = Jail::new();
    let dev = fs::metadata(jail.root()).unwrap().dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    if major == 0 {
        eprintln!("skipped: the test directory is not on a block device");
        return;
    }
    for cfg in configs() {
        let node = jail.root().join("hostdisk");
        let _ = fs::remove_file(&node);
        let mknod = run_guest(
            cfg,
            &jail.root(),
            &["/bin/busybox", "mknod", "/hostdisk", "b", &major.to_string(), &minor.to_string()],
        );
        let read = run_guest(cfg, &jail.root(), &["/bin/busybox", "head", "-c", "4096", "/hostdisk"]);
        assert!(
            read.stdout.is_empty() && read.code() != 0,
            "{cfg}: reading a guest-made node {major}:{minor} returned host disk data\n\
             mknod: {mknod}\nhead: {read}"
        );
        let _ = fs::remove_file(&node);
    }
}

#[test]
fn the_host_secret_is_really_there() {
    // The jail tests mean something only if the escapes they try would
    // reach the secret natively: check that from the host side.
    let jail = Jail::new();
    let r = jail.root();
    let read = |p: &Path| fs::read_to_string(p).unwrap();
    assert_eq!(read(&r.join("../secret")), jail.secret);
    assert_eq!(read(&r.join("escape/secret")), jail.secret);
    assert_eq!(read(&r.join("hostfile")), jail.secret);
    assert_eq!(read(&r.join("esc2")), jail.secret);
    assert_eq!(read(&r.join("sub/deeprel")), jail.secret);
}
