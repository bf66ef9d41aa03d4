//! A real UML kernel and umvm read each other's disks (issue 7): umvm's
//! guest, booted from `ubd0=COW,root.img`, makes files, directories,
//! hard links and symlinks; Debian's UML kernel (/usr/bin/linux) boots
//! that COW file and lists them; both listings must be the same. And the
//! reverse: UML makes the same tree in a COW file of its own, umvm boots it
//! and lists it.
//!
//! The listing (LIST) names inode numbers, link counts, modes, sizes, block
//! counts, times, symlink targets and the sha256 of every regular file, so
//! the two kernels agree on the whole on-disk state, not just on contents.
//! UML boots like cow/tests/uml_boot.rs (`root=/dev/ubda init=... mem=64M`,
//! console on its stdout), once more after its rare -12 panic before init.

mod common;

use common::disk::*;
use common::uml::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long one UML boot may take (about 2 s here).
const UML_TIMEOUT: Duration = Duration::from_secs(40);

/// Makes the tree: each kind of object the issue names, files that need
/// indirect and double-indirect blocks (1 KiB blocks), a directory of many
/// blocks, a sparse file, a rename across directories, removals, and fixed
/// times. Run by both kernels, with `set -e`.
const CREATE: &str = r#"set -e
mkdir -p /w/d/e /w/gone /w/many
echo hello > /w/d/hello
seq 1 300000 > /w/d/e/big
dd if=/dev/urandom of=/w/rand bs=1024 count=300 2>/dev/null
ln /w/d/hello /w/hard
ln -s d/hello /w/fast
ln -s /0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/x /w/slow
mv /w/d/e /w/e2
chmod 600 /w/rand
chmod 1777 /w/many
echo gone > /w/gone/x
rm /w/gone/x
rmdir /w/gone
i=0
while [ $i -lt 300 ]; do echo "entry $i" > /w/many/file-with-a-longish-name-$i; i=$((i+1)); done
i=0
while [ $i -lt 300 ]; do rm /w/many/file-with-a-longish-name-$i; i=$((i+3)); done
truncate -s 3000000 /w/sparse
echo tail >> /w/sparse
mkfifo /w/fifo
mknod /w/null c 1 3
touch -d '2001-02-03 04:05:06' /w/d/hello /w/e2
sync
"#;

/// Lists the tree. Not atimes: reading the files changes them.
const LIST: &str = r#"cd /w
ls -lniR .
find . | sort | xargs stat -c '%n %i %h %f %s %b %u %g %Y %Z %N'
find . -type f | sort | xargs sha256sum
cat fast
"#;

/// The init UML runs: LIST or CREATE then LIST between markers, then a
/// clean shutdown of the root filesystem.
fn uml_init(create: bool) -> String {
    format!(
        "#!/bin/sh\nexport PATH=/bin\necho INIT-STARTED\nmount -t proc proc /proc\nmount -o remount,rw /\n{}\
         echo LIST-BEGIN\nsh /list.sh\necho LIST-END\nsync\nmount -o remount,ro /\necho INIT-DONE\npoweroff -f\n",
        if create { "sh /create.sh\n" } else { "" }
    )
}

/// Boots UML (once more after a panic before init: UML 6.1 sometimes
/// fails to mount its root with -12 under host load) on
/// `ubd0=COW,BACKING` with `init` and returns what its init printed
/// between the LIST markers.
fn uml_list(linux: &Path, cow: &Path, backing: &Path, init: &str, dir: &Path) -> String {
    let spec = GuestSpec::new(linux, backing, &dir.join("uml-guest")).unwrap().cow(cow).init(init);
    let (status, out) = spec.run(UML_TIMEOUT).unwrap();
    assert!(status.success() && out.contains("INIT-DONE"), "UML failed:\n{out}");
    for bad in ["EXT4-fs error", "EXT2-fs error", "EXT4-fs warning", "I/O error"] {
        assert!(!out.contains(bad), "UML complained about the disk ({bad}):\n{out}");
    }
    out.split_once("LIST-BEGIN\n")
        .and_then(|(_, rest)| rest.split_once("LIST-END\n"))
        .map(|(text, _)| text.to_string())
        .unwrap_or_else(|| panic!("UML printed no listing:\n{out}"))
}

