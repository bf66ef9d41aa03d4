//! Writing dirty pages out: a batch of writes to a plain image in one
//! engine submission (COW disks have `CowDevice::write_blocks`), and the
//! writeback timer thread.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use umvm_blockio::{BlockDevice, Completion, Engine, Error, FileId, Op, Order};

use super::Ubd;

/// Tokens of a batch count up from here (the engine is the disk's own, so
/// only blockio's helper token must be avoided).
const BATCH_TOKEN: u64 = 1 << 32;

/// Writes every extent `(offset, data)` (offset and length aligned for the
/// device's O_DIRECT, as whole cache pages are) with as few submissions as
/// the engine's buffers allow: all of them in one when they fit. Every
/// request pushed is waited for, even after a failure; the first error is
/// returned.
pub(crate) fn write_batch(
    dev: &BlockDevice,
    id: FileId,
    engine: &mut Engine,
    extents: &[(u64, &[u8])],
) -> Result<(), Error> {
    let cap = engine.pool().buf_size();
    let mut pending: Vec<u64> = Vec::new();
    let mut first_err = None;
    'extents: for &(offset, data) in extents {
        for (i, piece) in data.chunks(cap).enumerate() {
            let mut buf = match engine.buffer() {
                Ok(b) => b,
                Err(Error::NoBuffer) if !pending.is_empty() => {
                    complete(engine, &mut pending, &mut first_err);
                    match engine.buffer() {
                        Ok(b) => b,
                        Err(e) => {
                            first_err.get_or_insert(e);
                            break 'extents;
                        }
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                    break 'extents;
                }
            };
            buf.as_mut_slice()[..piece.len()].copy_from_slice(piece);
            let token = BATCH_TOKEN + pending.len() as u64;
            let op = Op::Write { file: id, offset: offset + (i * cap) as u64, buf, len: piece.len() };
            if let Err(e) = dev.push(engine, op, token, Order::Any) {
                first_err.get_or_insert(e);
                break 'extents;
            }
            pending.push(token);
        }
    }
    complete(engine, &mut pending, &mut first_err);
    first_err.map_or(Ok(()), Err)
}

/// Submits what is queued and waits for every token in `pending`.
fn complete(engine: &mut Engine, pending: &mut Vec<u64>, first_err: &mut Option<Error>) {
    if pending.is_empty() {
        return;
    }
    if let Err(e) = engine.submit() {
        first_err.get_or_insert(e);
    }
    for token in pending.drain(..) {
        match engine.wait_for(token) {
            Ok(Some(Completion { result: Err(e), .. })) | Err(e) => {
                first_err.get_or_insert(e);
            }
            Ok(_) => {}
        }
    }
}

/// Starts a thread calling `writeback_tick` every `interval` until `stop`
/// is set (by the disk's drop) or the disk is gone. It holds the disk only
/// during a tick; if the last other reference goes meanwhile, the disk is
/// dropped (and written back) on this thread, which then ends.
pub(crate) fn spawn_timer(
    ubd: Weak<Ubd>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    interval: Duration,
    name: String,
) -> std::io::Result<()> {
    std::thread::Builder::new().name(name).spawn(move || loop {
        {
            let (flag, wake) = &*stop;
            let guard = flag.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) =
                wake.wait_timeout_while(guard, interval, |stopped| !*stopped).unwrap_or_else(|e| e.into_inner());
            if *guard {
                return;
            }
        }
        let Some(ubd) = ubd.upgrade() else { return };
        if let Err(e) = ubd.writeback_tick(Instant::now()) {
            tracing::warn!("ubd{}: writeback: {e}", ubd.unit());
        }
    })?;
    Ok(())
}
