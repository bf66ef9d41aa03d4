//! Bad input gets one clear line on stderr naming the file, a non-zero exit
//! status, and no panic.

mod common;

use common::*;
use std::path::Path;

/// Runs `umvm run --root-dir ROOT --trap T -- PROGRAM` and checks the
/// error contract: non-zero exit, exactly one stderr line, starting with
/// `umvm: ` and containing `names`. Returns that line.
fn expect_error(trap: Trap, root: &Path, program: &str, names: &str) -> String {
    let run =
        run_umvm(&["run", "--root-dir", root.to_str().unwrap(), "--trap", trap.name(), "--", program, "arg"], b"");
    let what = format!("{trap:?}\n{run}");
    assert_ne!(run.code(), 0, "{what}");
    assert_ne!(run.code(), 101, "exit status 101 is a Rust panic; {what}");
    assert_eq!(run.out(), "", "{what}");
    let err = run.err();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected exactly one stderr line; {what}");
    assert!(lines[0].starts_with("umvm: "), "{what}");
    assert!(lines[0].contains(names), "the error does not name {names:?}; {what}");
    lines[0].to_string()
}

/// A root with /bin/busybox and a file `name` with `content`, mode 0755.
fn root_with(name: &str, content: &[u8]) -> Rootfs {
    let root = Rootfs::new();
    write_file(&root.host_path(name), content, 0o755);
    root
}

#[test]
fn missing_root_dir_is_an_error_naming_it() {
    let parent = TempDir::new("noroot");
    let missing = parent.path().join("does-not-exist");
    for trap in traps() {
        expect_error(trap, &missing, "/bin/busybox", "does-not-exist");
    }
}

#[test]
fn root_dir_that_is_a_file_is_an_error_naming_it() {
    let parent = TempDir::new("fileroot");
    let file = parent.path().join("plain-file");
    write_file(&file, "not a directory\n", 0o644);
    for trap in traps() {
        expect_error(trap, &file, "/bin/busybox", "plain-file");
    }
}

#[test]
fn program_not_found_in_root_is_an_error_naming_it() {
    let root = Rootfs::new();
    for trap in traps() {
        expect_error(trap, root.path(), "/bin/nothere", "/bin/nothere");
        // The host's programs are not the guest's: /usr/bin/env exists on
        // the host, not in the root.
        expect_error(trap, root.path(), "/usr/bin/env", "/usr/bin/env");
    }
}

#[test]
fn a_directory_as_program_is_an_error_naming_it() {
    let root = Rootfs::new();
    for trap in traps() {
        expect_error(trap, root.path(), "/bin", "/bin");
    }
}

#[test]
fn a_text_file_is_not_an_elf() {
    let root = root_with("/bin/notelf", b"this is just text\nnot a program\n");
    for trap in traps() {
        expect_error(trap, root.path(), "/bin/notelf", "/bin/notelf");
    }
}

#[test]
fn an_empty_file_is_not_an_elf() {
    let root = root_with("/bin/empty", b"");
    for trap in traps() {
        expect_error(trap, root.path(), "/bin/empty", "/bin/empty");
    }
}

#[test]
fn an_elf_truncated_in_its_program_headers_is_an_error() {
    let root = root_with("/bin/trunc", &busybox_bytes()[..100]);
    for trap in traps() {
        expect_error(trap, root.path(), "/bin/trunc", "/bin/trunc");
    }
}

#[test]
fn an_elf_truncated_in_the_middle_of_a_segment_is_an_error() {
    let bb = busybox_bytes();
    let elf = Elf::parse(bb).unwrap();
    let seg = elf
        .phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .max_by_key(|p| p.filesz)
        .expect("busybox has a PT_LOAD segment");
    let cut = usize::try_from(seg.offset + seg.filesz / 2).unwrap();
    assert!(cut > 4096 && cut < bb.len());
    let root = root_with("/bin/halfbusybox", &bb[..cut]);
    for trap in traps() {
        expect_error(trap, root.path(), "/bin/halfbusybox", "/bin/halfbusybox");
    }
}

#[test]
fn an_aarch64_elf_is_an_error() {
    let mut bb = busybox_bytes().to_vec();
    bb[18..20].copy_from_slice(&183u16.to_le_bytes()); // e_machine = EM_AARCH64
    let root = root_with("/bin/arm64", &bb);
    for trap in traps() {
        expect_error(trap, root.path(), "/bin/arm64", "/bin/arm64");
    }
}

#[test]
fn a_32_bit_elf_is_an_error() {
    let mut bb = busybox_bytes().to_vec();
    bb[4] = 1; // EI_CLASS = ELFCLASS32
    let root = root_with("/bin/elf32", &bb);
    for trap in traps() {
        expect_error(trap, root.path(), "/bin/elf32", "/bin/elf32");
    }
}

