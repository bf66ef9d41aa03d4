//! Block devices and mount(2) of disk filesystems (issue 7, item 2): a
//! guest booted from an ext2 root sees its second disk as /dev/ubdb (and
//! in /proc/partitions and /sys/block), reads and writes it with dd,
//! makes a filesystem on it with busybox's mke2fs, mounts it, writes
//! files and unmounts it; on the host, `e2fsck -fn` finds the image sound
//! and `debugfs` shows the files.

mod common;

use common::*;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Busybox applets these tests use besides common::APPLETS.
const MORE_APPLETS: &[&str] = &["mke2fs", "mount", "umount", "blockdev", "mknod", "sync", "cmp", "ls"];

/// A busybox system root with MORE_APPLETS and the mount points the
/// scripts use.
fn system_tree(dir: &Path) {
    make_system_rootfs(dir);
    for a in MORE_APPLETS {
        let link = dir.join("bin").join(a);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link).unwrap();
        }
    }
    for d in ["mnt", "mnt2", "sys"] {
        mkdir(&dir.join(d), 0o755);
    }
}

/// Makes an ext2 image of `size_mb` MiB at `img`, from the tree `dir` if
/// given.
fn mke2fs(dir: Option<&Path>, img: &Path, size_mb: u32) {
    let mut cmd = Command::new("mke2fs");
    cmd.args(["-q", "-F", "-t", "ext2"]);
    if let Some(d) = dir {
        cmd.arg("-d").arg(d);
    }
    let out = cmd.arg(img).arg(format!("{size_mb}M")).output().expect("mke2fs (e2fsprogs) must be installed");
    assert!(out.status.success(), "mke2fs: {}", String::from_utf8_lossy(&out.stderr));
}

/// `e2fsck -fn IMG` passes: exit 0 and no message beyond its passes.
fn e2fsck_clean(img: &Path) {
    let out = Command::new("e2fsck").arg("-fn").arg(img).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let noise = |l: &str| l.starts_with("Pass ") || l.starts_with("e2fsck ") || l.contains(" files (") || l.is_empty();
    let problems: Vec<&str> = text.lines().filter(|l| !noise(l)).collect();
    assert!(out.status.success() && problems.is_empty(), "e2fsck -fn {}:\n{text}", img.display());
}

