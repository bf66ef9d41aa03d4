//! The guest's /dev: null, zero, full, random and urandom, as busybox sees
//! them, compared with the host's devices (run_native_root bind-mounts the
//! host's /dev into a native copy of the tree).
//!
//! The guest root holds an empty /dev directory; the kernel's devfs must
//! provide the devices, so nothing a guest does to them may reach the host
//! directory (a hostfs /dev would make `echo x > /dev/null` create a
//! regular file there).
//!
//! Every command here runs as init without forking (busybox applets, or sh
//! with builtins only), so these tests need devfs and nothing else of
//! Step 2.

mod common;

use common::*;
use std::fs;
use std::time::Duration;

const DEV_TIMEOUT: Duration = Duration::from_secs(20);

/// The devices whose nodes the tests check.
const NODES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];

/// Asserts that the host's copy of the guest's /dev is still empty.
fn assert_dev_untouched(root: &Rootfs, what: &str) {
    let left: Vec<_> = fs::read_dir(root.host_path("/dev")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{what}: the guest's /dev writes reached the host directory: {left:?}");
}

/// Runs `argv` natively and in every configuration; asserts that natively
/// stdout, stderr and the exit status are `out`, `err` and `code`, and that
/// the guest's are the native ones.
fn check_full(argv: &[&str], out: &str, err: &str, code: i32) {
    let native_root = Rootfs::system();
    let native = run_native_root(native_root.path(), argv, b"", DEV_TIMEOUT);
    let expect = format!("is not what the test expects: {argv:?}\n{native}");
    assert_eq!(native.out(), out, "native stdout {expect}");
    assert_eq!(native.err(), err, "native stderr {expect}");
    assert_eq!(native.code, code, "native exit status {expect}");
    for cfg in configs() {
        let root = Rootfs::system();
        let run = run_guest_timeout(cfg, root.path(), argv, b"", DEV_TIMEOUT);
        let what = format!("{cfg}\n{run}{native}");
        assert_eq!(run.out(), native.out(), "stdout differs from native; {what}");
        assert_eq!(run.err(), native.err(), "stderr differs from native; {what}");
        assert_eq!(run.code(), native.code, "exit status differs from native; {what}");
        assert_dev_untouched(&root, &what);
    }
}

/// check_full for a command that succeeds silently on stderr.
fn check(argv: &[&str], out: &str) {
    check_full(argv, out, "", 0)
}

#[test]
fn device_nodes_are_character_devices_with_linux_numbers() {
    let mut argv = vec!["/bin/busybox", "stat", "-c", "%n %F %t:%T %a"];
    argv.extend_from_slice(NODES);
    check(
        &argv,
        "/dev/null character special file 1:3 666\n\
         /dev/zero character special file 1:5 666\n\
         /dev/full character special file 1:7 666\n\
         /dev/random character special file 1:8 666\n\
         /dev/urandom character special file 1:9 666\n\
         /dev/tty character special file 5:0 666\n",
    );
}

#[test]
fn dev_null_discards_writes_and_reads_empty() {
    check(
        &["/bin/sh", "-c", r#"echo x > /dev/null; echo "write: $?"; read l < /dev/null; echo "read at EOF: $?""#],
        "write: 0\nread at EOF: 1\n",
    );
    check(&["/bin/busybox", "wc", "-c", "/dev/null"], "0 /dev/null\n");
    // 400 KiB through dd, which reports on stderr.
    check_full(
        &["/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=4096", "count=100"],
        "",
        "100+0 records in\n100+0 records out\n",
        0,
    );
}

#[test]
fn dev_zero_reads_zeros_and_discards_writes() {
    check(&["/bin/busybox", "od", "-An", "-tx1", "-N8", "/dev/zero"], " 00 00 00 00 00 00 00 00\n");
    check(&["/bin/sh", "-c", r#"echo x > /dev/zero; echo "write: $?""#], "write: 0\n");
    // Many reads' worth.
    let zeros = "\0".repeat(300_000);
    check(&["/bin/busybox", "head", "-c", "300000", "/dev/zero"], &zeros);
}

#[test]
fn dev_full_fails_writes_with_enospc() {
    check_full(
        &["/bin/sh", "-c", r#"echo x > /dev/full; echo "status: $?""#],
        "status: 1\n",
        "sh: write error: No space left on device\n",
        0,
    );
    check_full(
        &["/bin/busybox", "dd", "if=/dev/zero", "of=/dev/full", "bs=1", "count=1"],
        "",
        "dd: error writing '/dev/full': No space left on device\n1+0 records in\n0+0 records out\n",
        1,
    );
    check(&["/bin/busybox", "od", "-An", "-tx1", "-N4", "/dev/full"], " 00 00 00 00\n");
}

/// Runs `head -c 16 /dev/urandom /dev/random` in the guest: two opens and
/// reads in one process; returns the two 16-byte chunks.
fn random_chunks(cfg: Config, root: &Rootfs) -> [Vec<u8>; 2] {
    let run = run_guest_timeout(
        cfg,
        root.path(),
        &["/bin/busybox", "head", "-c", "16", "/dev/urandom", "/dev/random"],
        b"",
        DEV_TIMEOUT,
    );
    assert_eq!(run.code(), 0, "{cfg}\n{run}");
    assert_eq!(run.err(), "", "{cfg}\n{run}");
    // head prints a header before each file: "==> F <==\n" DATA, with a
    // blank line between files.
    let out = &run.stdout;
    let h1 = b"==> /dev/urandom <==\n";
    let h2 = b"\n==> /dev/random <==\n";
    let ok = out.len() == h1.len() + 16 + h2.len() + 16
        && out.starts_with(h1)
        && &out[h1.len() + 16..h1.len() + 16 + h2.len()] == h2;
    assert!(ok, "{cfg}: unexpected output of head -c 16 /dev/urandom /dev/random\n{run}");
    let a = out[h1.len()..h1.len() + 16].to_vec();
    let b = out[out.len() - 16..].to_vec();
    [a, b]
}

#[test]
fn dev_urandom_and_random_give_fresh_bytes() {
    for cfg in configs() {
        let root = Rootfs::system();
        let [a, b] = random_chunks(cfg, &root);
        let [c, _] = random_chunks(cfg, &root);
        // 16 random bytes are all zero, or equal to other 16, with
        // probability 2^-128.
        assert!(a.iter().any(|&x| x != 0) && b.iter().any(|&x| x != 0), "{cfg}: all-zero random bytes");
        assert_ne!(a, b, "{cfg}: /dev/urandom and /dev/random gave the same bytes");
        assert_ne!(a, c, "{cfg}: two runs read the same bytes from /dev/urandom");
        assert_dev_untouched(&root, &format!("{cfg}"));
    }
}
