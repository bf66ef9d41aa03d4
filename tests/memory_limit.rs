//! `mem=` is a real limit (mm/oom.rs): a guest process that touches more
//! memory than the machine has is killed by SIGKILL with Linux's
//! "Out of memory: Killed process" line on umvm's stderr, while init and
//! the machine go on; one that fits runs to its end; an allocation larger
//! than the machine (malloc, anonymous mmap, brk) is refused with ENOMEM in
//! both trap modes, since such an mmap is kept from running natively.
//! Allocating in megabyte steps cannot outrun the killer, however late its
//! thread is scheduled: each step meets it at the allocation.
//! Each test runs in every trap mode (UMVM_TEST_TRAP).

mod common;

use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn root() -> Rootfs {
    let root = Rootfs::system();
    let hog = guest_program("memhog");
    std::fs::copy(hog, root.host_path("/memhog")).unwrap();
    root
}

fn run(trap: Trap, mem: &str, script: &str) -> Run {
    let root = root();
    let cfg = Config { trap, strace: false };
    let mem = format!("mem={mem}");
    run_umvm_words(cfg, root.path(), &[&mem, "--", "/bin/sh", "-c", script], b"", T)
}

#[test]
fn a_process_touching_more_than_mem_is_killed_and_the_machine_goes_on() {
    for trap in traps() {
        let r = run(trap, "64M", "/memhog touch 200; echo status=$?; /memhog touch 32; echo status=$?");
        let what = format!("{trap:?}\n{r}");
        assert_eq!(r.out(), "status=137\ntouched 32 MiB\nstatus=0\n", "{what}");
        let err = r.err();
        let line = err.lines().find(|l| l.starts_with("Out of memory: Killed process ")).unwrap_or_else(|| {
            panic!("no OOM line; {what}");
        });
        assert!(line.contains(" (memhog) total-vm:") && line.contains("kB, anon-rss:"), "{line}; {what}");
        // Killed at the allocation that found the machine full, not when
        // a poll happened to come round: it never held more than mem=.
        let rss: u64 = line.split("anon-rss:").nth(1).and_then(|r| r.split("kB").next()).unwrap().parse().unwrap();
        assert!(rss <= 64 << 10, "anon-rss {rss} kB over mem=64M; {what}");
        assert_eq!(err.lines().filter(|l| l.starts_with("Out of memory")).count(), 1, "{what}");
        assert_eq!(r.code(), 0, "{what}");
    }
}

#[test]
fn a_process_within_mem_is_left_alone() {
    for trap in traps() {
        let r = run(trap, "64M", "/memhog touch 32 && /memhog touch 40");
        let what = format!("{trap:?}\n{r}");
        assert_eq!(r.out(), "touched 32 MiB\ntouched 40 MiB\n", "{what}");
        assert!(!r.err().contains("Out of memory"), "{what}");
        assert_eq!(r.code(), 0, "{what}");
    }
}

#[test]
fn an_allocation_larger_than_mem_is_enomem() {
    for trap in traps() {
        let r = run(trap, "64M", "/memhog big 1024");
        let what = format!("{trap:?}\n{r}");
        assert_eq!(
            r.out(),
            "malloc: NULL Out of memory\nmmap: failed Out of memory\nbrk: failed Out of memory\n",
            "{what}"
        );
        assert_eq!(r.code(), 0, "{what}");
        // What fits is still given, untouched memory costing nothing.
        let r = run(trap, "64M", "/memhog big 48");
        assert_eq!(r.out(), "malloc: ok -\nmmap: ok -\nbrk: ok -\n", "{trap:?}\n{r}");
    }
}
