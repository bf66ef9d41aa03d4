//! BlockDevice and Engine behaviour on real files: both engines, O_DIRECT
//! and buffered, alignment, ordering, cancellation, locking, flags, errors.

mod common;
use common::*;

use std::os::fd::AsRawFd;

use umvm_blockio::{
    AlignSource, BlockDevice, DeviceOptions, DirectMode, EngineKind, Error, Op, OpKind, Order, UbdFlags,
};

#[test]
fn direct_io_on_the_repo_filesystem_discovers_its_alignment() {
    let (path, _) = make_image("align", 64 * 1024);
    let dev = open(&path, DirectMode::Require);
    assert!(dev.is_direct());
    let a = dev.alignment();
    assert!(matches!(a.source, AlignSource::Statx | AlignSource::Probe | AlignSource::Fallback), "{a:?}");
    assert!(a.offset >= 512 && a.offset.is_power_of_two(), "{a:?}");
    assert_eq!(dev.block_size(), a.offset.max(512));
    eprintln!("O_DIRECT alignment of {}: {a:?}", path.display());
}

#[test]
fn byte_granular_reads_and_writes_bounce_on_both_engines_and_modes() {
    for kind in KINDS {
        for direct in [DirectMode::Require, DirectMode::Never] {
            let (path, mut model) = make_image("bounce", 300 * 1024);
            let mut engine = engine(kind);
            let dev = open(&path, direct);
            let id = dev.register(&mut engine).unwrap();
            // Misaligned in offset, length and (a Vec's) memory; crossing
            // buffer boundaries (64 KiB buffers).
            let src: Vec<u8> = (0..100_003u32).map(|i| (i % 251) as u8).collect();
            dev.write_at(&mut engine, id, 12_345, &src).unwrap();
            model[12_345..12_345 + src.len()].copy_from_slice(&src);
            let mut back = vec![0u8; 200_001];
            dev.read_at(&mut engine, id, 3, &mut back).unwrap();
            assert_eq!(back, model[3..200_004], "{kind:?} {direct:?}");
            dev.flush(&mut engine, id).unwrap();
            drop(engine);
            assert_eq!(std::fs::read(&path).unwrap(), model, "{kind:?} {direct:?}: file contents");
        }
    }
}

#[test]
fn misaligned_direct_requests_are_rejected_before_the_kernel() {
    for kind in KINDS {
        let (path, model) = make_image("misaligned", 64 * 1024);
        let mut engine = engine(kind);
        let dev = open(&path, DirectMode::Require);
        let id = dev.register(&mut engine).unwrap();
        let mut buf = engine.buffer().unwrap();
        buf.as_mut_slice().fill(0xEE);
        let err = dev.push(&mut engine, Op::Write { file: id, offset: 100, buf, len: 512 }, 1, Order::Any).unwrap_err();
        assert!(matches!(err, Error::Misaligned { op: OpKind::Write, offset: 100, .. }), "{err}");
        let buf = engine.buffer().unwrap();
        let err = dev.push(&mut engine, Op::Read { file: id, offset: 0, buf, len: 100 }, 2, Order::Any).unwrap_err();
        assert!(matches!(err, Error::Misaligned { .. }), "{err}");
        assert_eq!(engine.in_flight(), 0);
        assert_eq!(engine.pool().available(), engine.pool().count(), "rejected buffers go back");
        drop(engine);
        assert_eq!(std::fs::read(&path).unwrap(), model, "nothing written");
    }
}

