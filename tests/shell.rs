//! busybox sh scripts, each run as init in the guest and natively, with the
//! outputs compared: pipelines, command substitution, subshells,
//! here-documents, background jobs, traps, kill, xargs, timeout, sleep,
//! read, many processes, `#!` scripts, exec, and a realistic mix.
//!
//! Both runs use the same tree (Rootfs::system: busybox with applet links
//! in /bin, empty /dev, /proc and /tmp) and the same command line,
//! `/bin/sh /script.sh`. The native run is chrooted into its copy of the
//! tree as pid 1 of a new pid namespace (run_native_root), so paths, `$$`,
//! `#!/bin/sh` and init's signal semantics are the guest's. Each script's
//! stdout is also checked against the output written here, so that a
//! script that fails natively fails the test instead of passing vacuously.
//!
//! busybox sh runs an applet (other than its builtins and NOFORK applets)
//! by exec'ing /proc/self/exe, and falls back to a PATH search, which finds
//! the links in /bin; only busybox_reexecs_itself_through_proc_self_exe
//! needs the guest's procfs.

mod common;

use common::*;
use std::time::Duration;

/// Each of these scripts ends in a few seconds natively; a guest that
/// hangs fails after this long rather than holding up the suite.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(20);

/// A file a script needs besides /script.sh: guest path, content, mode.
type Extra<'a> = (&'a str, &'a str, u32);

fn tree(script: &str, extra: &[Extra]) -> Rootfs {
    let root = Rootfs::system();
    root.write("/script.sh", script, 0o644);
    for (path, content, mode) in extra {
        root.write(path, content, *mode);
    }
    root
}

/// Runs `script` natively and asserts its stdout is `expected` and its
/// exit status `code`; then runs it in the guest in every configuration
/// and asserts stdout, stderr and exit status equal the native ones.
fn check_with(script: &str, extra: &[Extra], expected: &str, code: i32) {
    let argv = ["/bin/sh", "/script.sh"];
    let native_root = tree(script, extra);
    let native = run_native_root(native_root.path(), &argv, b"", SCRIPT_TIMEOUT);
    assert_eq!(native.out(), expected, "the script's native stdout is not what the test expects\n{native}");
    assert_eq!(native.code, code, "the script's native exit status is not what the test expects\n{native}");

    for cfg in configs() {
        // A fresh tree each time: scripts write to /tmp.
        let root = tree(script, extra);
        let run = run_guest_timeout(cfg, root.path(), &argv, b"", SCRIPT_TIMEOUT);
        let what = format!("{cfg}\n{run}{native}");
        assert_eq!(run.out(), native.out(), "stdout differs from native; {what}");
        assert_eq!(run.err(), native.err(), "stderr differs from native; {what}");
        assert_eq!(run.code(), native.code, "exit status differs from native; {what}");
    }
}

fn check(script: &str, expected: &str) {
    check_with(script, &[], expected, 0)
}

#[test]
fn commands_run_in_child_processes() {
    // Programs named by path: fork and execve, no procfs needed.
    check(
        r#"/bin/busybox echo from a child
/bin/busybox sh -c 'exit 3'; echo "status: $?"
/bin/busybox true && echo "true is true"
"#,
        "from a child\nstatus: 3\ntrue is true\n",
    );
}

#[test]
fn busybox_reexecs_itself_through_proc_self_exe() {
    // A file without `#!` fails execve with ENOEXEC, and busybox sh then
    // runs it with `/proc/self/exe sh FILE`, with no PATH fallback.
    check_with(
        r#"ls -l /proc/self/exe | grep -c ' -> /bin/busybox$'
/noshebang.sh; echo "status $?"
"#,
        &[("/noshebang.sh", "echo \"no shebang: $0\"\n", 0o755)],
        "1\nno shebang: /noshebang.sh\nstatus 0\n",
        0,
    );
}

#[test]
fn pipelines_pass_data_and_sigpipe_ends_writers() {
    check(
        r#"echo a b c | tr ' ' '\n' | sort -r | head -2
printf 'x\ny\nz\n' | wc -l
seq 1 20000 | grep 7 | tail -n 2
seq 1 50000 | wc -c
yes | head -c 100000 | wc -c
set -o pipefail
yes | head -n 1
echo "pipefail, yes killed by SIGPIPE: $?"
false | true
echo "pipefail: $?"
set +o pipefail
false | true
echo "no pipefail: $?"
! true | false
echo "negated: $?"
"#,
        "c\nb\n3\n19987\n19997\n288894\n100000\ny\npipefail, yes killed by SIGPIPE: 141\npipefail: 1\n\
         no pipefail: 0\nnegated: 0\n",
    );
}

