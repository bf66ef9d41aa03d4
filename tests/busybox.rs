//! busybox-static applets on a host-directory root, compared with the same
//! applets run natively on an identical copy of the tree.
//!
//! Both trees hold the same /bin/busybox, /etc/passwd and /etc/group (busybox
//! reads those directly to name owners) and the same /data with fixed times.
//! The guest runs with cwd `/` and guest paths; the native busybox runs with
//! cwd at the host copy and the same paths (arguments that start with
//! `/data`, or `KEY=/data`) prefixed with that copy's path, which is removed from its output
//! again. Relative paths (`data/...`) work unchanged in both.

mod common;

use common::*;
use std::fs;
use std::path::Path;

/// Every entry of the trees gets this mtime and atime: 2021-03-04 05:06:07
/// UTC, older than six months, so `ls -l` prints the year.
const FIXED_TIME: i64 = 1_614_834_367;

/// Fills `dir` with the layout both trees share.
fn populate(dir: &Path) {
    if !dir.join("bin/busybox").exists() {
        make_rootfs(dir);
    }
    mkdir(&dir.join("etc"), 0o755);
    for f in ["passwd", "group"] {
        let host = Path::new("/etc").join(f);
        let content = fs::read(&host).unwrap_or_default();
        write_file(&dir.join("etc").join(f), content, 0o644);
    }

    let d = dir.join("data");
    mkdir(&d, 0o755);
    write_file(&d.join("hello.txt"), "hello world\nsecond line\n", 0o644);
    write_file(
        &d.join("lines.txt"),
        "pear 3\napple 10\nbanana 2\ncherry 1\napple 10\nfig 25\ndate 7\n\
         elderberry 4\ngrape 12\nbanana 2\nkiwi 9\nlemon 6\n",
        0o640,
    );
    write_file(&d.join("empty"), "", 0o600);
    write_file(&d.join("script.sh"), "#!/bin/sh\necho hi\n", 0o755);
    let big: String = (0..4000).map(|i| format!("line {i:05} of big\n")).collect();
    write_file(&d.join("big.txt"), big, 0o644);
    mkdir(&d.join("sub"), 0o755);
    write_file(&d.join("sub/notes.md"), "# notes\n\n- one\n- two\n", 0o644);
    mkdir(&d.join("sub/deep"), 0o750);
    write_file(&d.join("sub/deep/file.txt"), "deep file\n", 0o444);
    mkdir(&d.join("sub/deep/emptydir"), 0o700);
    write_file(&d.join("with space.txt"), "spaced out\n", 0o644);
    write_file(&d.join("ünïcödé.txt"), "ünïcödé\n", 0o644);
    write_file(&d.join("x".repeat(255)), "long name\n", 0o644);
    // Enough entries that a directory takes several getdents64 calls.
    mkdir(&d.join("many"), 0o755);
    for i in 0..300 {
        write_file(&d.join(format!("many/file-{i:03}")), format!("{i}\n"), 0o644);
    }
    symlink("hello.txt", &d.join("link"));
    symlink("sub", &d.join("dirlink"));
    symlink("sub/deep/file.txt", &d.join("sub-link"));
    symlink("nowhere", &d.join("dangling"));
    set_times_recursive(&d, FIXED_TIME);
}

/// The guest root and its native twin.
struct Trees {
    guest: Rootfs,
    host: TempDir,
}

impl Trees {
    fn new() -> Trees {
        let guest = Rootfs::new();
        populate(guest.path());
        let host = TempDir::new("native");
        populate(host.path());
        Trees { guest, host }
    }

    fn host_str(&self) -> &str {
        self.host.path().to_str().unwrap()
    }

    /// Runs `busybox ARGS` natively and in the guest; asserts that exit
    /// status, stdout and stderr are identical.
    fn assert_same(&self, cfg: Config, args: &[&str]) {
        let host = self.host_str();
        // `/data...` and `key=/data...` (dd's if= and of=) name the tree.
        let native_args: Vec<String> = args
            .iter()
            .map(|a| match a.split_once('=') {
                _ if a.starts_with("/data") => format!("{host}{a}"),
                Some((k, v)) if v.starts_with("/data") => format!("{k}={host}{v}"),
                _ => a.to_string(),
            })
            .collect();
        let (code, out, err) = run_native_busybox(self.host.path(), &native_args);
        let unroot = |b: &[u8]| String::from_utf8_lossy(b).replace(host, "");
        let (out, err) = (unroot(&out), unroot(&err));

        let mut argv = vec!["/bin/busybox"];
        argv.extend_from_slice(args);
        let run = run_guest(cfg, self.guest.path(), &argv);
        let what = format!("busybox {}: {cfg}\n{run}", args.join(" "));
        assert_eq!(run.out(), out, "stdout differs from native; {what}");
        assert_eq!(run.err(), err, "stderr differs from native; {what}");
        assert_eq!(run.code(), code, "exit status differs from native; {what}");
    }

    /// The two trees are still the same (after a command changed both).
    fn assert_same_tree(&self, what: &str) {
        assert_same_tree(&snapshot(self.guest.path()), &snapshot(self.host.path()), what);
    }
}

