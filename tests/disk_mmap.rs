//! mmap of files on an ext2 disk (issue 7): a guest booted from
//! `ubd0=COW,IMAGE` maps files of its root filesystem privately and
//! shared (tests/guest/disk_mmap.c checks what it sees), dynamically
//! linked programs run from the disk (the loader maps every library), and
//! what shared mappings stored is in the file once the VM has ended: the
//! COW merged by `umvm cow merge`, `e2fsck -fn` clean, `debugfs` shows it.

mod common;

use common::disk::*;
use common::*;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// What disk_mmap prints, on Linux as in umvm.
const EXPECTED: &str = "private equals read 1 (10000 bytes)
maps names the file 1
private store stays private 1
second mapping 1
rdonly shared write: Permission denied
shared sees file 1
read sees store before msync: shared-store
shared sees write via-write
private sees write via-write
size after growth 12288
new page zero before the store 1
read of grown page: grown
child store child (status 0)
size after shrink 5000
";

/// Runs `umvm run` in `cfg` booted from `cow` over `backing`, then `argv`.
fn run_on(cfg: Config, cow: &Path, backing: &Path, argv: &[&str]) -> Run {
    run_disk_in(cfg, &[ubd0(cow, backing)], argv, b"", T)
}

/// The read-only file disk_mmap maps privately: bytes that are not all
/// one value, so a wrong offset shows.
fn ro_bytes() -> Vec<u8> {
    (0..10000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
}

/// Puts disk_mmap's input files in `root`'s directory `dir`.
fn data_dir(root: &Rootfs, dir: &str) {
    root.write(&format!("{dir}/ro.txt"), ro_bytes(), 0o444);
    root.write(&format!("{dir}/rw.bin"), vec![b'.'; 8192], 0o644);
}

/// What disk_mmap left in directory `dir` of the merged image `img`.
fn check_data(img: &Path, dir: &str, tmp: &Path, what: &str) {
    assert_eq!(dump(img, &format!("{dir}/ro.txt"), tmp), ro_bytes(), "{what}: ro.txt changed");
    let rw = dump(img, &format!("{dir}/rw.bin"), tmp);
    let mut want = vec![b'.'; 8192];
    want.resize(12288, 0);
    for (at, s) in [
        (100, &b"shared-store"[..]),
        (200, b"at-close"),
        (300, b"child"),
        (400, b"at-unmount"),
        (5000, b"via-write"),
        (9000, b"grown"),
    ] {
        want[at..at + s.len()].copy_from_slice(s);
    }
    assert!(rw == want, "{what}: rw.bin in the image is {:?}", String::from_utf8_lossy(&rw));
    let new = dump(img, &format!("{dir}/new.bin"), tmp);
    let mut want = vec![0u8; 5000];
    want[4500..4512].copy_from_slice(b"made-by-mmap");
    assert!(new == want, "{what}: new.bin in the image is {:?}", String::from_utf8_lossy(&new));
}

/// A static program maps files of the disk root privately and shared, in
/// both trap modes; the merged COW holds every shared store.
#[test]
fn mapped_files_on_a_disk_reach_the_file() {
    let dir = TempDir::new("disk-mmap");
    let root = Rootfs::system();
    root.install("disk_mmap");
    root.install("filemap");
    data_dir(&root, "/data");
    let backing = dir.path().join("root.img");
    mke2fs(root.path(), &backing, 32, &[]);
    // filemap (tests/process.rs): two processes sharing one mapping.
    let filemap = "mapped 1 1\nparent sees child\nchild sees parent\nprivate Phild shared child\nfile child parent\n\
         rdonly shared write: Permission denied\nzero 0\nshared zero page 42\n";
    for cfg in configs() {
        let cow = dir.path().join(format!("{}-{}.cow", cfg.trap.name(), cfg.strace));
        let script = "/bin/disk_mmap /data && /bin/filemap /data/shared.dat";
        let run = run_on(cfg, &cow, &backing, &["/bin/sh", "-c", script]);
        assert_eq!(run.out(), format!("{EXPECTED}{filemap}"), "{cfg}: {run}");
        assert_eq!(run.code(), 0, "{cfg}: {run}");
        let img = dir.path().join("merged.img");
        merge(&cow, &img);
        e2fsck_clean(&img);
        check_data(&img, "/data", dir.path(), &format!("{cfg}"));
        let mut want = vec![b'.'; 4096];
        want[..5].copy_from_slice(b"child");
        want[100..106].copy_from_slice(b"parent");
        assert!(dump(&img, "/data/shared.dat", dir.path()) == want, "{cfg}: shared.dat");
    }
}

/// Dynamically linked programs run from a disk root: musl's loader and a
/// glibc program with its libraries, each loader mapping the libraries
/// from ext2; both then run disk_mmap's checks, several processes in one
/// VM sharing the libraries' page cache.
#[test]
fn dynamic_programs_run_from_a_disk_root() {
    let dir = TempDir::new("disk-dyn");
    let root = Rootfs::system();
    root.write("/bin/disk_mmap_musl", std::fs::read(guest_program_dynamic("disk_mmap")).unwrap(), 0o755);
    // Debian's musl: /lib/ld-musl-x86_64.so.1 is libc.so itself.
    root.write("/lib/ld-musl-x86_64.so.1", std::fs::read("/lib/ld-musl-x86_64.so.1").unwrap(), 0o755);
    root.install_with_libs(&guest_program_glibc("disk_mmap"), "/bin/disk_mmap_glibc");
    data_dir(&root, "/musl");
    data_dir(&root, "/glibc");
    let backing = dir.path().join("root.img");
    mke2fs(root.path(), &backing, 64, &[]);
    let script = "/bin/disk_mmap_musl /musl > /tmp/musl.out && /bin/disk_mmap_glibc /glibc > /tmp/glibc.out && \
                  /bin/busybox cmp /tmp/musl.out /tmp/glibc.out && cat /tmp/musl.out && \
                  /lib/ld-musl-x86_64.so.1 --list /bin/disk_mmap_musl >/dev/null && echo listed";
    for cfg in configs() {
        let cow = dir.path().join(format!("{}-{}.cow", cfg.trap.name(), cfg.strace));
        let run = run_on(cfg, &cow, &backing, &["/bin/sh", "-c", script]);
        assert_eq!(run.out(), format!("{EXPECTED}listed\n"), "{cfg}: {run}");
        assert_eq!(run.code(), 0, "{cfg}: {run}");
        let img = dir.path().join("merged.img");
        merge(&cow, &img);
        e2fsck_clean(&img);
        check_data(&img, "/musl", dir.path(), &format!("{cfg} musl"));
        check_data(&img, "/glibc", dir.path(), &format!("{cfg} glibc"));
    }
}
