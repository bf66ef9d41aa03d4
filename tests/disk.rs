//! Booting from a disk (issue 7): `umvm run ubd0=COW,IMAGE` mounts the
//! ext2 image made by `mke2fs -t ext2 -d` as the root filesystem, the
//! guest changes it, and what reaches the COW file is checked outside:
//! merged by `umvm cow merge` and by UML's `uml_moo`, then `e2fsck -fn`
//! must find nothing wrong and `debugfs` must show what the guest wrote.

mod common;

use common::disk::*;
use common::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A guest's file operations, each one the issue names, on a fresh COW
/// over one backing image: what debugfs finds in the merged image is what
/// the guest did.
#[test]
fn file_operations_reach_the_disk() {
    let dir = TempDir::new("disk-ops");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    let backing = dir.path().join("root.img");
    mke2fs(&tree, &backing, 32, &[]);
    let script = r#"
set -e
mkdir -p /w/a/b /w/gone
echo one > /w/a/f
echo two >> /w/a/f
seq 1 1000 > /w/a/big
mv /w/a/f /w/a/b/g
ln /w/a/b/g /w/h
ln -s c/b/g /w/s
ln -s /0123456789012345678901234567890123456789012345678901234567890123456789 /w/slow
truncate -s 1000 /w/a/big
truncate -s 5000000 /w/sparse
echo x > /w/del
rm /w/del
rmdir /w/gone
mkfifo /w/fifo
exec 3<>/w/fifo
echo fifo read-write >&3
read x <&3
echo "$x"
exec 3>&-
mknod /w/null c 1 3
chmod 640 /w/h
mv /w/a /w/c
cat /w/s /w/null
ls /w
sync
"#;
    for cfg in configs() {
        let cow = dir.path().join(format!("{}-{}.cow", cfg.trap.name(), cfg.strace));
        let run = run_disk_in(cfg, &[ubd0(&cow, &backing)], &["/bin/sh", "-c", script], b"", Duration::from_secs(60));
        assert_eq!(run.code(), 0, "{cfg}: {run}");
        assert_eq!(run.out(), "fifo read-write\none\ntwo\nc\nfifo\nh\nnull\ns\nslow\nsparse\n", "{cfg}: {run}");
        let img = dir.path().join("merged.img");
        merge(&cow, &img);
        e2fsck_clean(&img);
        // init's exit unmounted the disk cleanly.
        assert!(debugfs(&img, "stats").contains("Filesystem state:         clean"), "{cfg}");
        assert_eq!(dump(&img, "/w/c/b/g", dir.path()), b"one\ntwo\n", "{cfg}");
        let big = dump(&img, "/w/c/big", dir.path());
        let want: String = (1..=1000).map(|i| format!("{i}\n")).collect();
        assert_eq!(big, &want.as_bytes()[..1000], "{cfg}");
        let h = debugfs(&img, "stat /w/h");
        assert!(h.contains("Mode:  0640") && h.contains("Links: 2"), "{cfg}: {h}");
        let s = debugfs(&img, "stat /w/s");
        assert!(s.contains("Fast link dest: \"c/b/g\""), "{cfg}: {s}");
        let slow = dump(&img, "/w/slow", dir.path());
        assert_eq!(slow.len(), 71, "{cfg}: slow symlink target");
        let sparse = debugfs(&img, "stat /w/sparse");
        assert!(sparse.contains("Size: 5000000") && sparse.contains("Blockcount: 0"), "{cfg}: {sparse}");
        let null = debugfs(&img, "stat /w/null");
        assert!(
            null.contains("Type: character special") && null.contains("Device major/minor number: 01:03"),
            "{cfg}: {null}"
        );
        let ls = debugfs(&img, "ls /w");
        for gone in ["del", "gone", " a "] {
            assert!(!ls.contains(gone), "{cfg}: {gone} is still there: {ls}");
        }
        assert!(debugfs(&img, "stat /w/fifo").contains("Type: FIFO"), "{cfg}");
    }
}

