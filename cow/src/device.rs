//! A COW disk: reads, writes and flushes over a COW file (through blockio,
//! O_DIRECT where the host allows) and its backing file (through the shared
//! mapping of `backing`).
//!
//! Reads: a sector whose bit is set comes from the COW data area, any other
//! from the backing mapping; a request is served in runs of sectors with
//! one source.
//!
//! Writes go to the COW file in whole blocks of its O_DIRECT alignment
//! (512 bytes when buffered): a block the request covers only partly is
//! first filled with the disk's current contents (its set sectors from the
//! COW file, the others from the backing file), so that every sector of a
//! written block holds the right data and all their bits can be set.
//!
//! The bitmap: set in memory as soon as the data write completed (reads
//! then see the COW copy), persisted at `flush` by one linked chain on the
//! engine: fdatasync of the data, then the changed bitmap blocks, then
//! fdatasync again. So the bitmap on disk never names a sector whose data
//! is not durable, whatever crashes when; a write not yet flushed may be
//! lost, as on any disk with a volatile cache. With the `s` flag every
//! write is flushed this way before it returns.
//!
//! A device is registered with one engine at `open` and must be used with
//! that engine; `close` flushes and unregisters it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use umvm_blockio::{BlockDevice, Completion, DeviceOptions, DirectMode, Engine, FileId, Op, Order, UbdFlags};

use crate::backing::Backing;
use crate::bitmap::Bitmap;
use crate::error::{Error, Result};
use crate::header::{Geometry, Header, SECTOR};
use crate::image;

const SECTOR64: u64 = SECTOR as u64;
/// The device's own request tokens: the flush chain counts up from here,
/// single writes use the two below it. Far from blockio's helper token and
/// from small caller tokens.
const FLUSH_TOKEN: u64 = u64::MAX - (1 << 32);
/// The tokens of a `write_blocks` batch count up from here.
const BATCH_TOKEN: u64 = FLUSH_TOKEN - (1 << 31);

/// How to open a COW device.
#[derive(Debug, Clone, Default)]
pub struct CowOptions {
    /// The ubd flags (`d` is the caller's business: it means "not COW").
    pub flags: UbdFlags,
    /// A backing file named on the command line (UML's second name).
    pub backing: Option<PathBuf>,
    /// Skip the backing file's size and mtime checks (the caller vouches
    /// that it is unchanged; a changed one gives a corrupt disk).
    pub force_backing: bool,
    /// Refuse O_DIRECT (tests, and filesystems where it misbehaves).
    pub buffered: bool,
}

/// An open COW disk.
#[derive(Debug)]
pub struct CowDevice {
    path: PathBuf,
    dev: BlockDevice,
    id: FileId,
    header: Header,
    geometry: Geometry,
    backing: Arc<Backing>,
    backing_path: PathBuf,
    bitmap: Bitmap,
    /// The unit of data writes, and of bitmap writes.
    block: u64,
}

impl CowDevice {
    /// Opens the COW file `path`, validating its header and backing file,
    /// and registers it with `engine`.
    pub fn open(path: impl AsRef<Path>, opts: &CowOptions, engine: &mut Engine) -> Result<CowDevice> {
        let path = path.as_ref().to_path_buf();
        let flags = UbdFlags { data_only: false, ..opts.flags };
        let mut direct = if opts.buffered { DirectMode::Never } else { DirectMode::Auto };
        loop {
            let dev = BlockDevice::open(&path, DeviceOptions { flags, direct, expected_size: None })
                .map_err(Error::block(&path))?;
            let id = dev.register(engine).map_err(Error::block(&path))?;
            match Self::open_on(path.clone(), dev, id, opts, engine) {
                Ok(Some(d)) => return Ok(d),
                // The data area is not aligned for O_DIRECT (v1/v2 files):
                // go through the page cache, 512 bytes at a time.
                Ok(None) => {
                    let _ = engine.unregister_file(id);
                    direct = DirectMode::Never;
                }
                Err(e) => {
                    let _ = engine.unregister_file(id);
                    return Err(e);
                }
            }
        }
    }

    fn open_on(
        path: PathBuf,
        dev: BlockDevice,
        id: FileId,
        opts: &CowOptions,
        engine: &mut Engine,
    ) -> Result<Option<CowDevice>> {
        let meta =
            image::load(&path, dev.size(), |off, dst| dev.read_at(engine, id, off, dst).map_err(Error::block(&path)))?
                .ok_or_else(|| Error::NotCow { path: path.clone() })?;
        let block = u64::from(dev.alignment().offset).max(SECTOR64);
        if meta.geometry.data_offset % block != 0 || meta.geometry.disk_size % block != 0 {
            return Ok(None);
        }
        let (backing_path, switch) = image::choose_backing(&path, &meta.header, opts.backing.as_deref())?;
        let backing = Backing::open(&backing_path, !opts.flags.shared).map_err(|source| Error::Backing {
            cow: path.clone(),
            backing: backing_path.clone(),
            source,
        })?;
        if !opts.force_backing {
            image::check_backing(&path, &backing_path, &meta.header, backing.size(), backing.mtime())?;
        }
        let mut d = CowDevice {
            path,
            dev,
            id,
            header: meta.header,
            geometry: meta.geometry,
            backing,
            backing_path,
            bitmap: meta.bitmap,
            block,
        };
        if switch && !d.dev.is_read_only() {
            d.rewrite_backing_name(engine)?;
        }
        Ok(Some(d))
    }

