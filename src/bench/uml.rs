//! The bench's optional comparison kernels: Debian's user-mode-linux
//! (`/usr/bin/linux`, or `--uml PATH`) booted from the same ext2 image
//! through a COW file of its own, and gVisor (`runsc do`) when it is on
//! PATH. Ported from tests/common/uml.rs (which the umvm binary cannot
//! include): UML's console on fd 0/1 (`con0=fd:0,fd:1`, the others null),
//! its pid files in `uml_dir=`, its memory file in /dev/shm (TMPDIR), and
//! one more boot after UML 6.1's occasional panic before init (it fails
//! to mount its root with -12 under host load).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Result};

use super::programs::{which, BUSYBOX};
use super::runner::{run_captured, Setup};

/// Debian's UML kernel.
pub const UML_KERNEL: &str = "/usr/bin/linux";

/// What the image's /init prints first: a boot that got this far reached
/// userspace (and is not booted again).
pub const INIT_STARTED: &str = "INIT-STARTED";

/// The image's /init (UML boots it; umvm runs its command line instead):
/// proc and a tmpfs /tmp, then what `BENCH=` (the kernel command line
/// puts it in init's environment) asks for: `script` runs /bench.sh,
/// `tcp-serve` and `tcp-client` are the two guests of the TCP workload on
/// eth0 (10.0.9.1 serves; the client waits for it, then measures
/// `BENCH_MIB` MiB and `BENCH_TRIPS` round trips). Then a forced poweroff.
pub const INIT: &str = r#"#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t tmpfs tmpfs /tmp
echo INIT-STARTED
case "$BENCH" in
script) sh /bench.sh /bin /tmp /b /t.tar ;;
tcp-serve) ifconfig eth0 10.0.9.1 netmask 255.255.255.0 up && netbench serve ;;
tcp-client)
    ifconfig eth0 10.0.9.2 netmask 255.255.255.0 up || exit 10
    i=0; until ping -c 1 -W 1 10.0.9.1 >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 60 ] || break; done
    netbench client 10.0.9.1 "$BENCH_MIB" "$BENCH_TRIPS" ;;
*) echo "init: unknown BENCH=$BENCH" ;;
esac
echo "INIT-DONE $?"
poweroff -f
"#;

/// The UML kernel to compare with: `--uml PATH` (which must exist), else
/// /usr/bin/linux when it is installed.
pub fn kernel(chosen: Option<&Path>) -> Result<Option<PathBuf>> {
    match chosen {
        Some(p) if p.is_file() => Ok(Some(p.to_path_buf())),
        Some(p) => bail!("--uml {}: no such file", p.display()),
        None => Ok(Some(PathBuf::from(UML_KERNEL)).filter(|p| p.is_file())),
    }
}

/// UML's command line for a guest booting `image` through `cow`, its
/// console (fd 1) and errors in the caller's log, `uml_dir` and the
/// memory file's TMPDIR set.
pub fn command(linux: &Path, image: &Path, cow: &Path, uml_dir: &Path, mem_mb: u64) -> Command {
    let mut ubd = OsString::from("ubd0=");
    ubd.push(cow);
    ubd.push(",");
    ubd.push(image);
    let shm = Path::new("/dev/shm");
    let mut cmd = Command::new(linux);
    cmd.arg(ubd)
        .args(["root=/dev/ubda", "rw", "con=null", "ssl=null", "con0=fd:0,fd:1", "quiet", "init=/init"])
        .arg(format!("mem={mem_mb}M"))
        .arg(format!("uml_dir={}", uml_dir.display()))
        .env("TMPDIR", if shm.is_dir() { shm } else { uml_dir });
    cmd
}

/// Memory for a UML guest: the disk workloads' files fit in its page
/// cache, as they do on the host and in umvm.
pub fn mem_mb(disk_mib: u64) -> u64 {
    (3 * disk_mib + 192).min(2048)
}

