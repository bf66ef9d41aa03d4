//! Timers as musl C programs (tests/guest/*.c) see them when they run as
//! the guest's init: POSIX per-process timers (timer_create and friends,
//! emulated, their signals sent by the kernel's timer thread) and the
//! CPU-time interval timers ITIMER_VIRTUAL and ITIMER_PROF (run by the
//! host, which alone measures CPU time).
//!
//! Each program prints a deterministic report. The test first runs it
//! natively, chrooted into an identical tree as pid 1 of a new pid namespace
//! (run_native_root), and checks the report there, so that an expectation
//! that is wrong on Linux fails as such; then in the guest, in every
//! configuration.

mod common;

use common::*;
use std::time::Duration;

/// These programs end in a few seconds natively.
const PROGRAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Installs guest program `name` on a system root and runs it natively and
/// in every configuration; asserts stdout is `expected`, stderr empty and
/// the exit status 0.
fn check_program(name: &str, expected: &str) {
    let root = Rootfs::system();
    let prog = root.install(name);
    let argv = [prog.as_str()];
    let native = run_native_root(root.path(), &argv, b"", PROGRAM_TIMEOUT);
    assert_eq!(native.out(), expected, "native stdout is not what the test expects\n{native}");
    assert_eq!(native.err(), "", "native stderr is not empty\n{native}");
    assert_eq!(native.code, 0, "native exit status\n{native}");
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &argv, b"", PROGRAM_TIMEOUT);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), expected, "stdout; {what}");
        assert_eq!(run.err(), "", "stderr; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
    }
}

#[test]
fn posix_timers_signal_count_overruns_and_belong_to_their_process() {
    check_program(
        "posix_timers",
        "first id: 0\n\
         armed: yes\n\
         one-shot: fired yes, waited >= 20ms yes, code SI_TIMER yes, value 42, timerid matches yes, overrun 0\n\
         disarmed after expiry: yes\n\
         periodic: 5 signals yes, value 7, none after delete yes\n\
         null sigevent: SIGALRM yes, value is the id yes\n\
         SIGEV_NONE: counts down yes\n\
         SIGEV_NONE: expired shows 0 yes\n\
         SIGEV_NONE: periodic stays within a period yes\n\
         absolute realtime: fired yes, waited >= 30ms yes\n\
         absolute in the past: fires at once yes\n\
         requeue pending: within a period yes\n\
         overrun: delivered yes, si_overrun >= 5 yes, timer_getoverrun agrees yes\n\
         deleted while pending: was pending yes, dropped yes\n\
         two timers queue: 2 signals, values 1 2\n\
         sigwaitinfo: 3 timer signals yes\n\
         thread id: create ok\n\
         thread id: delivered to the thread yes, value 11\n\
         sigev_thread: create ok\n\
         sigev_thread: 3 calls yes, value 23\n\
         unknown clock: EINVAL\n\
         raw clock: EOPNOTSUPP\n\
         signal 0: EINVAL\n\
         signal 65: EINVAL\n\
         notify 99: EINVAL\n\
         thread id of no thread: EINVAL\n\
         bad sigevent pointer: EFAULT\n\
         bad id pointer: EFAULT\n\
         create (raw): ok\n\
         settime unknown id: EINVAL\n\
         settime negative id: EINVAL\n\
         settime NULL: EINVAL\n\
         settime bad pointer: EFAULT\n\
         tv_nsec 1e9: EINVAL\n\
         tv_nsec -1: EINVAL\n\
         tv_sec -1: EINVAL\n\
         interval tv_nsec 1e9: EINVAL\n\
         bad old pointer sets anyway: EFAULT, yes\n\
         gettime bad pointer: EFAULT\n\
         gettime unknown id: EINVAL\n\
         getoverrun unknown id: EINVAL\n\
         delete: ok, again: EINVAL\n\
         fork child: parent's timer EINVAL, first id 0\n\
         after exec: old timer EINVAL\n\
         after exec: next id 1\n\
         child status: 0\n\
         parent keeps its timer: yes\n",
    );
}

#[test]
fn cpu_time_itimers_and_clocks_measure_the_guest_process() {
    check_program(
        "cputimers",
        "virtual armed: yes\n\
         SIGVTALRM: 1, SI_KERNEL yes, si_pid 0 yes\n\
         virtual disarmed after: yes\n\
         prof interval: 20000us\n\
         SIGPROF: 3 or more yes, SI_KERNEL yes, si_pid 0 yes\n\
         prof disarmed: yes\n\
         sleeping costs no CPU time: yes\n\
         burning 0.2s counts: yes\n\
         own clock by pid: ok, agrees yes\n\
         own clock by thread: ok, readable yes\n\
         clock of no process: Invalid argument\n\
         fork child: none yes\n\
         after exec: virtual kept yes, prof kept yes\n",
    );
}

#[test]
fn times_beyond_ktime_max_are_clamped_not_fatal() {
    check_program(
        "huge_times",
        "setitimer: 0, centuries left yes\n\
         timer_settime: 0, centuries left yes\n\
         timer_settime absolute: 0, centuries left yes\n\
         timerfd_settime: 0, centuries left yes\n\
         ppoll: 1\n\
         pselect: 1\n\
         sigtimedwait: yes\n",
    );
}