    /// Stores the new backing path in the header (UML's "Switching backing
    /// file"), keeping the header's version; the path is stored as given
    /// when it is absolute, else made absolute as the tools do.
    fn rewrite_backing_name(&mut self, engine: &mut Engine) -> Result<()> {
        let abs = image::absolute_backing_name(&self.backing_path).map_err(Error::io(&self.backing_path))?;
        let mut h = self.header.clone();
        h.backing = std::os::unix::ffi::OsStrExt::as_bytes(abs.as_os_str()).to_vec();
        let bytes = h.emit().map_err(|source| Error::Header { path: self.path.clone(), source })?;
        self.bitmap.meta_mut()[..bytes.len()].copy_from_slice(&bytes);
        self.header = h;
        self.write_meta(engine, 0..bytes.len())?;
        self.dev.flush(engine, self.id).map_err(Error::block(&self.path))
    }

    /// The COW file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The backing file in use.
    pub fn backing_path(&self) -> &Path {
        &self.backing_path
    }

    /// The shared backing mapping.
    pub fn backing(&self) -> &Arc<Backing> {
        &self.backing
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file's layout.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The disk size in bytes (the backing size rounded up to a sector).
    pub fn size(&self) -> u64 {
        self.geometry.disk_size
    }

    /// The unit in which data is written to the COW file.
    pub fn block_size(&self) -> u64 {
        self.block
    }

    /// Whether the COW file is accessed with O_DIRECT.
    pub fn is_direct(&self) -> bool {
        self.dev.is_direct()
    }

    /// Whether writes are refused.
    pub fn is_read_only(&self) -> bool {
        self.dev.is_read_only()
    }

    /// The in-memory bitmap (bits of unflushed writes included).
    pub fn bitmap(&self) -> &Bitmap {
        &self.bitmap
    }

    fn check_range(&self, op: &'static str, offset: u64, len: usize, size: u64) -> Result<()> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= size => Ok(()),
            _ => Err(Error::OutOfRange { op, offset, len, size }),
        }
    }

    /// Reads `dst.len()` bytes of the disk at `offset` (any alignment).
    pub fn read(&self, engine: &mut Engine, offset: u64, dst: &mut [u8]) -> Result<()> {
        self.check_range("read", offset, dst.len(), self.size())?;
        let end = offset + dst.len() as u64;
        let mut pos = offset;
        while pos < end {
            let s = pos / SECTOR64;
            let bit = self.bitmap.get(s);
            let run_end = (self.bitmap.run_end(s, end.div_ceil(SECTOR64), bit) * SECTOR64).min(end);
            let out = &mut dst[(pos - offset) as usize..(run_end - offset) as usize];
            if bit {
                self.dev
                    .read_at(engine, self.id, self.geometry.data_offset + pos, out)
                    .map_err(Error::block(&self.path))?;
            } else {
                self.backing.read(pos, out);
            }
            pos = run_end;
        }
        Ok(())
    }

    /// Writes `src` to the disk at `offset` (any alignment), in whole
    /// blocks of the COW file; see the module docs for when it is durable.
    pub fn write(&mut self, engine: &mut Engine, offset: u64, src: &[u8]) -> Result<()> {
        if self.dev.is_read_only() {
            return Err(Error::ReadOnly { path: self.path.clone() });
        }
        // Sectors past a v1/v2 bitmap's historic short end cannot be marked.
        let writable = self.bitmap.sectors() * SECTOR64;
        self.check_range("write", offset, src.len(), writable.min(self.size()))?;
        let end = offset + src.len() as u64;
        let cap = (engine.pool().buf_size() as u64 / self.block * self.block).max(self.block);
        let mut pos = offset;
        while pos < end {
            let start = pos / self.block * self.block;
            let stop = end.next_multiple_of(self.block).min(start + cap).min(writable);
            let len = (stop - start) as usize;
            let mut buf = engine.buffer().map_err(Error::block(&self.path))?;
            let useful = stop.min(end);
            if start < pos || useful < stop {
                // A partial block: start from the disk's current contents.
                self.read(engine, start, &mut buf.as_mut_slice()[..len])?;
            }
            let at = (pos - offset) as usize;
            let n = (useful - pos) as usize;
            buf.as_mut_slice()[(pos - start) as usize..][..n].copy_from_slice(&src[at..at + n]);
            let op = Op::Write { file: self.id, offset: self.geometry.data_offset + start, buf, len };
            self.run(engine, op, FLUSH_TOKEN - 1)?;
            self.bitmap.set(start / SECTOR64..stop / SECTOR64);
            pos = useful;
        }
        if self.dev.flags().sync {
            self.flush(engine)?;
        }
        Ok(())
    }