/// Runs each command (read-only ones) in every configuration.
fn check_read_only(commands: &[&[&str]]) {
    let trees = Trees::new();
    for cfg in configs() {
        for args in commands {
            trees.assert_same(cfg, args);
        }
    }
    trees.assert_same_tree("read-only commands changed the tree");
}

/// Runs each command sequence that changes the tree in every
/// configuration, on fresh trees, and compares the trees afterwards.
fn check_modifying(commands: &[&[&str]]) {
    for cfg in configs() {
        let trees = Trees::new();
        for args in commands {
            trees.assert_same(cfg, args);
            trees.assert_same_tree(&format!("after busybox {}: {cfg}", args.join(" ")));
        }
    }
}

#[test]
fn echo_prints_its_arguments() {
    check_read_only(&[
        &["echo", "hello", "world"],
        &["echo", "-n", "no newline"],
        &["echo", "-e", r"tab\there\nnext"],
        &["echo"],
    ]);
}

#[test]
fn cat_prints_files_and_follows_symlinks() {
    check_read_only(&[
        &["cat", "/data/hello.txt", "/data/sub/notes.md"],
        &["cat", "data/link"],
        &["cat", "/data/dirlink/deep/file.txt", "/data/sub-link"],
        &["cat", "/data/big.txt"],
        &["cat", "/data/empty"],
        &["cat", "/data/missing"],
        &["cat", "/data/dangling"],
        &["cat", "/data/sub"],
    ]);
}

#[test]
fn ls_l_shows_the_same_modes_owners_sizes_times_and_links() {
    check_read_only(&[
        &["ls", "-l", "/data"],
        &["ls", "-la", "/data/sub"],
        &["ls", "-lR", "/data"],
        &["ls", "-ln", "data"],
        &["ls", "-ld", "/data/link", "/data/dirlink", "/data/sub"],
        &["ls", "-lL", "/data/dirlink"],
        &["ls", "-1a", "/data"],
        &["ls", "/data/missing"],
    ]);
}

#[test]
fn wc_counts_lines_words_and_bytes() {
    check_read_only(&[
        &["wc", "/data/lines.txt", "/data/hello.txt", "/data/big.txt"],
        &["wc", "-l", "data/lines.txt"],
        &["wc", "-c", "/data/empty"],
    ]);
}

#[test]
fn sort_sorts_files() {
    check_read_only(&[
        &["sort", "/data/lines.txt"],
        &["sort", "-r", "-u", "/data/lines.txt", "/data/hello.txt"],
        &["sort", "-n", "-k2", "/data/lines.txt"],
        &["sort", "-t", " ", "-k2,2nr", "data/lines.txt"],
    ]);
}

#[test]
fn head_prints_the_start_of_files() {
    check_read_only(&[
        &["head", "-n", "3", "/data/lines.txt"],
        &["head", "-c", "10", "/data/big.txt"],
        &["head", "/data/lines.txt", "/data/hello.txt"],
        &["head", "-n", "-3", "/data/lines.txt"],
    ]);
}

#[test]
fn sed_edits_streams() {
    check_read_only(&[
        &["sed", "-n", "2,4p", "/data/lines.txt"],
        &["sed", "s/an/AN/g", "/data/lines.txt"],
        &["sed", "-e", "1d", "-e", "$s/$/!/", "/data/hello.txt"],
        &["sed", "-n", "/^line 0399[0-9]/p", "/data/big.txt"],
    ]);
}

#[test]
fn sed_i_rewrites_files_in_place() {
    check_modifying(&[
        &["sed", "-i", "s/world/guest/", "/data/hello.txt"],
        &["sed", "-i", "-e", "/apple/d", "data/lines.txt"],
    ]);
}

#[test]
fn find_walks_the_tree() {
    check_read_only(&[
        &["find", "/data"],
        &["find", "data", "-type", "f"],
        &["find", "/data", "-name", "*.txt"],
        &["find", "/data", "-type", "l"],
        &["find", "/data", "-type", "d", "-empty"],
        &["find", "/data", "-size", "+10k"],
        &["find", "-L", "/data/dirlink", "-name", "file.txt"],
        &["find", "/data/missing"],
    ]);
}

#[test]
fn stat_reports_the_same_metadata() {
    // Inode and device numbers differ between two copies; %N shows link
    // targets, %U/%G names from /etc/passwd and /etc/group.
    let fmt = "%n|%s|%b|%B|%f|%F|%a|%A|%h|%u|%g|%U|%G|%Y|%y|%N";
    check_read_only(&[
        &[
            "stat",
            "-c",
            fmt,
            "/data/hello.txt",
            "/data/sub",
            "/data/link",
            "/data/empty",
            "/data/script.sh",
            "/data/sub/deep/file.txt",
        ],
        &["stat", "-L", "-c", fmt, "/data/link", "/data/dirlink"],
        &["stat", "-c", "%n %s %F", "data/dangling"],
        &["stat", "/data/missing"],
    ]);
}