#[test]
fn a_big_endian_elf_is_an_error() {
    let mut bb = busybox_bytes().to_vec();
    bb[5] = 2; // EI_DATA = ELFDATA2MSB
    let root = root_with("/bin/elfbe", &bb);
    for trap in traps() {
        expect_error(trap, root.path(), "/bin/elfbe", "/bin/elfbe");
    }
}

#[test]
fn an_elf_with_absurd_program_header_values_is_an_error() {
    let mut bb = busybox_bytes().to_vec();
    bb[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // e_phoff
    let root = root_with("/bin/badphoff", &bb);
    let mut bb = busybox_bytes().to_vec();
    bb[56..58].copy_from_slice(&u16::MAX.to_le_bytes()); // e_phnum
    write_file(&root.host_path("/bin/badphnum"), &bb, 0o755);
    for trap in traps() {
        expect_error(trap, root.path(), "/bin/badphoff", "/bin/badphoff");
        expect_error(trap, root.path(), "/bin/badphnum", "/bin/badphnum");
    }
}

#[test]
fn a_missing_or_bad_dynamic_loader_is_an_error_naming_it() {
    let root = Rootfs::new();
    std::fs::copy(guest_program_dynamic("exit_status"), root.host_path("/bin/dynamic")).unwrap();
    for trap in traps() {
        let line = expect_error(trap, root.path(), "/bin/dynamic", "/bin/dynamic");
        assert!(line.contains("interpreter /lib/ld-musl-x86_64.so.1: not found"), "{line}");
    }
    // A loader that is not an ELF file.
    root.write("/lib/ld-musl-x86_64.so.1", b"not an elf", 0o755);
    for trap in traps() {
        let line = expect_error(trap, root.path(), "/bin/dynamic", "/bin/dynamic");
        assert!(line.contains("interpreter /lib/ld-musl-x86_64.so.1: not an ELF"), "{line}");
    }
}

#[test]
fn an_unwritable_strace_file_is_an_error_naming_it() {
    let root = Rootfs::new();
    let file = root.path().join("no-such-dir/trace.txt");
    for trap in traps() {
        let run = run_umvm(
            &[
                "run",
                "--root-dir",
                root.path().to_str().unwrap(),
                "--trap",
                trap.name(),
                "--strace",
                "--strace-file",
                file.to_str().unwrap(),
                "--",
                "/bin/busybox",
                "true",
            ],
            b"",
        );
        assert_ne!(run.code(), 0, "{run}");
        let lines: Vec<String> = run.err().lines().map(String::from).collect();
        assert_eq!(lines.len(), 1, "{run}");
        assert!(lines[0].starts_with("umvm: ") && lines[0].contains("trace.txt"), "{run}");
    }
}

/// Runs `umvm cow ARGS` and checks the same contract as `expect_error`:
/// non-zero exit, no panic, one stderr line naming every one of `names`.
fn expect_cow_error(args: &[&Path], names: &[&str]) -> String {
    let run = run_umvm(args, b"");
    assert_ne!(run.code(), 0, "{run}");
    assert_ne!(run.code(), 101, "exit status 101 is a Rust panic; {run}");
    let err = run.err();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected exactly one stderr line; {run}");
    assert!(lines[0].starts_with("umvm: "), "{run}");
    for n in names {
        assert!(lines[0].contains(n), "the error does not name {n:?}; {run}");
    }
    lines[0].to_string()
}

#[test]
fn cow_tools_refuse_bad_cow_files_with_one_line() {
    let dir = TempDir::new("cowbad");
    let backing = dir.path().join("back.img");
    write_file(&backing, vec![7u8; 64 * 1024], 0o644);
    let cow = dir.path().join("disk.cow");
    let (c, b, p) = (Path::new("cow"), Path::new("create"), Path::new("info"));
    let run = run_umvm(&[c, b, &cow, &backing], b"");
    assert_eq!(run.code(), 0, "{run}");
    // Exists already.
    expect_cow_error(&[c, b, &cow, &backing], &["disk.cow", "already exists"]);
    // Not a COW file; a truncated one.
    expect_cow_error(&[c, p, &backing], &["back.img", "not a COW file"]);
    let bytes = std::fs::read(&cow).unwrap();
    let short = dir.path().join("short.cow");
    write_file(&short, &bytes[..100], 0o644);
    expect_cow_error(&[c, p, &short], &["short.cow", "short header"]);
    // A missing backing file: merge names both files.
    std::fs::remove_file(&backing).unwrap();
    let out = dir.path().join("out.img");
    expect_cow_error(&[c, Path::new("merge"), &cow, Path::new("-o"), &out], &["disk.cow", "back.img"]);
    // A missing COW file.
    expect_cow_error(&[c, p, &dir.path().join("nothere.cow")], &["nothere.cow"]);
}