/// The issue's workload: a 100 MB file and a directory of 5,000 entries,
/// synced, then merged by umvm and, separately, by uml_moo: both images
/// pass e2fsck and hold the same bytes.
#[test]
fn a_big_file_and_a_big_directory_survive_both_merges() {
    let dir = TempDir::new("disk-big");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    let backing = dir.path().join("root.img");
    mke2fs(&tree, &backing, 256, &[]);
    let cow = dir.path().join("guest.cow");
    let script = r#"
set -e
dd if=/dev/urandom of=/big bs=1M count=100 2>/dev/null
sha256sum /big > /big.sum
mkdir /many
cd /many
i=0
while [ $i -lt 5000 ]; do echo $i > f$i; i=$((i+1)); done
i=0
while [ $i -lt 5000 ]; do rm f$i; i=$((i+2)); done
ls | wc -l
sync
"#;
    let cfg = configs()[0];
    let run = run_disk_in(cfg, &[ubd0(&cow, &backing)], &["/bin/sh", "-c", script], b"", Duration::from_secs(300));
    assert_eq!(run.code(), 0, "{run}");
    assert_eq!(run.out().trim(), "2500", "{run}");
    let img = dir.path().join("merged.img");
    merge(&cow, &img);
    e2fsck_clean(&img);
    let sum = String::from_utf8(dump(&img, "/big.sum", dir.path())).unwrap();
    let big = dump(&img, "/big", dir.path());
    assert_eq!(big.len(), 100 << 20);
    let host_sum = Command::new("sha256sum").arg(dir.path().join("dumped")).output().unwrap();
    assert_eq!(
        sum.split_whitespace().next(),
        String::from_utf8_lossy(&host_sum.stdout).split_whitespace().next(),
        "the guest's sha256 of /big"
    );
    let ls = debugfs(&img, "ls /many");
    assert!(ls.contains("f4999") && ls.contains("f1 ") && !ls.contains("f4998"), "{ls}");
    assert_eq!(String::from_utf8(dump(&img, "/many/f777", dir.path())).unwrap(), "777\n");
    if find_tool("uml_moo").is_some() {
        let moo = dir.path().join("moo.img");
        let out = Command::new("uml_moo").arg(&cow).arg(&moo).output().unwrap();
        assert!(out.status.success(), "uml_moo: {}", String::from_utf8_lossy(&out.stderr));
        e2fsck_clean(&moo);
        assert!(std::fs::read(&moo).unwrap() == std::fs::read(&img).unwrap(), "uml_moo and umvm merge agree");
    } else {
        assert!(std::env::var_os("CI").is_none(), "CI must have uml-utilities (scripts/deps --test)");
    }
}

/// Bad images: one line naming the disk and the fault, a non-zero exit,
/// never a panic.
#[test]
fn bad_images_are_refused_with_one_line() {
    let dir = TempDir::new("disk-bad");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    let good = dir.path().join("good.img");
    mke2fs(&tree, &good, 8, &[]);
    let mut cases: Vec<(PathBuf, &str)> = Vec::new();
    let random = dir.path().join("random.img");
    let bytes: Vec<u8> = (0..8u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&random, &bytes).unwrap();
    cases.push((random, "bad magic"));
    let truncated = dir.path().join("truncated.img");
    std::fs::write(&truncated, &std::fs::read(&good).unwrap()[..64 << 10]).unwrap();
    cases.push((truncated, "truncated"));
    let ext4 = dir.path().join("ext4.img");
    let out = Command::new("mke2fs").args(["-q", "-F", "-t", "ext4"]).arg(&ext4).arg("8M").output().unwrap();
    assert!(out.status.success());
    cases.push((ext4, "extent"));
    for (img, want) in cases {
        let mut sw = OsString::from("ubd0=");
        sw.push(&img);
        let run = run_disk_in(configs()[0], &[sw], &["/bin/true"], b"", Duration::from_secs(30));
        assert_ne!(run.code(), 0, "{run}");
        assert!(!run.err().contains("panicked"), "{run}");
        assert!(run.err().contains(want) && run.err().contains(&*img.to_string_lossy()), "{want}: {run}");
    }
}