#[test]
fn a_batch_is_one_submit_and_signals_the_eventfd() {
    for kind in KINDS {
        let (path, model) = make_image("batch", 256 * 1024);
        let mut engine = engine(kind);
        let dev = open(&path, DirectMode::Require);
        let id = dev.register(&mut engine).unwrap();
        for i in 0..8u64 {
            let buf = engine.buffer().unwrap();
            dev.push(&mut engine, Op::Read { file: id, offset: i * 32768, buf, len: 4096 }, i, Order::Any).unwrap();
        }
        assert_eq!(engine.submit().unwrap(), 8);
        let mut pfd = libc::pollfd { fd: engine.notify_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 5000) };
        assert_eq!(ready, 1, "{kind:?}: the eventfd signals completions");
        let mut done = Vec::new();
        while done.len() < 8 {
            engine.clear_notify();
            engine.reap(&mut done);
            if done.len() < 8 {
                engine.wait(1, &mut done).unwrap();
            }
        }
        done.sort_by_key(|c| c.token);
        for c in done {
            let off = c.token as usize * 32768;
            assert_eq!(c.result.unwrap(), 4096);
            assert_eq!(&c.buffer.unwrap().as_slice()[..4096], &model[off..off + 4096]);
        }
        assert_eq!(engine.in_flight(), 0);
    }
}

#[test]
fn a_failed_link_cancels_what_follows_and_order_holds() {
    for kind in KINDS {
        let (path, model) = make_image("link", 64 * 1024);
        let mut engine = engine(kind);
        let dev = open(&path, DirectMode::Require);
        let id = dev.register(&mut engine).unwrap();
        // A read of a closed-then-reused... simplest failing request: a
        // write to a file registered read-only.
        let ro =
            BlockDevice::open(&path, DeviceOptions { flags: UbdFlags::parse("rc").unwrap(), ..Default::default() })
                .unwrap();
        let ro_id = engine.register_file(ro.file(), ro.alignment()).unwrap();
        let mut data = engine.buffer().unwrap();
        data.as_mut_slice()[..4096].fill(0xAB);
        engine.push(Op::Write { file: ro_id, offset: 0, buf: data, len: 4096 }, 1, Order::LinkNext).unwrap();
        let mut bitmap = engine.buffer().unwrap();
        bitmap.as_mut_slice()[..4096].fill(0xCD);
        engine.push(Op::Write { file: id, offset: 4096, buf: bitmap, len: 4096 }, 2, Order::Any).unwrap();
        // A working chain: data, fdatasync, "bitmap".
        let mut data = engine.buffer().unwrap();
        data.as_mut_slice()[..4096].fill(0x11);
        engine.push(Op::Write { file: id, offset: 8192, buf: data, len: 4096 }, 3, Order::LinkNext).unwrap();
        engine.push(Op::Fdatasync { file: id }, 4, Order::LinkNext).unwrap();
        let mut bitmap = engine.buffer().unwrap();
        bitmap.as_mut_slice()[..4096].fill(0x22);
        engine.push(Op::Write { file: id, offset: 12288, buf: bitmap, len: 4096 }, 5, Order::Any).unwrap();
        engine.submit().unwrap();
        let mut done = Vec::new();
        engine.wait(5, &mut done).unwrap();
        done.sort_by_key(|c| c.token);
        let results: Vec<_> = done.iter().map(|c| c.result.as_ref().map_err(|e| e.to_string())).collect();
        assert!(matches!(done[0].result, Err(Error::Io { op: OpKind::Write, .. })), "{kind:?} {results:?}");
        assert!(matches!(done[1].result, Err(Error::Canceled)), "{kind:?} {results:?}");
        assert!(done[2..].iter().all(|c| c.result.is_ok()), "{kind:?} {results:?}");
        drop(engine);
        let file = std::fs::read(&path).unwrap();
        assert_eq!(file[4096..8192], model[4096..8192], "the cancelled write did not land");
        assert!(file[8192..12288].iter().all(|&b| b == 0x11) && file[12288..16384].iter().all(|&b| b == 0x22));
    }
}

