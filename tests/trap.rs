//! The trap core's guarantees as a guest sees them: returning from a
//! signal handler keeps the program traced, and no memory syscall can
//! touch the stub (whose gadget runs every injected host syscall).

mod common;

use common::*;

/// The stub's page: the lowest page a process may map.
fn stub_base() -> u64 {
    let min: u64 = std::fs::read_to_string("/proc/sys/vm/mmap_min_addr").unwrap().trim().parse().unwrap();
    min.max(0x10000).div_ceil(4096) * 4096
}

#[test]
fn signal_return_stays_traced_and_the_stub_cannot_be_touched() {
    let root = Rootfs::new();
    let prog = root.install("stub_guard");
    let base = format!("{:#x}", stub_base());
    for cfg in configs() {
        let run = run_guest(cfg, root.path(), &[&prog, &base]);
        assert_eq!(run.code(), 0, "{cfg}\n{run}");
        assert_eq!(
            run.out(),
            "handler ran 1 time(s), page=x, pid=1\n\
             mprotect=22\nmunmap=22\nmunmap-all=22\nmadvise=22\nmmap-fixed=22\nmremap-onto=22\n\
             mprotect-own=0 munmap-own=0\nstill traced: pid=1\n",
            "{cfg}\n{run}"
        );
    }
}