#[test]
fn stat_default_output_matches_except_device_inode_and_times_it_cannot_fix() {
    // Plain `stat` prints the device, the inode and the change time, which
    // cannot be the same on two copies, and the access time, which reading
    // a symlink updates (relatime): mask those, compare the rest.
    fn mask(s: &str) -> String {
        s.lines()
            .map(|l| {
                if l.starts_with("Device:") {
                    match l.find("Links:") {
                        Some(i) => format!("Device: * Inode: * {}", &l[i..]),
                        None => l.to_string(),
                    }
                } else if l.starts_with("Change:") {
                    "Change: *".to_string()
                } else if l.starts_with("Access:") && !l.starts_with("Access: (") {
                    "Access: *".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
    let trees = Trees::new();
    let host = trees.host_str().to_string();
    for cfg in configs() {
        for path in ["/data/hello.txt", "/data/sub", "/data/link"] {
            let (code, out, err) = run_native_busybox(trees.host.path(), &["stat".into(), format!("{host}{path}")]);
            assert_eq!(code, 0, "native stat {path}: {}", String::from_utf8_lossy(&err));
            let native = mask(&String::from_utf8_lossy(&out).replace(&host, ""));
            let run = run_guest(cfg, trees.guest.path(), &["/bin/busybox", "stat", path]);
            assert_eq!(run.code(), 0, "{cfg}\n{run}");
            assert_eq!(mask(&run.out()), native, "stat {path}: {cfg}\n{run}");
        }
    }
}

#[test]
fn large_directories_list_completely() {
    check_read_only(&[
        &["ls", "/data/many"],
        &["ls", "-l", "data/many"],
        &["find", "/data/many", "-name", "file-2*"],
        &["cat", "/data/many/file-299", "/data/many/file-000"],
    ]);
}

#[test]
fn more_read_only_applets_match_native() {
    check_read_only(&[
        &["md5sum", "/data/big.txt", "/data/hello.txt", "/data/empty"],
        &["tail", "-n", "2", "/data/big.txt"],
        &["uniq", "-c", "/data/lines.txt"],
        &["cut", "-d", " ", "-f", "2", "/data/lines.txt"],
        &["od", "-c", "/data/hello.txt"],
        &["du", "-a", "/data/sub"],
        &["readlink", "/data/link", "/data/dirlink"],
        &["realpath", "/data/dirlink/deep/../notes.md"],
        &["test", "-d", "/data/sub"],
        &["test", "-f", "/data/sub"],
        &["cmp", "/data/hello.txt", "/data/link"],
        &["basename", "/data/sub/notes.md", ".md"],
    ]);
}

#[test]
fn chmod_touch_ln_truncate_and_dd_change_the_tree_like_native() {
    check_modifying(&[
        &["chmod", "600", "/data/hello.txt"],
        &["chmod", "-R", "go-rwx", "/data/sub"],
        &["touch", "-d", "2020-01-02 03:04:05", "/data/lines.txt", "/data/new-file"],
        &["touch", "-h", "-d", "2019-05-06 07:08:09", "/data/link"],
        &["ln", "/data/hello.txt", "/data/hardlink"],
        &["ln", "-s", "../hello.txt", "/data/sub/up-link"],
        &["ln", "-sf", "lines.txt", "/data/link"],
        &["truncate", "-s", "5", "/data/big.txt"],
        &["truncate", "-s", "10000", "/data/empty"],
        &["dd", "if=/data/lines.txt", "of=/data/dd.out", "bs=7", "count=3", "skip=1", "status=noxfer"],
        &["rmdir", "/data/sub/deep/emptydir"],
        &["rmdir", "/data/sub"],
        &["unlink", "/data/dangling"],
    ]);
}

#[test]
fn mkdir_p_creates_nested_directories() {
    check_modifying(&[
        &["mkdir", "-p", "/data/a/b/c", "/data/sub/deep/x"],
        &["mkdir", "-p", "-m", "700", "data/m/n"],
        &["mkdir", "/data/a"],
        &["mkdir", "/data/q/r"],
        &["mkdir", "-p", "/data/a/b/c"],
    ]);
}

#[test]
fn cp_r_copies_trees() {
    check_modifying(&[
        &["cp", "-r", "/data/sub", "/data/copy"],
        &["cp", "/data/hello.txt", "/data/big.txt", "/data/copy/deep"],
        &["cp", "-a", "/data/sub", "/data/archive"],
        &["cp", "-r", "/data/dirlink", "/data/linkcopy"],
        &["cp", "/data/missing", "/data/x"],
    ]);
}

#[test]
fn mv_renames_files_and_directories() {
    check_modifying(&[
        &["mv", "/data/hello.txt", "/data/sub/moved.txt"],
        &["mv", "/data/sub", "/data/renamed"],
        &["mv", "data/link", "data/renamed/deep/link"],
        &["mv", "/data/big.txt", "/data/lines.txt"],
        &["mv", "/data/missing", "/data/x"],
    ]);
}

#[test]
fn rm_r_removes_trees() {
    check_modifying(&[
        &["rm", "-r", "/data/sub/deep"],
        &["rm", "/data/dirlink", "/data/dangling"],
        &["rm", "-rf", "data/sub"],
        &["rm", "/data/missing"],
        &["rm", "-r", "/data"],
    ]);
}
