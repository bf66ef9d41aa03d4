//! The shared Debian image (scripts/debian-image, common::debian_root):
//! that it holds what the tests will use, natively, and that umvm boots it as
//! a host-directory root. Its programs are dynamic executables, which umvm
//! does not run yet, so the guest here is the one static program Debian
//! ships in it: glibc's ldconfig.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// These tests run a command or two natively or in the guest.
const DEBIAN_TIMEOUT: Duration = Duration::from_secs(30);

/// Programs and files the tests of dynamic executables will need, by guest
/// path.
const EXPECTED: &[&str] = &[
    "/bin/bash",
    "/bin/sh",
    "/usr/bin/perl",
    "/usr/bin/dpkg",
    "/usr/bin/apt-get",
    "/bin/ps",
    "/usr/bin/top",
    "/usr/bin/free",
    "/usr/bin/uptime",
    "/bin/tar",
    "/bin/gzip",
    "/usr/bin/find",
    "/bin/grep",
    "/bin/sed",
    "/usr/bin/env",
    "/bin/mount",
    "/lib/ld-musl-x86_64.so.1",
    "/usr/lib/x86_64-linux-musl/libc.so",
    "/lib64/ld-linux-x86-64.so.2",
    "/sbin/ldconfig",
];

#[test]
fn the_image_has_the_programs_the_tests_use_and_they_run_natively() {
    let Some(root) = debian_root() else { return };
    // Looked up inside the tree (chrooted) rather than with Path::exists on
    // the host: an absolute symlink in the tree would resolve against the
    // host's / and hide a missing file.
    let script = format!(
        r#"for f in {}; do [ -x "$f" ] || echo "missing: $f"; done
echo "bash $BASH_VERSION"
perl -e 'print "perl ", $] >= 5.036 ? "ok" : $], "\n"'
ps -o pid= -o comm= -p 1
echo "debian $(cat /etc/debian_version)""#,
        EXPECTED.join(" ")
    );
    let native = run_native_root(root, &["/bin/bash", "-c", &script], b"", DEBIAN_TIMEOUT);
    assert_eq!(native.code, 0, "{native}");
    assert_eq!(native.err(), "", "{native}");
    let out = native.out();
    let lines: Vec<&str> = out.lines().collect();
    assert!(!out.contains("missing:"), "{native}");
    assert!(lines.len() == 4 && lines[0].starts_with("bash 5.2."), "{native}");
    assert_eq!(lines[1], "perl ok", "{native}");
    // bash is pid 1 of the namespace, and procps reads it from /proc.
    assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["1", "bash"], "{native}");
    assert!(lines[3].starts_with("debian 12."), "{native}");
}

#[test]
fn ldconfig_from_the_image_prints_its_library_cache_as_natively() {
    let Some(root) = debian_root() else { return };
    // `ldconfig -p` only reads (and maps) /etc/ld.so.cache: the shared image
    // is safe as the guest's root.
    let argv = ["/sbin/ldconfig", "-p"];
    let native = run_native_root(root, &argv, b"", DEBIAN_TIMEOUT);
    assert_eq!(native.code, 0, "{native}");
    assert!(native.out().contains("libc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6"), "{native}");
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root, &argv, b"", DEBIAN_TIMEOUT);
        assert_eq!(run.code(), 0, "{cfg}\n{run}\n{native}");
        assert_eq!(run.out(), native.out(), "{cfg}\n{run}\n{native}");
        assert_eq!(run.err(), native.err(), "{cfg}\n{run}\n{native}");
    }
}

#[test]
fn a_copy_of_the_image_is_private() {
    let Some(copy) = debian_copy() else { return };
    let shared = debian_root().unwrap();
    let hostname = "etc/hostname";
    assert_eq!(fs::read(copy.path().join(hostname)).unwrap(), fs::read(shared.join(hostname)).unwrap());
    fs::write(copy.path().join(hostname), "copy\n").unwrap();
    assert_ne!(fs::read(shared.join(hostname)).unwrap(), b"copy\n");
    // The copy keeps what cp -a must keep: symlinks, modes, device nodes.
    assert_eq!(fs::read_link(copy.path().join("bin")).unwrap(), Path::new("usr/bin"));
    let shadow = |r: &Path| fs::metadata(r.join("etc/shadow")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(shadow(copy.path()), shadow(shared));
    assert!(fs::metadata(copy.path().join("dev/null")).unwrap().file_type().is_char_device());
}