#[test]
fn command_substitution_captures_output_and_status() {
    check(
        r#"x=$(echo hi); echo "$x"
y=`echo back ticks`; echo "$y"
n=$(seq 1 5 | wc -l); echo "lines: $n"
nested=$(echo $(echo inner) outer); echo "$nested"
big=$(seq 1 3000); echo "length: ${#big}"
echo "status inside: $(false; echo $?)"
z=$(exit 4); echo "status of assignment: $?"
echo "arith: $(( $(echo 6) * $(echo 7) ))"
"#,
        "hi\nback ticks\nlines: 5\ninner outer\nlength: 13892\nstatus inside: 1\nstatus of assignment: 4\narith: 42\n",
    );
}

#[test]
fn subshells_return_their_exit_codes() {
    check(
        r#"(exit 3); echo $?
(false); echo $?
( (exit 7) ); echo $?
sh -c 'exit 42'; echo $?
if (exit 0); then echo zero-is-true; fi
(exit 300); echo $?
! (exit 1); echo $?
(x=inner; echo "$x"); echo "outer: ${x-unset}"
(cd /tmp && pwd); pwd
"#,
        "3\n1\n7\n42\nzero-is-true\n44\n0\ninner\nouter: unset\n/tmp\n/\n",
    );
}

#[test]
fn here_documents_feed_commands() {
    // The last one is larger than a pipe buffer, which busybox sh writes
    // from a child process.
    check(
        r#"v=world
cat <<EOT
hello $v
sum=$((1+2))
EOT
cat <<'EOT'
no $expansion `here`
EOT
while read a b; do echo "$b-$a"; done <<EOT
1 one
2 two
EOT
tr a-z A-Z <<-EOT
	tabs stripped
	EOT
cat <<EOT | wc -c
$(seq 1 3000)
EOT
"#,
        "hello world\nsum=3\nno $expansion `here`\none-1\ntwo-2\nTABS STRIPPED\n13893\n",
    );
}

#[test]
fn background_jobs_and_wait() {
    check(
        r#"sleep 0.2 & p=$!; wait $p; echo "wait sleep: $?"
(sleep 0.1; exit 5) & p=$!; wait $p; echo "wait subshell: $?"
(exit 6) & (exit 7) & wait; echo "wait all: $?"
for i in 1 2 3; do (echo "job $i" > /tmp/job$i) & done; wait
cat /tmp/job1 /tmp/job2 /tmp/job3
sleep 0.5 & p=$!; kill -0 $p && echo "alive"; wait $p; kill -0 $p 2>/dev/null || echo "gone"
wait 12345; echo "wait unknown: $?"
"#,
        "wait sleep: 0\nwait subshell: 5\nwait all: 0\njob 1\njob 2\njob 3\nalive\ngone\nwait unknown: 127\n",
    );
}

#[test]
fn traps_on_int_term_usr1_and_exit() {
    check(
        r#"trap 'echo int' INT; kill -INT $$; echo after-int
trap 'echo term' TERM; kill -TERM $$; echo after-term
trap 'echo usr1' USR1; kill -USR1 $$; echo after-usr1
trap - INT TERM USR1
trap 'echo exit trap' EXIT
(trap 'echo subshell exit trap' EXIT; echo in subshell)
sh -c 'trap "echo child caught INT; exit 9" INT; kill -INT $$; echo not reached'; echo "child: $?"
sh -c 'trap "echo child exit trap" EXIT; exit 4'; echo "child: $?"
echo end
"#,
        "int\nafter-int\nterm\nafter-term\nusr1\nafter-usr1\nin subshell\nsubshell exit trap\n\
         child caught INT\nchild: 9\nchild exit trap\nchild: 4\nend\nexit trap\n",
    );
}

#[test]
fn init_ignores_signals_it_has_no_handler_for() {
    // As on Linux, pid 1 gets no signal whose action is the default (the
    // shell is the guest's init, and natively pid 1 of its namespace);
    // any other process does.
    check(
        r#"kill -TERM $$; echo "survived TERM"
kill -USR1 $$; echo "survived USR1"
kill -HUP $$; echo "survived HUP"
sh -c 'kill -TERM $$; echo not reached'; echo "a child is not init: $?"
"#,
        "survived TERM\nsurvived USR1\nsurvived HUP\na child is not init: 143\n",
    );
}

