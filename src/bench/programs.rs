//! What the bench needs on disk before the first round: its C programs,
//! compiled with `musl-gcc -static` into a cache directory (the umvm
//! binary carries their sources, so no source tree is needed at run time),
//! the guest's root tree (busybox and its applets, as the tests'
//! make_system_rootfs builds it), a tarball of small files, and the ext2
//! image the guest boots through a COW file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::workloads::{Params, PROGRAMS};

/// The busybox the guest runs and the host's script shell: Debian's
/// busybox-static.
pub const BUSYBOX: &str = "/bin/busybox";

/// The applets linked in the guest's /bin.
const APPLETS: &[&str] = &[
    "sh", "mount", "umount", "mkdir", "rm", "echo", "cat", "tar", "sync", "poweroff", "ping", "ip", "ifconfig", "sleep",
];

/// Runs `cmd` (stdin closed) and fails with its first line of stderr.
pub fn check(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("{what} failed ({}): {}", out.status, err.lines().next().unwrap_or("").trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// FNV-1a: names the cache directory after the programs' sources, so a
/// umvm with other sources never runs stale binaries.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.bytes().chain([0])) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `${XDG_CACHE_HOME:-~/.cache}/umvm/bench`.
pub fn cache_root() -> Result<PathBuf> {
    let base = match (std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME")) {
        (Some(x), _) if !x.is_empty() => PathBuf::from(x),
        (_, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".cache"),
        _ => bail!("neither XDG_CACHE_HOME nor HOME is set: no place for the bench's cache"),
    };
    Ok(base.join("umvm").join("bench"))
}

/// Compiles every program (once per set of sources) and returns the
/// directory that holds them.
pub fn build_programs(cache: &Path) -> Result<PathBuf> {
    let sources: Vec<&str> = PROGRAMS.iter().flat_map(|(n, s)| [*n, *s]).collect();
    let dir = cache.join(format!("bin-{:016x}", fnv1a(&sources)));
    if PROGRAMS.iter().all(|(name, _)| dir.join(name).is_file()) {
        return Ok(dir);
    }
    if which("musl-gcc").is_none() {
        bail!("musl-gcc not found: install musl-tools (the bench compiles its guest programs with musl-gcc -static)");
    }
    let tmp = cache.join(format!("build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    for (name, source) in PROGRAMS {
        let c = tmp.join(format!("{name}.c"));
        std::fs::write(&c, source).with_context(|| format!("cannot write {}", c.display()))?;
        check(
            Command::new("musl-gcc").args(["-static", "-O2", "-o"]).arg(tmp.join(name)).arg(&c),
            &format!("musl-gcc -static {name}.c"),
        )?;
    }
    // Another bench may have built the same directory meanwhile: either
    // copy is good.
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.is_dir() {
            bail!("cannot move the programs to {}", dir.display());
        }
    }
    Ok(dir)
}

/// The first `name` on $PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Fails unless /bin/busybox is there.
pub fn check_busybox() -> Result<()> {
    if !Path::new(BUSYBOX).is_file() {
        bail!("{BUSYBOX} not found: install busybox-static (the bench's guest root and scripts use it)");
    }
    Ok(())
}

/// The guest's root tree in `tree`: busybox and its applets in /bin, the
/// programs in /bin, the tarball at /t.tar, the script at /bench.sh, the
/// init a UML guest boots (/init, [`super::uml::INIT`]), and empty /b (the disk workloads' directory), /dev, /proc, /sys and /tmp.
pub fn make_tree(tree: &Path, bin: &Path, tarball: &Path, script: &str) -> Result<()> {
    let ctx = |p: &Path| format!("cannot write {}", p.display());
    for d in ["bin", "b", "dev", "proc", "sys", "tmp"] {
        std::fs::create_dir_all(tree.join(d)).with_context(|| ctx(&tree.join(d)))?;
    }
    std::fs::copy(BUSYBOX, tree.join("bin/busybox")).with_context(|| ctx(&tree.join("bin/busybox")))?;
    for a in APPLETS {
        let link = tree.join("bin").join(a);
        std::os::unix::fs::symlink("busybox", &link).with_context(|| ctx(&link))?;
    }
    for (name, _) in PROGRAMS {
        let to = tree.join("bin").join(name);
        std::fs::copy(bin.join(name), &to).with_context(|| ctx(&to))?;
    }
    std::fs::copy(tarball, tree.join("t.tar")).with_context(|| ctx(&tree.join("t.tar")))?;
    let init = tree.join("init");
    std::fs::write(&init, super::uml::INIT).with_context(|| ctx(&init))?;
    std::fs::set_permissions(&init, std::os::unix::fs::PermissionsExt::from_mode(0o755)).with_context(|| ctx(&init))?;
    std::fs::write(tree.join("bench.sh"), script).with_context(|| ctx(&tree.join("bench.sh")))
}

/// A tarball of `files` small files (100 to 4000 bytes, in 20
/// directories), made with busybox tar.
pub fn make_tarball(dir: &Path, files: u64) -> Result<PathBuf> {
    let src = dir.join("tarsrc");
    for i in 0..files {
        let d = src.join(format!("d{:02}", i % 20));
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        let len = 100 + (i * 7919 % 3900) as usize;
        let body: Vec<u8> = (0..len).map(|j| b'a' + ((i as usize + j) % 26) as u8).collect();
        std::fs::write(d.join(format!("f{i}")), body).with_context(|| format!("cannot write in {}", d.display()))?;
    }
    let tarball = dir.join("t.tar");
    check(Command::new(BUSYBOX).args(["tar", "cf"]).arg(&tarball).arg("-C").arg(&src).arg("."), "busybox tar cf")?;
    std::fs::remove_dir_all(&src).with_context(|| format!("cannot remove {}", src.display()))?;
    Ok(tarball)
}

/// An ext2 image of `tree` (4 KiB blocks) with room for the disk
/// workloads' files.
pub fn make_image(tree: &Path, image: &Path, p: &Params) -> Result<()> {
    let mib = 2 * p.disk_mib + 64 + p.tar_files * 8 / 1024 + p.files * 8 / 1024;
    check(
        Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext2", "-b", "4096", "-d"])
            .arg(tree)
            .arg(image)
            .arg(format!("{mib}M")),
        "mke2fs -t ext2 -d (e2fsprogs)",
    )?;
    Ok(())
}
