//! Debian's userland under umvm, command by command: each script runs in
//! the shared Debian image (common::debian_root) natively, chrooted into
//! it as pid 1 of a new pid namespace (common::run_native_root), and in
//! the guest in every configuration, and the outputs must be identical.
//! The scripts write only under /tmp, which is a tmpfs both natively and
//! in the guest, so the shared image is never changed.

mod common;

use common::*;
use std::time::Duration;

/// A script runs a dozen dynamic programs; under CI's load and --strace
/// that takes a few seconds.
const T: Duration = Duration::from_secs(60);

/// A guest's stderr without umvm's notes about syscalls it does not
/// implement (which natively nothing prints).
fn guest_err(run: &Run) -> String {
    run.err().lines().filter(|l| !l.contains("WARN unimplemented syscall")).map(|l| format!("{l}\n")).collect()
}

/// Runs `bash -c script` natively and in every configuration, asserts the
/// native run succeeded and printed `expect_lines` lines, and that every
/// guest run printed exactly what the native one did (stdout and stderr)
/// and exited as it did.
fn same_as_native(script: &str, expect_lines: usize) {
    let Some(root) = debian_root() else { return };
    let argv = ["/bin/bash", "-c", script];
    let native = run_native_root(root, &argv, b"", T);
    assert_eq!(native.code, 0, "{native}");
    assert_eq!(native.out().lines().count(), expect_lines, "the script's native output changed:\n{native}");
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root, &argv, b"", T);
        assert_eq!(run.out(), native.out(), "{cfg}\n{run}{native}");
        assert_eq!(guest_err(&run), native.err(), "{cfg}\n{run}{native}");
        assert_eq!(run.code(), native.code, "{cfg}\n{run}{native}");
    }
}