#[test]
fn kill_between_guest_processes() {
    // The trapping child says when its trap is set (/tmp/ready), so the
    // kill never comes first; the wait for it is bounded (10 s natively),
    // so that a guest that cannot run it fails without hanging.
    //
    // `wait`'s stderr is discarded: whether busybox sh reports a killed
    // background job ("Killed") depends on whether the job had already
    // died when `wait` first polled it, a race that Linux and umvm may
    // each win. The statuses say what matters.
    check(
        r#"sleep 10 & p=$!; kill $p; wait $p 2>/dev/null; echo "TERM: $?"
sleep 10 & p=$!; kill -9 $p; wait $p 2>/dev/null; echo "KILL: $?"
sleep 10 & p=$!; kill -USR1 $p; wait $p 2>/dev/null; echo "USR1: $?"
sh -c 'trap "echo caught TERM; exit 3" TERM; touch /tmp/ready; while :; do sleep 0.05; done' & p=$!
i=0; while [ ! -e /tmp/ready ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
kill $p; wait $p; echo "trapped: $?"
kill -0 $p 2>/dev/null; echo "kill -0 after reaping: $?"
"#,
        "TERM: 143\nKILL: 137\nUSR1: 138\ncaught TERM\ntrapped: 3\nkill -0 after reaping: 1\n",
    );
}

#[test]
fn xargs_runs_commands_from_its_input() {
    check(
        r#"printf '1\n2\n3\n' | xargs echo
seq 1 10 | xargs -n 3 echo
printf 'a\nb\n' | xargs -I{} echo item {}
printf 'x y\n' | xargs sh -c 'echo "$# args: $*"' sh
seq 1 3 | xargs -n 1 sh -c 'exit $1' sh; echo "status: $?"
"#,
        "1 2 3\n1 2 3\n4 5 6\n7 8 9\n10\nitem a\nitem b\n2 args: x y\nstatus: 123\n",
    );
}

#[test]
fn timeout_kills_a_slow_command() {
    // busybox timeout execs the command in its own process and has a
    // grandchild kill it: 143 (SIGTERM), not coreutils' 124.
    check(
        r#"start=$(date +%s)
timeout 1 sleep 5; echo "timed out: $?"
end=$(date +%s)
[ $((end - start)) -lt 4 ] && echo "in time"
timeout 5 true; echo "true: $?"
timeout 5 sh -c 'exit 4'; echo "exit 4: $?"
timeout -s KILL 1 sleep 5; echo "KILL: $?"
"#,
        "timed out: 143\nin time\ntrue: 0\nexit 4: 4\nKILL: 137\n",
    );
}

#[test]
fn sleep_sleeps() {
    check(
        r#"sleep 0.1; echo "sleep: $?"
sleep 0; echo "sleep 0: $?"
t=$( { time -f %e sleep 0.3; } 2>&1 )
case $t in
0.[3-9]*|[1-9]*) echo "slept long enough" ;;
*) echo "too short: $t" ;;
esac
"#,
        "sleep: 0\nsleep 0: 0\nslept long enough\n",
    );
}

#[test]
fn read_splits_lines_from_pipes_and_here_documents() {
    check(
        r#"echo 'a b' | { read x y; echo "$y$x"; }
printf 'one\ntwo\n' | while read l; do echo "got $l"; done
IFS=: read a b c <<EOT
1:2:3
EOT
echo "$c$b$a"
printf 'no newline' | { read l; echo "status $?: $l"; }
read -r raw <<'EOT'
back\slash
EOT
echo "$raw"
echo last | { read; echo "REPLY=$REPLY"; }
"#,
        "ba\ngot one\ngot two\n321\nstatus 1: no newline\nback\\slash\nREPLY=last\n",
    );
}

#[test]
fn loops_spawn_many_processes() {
    check(
        r#"sum=0
for i in $(seq 1 50); do sh -c "exit $((i % 7))"; sum=$((sum + $?)); done
echo "sum of 50 exit statuses: $sum"
n=0
for i in $(seq 1 50); do n=$((n + $(expr $i \* 2))); done
echo "sum of 50 expr outputs: $n"
for i in $(seq 1 50); do echo $i; done | sh -c 'wc -l'
for i in $(seq 1 20); do sleep 0.05 & done; wait; echo "20 background sleeps done"
"#,
        "sum of 50 exit statuses: 148\nsum of 50 expr outputs: 2550\n50\n20 background sleeps done\n",
    );
}