    /// Writes whole blocks at several places with as few engine submissions
    /// as the buffer pool allows (one, when the data fits its buffers): a
    /// page cache's writeback. Each extent is `(offset, data)`; one whose
    /// offset or length is not a multiple of `block_size()` goes through
    /// `write` instead. A sector's bit is set once the write holding it
    /// completed; on failure every request in flight is still waited for,
    /// and the first error is returned. Durable as `write` is.
    pub fn write_blocks(&mut self, engine: &mut Engine, extents: &[(u64, &[u8])]) -> Result<()> {
        if self.dev.is_read_only() {
            return Err(Error::ReadOnly { path: self.path.clone() });
        }
        let writable = (self.bitmap.sectors() * SECTOR64).min(self.size());
        let block = self.block;
        let aligned = move |&(off, data): &&(u64, &[u8])| off % block == 0 && (data.len() as u64).is_multiple_of(block);
        for &(offset, data) in extents {
            self.check_range("write", offset, data.len(), writable)?;
        }
        for &(offset, data) in extents.iter().filter(|e| !aligned(e)) {
            self.write(engine, offset, data)?;
        }
        let cap = (engine.pool().buf_size() as u64 / self.block * self.block).max(self.block) as usize;
        // Token -> the sectors its write covers.
        let mut pending: Vec<(u64, std::ops::Range<u64>)> = Vec::new();
        let mut first_err = None;
        'extents: for &(offset, data) in extents.iter().filter(aligned) {
            for (i, piece) in data.chunks(cap).enumerate() {
                let at = offset + (i * cap) as u64;
                let mut buf = match engine.buffer() {
                    Ok(b) => b,
                    // The pool is lent out to this batch: finish it first.
                    Err(umvm_blockio::Error::NoBuffer) if !pending.is_empty() => {
                        self.complete_batch(engine, &mut pending, &mut first_err);
                        match engine.buffer() {
                            Ok(b) => b,
                            Err(e) => {
                                first_err.get_or_insert(Error::Block { path: self.path.clone(), source: e });
                                break 'extents;
                            }
                        }
                    }
                    Err(e) => {
                        first_err.get_or_insert(Error::Block { path: self.path.clone(), source: e });
                        break 'extents;
                    }
                };
                buf.as_mut_slice()[..piece.len()].copy_from_slice(piece);
                let token = BATCH_TOKEN + pending.len() as u64;
                let op = Op::Write { file: self.id, offset: self.geometry.data_offset + at, buf, len: piece.len() };
                if let Err(e) = self.dev.push(engine, op, token, Order::Any) {
                    first_err.get_or_insert(Error::Block { path: self.path.clone(), source: e });
                    break 'extents;
                }
                pending.push((token, at / SECTOR64..(at + piece.len() as u64) / SECTOR64));
            }
        }
        self.complete_batch(engine, &mut pending, &mut first_err);
        if let Some(e) = first_err {
            return Err(e);
        }
        if self.dev.flags().sync {
            self.flush(engine)?;
        }
        Ok(())
    }

    /// Submits the batch, waits for every request of it, and sets the bits
    /// of those that succeeded; the first failure goes to `first_err`.
    fn complete_batch(
        &mut self,
        engine: &mut Engine,
        pending: &mut Vec<(u64, std::ops::Range<u64>)>,
        first_err: &mut Option<Error>,
    ) {
        if pending.is_empty() {
            return;
        }
        if let Err(e) = engine.submit() {
            first_err.get_or_insert(Error::Block { path: self.path.clone(), source: e });
        }
        for (token, sectors) in pending.drain(..) {
            match engine.wait_for(token) {
                Ok(Some(Completion { result: Ok(_), .. })) => self.bitmap.set(sectors),
                Ok(Some(Completion { result: Err(e), .. })) | Err(e) => {
                    first_err.get_or_insert(Error::Block { path: self.path.clone(), source: e });
                }
                Ok(None) => {}
            }
        }
    }

    /// Runs one request and waits for it.
    fn run(&self, engine: &mut Engine, op: Op, token: u64) -> Result<()> {
        self.dev.push(engine, op, token, Order::Any).map_err(Error::block(&self.path))?;
        engine.submit().map_err(Error::block(&self.path))?;
        let done = engine.wait_for(token).map_err(Error::block(&self.path))?.expect("the request was pushed");
        done.result.map(drop).map_err(Error::block(&self.path))
    }

    /// Makes every completed write durable: data first, then the bitmap
    /// blocks that cover it, then those (one linked chain on the engine).
    pub fn flush(&mut self, engine: &mut Engine) -> Result<()> {
        let Some(dirty) = self.bitmap.take_dirty() else {
            return self.dev.flush(engine, self.id).map_err(Error::block(&self.path));
        };
        let r = self.flush_chain(engine, dirty.clone(), true);
        if r.is_err() {
            self.bitmap.restore_dirty(dirty);
        }
        r
    }

    /// Makes every completed write and the bitmap blocks that cover it
    /// durable with one fdatasync, the bitmap not ordered after the data:
    /// for a caller whose write-ahead log (`wal`) holds the data until this
    /// returns, and writes data and bitmap again after a crash.
    pub fn flush_logged(&mut self, engine: &mut Engine) -> Result<()> {
        let Some(dirty) = self.bitmap.take_dirty() else {
            return self.dev.flush(engine, self.id).map_err(Error::block(&self.path));
        };
        let r = self.flush_chain(engine, dirty.clone(), false);
        if r.is_err() {
            self.bitmap.restore_dirty(dirty);
        }
        r
    }

    /// Writes the `dirty` metadata and then fdatasyncs, in one linked
    /// chain; `ordered`: fdatasync the data before the metadata too.
    fn flush_chain(&self, engine: &mut Engine, dirty: std::ops::Range<usize>, ordered: bool) -> Result<()> {
        let err = Error::block(&self.path);
        let mut tokens = Vec::new();
        let push = |engine: &mut Engine, op: Op, order: Order, tokens: &mut Vec<u64>| {
            let token = FLUSH_TOKEN + tokens.len() as u64;
            tokens.push(token);
            self.dev.push(engine, op, token, order)
        };
        let run = (|| {
            if ordered {
                push(engine, Op::Fdatasync { file: self.id }, Order::LinkNext, &mut tokens)?;
            }
            for op in self.meta_writes(engine, dirty)? {
                push(engine, op, Order::LinkNext, &mut tokens)?;
            }
            push(engine, Op::Fdatasync { file: self.id }, Order::Any, &mut tokens)?;
            engine.submit()?;
            // Wait for all of them, even after a failure: their buffers and
            // the engine's slots come back only with their completions.
            let mut first_err = None;
            for &t in &tokens {
                if let Some(c) = engine.wait_for(t)? {
                    if let Err(e) = c.result {
                        first_err.get_or_insert(e);
                    }
                }
            }
            first_err.map_or(Ok(()), Err)
        })();
        run.map_err(err)
    }

    /// The writes that put `range` of the metadata region on disk, widened
    /// to whole blocks (which stay inside the region: the data offset is a
    /// multiple of the block).
    fn meta_writes(&self, engine: &mut Engine, range: std::ops::Range<usize>) -> umvm_blockio::Result<Vec<Op>> {
        let meta = self.bitmap.meta();
        let b = self.block as usize;
        let start = range.start / b * b;
        let end = range.end.next_multiple_of(b).min(meta.len());
        let mut ops = Vec::new();
        let mut pos = start;
        while pos < end {
            let mut buf = engine.buffer()?;
            let n = (buf.capacity() / b * b).min(end - pos);
            buf.as_mut_slice()[..n].copy_from_slice(&meta[pos..pos + n]);
            ops.push(Op::Write { file: self.id, offset: pos as u64, buf, len: n });
            pos += n;
        }
        Ok(ops)
    }

    /// Writes `range` of the metadata region now and waits.
    fn write_meta(&self, engine: &mut Engine, range: std::ops::Range<usize>) -> Result<()> {
        for op in self.meta_writes(engine, range).map_err(Error::block(&self.path))? {
            self.run(engine, op, FLUSH_TOKEN - 2)?;
        }
        Ok(())
    }

    /// Releases the COW file's lock now, for a device being closed (see
    /// `BlockDevice::unlock`: a forked child may hold the descriptor a
    /// moment longer). Issue no requests after it.
    pub fn unlock(&self) -> Result<()> {
        self.dev.unlock().map_err(Error::block(&self.path))
    }

    /// Flushes, and unregisters the COW file from `engine` (which drops the
    /// engine's duplicate descriptor, and with it the lock).
    pub fn close(mut self, engine: &mut Engine) -> Result<()> {
        let r = if self.dev.is_read_only() { Ok(()) } else { self.flush(engine) };
        let _ = engine.unregister_file(self.id);
        let _ = self.dev.unlock();
        r
    }
}