#[test]
fn bash_arrays_functions_process_substitution_and_job_control() {
    // Job ids and states as `jobs` shows them once settled (pids masked:
    // the native run's differ). bash's notices of job changes are
    // discarded: when it prints them races with the jobs themselves.
    let script = r#"a=(one "two words" three); a+=(four); echo "${#a[@]} ${a[1]} ${a[@]:1:2} ${a[*]^^}"
declare -A h=([x]=1 [y]=2 [z]=3); for k in $(printf '%s\n' "${!h[@]}" | sort); do echo "$k=${h[$k]}"; done
fact() { local n=$1; (( n <= 1 )) && echo 1 || echo $(( n * $(fact $((n-1))) )); }; fact 12
diff <(seq 3) <(printf '1\n2\n3\n') && echo same
while read -r x; do echo "got $x"; done < <(printf 'a\nb\n')
echo into >(tr a-z A-Z); wait $!
exec 3>&2 2>/dev/null; set -m; sleep 5 & sleep 6 & jobs; kill -STOP %1; sleep 0.3; jobs -l %1 | sed -E 's/[0-9]{2,}/PID/'
kill -CONT %1; sleep 0.3; jobs %1; kill %1 %2; wait; echo "done $?"; set +m; exec 2>&3
( exit 3 ) & wait $!; echo "subshell $?"; trap 'echo trapped USR1' USR1; kill -USR1 $$
echo ${BASH_VERSINFO[0]} $((2**40)) $(( 17 % 5 )) ${#BASH_VERSION}"#;
    same_as_native(script, 17);
}

#[test]
fn coreutils_copy_archive_sort_find_and_xargs() {
    // A tree with a FIFO, a symlink, modes and fixed times; cp -a keeps
    // it all, tar round-trips it (the FIFO is opened O_PATH, never as a
    // pipe end), and every listing is compared.
    let script = r#"set -e
mkdir -p /tmp/t/src/sub && cd /tmp/t
printf 'hello\n' > src/a.txt; printf 'x%.0s' $(seq 5000) > src/sub/big; ln -s a.txt src/link; mkfifo src/fifo
chmod 640 src/a.txt; chmod 1777 src/sub
touch -h -d '2020-01-02 03:04:05 UTC' src/link src/a.txt src/sub/big src/fifo src/sub src /tmp/t
ls -la --color=always --time-style=full-iso src src/sub
cp -a src copy; ls -la --time-style=full-iso copy | tail -n +4; stat -c '%n %a %s %Y %F' copy/* copy/sub/*
tar czf src.tgz src; mkdir out; tar xzf src.tgz -C out
(cd src && find . -type f -exec sha256sum {} + | sort) > a.sum; (cd out/src && sha256sum -c ../../a.sum)
cmp <(cd src && find . -type f -exec sha256sum {} + | sort) <(cd out/src && find . -type f -exec sha256sum {} + | sort)
tar tvzf src.tgz | sort -k6; ls -la --time-style=full-iso out/src | tail -n +4
printf 'b\na\nc\na\nb\na\n' | sort | uniq -c; printf 'b\na\nc\na\n' | sort -u | uniq -c
touch -d '2021-01-01 UTC' ref; touch -d '2022-01-01 UTC' src/new; find src -newer ref | sort; find . -name '*.txt' | sort
seq 1 20 | xargs -P4 -n3 sh -c 'echo $(( $1 + $2 + ${3:-0} ))' sh | sort -n
seq 1 8 | xargs -P4 -I{} sh -c 'sleep 0.0{}; echo {}' | sort | tr '\n' ' '; echo
wc -c < src/sub/big; head -c 20 src/sub/big | od -An -c | head -1; du -s --apparent-size -b src/sub"#;
    same_as_native(script, 57);
}

#[test]
fn perl_hashes_regexes_fork_and_pipes() {
    let script = r#"perl -e 'my %h = (apple => 3, pear => 5, fig => 1);
print join(",", map { "$_=$h{$_}" } sort { $h{$a} <=> $h{$b} } keys %h), "\n";
my $s = "2024-02-29 and 1999-12-31"; my @d = $s =~ /(\d{4})-(\d\d)-(\d\d)/g; print "@d\n";
(my $t = $s) =~ s/(\d+)/<$1>/g; print "$t\n";
pipe(my $r, my $w) or die; my $pid = fork // die;
if (!$pid) { close $r; print $w "child ", getppid() == 1 ? "of init" : "of its parent", "\n"; exit 7 }
close $w; my $line = <$r>; waitpid($pid, 0); print $line, "exit ", $? >> 8, "\n";
open(my $p, "-|", "echo", "via", "pipe") or die; print scalar <$p>; close $p;
my @kids = map { my $k = fork // die; if (!$k) { exit $_ } $k } 1..5; my $sum = 0;
for (@kids) { waitpid($_, 0); $sum += $? >> 8 } print "sum $sum\n";
printf "%.3f %s %d\n", atan2(1,1)*4, join("", reverse split //, "perl"), scalar(() = "aXbXc" =~ /X/g);
local $SIG{ALRM} = sub { print "alarm\n" }; alarm 1; sleep 3; print "slept\n";'
perl -MPOSIX -le 'print POSIX::strftime("%Y-%m-%d", gmtime(86400*365)); print join ",", (uname())[0]'
perl -e 'open(my $f, ">", "/tmp/p.txt") or die; print $f "line $_\n" for 1..3; close $f;
open($f, "<", "/tmp/p.txt") or die; my @l = <$f>; print scalar(@l), " lines, last: $l[-1]"; unlink "/tmp/p.txt";
print -e "/tmp/p.txt" ? "still there\n" : "unlinked\n"'"#;
    same_as_native(script, 14);
}

#[test]
fn dpkg_apt_and_the_user_database() {
    let script = r#"dpkg -l | wc -l; dpkg -s bash | grep -E '^(Package|Status)'; dpkg -L coreutils | grep -c /bin/
dpkg-query -W -f '${Package}\n' | sort | head -3; apt-get --version | head -1; apt-cache policy bash | head -2
getent passwd root; getent group root; getent passwd nosuchuser || echo "getent $?"
id; id -un; id -G; whoami; env -i FOO=bar /usr/bin/env; env -i sh -c 'echo "$PATH"'
date -u -d @1700000000 '+%F %T %Z %s %A'; date -u +%Y; TZ=UTC0 date -d '2024-02-29 12:00' +%j
uname -s; uname -m; hostname; stat -f -c %T /tmp; readlink -f /bin/sh; test -w /tmp && echo writable"#;
    same_as_native(script, 28);
}

#[test]
fn a_musl_dynamic_program_and_its_loader_in_the_image() {
    // Two processes of a musl dynamic program (Debian's musl loader in
    // the image) share a MAP_SHARED file mapping, keep a MAP_PRIVATE one
    // private, and the file holds the shared writes after munmap.
    let Some(copy) = debian_copy() else { return };
    let prog = std::fs::read(guest_program_dynamic("filemap")).unwrap();
    write_file(&copy.path().join("usr/local/bin/filemap"), prog, 0o755);
    let expected = "mapped 1 1\nparent sees child\nchild sees parent\nprivate Phild shared child\n\
                    file child parent\nrdonly shared write: Permission denied\nzero 0\nshared zero page 42\n";
    // The same through bash, with the musl program's interpreter checked.
    let script = "readelf -l /usr/local/bin/filemap 2>/dev/null | grep -o 'interpreter: [^]]*' || \
                  grep -c ld-musl /usr/local/bin/filemap; /usr/local/bin/filemap /var/tmp/shared.dat";
    let native = run_native_root(copy.path(), &["/bin/bash", "-c", script], b"", T);
    assert_eq!(native.code, 0, "{native}");
    assert!(native.out().ends_with(expected), "{native}");
    for cfg in configs() {
        let run = run_guest_timeout(cfg, copy.path(), &["/usr/local/bin/filemap", "/var/tmp/shared.dat"], b"", T);
        assert_eq!(run.out(), expected, "{cfg}\n{run}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        let run = run_guest_timeout(cfg, copy.path(), &["/bin/bash", "-c", script], b"", T);
        assert_eq!(run.out(), native.out(), "{cfg}\n{run}{native}");
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
    }
}