#[test]
fn scripts_run_scripts_through_shebang_lines() {
    let extra: &[Extra] = &[
        ("/bin/hello-script", "#!/bin/sh\necho \"hello from $0 with $# args: $*\"\nexit 4\n", 0o755),
        ("/bin/outer-script", "#!/bin/sh\necho outer start\nhello-script from-outer\necho \"outer saw $?\"\n", 0o755),
        // An interpreter argument: `sh -e` stops at the first failure.
        ("/strict.sh", "#!/bin/sh -e\necho strict start\nfalse\necho not reached\n", 0o755),
        ("/bin/bbsh.sh", "#!/bin/busybox sh\necho \"via busybox sh: $1\"\n", 0o755),
    ];
    check_with(
        r#"/bin/hello-script a b; echo "status $?"
hello-script c; echo "status $?"
outer-script
/strict.sh; echo "strict: $?"
/bin/bbsh.sh arg
x=$(hello-script in-subst); echo "captured: $x"
"#,
        extra,
        "hello from /bin/hello-script with 2 args: a b\nstatus 4\n\
         hello from /bin/hello-script with 1 args: c\nstatus 4\n\
         outer start\nhello from /bin/hello-script with 1 args: from-outer\nouter saw 4\n\
         strict start\nstrict: 1\n\
         via busybox sh: arg\n\
         captured: hello from /bin/hello-script with 1 args: in-subst\n",
        0,
    );
}

#[test]
fn exec_replaces_the_shell() {
    // The last exec replaces the script's shell, init itself: its status
    // becomes umvm's.
    check_with(
        r#"sh -c 'exec echo replaced; echo not reached'
sh -c 'exec sh -c "echo nested \$0" named'
(exec 3>/tmp/f; echo to-fd3 >&3); cat /tmp/f
exec 4</tmp/f; read l <&4; echo "read from fd 4: $l"; exec 4<&-
sh -c 'exec /no/such/program'; echo "missing: $?"
exec sh -c 'echo exec replaced the script; exit 5'
echo not reached
"#,
        &[],
        "replaced\nnested named\nto-fd3\nread from fd 4: to-fd3\nmissing: 127\nexec replaced the script\n",
        5,
    );
}

#[test]
fn realistic_script() {
    check(
        r#"# A small nightly report: background workers, functions, case, a FIFO,
# here-document config, a timeout guard, traps and xargs.
set -u
work=/tmp/report
mkdir -p $work
cleanup() { rm -rf $work; echo "cleaned up"; }
trap cleanup EXIT

gen() {
    i=1
    while [ $i -le $2 ]; do
        case $((i % 3)) in
        0) lvl=ERROR ;;
        1) lvl=INFO ;;
        *) lvl=WARN ;;
        esac
        echo "$1 $lvl event-$i"
        i=$((i + 1))
    done > $work/$1.log
}
gen alpha 30 & gen beta 45 & gen gamma 60 &
wait
ls $work
cat $work/*.log | awk '{print $2}' | sort | uniq -c | sed 's/^ *//'
for f in $work/*.log; do
    host=$(basename $f .log)
    printf '%-6s %3d errors, last: %s\n' $host $(grep -c ERROR $f) "$(tail -n 1 $f | cut -d' ' -f3)"
done

mkfifo $work/pipe
(seq 1 100 > $work/pipe) &
total=0
while read n; do total=$((total + n)); done < $work/pipe
wait
echo "fifo total: $total"
rm $work/pipe

while IFS='=' read key value; do
    [ -z "$key" ] && continue
    echo "config $key -> $value"
done <<EOF
name=nightly
hosts=$(ls $work | wc -l)

mode=full
EOF

if timeout 1 sh -c 'sleep 3'; then echo "slow step finished"; else echo "slow step timed out ($?)"; fi
ls $work/*.log | xargs -n 1 basename | tr a-z A-Z
summary=$( (cd $work && cat *.log | wc -l) )
echo "events: $summary"
exit 0
"#,
        "alpha.log\nbeta.log\ngamma.log\n45 ERROR\n45 INFO\n45 WARN\n\
         alpha   10 errors, last: event-30\nbeta    15 errors, last: event-45\ngamma   20 errors, last: event-60\n\
         fifo total: 5050\nconfig name -> nightly\nconfig hosts -> 3\nconfig mode -> full\n\
         slow step timed out (143)\nALPHA.LOG\nBETA.LOG\nGAMMA.LOG\nevents: 135\ncleaned up\n",
    );
}