/// The script in a UML guest booted from the image through a fresh COW
/// file (`BENCH=script`); its console is the output. Boots once more if
/// UML panicked before init.
pub fn uml_round(s: &Setup, linux: &Path, disk_mib: u64) -> Result<String> {
    let cow = s.work.join("uml.cow");
    let uml_dir = s.work.join("uml");
    std::fs::create_dir_all(&uml_dir)?;
    let mut last = None;
    for _attempt in 0..2 {
        let _ = std::fs::remove_file(&cow);
        let mut cmd = command(linux, &s.image, &cow, &uml_dir, mem_mb(disk_mib));
        cmd.arg("BENCH=script");
        let (status, text) = run_captured(cmd, "the UML guest run", &s.work.join("uml.log"), s.timeout)?;
        let _ = std::fs::remove_file(&cow);
        if text.contains("INIT-DONE") {
            return Ok(text);
        }
        let why = match status {
            Some(st) => format!("UML exited ({st}) before its script ended: {}", tail(&text)),
            None => format!("the UML guest run took more than {} s: {}", s.timeout.as_secs(), tail(&text)),
        };
        let early_panic = status.is_some() && !text.contains(INIT_STARTED) && text.contains("Kernel panic");
        last = Some(why);
        if !early_panic {
            break;
        }
    }
    bail!("{}", last.unwrap_or_default())
}

/// The last lines of a log, on one line.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(6)..].join(" | ")
}

/// The shell lines (for the TCP round's script) that run the UML pair:
/// guest 1 serves in the background, guest 2 measures in the foreground
/// after `echo @ uml`, each through a COW file of its own over the image,
/// on a multicast group of their own. Each guest gets SIGTERM (UML then
/// kills its helpers and exits) when it overstays `limit`, and the server
/// 20 s after the client ended, so that a stuck UML pair cannot cost the
/// host's and umvm's TCP figures.
pub fn tcp_pair_script(s: &Setup, linux: &Path, mib: u64, trips: u64, limit: Duration) -> String {
    let guest = |n: u8, role: &str| {
        let cmd = command(linux, &s.image, &s.work.join(format!("uml-tcp{n}.cow")), &s.work.join("uml"), 128);
        let mut line =
            format!("TMPDIR={} {BUSYBOX} timeout -s TERM {} {}", shm_or(&s.work), limit.as_secs(), linux.display());
        for a in cmd.get_args() {
            line.push(' ');
            line.push_str(&a.to_string_lossy());
        }
        format!(
            "{line} eth0=mcast,fe:fd:0a:00:09:1{n},239.192.9.2,1110,1 BENCH={role} BENCH_MIB={mib} BENCH_TRIPS={trips}"
        )
    };
    format!(
        "mkdir -p {uml_dir}; rm -f {w}/uml-tcp1.cow {w}/uml-tcp2.cow\n\
         {server} </dev/null >{log} 2>&1 & s=$!\n\
         echo @ uml\n\
         {client} </dev/null\n\
         ( {BUSYBOX} sleep 20; kill -TERM $s 2>/dev/null ) & k=$!\n\
         wait $s; kill $k 2>/dev/null\n\
         rm -f {w}/uml-tcp1.cow {w}/uml-tcp2.cow\n",
        uml_dir = s.work.join("uml").display(),
        w = s.work.display(),
        server = guest(1, "tcp-serve"),
        client = guest(2, "tcp-client"),
        log = s.work.join("uml-tcp-server.log").display(),
    )
}

fn shm_or(fallback: &Path) -> String {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { shm } else { fallback }.display().to_string()
}

/// The script under gVisor (`runsc do`, rootless, no network), when
/// `runsc` is on PATH: the host's programs and directories, seen through
/// gVisor's kernel.
pub fn runsc_round(s: &Setup, runsc: &Path) -> Result<String> {
    let disk = s.work.join("runsc-disk");
    let tmp = s.shm.join("runsc");
    for d in [&disk, &tmp] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d)?;
    }
    let mut cmd = Command::new(runsc);
    cmd.args(["--rootless", "--network=none", "do", BUSYBOX, "sh", "-c", &s.script, "bench.sh"])
        .arg(&s.bin)
        .arg(&tmp)
        .arg(&disk)
        .arg(&s.tarball);
    let out = run_captured(cmd, "the gVisor run", &s.work.join("runsc.log"), s.timeout);
    let _ = std::fs::remove_dir_all(&disk);
    let _ = std::fs::remove_dir_all(&tmp);
    match out? {
        (Some(st), text) if st.success() => Ok(text),
        (Some(st), text) => bail!("runsc do failed ({st}): {}", tail(&text)),
        (None, text) => bail!("the gVisor run took more than {} s: {}", s.timeout.as_secs(), tail(&text)),
    }
}

/// `runsc` on PATH, if gVisor is installed.
pub fn runsc() -> Option<PathBuf> {
    which("runsc")
}