#[test]
fn cancel_reports_every_targeted_request() {
    for kind in KINDS {
        let (path, _) = make_image("cancel", 64 * 1024);
        let mut engine = engine(kind);
        let dev = open(&path, DirectMode::Require);
        let id = dev.register(&mut engine).unwrap();
        let buf = engine.buffer().unwrap();
        dev.push(&mut engine, Op::Read { file: id, offset: 0, buf, len: 4096 }, 7, Order::Any).unwrap();
        assert_eq!(engine.cancel(7).unwrap(), 1);
        let mut done = Vec::new();
        engine.wait(1, &mut done).unwrap();
        assert_eq!(done.len(), 1);
        // Either the cancel won or the read had already finished; never both,
        // never lost, and the buffer always comes back.
        assert!(matches!(done[0].result, Ok(4096) | Err(Error::Canceled)), "{:?}", done[0].result);
        assert!(done[0].buffer.is_some());
        if kind == EngineKind::Sync {
            assert!(matches!(done[0].result, Err(Error::Canceled)), "unsubmitted requests cancel at once");
        }
        assert_eq!(engine.cancel(7).unwrap(), 0);
    }
}

#[test]
fn a_writable_image_is_locked_against_a_second_opener() {
    let (path, _) = make_image("lock", 64 * 1024);
    let first = open(&path, DirectMode::Auto);
    let err = BlockDevice::open(&path, DeviceOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()) && msg.contains("only one VM"), "{msg}");
    let ro = DeviceOptions { flags: UbdFlags::parse("r").unwrap(), ..Default::default() };
    assert!(matches!(BlockDevice::open(&path, ro), Err(Error::Locked { .. })), "a reader waits for the writer");
    let shared = DeviceOptions { flags: UbdFlags::parse("c").unwrap(), ..Default::default() };
    BlockDevice::open(&path, shared).expect("c: no lock");
    drop(first);
    let r1 = BlockDevice::open(&path, ro).unwrap();
    let _r2 = BlockDevice::open(&path, ro).expect("readers share");
    assert!(matches!(BlockDevice::open(&path, DeviceOptions::default()), Err(Error::Locked { .. })));
    drop(r1);
}

#[test]
fn a_posix_lock_names_its_holder() {
    let (path, _) = make_image("posix", 4096);
    // Real UML takes a POSIX lock; a child holds one like it, and says so
    // through a pipe once it does.
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let mut fds = [0; 2];
    // SAFETY: a valid array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fork in a test: the child only calls async-signal-safe
    // fcntl, write, pause and _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: flock is plain data.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as _;
        // SAFETY: valid flock and byte; then wait to be killed.
        unsafe {
            let ok = libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &fl) == 0;
            libc::write(fds[1], [ok as u8].as_ptr().cast(), 1);
            libc::pause();
            libc::_exit(0);
        }
    }
    let mut ok = [0u8];
    // SAFETY: reads one byte into a valid buffer.
    assert_eq!(unsafe { libc::read(fds[0], ok.as_mut_ptr().cast(), 1) }, 1);
    let err = BlockDevice::open(&path, DeviceOptions::default()).err();
    // SAFETY: the child we forked, and our pipe.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    assert_eq!(ok[0], 1, "the child took its POSIX lock");
    match err {
        Some(Error::Locked { holder, .. }) => assert_eq!(holder, Some(pid)),
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[test]
fn read_only_no_trim_and_range_errors_are_typed() {
    let (path, _) = make_image("flags", 64 * 1024);
    let mut engine = engine(EngineKind::Uring);
    let ro =
        BlockDevice::open(&path, DeviceOptions { flags: UbdFlags::parse("r").unwrap(), ..Default::default() }).unwrap();
    let id = ro.register(&mut engine).unwrap();
    assert!(matches!(ro.write_at(&mut engine, id, 0, &[1]), Err(Error::ReadOnly)));
    assert!(matches!(ro.discard(&mut engine, id, 0, 4096), Err(Error::ReadOnly)));
    let mut b = [0u8; 10];
    assert!(matches!(ro.read_at(&mut engine, id, 64 * 1024 - 5, &mut b), Err(Error::OutOfRange { .. })));
    // The engine's copy of the descriptor holds the lock until unregistered.
    engine.unregister_file(id).unwrap();
    drop(ro);
    let nt =
        BlockDevice::open(&path, DeviceOptions { flags: UbdFlags::parse("t").unwrap(), ..Default::default() }).unwrap();
    let id = nt.register(&mut engine).unwrap();
    assert!(matches!(nt.discard(&mut engine, id, 0, 4096), Err(Error::DiscardDisabled)));
}

#[test]
fn discard_punches_a_hole_that_reads_as_zeroes() {
    for kind in KINDS {
        let (path, _) = make_image("discard", 256 * 1024);
        let mut engine = engine(kind);
        let dev = open(&path, DirectMode::Auto);
        let id = dev.register(&mut engine).unwrap();
        dev.discard(&mut engine, id, 64 * 1024, 64 * 1024).unwrap();
        let mut back = vec![1u8; 64 * 1024];
        dev.read_at(&mut engine, id, 64 * 1024, &mut back).unwrap();
        assert!(back.iter().all(|&b| b == 0));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 256 * 1024, "KEEP_SIZE");
    }
}