/// Directory reading stays right while the directory shrinks (rm -rf
/// reads and deletes in turns), and an unlinked file lives on while an
/// fd holds it, then is freed: e2fsck finds no orphan.
#[test]
fn deleting_while_reading_and_unlinked_open_files() {
    let dir = TempDir::new("disk-rm");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    let backing = dir.path().join("root.img");
    mke2fs(&tree, &backing, 32, &[]);
    let script = r#"
set -e
mkdir /d /d/sub
cd /d
i=0
while [ $i -lt 400 ]; do echo $i > f$i; echo $i > sub/g$i; i=$((i+1)); done
cd /
rm -rf /d
ls -a / | grep -c '^d$' || true
echo keep > /k
exec 3< /k
rm /k
cat <&3
exec 3<&-
sync
"#;
    let cfg = configs()[0];
    let cow = dir.path().join("a.cow");
    let run = run_disk_in(cfg, &[ubd0(&cow, &backing)], &["/bin/sh", "-c", script], b"", Duration::from_secs(120));
    assert_eq!(run.code(), 0, "{run}");
    assert_eq!(run.out(), "0\nkeep\n", "{run}");
    let img = dir.path().join("merged.img");
    merge(&cow, &img);
    e2fsck_clean(&img);
    let free_before = debugfs(&backing, "stats");
    let free_after = debugfs(&img, "stats");
    let free = |s: &str| s.lines().find(|l| l.starts_with("Free inodes:")).map(str::to_string);
    assert_eq!(free(&free_before), free(&free_after), "every inode the guest made is free again");
}

/// An image whose inode table is damaged where one file's inode lies
/// boots; reading that file is EUCLEAN (Structure needs cleaning) to the
/// guest, and everything else works.
#[test]
fn a_corrupt_inode_is_euclean_to_the_guest() {
    let dir = TempDir::new("disk-corrupt");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    write_file(&tree.join("victim"), "the victim\n", 0o644);
    let img = dir.path().join("root.img");
    mke2fs(&tree, &img, 16, &["-b", "1024"]);
    let imap = debugfs(&img, "imap /victim");
    // "Inode N is part of block group G\n\tlocated at block B, offset 0xO"
    let block: u64 = imap.split("located at block ").nth(1).and_then(|r| r.split(',').next()).unwrap().parse().unwrap();
    let off = u64::from_str_radix(imap.split("offset 0x").nth(1).unwrap().trim(), 16).unwrap();
    let mut bytes = std::fs::read(&img).unwrap();
    let at = (block * 1024 + off) as usize;
    // A regular file of 1 KiB whose first block pointer is far past the
    // end of the filesystem.
    bytes[at..at + 2].copy_from_slice(&0o100644u16.to_le_bytes());
    bytes[at + 4..at + 8].copy_from_slice(&1024u32.to_le_bytes());
    bytes[at + 40..at + 44].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    std::fs::write(&img, &bytes).unwrap();
    let mut sw = OsString::from("ubd0r=");
    sw.push(&img);
    let script = "cat /victim; echo status $?; cat /bin/busybox > /dev/null && echo others fine";
    for cfg in configs() {
        let run = run_disk_in(cfg, &[sw.clone()], &["/bin/sh", "-c", script], b"", Duration::from_secs(30));
        assert_eq!(run.code(), 0, "{cfg}: {run}");
        assert_eq!(run.out(), "status 1\nothers fine\n", "{cfg}: {run}");
        assert!(run.err().contains("Structure needs cleaning"), "{cfg}: {run}");
        assert!(!run.err().contains("panicked"), "{cfg}: {run}");
    }
}

