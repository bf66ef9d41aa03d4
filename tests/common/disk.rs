//! Disk helpers for the tests that boot from ext2 images (issue 7):
//! making images with `mke2fs -d`, the `ubd0=COW,BACKING` switch, merging a
//! COW file with `umvm cow merge`, and reading images back with `e2fsck -fn`
//! and `debugfs`.

use super::*;
// Where the disk tests have always found them.
#[allow(unused_imports)]
pub use super::tools::{find_tool, under_ci};

/// Busybox applets the disk tests use besides APPLETS.
pub const DISK_APPLETS: &[&str] =
    &["ln", "rmdir", "sync", "truncate", "sha256sum", "find", "mknod", "mount", "poweroff", "id", "tar", "xargs", "df"];

/// A busybox system root (make_system_rootfs) with DISK_APPLETS and an
/// empty /sys.
pub fn disk_tree(dir: &Path) {
    make_system_rootfs(dir);
    for a in DISK_APPLETS {
        let link = dir.join("bin").join(a);
        if fs::symlink_metadata(&link).is_err() {
            symlink("busybox", &link);
        }
    }
    mkdir(&dir.join("sys"), 0o555);
}

/// Makes an ext2 image of `size_mb` MiB at `img` from the tree `dir`.
pub fn mke2fs(dir: &Path, img: &Path, size_mb: u32, extra: &[&str]) {
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2"])
        .args(extra)
        .arg("-d")
        .arg(dir)
        .arg(img)
        .arg(format!("{size_mb}M"))
        .output()
        .expect("mke2fs (e2fsprogs) must be installed");
    assert!(out.status.success(), "mke2fs: {}", String::from_utf8_lossy(&out.stderr));
}

/// What `e2fsck -fn IMG` said: its exit code and its stdout and stderr.
pub fn e2fsck(img: &Path) -> (i32, String) {
    let out = Command::new("e2fsck").arg("-fn").arg(img).output().expect("e2fsck (e2fsprogs)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The lines of e2fsck's output that are not its progress: the names of
/// its passes, its version line and the closing summary.
/// Also e2fsck's note that a superblock time is less than a day ahead of
/// its clock: this VM's clock is stepped back at times, which is no fault
/// of the image.
pub fn e2fsck_problems(text: &str) -> Vec<&str> {
    let skew = |l: &str| {
        l.starts_with("Superblock last mount time is in the future.")
            || l.starts_with("Superblock last write time is in the future.")
            || l.trim() == "(by less than a day, probably due to the hardware clock being incorrectly set)"
    };
    let noise = |l: &str| {
        l.starts_with("Pass ") || l.starts_with("e2fsck ") || l.contains(" files (") || l.is_empty() || skew(l)
    };
    text.lines().filter(|l| !noise(l)).collect()
}

/// `e2fsck -fn IMG` passes: exit 0 and no message beyond its passes.
pub fn e2fsck_clean(img: &Path) {
    let (code, text) = e2fsck(img);
    assert!(code == 0 && e2fsck_problems(&text).is_empty(), "e2fsck -fn {}:\n{text}", img.display());
}

/// What `debugfs -R CMD IMG` prints.
pub fn debugfs(img: &Path, cmd: &str) -> String {
    let out = Command::new("debugfs").arg("-R").arg(cmd).arg(img).output().expect("debugfs (e2fsprogs)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The bytes of `path` in `img` (debugfs dump into `dir`).
pub fn dump(img: &Path, path: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join("dumped");
    let _ = fs::remove_file(&out);
    debugfs(img, &format!("dump {path} {}", out.display()));
    fs::read(&out).unwrap_or_default()
}

/// The switch `ubd0=COW,BACKING`.
pub fn ubd0(cow: &Path, backing: &Path) -> OsString {
    let mut s = OsString::from("ubd0=");
    s.push(cow);
    s.push(",");
    s.push(backing);
    s
}

/// `umvm run --trap MODE SWITCHES -- ARGV` (no root directory: the root
/// is the disk), killed and failed after `timeout`.
pub fn run_disk(trap: Trap, switches: &[OsString], argv: &[&str], stdin: &[u8], timeout: Duration) -> Run {
    run_disk_in(Config { trap, strace: false }, switches, argv, stdin, timeout)
}

/// [`run_disk`] in `cfg`: with `--strace --strace-file` when it says so.
pub fn run_disk_in(cfg: Config, switches: &[OsString], argv: &[&str], stdin: &[u8], timeout: Duration) -> Run {
    let mut args: Vec<OsString> = vec!["run".into(), "--trap".into(), cfg.trap.name().into()];
    let trace = cfg.strace.then(|| TempDir::new("strace"));
    if let Some(t) = &trace {
        args.extend(["--strace".into(), "--strace-file".into(), t.path().join("trace").into_os_string()]);
    }
    args.extend(switches.iter().cloned());
    args.push("--".into());
    args.extend(argv.iter().map(OsString::from));
    run_umvm_timeout(&args, stdin, timeout)
}

/// Merges `cow` into a new image `out` with `umvm cow merge`.
pub fn merge(cow: &Path, out: &Path) {
    let _ = fs::remove_file(out);
    let run = run_umvm(&[Path::new("cow"), Path::new("merge"), cow, Path::new("-o"), out], b"");
    assert_eq!(run.code(), 0, "{run}");
}