/// The root image both kernels boot: busybox, the scripts, and the inits.
fn root_image(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    disk_tree(&tree);
    write_file(&tree.join("create.sh"), CREATE, 0o755);
    write_file(&tree.join("list.sh"), LIST, 0o755);
    write_file(&tree.join("init-list"), uml_init(false), 0o755);
    write_file(&tree.join("init-create"), uml_init(true), 0o755);
    let img = dir.join("root.img");
    // 1 KiB blocks, so that /w/d/e/big needs double-indirect blocks.
    mke2fs(&tree, &img, 64, &["-b", "1024"]);
    img
}

/// What LIST must show whoever made the tree: checked beside the
/// comparison, so that two equally wrong listings cannot pass.
fn check_listing(list: &str, who: &str) {
    let seq: String = (1..=300_000).map(|i| format!("{i}\n")).collect();
    let big_sum = sha256_hex(seq.as_bytes());
    assert!(list.contains(&format!("{big_sum}  ./e2/big")), "{who}: sha256 of e2/big:\n{list}");
    assert!(list.ends_with("hello\n"), "{who}: cat fast:\n{list}");
    assert!(list.contains("./d/hello") && list.contains("./hard") && list.contains("'./fast' -> 'd/hello'"), "{list}");
    assert!(list.contains(" 981173106 "), "{who}: the fixed mtime:\n{list}");
    assert!(list.contains("./sparse") && list.contains(" 3000005 "), "{who}: the sparse file:\n{list}");
    assert!(list.contains("./many/file-with-a-longish-name-299") && !list.contains("name-297\n"), "{who}:\n{list}");
    assert!(!list.contains("gone"), "{who}: a removed directory is listed:\n{list}");
    assert_eq!(list.matches("  ./").count(), 1 + 1 + 1 + 1 + 1 + 200, "{who}: regular files:\n{list}");
}

/// The host's sha256sum of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// The first line where two listings differ, for the failure message.
fn first_difference(a: &str, b: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    for i in 0..la.len().max(lb.len()) {
        if la.get(i) != lb.get(i) {
            return format!("line {}: umvm {:?}, UML {:?}", i + 1, la.get(i), lb.get(i));
        }
    }
    "none".into()
}

#[test]
fn uml_reads_what_umvm_wrote() {
    let Some(linux) = uml_kernel("disk_uml") else { return };
    let dir = TempDir::new("disk-uml");
    let backing = root_image(dir.path());
    let cow = dir.path().join("umvm.cow");
    let trap = traps()[0];
    let timeout = Duration::from_secs(60);
    let made = run_disk(trap, &[ubd0(&cow, &backing)], &["/bin/sh", "/create.sh"], b"", timeout);
    assert_eq!(made.code(), 0, "{made}");
    // A second boot, so that the listing comes from the disk, not from
    // the first guest's caches.
    let listed = run_disk(trap, &[ubd0(&cow, &backing)], &["/bin/sh", "/list.sh"], b"", timeout);
    assert_eq!(listed.code(), 0, "{listed}");
    let ours = listed.out();
    check_listing(&ours, "umvm");
    let theirs = uml_list(&linux, &cow, &backing, "/init-list", dir.path());
    assert!(
        ours == theirs,
        "UML lists otherwise ({})\numvm:\n{ours}\nUML:\n{theirs}",
        first_difference(&ours, &theirs)
    );
    let merged = dir.path().join("merged.img");
    merge(&cow, &merged);
    e2fsck_clean(&merged);
}

#[test]
fn umvm_reads_what_uml_wrote() {
    let Some(linux) = uml_kernel("disk_uml") else { return };
    let dir = TempDir::new("disk-uml-rev");
    let backing = root_image(dir.path());
    // UML makes the COW file itself.
    let cow = dir.path().join("uml.cow");
    let theirs = uml_list(&linux, &cow, &backing, "/init-create", dir.path());
    check_listing(&theirs, "UML");
    let merged = dir.path().join("merged.img");
    merge(&cow, &merged);
    e2fsck_clean(&merged);
    let listed = run_disk(traps()[0], &[ubd0(&cow, &backing)], &["/bin/sh", "/list.sh"], b"", Duration::from_secs(60));
    assert_eq!(listed.code(), 0, "{listed}");
    let ours = listed.out();
    assert!(
        ours == theirs,
        "umvm lists otherwise ({})\numvm:\n{ours}\nUML:\n{theirs}",
        first_difference(&ours, &theirs)
    );
}