/// What `debugfs -R CMD IMG` prints.
fn debugfs(img: &Path, cmd: &str) -> String {
    let out = Command::new("debugfs").arg("-R").arg(cmd).arg(img).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ubdN=FILE`, with the UML flags `flags` (`r`: read-only).
fn ubd(unit: u8, flags: &str, file: &Path) -> OsString {
    let mut s = OsString::from(format!("ubd{unit}{flags}="));
    s.push(file);
    s
}

/// Runs `umvm run` in `cfg` with the UML switches `switches`, then
/// `-- /bin/sh -c script`.
fn run_disk(cfg: Config, switches: &[OsString], script: &str) -> Run {
    let mut args: Vec<OsString> = vec!["run".into(), "--trap".into(), cfg.trap.name().into()];
    let trace = cfg.strace.then(|| TempDir::new("strace"));
    if let Some(t) = &trace {
        args.extend(["--strace".into(), "--strace-file".into(), t.path().join("trace").into_os_string()]);
    }
    args.extend(switches.iter().cloned());
    args.extend(["--".into(), "/bin/sh".into(), "-c".into(), script.into()]);
    run_umvm_timeout(&args, b"", Duration::from_secs(120))
}

/// A root image with the system tree, made once per test.
fn root_image(dir: &Path) -> std::path::PathBuf {
    let tree = dir.join("tree");
    system_tree(&tree);
    let img = dir.join("root.img");
    mke2fs(Some(&tree), &img, 32);
    img
}

/// An empty (all-zero) disk image of `size` bytes.
fn empty_disk(path: &Path, size: u64) {
    let _ = std::fs::remove_file(path);
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
}

/// The issue's workload: the second disk is listed, made into an ext2
/// filesystem by the guest's mke2fs, mounted through its /dev node,
/// written and unmounted; the image is sound and holds the files.
#[test]
fn a_guest_makes_mounts_and_fills_a_filesystem_on_its_second_disk() {
    let dir = TempDir::new("blockdev-mkfs");
    let root = root_image(dir.path());
    let extra = dir.path().join("extra.img");
    let script = r#"
set -e
cat /proc/partitions
mount -t sysfs sysfs /sys
cat /sys/block/ubdb/size /sys/block/ubdb/dev /sys/block/ubdb/ro
stat -c '%F %t:%T %a %u:%g %s' /dev/ubdb
mke2fs /dev/ubdb >/dev/null
mount -t ext2 /dev/ubdb /mnt
echo hello > /mnt/hello
mkdir /mnt/d
seq 1 2000 > /mnt/d/nums
grep /mnt /proc/mounts
umount /mnt
mknod /blk b 98 16
dd if=/blk bs=1024 skip=1 count=1 2>/dev/null | od -An -tx1 -j56 -N2
"#;
    let want = "major minor  #blocks  name\n\n  98        0      32768 ubda\n  98       16      16384 ubdb\n\
                32768\n98:16\n0\nblock special file 62:10 660 0:6 0\n/dev/ubdb /mnt ext2 rw 0 0\n 53 ef\n";
    for cfg in configs() {
        let cow = dir.path().join(format!("{}-{}.cow", cfg.trap.name(), cfg.strace));
        let mut root_sw = OsString::from("ubd0=");
        root_sw.push(&cow);
        root_sw.push(",");
        root_sw.push(&root);
        empty_disk(&extra, 16 << 20);
        let run = run_disk(cfg, &[root_sw, ubd(1, "", &extra)], script);
        assert_eq!(run.code(), 0, "{cfg}: {run}");
        assert_eq!(run.out(), want, "{cfg}: {run}");
        e2fsck_clean(&extra);
        assert_eq!(debugfs(&extra, "cat /hello"), "hello\n", "{cfg}");
        let nums: String = (1..=2000).map(|i| format!("{i}\n")).collect();
        assert_eq!(debugfs(&extra, "cat /d/nums"), nums, "{cfg}");
        assert!(debugfs(&extra, "stats").contains("Filesystem state:         clean"), "{cfg}");
    }
}

/// The byte at `i` of the patterned disk.
fn pattern(i: usize) -> u8 {
    ((i * 7 + i / 4096) % 251) as u8
}

/// /dev/ubdb reads and writes the disk at any offset: reads are short at
/// its end and empty past it, writes stop there with ENOSPC; the block
/// device ioctls give its geometry; what is written is in the image.
#[test]
fn the_block_device_reads_and_writes_the_disk() {
    let dir = TempDir::new("blockdev-io");
    let root = root_image(dir.path());
    let extra = dir.path().join("extra.img");
    let data: Vec<u8> = (0..1 << 20).map(pattern).collect();
    let script = r#"
exec 2>&1
dd if=/dev/ubdb bs=512 skip=3 count=1 2>/dev/null | od -An -tx1 -N8
dd if=/dev/ubdb bs=4096 skip=255 count=4 2>/dev/null | wc -c
dd if=/dev/ubdb bs=4096 skip=256 count=1 2>/dev/null | wc -c
printf umvm-was-here | dd of=/dev/ubdb bs=1 seek=5000 conv=notrunc,fsync 2>/dev/null
printf abcdef | dd of=/dev/ubdb bs=4096 seek=256 conv=notrunc 2>/dev/null; echo past-end=$?
printf abcdef | dd of=/dev/ubdb bs=1 seek=1048573 conv=notrunc 2>&1 | grep -o 'No space left on device'
dd if=/dev/ubdb bs=1 skip=5000 count=13 2>/dev/null; echo
for o in --getsize64 --getsz --getss --getbsz --getro --flushbufs; do blockdev $o /dev/ubdb; done
blockdev --rereadpt /dev/ubdb; echo rereadpt=$?
stat -c %s /dev/ubdb
"#;
    let first: String = (1536..1544).map(|i| format!(" {:02x}", pattern(i))).collect();
    let want = format!(
        "{first}\n4096\n0\npast-end=1\nNo space left on device\numvm-was-here\n1048576\n2048\n512\n4096\n0\n\
         blockdev: /dev/ubdb: Invalid argument\nrereadpt=1\n0\n"
    );
    for cfg in configs() {
        std::fs::write(&extra, &data).unwrap();
        let cow = dir.path().join(format!("{}-{}.cow", cfg.trap.name(), cfg.strace));
        let mut root_sw = OsString::from("ubd0=");
        root_sw.push(&cow);
        root_sw.push(",");
        root_sw.push(&root);
        let run = run_disk(cfg, &[root_sw, ubd(1, "", &extra)], script);
        assert_eq!(run.code(), 0, "{cfg}: {run}");
        assert_eq!(run.out(), want, "{cfg}: {run}");
        let img = std::fs::read(&extra).unwrap();
        assert_eq!(img.len(), 1 << 20, "{cfg}: the disk keeps its size");
        assert_eq!(&img[5000..5013], b"umvm-was-here", "{cfg}");
        assert_eq!(&img[(1 << 20) - 3..], b"abc", "{cfg}");
        let changed: Vec<usize> = (0..img.len()).filter(|&i| img[i] != data[i]).collect();
        assert!(changed.iter().all(|&i| (5000..5013).contains(&i) || i >= (1 << 20) - 3), "{cfg}: {changed:?}");
    }
}

/// mount(2)'s errors for disks are Linux's: EROFS writing a read-only
/// mount, EBUSY for a second mount that would change the read-only state
/// and for unmounting a mount with a file open on it, EINVAL for a disk
/// that holds no ext2 filesystem, ENOTBLK for a character device, ENXIO
/// for a partition the disk does not have. A lazy unmount with a file
/// still open unmounts the filesystem (marks it clean) at the last close.
#[test]
fn mount_errors_and_unmounting_are_as_in_linux() {
    let dir = TempDir::new("blockdev-errors");
    let root = root_image(dir.path());
    let extra = dir.path().join("extra.img");
    let garbage = dir.path().join("garbage.img");
    let noise: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&garbage, &noise).unwrap();
    // The superblock's s_state (offset 58): 1 when clean, 0 while mounted
    // read-write.
    let script = r#"
exec 2>&1
state() { dd if=/dev/ubdb bs=1 skip=1082 count=1 2>/dev/null | od -An -tx1; }
mount -o ro -t ext2 /dev/ubdb /mnt; echo mount-ro=$?
echo x > /mnt/f; echo write=$?
mount -t ext2 /dev/ubdb /mnt2; echo rw-over-ro=$?
mknod /disk b 98 16
mount -o ro -t ext2 /disk /mnt2; echo ro-again=$?
ls /mnt2
grep /mnt /proc/mounts
umount /mnt2; echo umount=$?
umount /mnt; echo umount=$?
mount -t ext2 /dev/ubdb /mnt; echo mount-rw=$?
state
echo data > /mnt/f
exec 3</mnt/f
umount /mnt; echo busy=$?
umount -l /mnt; echo lazy=$?
state
cat <&3
exec 3<&-
state
mount -o ro -t ext2 /dev/ubdc /mnt; echo garbage=$?
echo x > /dev/ubdc; echo read-only-disk=$?
mount -t ext2 /dev/null /mnt; echo chardev=$?
mknod /part b 98 17
mount -t ext2 /part /mnt; echo partition=$?
"#;
    let want = "mount-ro=0\n/bin/sh: can't create /mnt/f: Read-only file system\nwrite=1\n\
                mount: mounting /dev/ubdb on /mnt2 failed: Device or resource busy\nrw-over-ro=255\nro-again=0\n\
                lost+found\n/dev/ubdb /mnt ext2 ro 0 0\n/disk /mnt2 ext2 ro 0 0\numount=0\numount=0\nmount-rw=0\n 00\n\
                umount: can't unmount /mnt: Device or resource busy\nbusy=1\nlazy=0\n 00\ndata\n 01\n\
                mount: mounting /dev/ubdc on /mnt failed: Invalid argument\ngarbage=255\n\
                /bin/sh: can't create /dev/ubdc: Read-only file system\nread-only-disk=1\n\
                mount: mounting /dev/null on /mnt failed: Block device required\nchardev=255\n\
                mount: mounting /part on /mnt failed: No such device or address\npartition=255\n";
    for cfg in configs() {
        let _ = std::fs::remove_file(&extra);
        mke2fs(None, &extra, 16);
        let cow = dir.path().join(format!("{}-{}.cow", cfg.trap.name(), cfg.strace));
        let mut root_sw = OsString::from("ubd0=");
        root_sw.push(&cow);
        root_sw.push(",");
        root_sw.push(&root);
        let run = run_disk(cfg, &[root_sw, ubd(1, "", &extra), ubd(2, "r", &garbage)], script);
        assert_eq!(run.code(), 0, "{cfg}: {run}");
        assert_eq!(run.out(), want, "{cfg}: {run}");
        e2fsck_clean(&extra);
        assert_eq!(debugfs(&extra, "cat /f"), "data\n", "{cfg}");
        assert_eq!(std::fs::read(&garbage).unwrap(), noise, "{cfg}: the read-only disk is untouched");
    }
}