#[test]
fn sync_flag_opens_o_sync() {
    let (path, _) = make_image("osync", 8192);
    let dev =
        BlockDevice::open(&path, DeviceOptions { flags: UbdFlags::parse("s").unwrap(), ..Default::default() }).unwrap();
    // SAFETY: F_GETFL takes only integers.
    let fl = unsafe { libc::fcntl(dev.file().as_raw_fd(), libc::F_GETFL) };
    assert_eq!(fl & libc::O_SYNC, libc::O_SYNC);
}

#[test]
fn a_truncated_image_is_a_clear_error() {
    let (path, _) = make_image("truncated", 64 * 1024);
    let err =
        BlockDevice::open(&path, DeviceOptions { expected_size: Some(1 << 20), ..Default::default() }).unwrap_err();
    assert!(matches!(err, Error::Truncated { actual: 65536, expected: 1048576, .. }), "{err}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");

    // Truncated after opening: a read inside the device comes back short.
    for kind in KINDS {
        let (path, _) = make_image("truncated-later", 64 * 1024);
        let mut engine = engine(kind);
        let dev = open(&path, DirectMode::Auto);
        let id = dev.register(&mut engine).unwrap();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(16 * 1024).unwrap();
        let mut back = vec![0u8; 8192];
        let err = dev.read_at(&mut engine, id, 12 * 1024, &mut back).unwrap_err();
        assert!(matches!(err, Error::ShortRead { .. }), "{kind:?}: {err}");
    }
}

#[test]
fn buffered_mode_accepts_any_alignment_at_the_engine() {
    let (path, model) = make_image("buffered", 64 * 1024);
    for kind in KINDS {
        let mut engine = engine(kind);
        let dev = BlockDevice::open(
            &path,
            DeviceOptions { direct: DirectMode::Never, flags: UbdFlags::parse("c").unwrap(), ..Default::default() },
        )
        .unwrap();
        assert!(!dev.is_direct());
        let id = dev.register(&mut engine).unwrap();
        let buf = engine.buffer().unwrap();
        dev.push(&mut engine, Op::Read { file: id, offset: 3, buf, len: 100 }, 9, Order::Any).unwrap();
        engine.submit().unwrap();
        let c = engine.wait_for(9).unwrap().unwrap();
        assert_eq!(c.result.unwrap(), 100);
        assert_eq!(&c.buffer.unwrap().as_slice()[..100], &model[3..103]);
    }
}

#[test]
fn dropping_the_engine_releases_the_lock_at_once() {
    let (path, _) = make_image("relock", 64 * 1024);
    for _ in 0..20 {
        for kind in KINDS {
            let mut engine = engine(kind);
            let dev = open(&path, DirectMode::Auto);
            let id = dev.register(&mut engine).unwrap();
            dev.write_at(&mut engine, id, 0, b"x").unwrap();
            drop(dev);
            drop(engine);
        }
    }
}
