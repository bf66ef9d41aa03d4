//! Batched I/O on a plain image: a batch of writes, or the pieces of one
//! long read, in one engine submission (COW disks have
//! `CowDevice::write_blocks`).

use umvm_blockio::{BlockDevice, Completion, Engine, Error, FileId, Op, Order};

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

/// Reads `dst.len()` bytes at `offset` (aligned for the device's O_DIRECT,
/// as whole cache pages are, up to the device's end) in requests of a pool
/// buffer each, all in one submission: a long miss costs one round trip.
pub(crate) fn read_batch(
    dev: &BlockDevice,
    id: FileId,
    engine: &mut Engine,
    offset: u64,
    dst: &mut [u8],
) -> Result<(), Error> {
    let cap = engine.pool().buf_size();
    if dst.len() <= cap || !dev.alignment().fits(offset, dst.len()) {
        return dev.read_at(engine, id, offset, dst);
    }
    let mut pending = Vec::new();
    let mut first_err = None;
    for (i, piece) in dst.chunks(cap).enumerate() {
        let at = offset + (i * cap) as u64;
        let pushed = engine.buffer().and_then(|buf| {
            dev.push(
                engine,
                Op::Read { file: id, offset: at, buf, len: piece.len() },
                BATCH_TOKEN + i as u64,
                Order::Any,
            )
        });
        match pushed {
            Ok(()) => pending.push(i),
            Err(e) => {
                first_err.get_or_insert(e);
                break;
            }
        }
    }
    if let Err(e) = engine.submit() {
        first_err.get_or_insert(e);
    }
    let mut chunks: Vec<&mut [u8]> = dst.chunks_mut(cap).collect();
    for i in pending {
        let at = offset + (i * cap) as u64;
        match engine.wait_for(BATCH_TOKEN + i as u64) {
            Ok(Some(Completion { result: Ok(got), buffer: Some(buf), .. })) => {
                let out = &mut chunks[i];
                match dev.check_read(at, out.len(), got) {
                    Ok(()) => out.copy_from_slice(&buf.as_slice()[..out.len()]),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            Ok(Some(Completion { result: Err(e), .. })) | Err(e) => {
                first_err.get_or_insert(e);
            }
            Ok(_) => {
                first_err.get_or_insert(Error::Canceled);
            }
        }
    }
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