/// busybox init from the disk: /sbin/init, its inittab and rcS on the ext2
/// root; the guest writes, powers off, and the disk is unmounted cleanly
/// (e2fsck finds it clean, with nothing to say); a reboot boots the disk
/// again with what the first boot wrote.
#[test]
fn busybox_init_on_a_disk_powers_off_with_the_disk_clean() {
    let dir = TempDir::new("disk-init");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    std::os::unix::fs::symlink("busybox", tree.join("bin/reboot")).unwrap();
    std::fs::create_dir_all(tree.join("sbin")).unwrap();
    std::fs::create_dir_all(tree.join("etc/init.d")).unwrap();
    std::os::unix::fs::symlink("../bin/busybox", tree.join("sbin/init")).unwrap();
    write_file(&tree.join("etc/inittab"), "::sysinit:/etc/init.d/rcS\n::shutdown:/bin/echo going down\n", 0o644);
    // Each boot counts itself on the disk; the first reboots, the second
    // powers off.
    let rcs = "#!/bin/sh\necho boot >> /boots\nn=$(wc -l < /boots)\necho \"boot $n\"\n\
               grep -c ' / ext2 rw' /proc/mounts\n\
               if [ $n = 1 ]; then reboot; else poweroff; fi\n";
    write_file(&tree.join("etc/init.d/rcS"), rcs, 0o755);
    let backing = dir.path().join("root.img");
    mke2fs(&tree, &backing, 16, &[]);
    let cow = dir.path().join("a.cow");
    let mut args: Vec<OsString> = vec!["run".into(), ubd0(&cow, &backing)];
    args.push("quiet".into());
    let run = run_umvm_timeout(&args, b"", Duration::from_secs(60));
    assert_eq!(run.code(), 0, "{run}");
    let out = run.out();
    assert!(out.contains("boot 1\n1\n") && out.contains("boot 2\n1\n"), "{run}");
    assert!(out.contains("going down") && out.contains("reboot: Power down"), "{run}");
    let img = dir.path().join("merged.img");
    merge(&cow, &img);
    // Not even "was not cleanly unmounted": the state is clean.
    e2fsck_clean(&img);
    let state = debugfs(&img, "stats");
    assert!(state.contains("Filesystem state:         clean"), "{state}");
    assert_eq!(dump(&img, "/boots", dir.path()), b"boot\nboot\n");
}

/// flock and record locks on a disk file conflict between open file
/// descriptions and processes, and go with the last close.
#[test]
fn file_locks_on_a_disk_file() {
    let dir = TempDir::new("disk-locks");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    std::fs::copy(guest_program("disk_locks"), tree.join("bin/disk_locks")).unwrap();
    let backing = dir.path().join("root.img");
    mke2fs(&tree, &backing, 16, &[]);
    for cfg in configs() {
        let cow = dir.path().join(format!("{}-{}.cow", cfg.trap.name(), cfg.strace));
        let run = run_disk_in(cfg, &[ubd0(&cow, &backing)], &["/bin/disk_locks"], b"", Duration::from_secs(30));
        assert_eq!(run.code(), 0, "{cfg}: {run}");
        assert_eq!(
            run.out(),
            "flock a: 0\nflock b: Resource temporarily unavailable\nflock b after unlock: 0\nofd lock a: 0\n\
             ofd lock b: Resource temporarily unavailable\nofd lock b after close(a): 0\n\
             child record lock: Resource temporarily unavailable\n",
            "{cfg}: {run}"
        );
    }
}

/// Debian's userland from a disk: glibc's loader maps its libraries from
/// ext2, bash, dpkg, apt and perl run, and what they print is what they
/// print from the same tree as a host directory.
#[test]
fn debian_runs_from_a_disk() {
    let Some(debian) = debian_root() else { return };
    let dir = TempDir::new("disk-debian");
    let backing = dir.path().join("debian.img");
    mke2fs(debian, &backing, 1024, &[]);
    let script = "dpkg -l | wc -l; apt-get --version | head -1; perl -e 'print 6*7, qq(\\n)'; \
                  bash -c 'declare -A a=([x]=1); echo ${a[x]}'; id; ls /usr/lib/x86_64-linux-gnu/libc.so.6; \
                  echo written > /root/new; cat /root/new";
    for cfg in configs() {
        let cow = dir.path().join(format!("{}-{}.cow", cfg.trap.name(), cfg.strace));
        let run =
            run_disk_in(cfg, &[ubd0(&cow, &backing)], &["/bin/bash", "-c", script], b"", Duration::from_secs(120));
        assert_eq!(run.code(), 0, "{cfg}: {run}");
        let native = run_guest(cfg, debian, &["/bin/bash", "-c", "dpkg -l | wc -l"]);
        let out = run.out();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], native.out().trim(), "{cfg}: {run}");
        assert!(lines[1].starts_with("apt "), "{cfg}: {run}");
        assert_eq!(
            &lines[2..],
            ["42", "1", "uid=0(root) gid=0(root) groups=0(root)", "/usr/lib/x86_64-linux-gnu/libc.so.6", "written"],
            "{cfg}: {run}"
        );
    }
}

/// `mount -o remount,ro /` makes the disk root read-only (writes are
/// EROFS, the filesystem is marked clean on the disk) and `remount,rw`
/// writable again.
#[test]
fn the_disk_root_remounts_read_only_and_back() {
    let dir = TempDir::new("disk-remount");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    let backing = dir.path().join("root.img");
    mke2fs(&tree, &backing, 16, &[]);
    let script = "echo one > /one; mount -o remount,ro /; grep ' / ' /proc/mounts; \
                  touch /two || echo refused; sync; cat /one; mount -o remount,rw /; touch /three && echo written";
    let cfg = configs()[0];
    let cow = dir.path().join("a.cow");
    let run = run_disk_in(cfg, &[ubd0(&cow, &backing)], &["/bin/sh", "-c", script], b"", Duration::from_secs(30));
    assert_eq!(run.code(), 0, "{run}");
    assert_eq!(run.out(), "/dev/root / ext2 ro,noatime 0 0\nrefused\none\nwritten\n", "{run}");
    assert!(run.err().contains("Read-only file system"), "{run}");
    let img = dir.path().join("merged.img");
    merge(&cow, &img);
    e2fsck_clean(&img);
    let ls = debugfs(&img, "ls /");
    assert!(ls.contains("one") && ls.contains("three") && !ls.contains("two"), "{ls}");
}

/// Bad disk switches: one `umvm:` line naming the switch or file and the
/// fault, a non-zero exit, and nothing created on the host.
#[test]
fn bad_disk_switches_are_one_line_errors() {
    let dir = TempDir::new("disk-switches");
    let tree = dir.path().join("tree");
    disk_tree(&tree);
    let img = dir.path().join("root.img");
    mke2fs(&tree, &img, 8, &[]);
    let cow = dir.path().join("new.cow");
    let missing = dir.path().join("missing.img");
    let word = |k: &str, v: &Path| {
        let mut s = OsString::from(k);
        s.push(v);
        s
    };
    let cases: Vec<(Vec<OsString>, String)> = vec![
        (vec![word("ubdz=", &img)], "expected a device number (0 to 15) or letter (a to p)".into()),
        (vec![word("ubd0=", &img), "root=/dev/ubdb".into()], "root=/dev/ubdb: no such disk (give ubd1=IMAGE)".into()),
        (vec![word("ubd0=", &img), "rootfstype=xfs".into()], "rootfstype=xfs: umvm mounts ext2".into()),
        (vec![ubd0(&cow, &missing)], format!("backing file {}", missing.display())),
        (vec![word("ubd0=", &missing)], format!("{}: No such file or directory", missing.display())),
    ];
    for (switches, want) in cases {
        let run = run_disk_in(configs()[0], &switches, &["/bin/true"], b"", Duration::from_secs(30));
        assert_eq!(run.code(), 1, "{run}");
        let err = run.err();
        assert!(err.starts_with("umvm: ") && err.lines().count() == 1 && err.contains(&want), "{want}: {run}");
    }
    assert!(!cow.exists(), "a COW file was made over a missing backing file");
    assert!(!missing.exists());
}
