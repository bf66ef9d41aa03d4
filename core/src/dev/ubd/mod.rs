//! ubd, the guest's disks (UML's ubd driver, guest side), with the page
//! cache of ARCHITECTURE §5: no byte cached twice.
//!
//! A [`Ubd`] is one `ubdN=` disk: the open image (a plain image or a COW
//! file over a backing file, opened by `umvm_cow::UbdSpec`), its own I/O
//! engine, and its cache. Reads and writes take any offset and length.
//!
//! Where data comes from, and who caches it:
//! - a page of a COW disk whose sectors are all clean in the COW bitmap is
//!   copied straight from the backing file's shared read-only mapping
//!   (`umvm_cow::Backing`): umvm keeps nothing, the host page cache holds
//!   the one copy, shared by every guest over that backing file;
//! - private data (pages with sectors in the COW file, and all of a plain
//!   image) is read with O_DIRECT through the engine, so the host keeps no
//!   copy, and cached here, in pages umvm owns (`cache`), up to
//!   [`UbdConfig::cache_limit`] bytes, least recently used out first. (A
//!   page only partly in the COW file, which only other writers' 512-byte
//!   COW files have, is cached whole, backing sectors included.)
//!
//! Writes go into the cache (write-back): a page written whole needs no
//! read; a partly written page is first filled with the disk's contents.
//! Dirty pages reach the image only by a commit, which is atomic against
//! a crash of umvm (SIGKILL included): the pages are first written to the
//! disk's write-ahead log (`umvm_cow::wal`, one sequential write) and the
//! log made durable; then they are written in place, in one engine
//! submission per batch (COW: `CowDevice::write_blocks`; plain: `batch`),
//! made durable with the COW bitmap that covers them (one fdatasync:
//! `CowDevice::flush_logged`; the log makes ordering them needless), and
//! the log emptied. The next open applies
//! a complete log left by a crash, and discards a torn one.
//!
//! What is committed, and when:
//! - everything, by [`Ubd::flush`] (the guest's fsync, sync, umount), on
//!   [`Ubd::close`], [`Ubd::shutdown`] and drop;
//! - when more than [`UbdConfig::dirty_limit`] bytes are dirty, the oldest
//!   pages, down to half of it (memory pressure);
//! - by the writeback timer, [`Ubd::writeback_tick`], the pages dirty
//!   longer than [`UbdConfig::dirty_expire`] (5 s by default), so a host
//!   crash loses at most that much.
//!
//! With the `s` flag every write is committed before it returns.
//!
//! A filesystem mounted on the disk needs more: its operations change
//! several blocks (an inode, a bitmap, an indirect block) that must reach
//! the image together, and only the filesystem knows where an operation
//! ends. So it holds the disk's writeback ([`Ubd::hold_writeback`]): the
//! disk then never commits on its own (neither the dirty limit nor the
//! timer nor the `s` flag), and the filesystem commits, between
//! operations, when [`Ubd::commit_due`] says so, and at sync and unmount
//! (fs/ext2_mount.rs).
//!
//! Sequential reads are detected (`readahead`) and a miss then reads up
//! to [`UbdConfig::readahead_max`] bytes past the request in the same
//! request. Clean backing pages need none: the host's page cache reads
//! ahead on the mapping.
//!
//! Locking: one mutex per disk over the image, engine and cache; several
//! kernel threads share a disk as `Arc<Ubd>`. I/O happens under the lock
//! (the engine is one ring, used synchronously here).

mod batch;
mod blocks;
mod cache;
mod direct;
mod error;
mod readahead;
mod writeback;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use umvm_blockio::{Engine, EngineChoice, EngineConfig};
use umvm_cow::wal::LogFile;
use umvm_cow::{Disk, UbdSpec};

use cache::PageCache;
pub use direct::DirectFile;
pub use error::UbdError;
use readahead::Readahead;

/// The smallest cache page; larger when the image's O_DIRECT alignment is.
const PAGE: u64 = 4096;
/// One write request of a writeback batch carries at most this much.
const MAX_EXTENT: usize = 128 << 10;
/// A cache miss reads at most this much at once.
const MAX_RUN: u64 = 1 << 20;

/// Cache sizes and writeback timing of one disk.
#[derive(Debug, Clone, Copy)]
pub struct UbdConfig {
    /// The most bytes of private pages (clean and dirty) to keep.
    pub cache_limit: u64,
    /// More dirty bytes than this start writeback, oldest first, down to
    /// half of it (a whole commit when writeback is held). Kept at most half the cache limit, so that clean pages
    /// are left to evict.
    pub dirty_limit: u64,
    /// Pages dirty longer than this are written back (and synced) by
    /// `writeback_tick`. 5 s: shorter than Linux's 30 s dirty_expire,
    /// because with O_DIRECT there is no host page cache behind us to
    /// soften a crash, and a VM's disk should not lose half a minute.
    pub dirty_expire: Duration,
    /// The largest read-ahead window.
    pub readahead_max: u64,
}

impl Default for UbdConfig {
    fn default() -> Self {
        UbdConfig {
            cache_limit: 64 << 20,
            dirty_limit: 16 << 20,
            dirty_expire: Duration::from_secs(5),
            readahead_max: 128 << 10,
        }
    }
}

/// One guest disk. Share it as `Arc<Ubd>`; see the module docs.
pub struct Ubd {
    unit: u8,
    path: PathBuf,
    size: u64,
    read_only: bool,
    sync: bool,
    page: u64,
    config: UbdConfig,
    /// A filesystem on it decides when to commit (`hold_writeback`).
    held: AtomicBool,
    state: Mutex<State>,
    /// Set on drop; the writeback threads wait on it between ticks.
    stop: Arc<(Mutex<bool>, Condvar)>,
    /// The host file direct mappings map, opened at the first (direct.rs).
    direct: OnceLock<Arc<DirectFile>>,
    /// Open block devices on it (UML's ubd_dev->count): it cannot be
    /// unplugged while any is open.
    opens: std::sync::atomic::AtomicUsize,
}

struct State {
    disk: Disk,
    engine: Engine,
    cache: PageCache,
    readahead: Readahead,
    /// The write-ahead log of commits.
    log: LogFile,
    /// `close` already wrote everything back: drop need not.
    closed: bool,
}

impl std::fmt::Debug for Ubd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ubd").field("unit", &self.unit).field("path", &self.path).field("size", &self.size).finish()
    }
}

impl Ubd {
    /// Opens the disk `spec` names, with the default cache sizes.
    /// `force_backing` skips the COW backing file's size and mtime checks.
    pub fn open(spec: &UbdSpec, force_backing: bool) -> Result<Ubd, UbdError> {
        Ubd::open_with(spec, force_backing, UbdConfig::default())
    }

    /// Opens the disk `spec` names, with these cache sizes.
    pub fn open_with(spec: &UbdSpec, force_backing: bool, mut config: UbdConfig) -> Result<Ubd, UbdError> {
        let mut engine = Engine::new(EngineConfig {
            queue_depth: 64,
            buffer_size: MAX_EXTENT,
            buffer_count: 32,
            max_files: 4,
            choice: EngineChoice::Auto,
        })
        .map_err(|source| UbdError::Engine { path: spec.file.clone(), source })?;
        let disk =
            spec.open(&mut engine, force_backing).map_err(|source| UbdError::Open { unit: spec.unit, source })?;
        let (size, read_only, unit_size) = match &disk {
            Disk::Plain(dev, _) => (dev.size(), dev.is_read_only(), u64::from(dev.alignment().offset)),
            Disk::Cow(cow) => (cow.size(), cow.is_read_only(), cow.block_size()),
        };
        let page = unit_size.max(PAGE);
        config.dirty_limit = config.dirty_limit.min(config.cache_limit / 2).max(page);
        Ok(Ubd {
            unit: spec.unit,
            path: spec.file.clone(),
            size,
            read_only,
            sync: spec.flags.sync,
            page,
            config,
            held: AtomicBool::new(false),
            state: Mutex::new(State {
                disk,
                engine,
                cache: PageCache::new(page as usize),
                readahead: Readahead::new(config.readahead_max),
                log: LogFile::new(&spec.file),
                closed: false,
            }),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            direct: OnceLock::new(),
            opens: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic under the lock leaves the cache consistent (every change
        // to it is one call), so keep going rather than poison the disk.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The unit (0 is ubda).
    pub fn unit(&self) -> u8 {
        self.unit
    }

    /// The image (or COW file).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The disk's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether writes are refused (the `r` flag, or a host file we may not
    /// write).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The cache page size.
    pub fn page_size(&self) -> u64 {
        self.page
    }

    /// The cache sizes and timing in force.
    pub fn config(&self) -> UbdConfig {
        self.config
    }

    /// Bytes written by the guest and not yet written back.
    pub fn dirty_bytes(&self) -> u64 {
        self.state().cache.dirty_bytes()
    }

    /// Makes the disk commit only when told (`true`: a filesystem is
    /// mounted on it, see the module docs), or on its own again.
    pub fn hold_writeback(&self, hold: bool) {
        self.held.store(hold, Ordering::Relaxed);
    }

    /// Whether writeback is held.
    pub fn writeback_held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// Whether a commit is due at `now`: more than the dirty limit is
    /// dirty, a page has been dirty longer than the expiry, or the disk is
    /// synchronous (`s`) and anything is dirty. For a filesystem holding
    /// writeback, after each operation and on its timer.
    pub fn commit_due(&self, now: Instant) -> bool {
        let st = self.state();
        match st.cache.oldest_since() {
            None => false,
            Some(since) => {
                self.sync
                    || st.cache.dirty_bytes() > self.config.dirty_limit
                    || now.saturating_duration_since(since) >= self.config.dirty_expire
            }
        }
    }

    /// Bytes of private data cached (dirty included). Clean backing data
    /// is never counted: the host caches it.
    pub fn cached_bytes(&self) -> u64 {
        self.state().cache.cached_bytes()
    }

    fn check_range(&self, op: &'static str, offset: u64, len: usize) -> Result<(), UbdError> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(UbdError::OutOfRange { path: self.path.clone(), op, offset, len, size: self.size }),
        }
    }

    /// Fills `buf` with the disk's bytes at `offset`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), UbdError> {
        self.check_range("read", offset, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        let mut guard = self.state();
        let st = &mut *guard;
        let end = offset + buf.len() as u64;
        let window = st.readahead.on_read(offset, buf.len() as u64);
        // Misses may read on to here (whole pages).
        let ahead_end = end.saturating_add(window).min(self.size).div_ceil(self.page);
        let mut pos = offset;
        while pos < end {
            let index = pos / self.page;
            let within = (pos - index * self.page) as usize;
            if let Some(page) = st.cache.get(index) {
                let n = (self.page - within as u64).min(end - pos) as usize;
                buf[(pos - offset) as usize..][..n].copy_from_slice(&page[within..within + n]);
                pos += n as u64;
                continue;
            }
            if self.clean(st, index) {
                // A run of clean, uncached pages: one copy from the mapping.
                let mut last = index + 1;
                while last * self.page < end && !st.cache.contains(last) && self.clean(st, last) {
                    last += 1;
                }
                let stop = (last * self.page).min(end);
                if let Disk::Cow(cow) = &st.disk {
                    cow.backing().read(pos, &mut buf[(pos - offset) as usize..(stop - offset) as usize]);
                }
                pos = stop;
                continue;
            }
            // A miss on private data: read it and what follows (the rest of
            // the request, and the read-ahead window) in one request,
            // stopping at the first page cached or clean, and at MAX_RUN
            // (a huge read is read, and cached, a piece at a time).
            let limit = ahead_end.max(end.div_ceil(self.page)).min(index + (MAX_RUN / self.page).max(1));
            let mut last = index + 1;
            while last < limit && !st.cache.contains(last) && !self.clean(st, last) {
                last += 1;
            }
            let start = index * self.page;
            let stop = (last * self.page).min(self.size);
            let mut data = vec![0u8; (stop - start) as usize];
            self.read_disk(st, start, &mut data)?;
            let n = (stop.min(end) - pos) as usize;
            buf[(pos - offset) as usize..][..n].copy_from_slice(&data[within..within + n]);
            for (i, chunk) in data.chunks(self.page as usize).enumerate() {
                st.cache.insert_clean(index + i as u64, chunk);
            }
            pos += n as u64;
            st.cache.evict_to(self.config.cache_limit);
        }
        Ok(())
    }

    /// Writes `data` at `offset`, into the cache; see the module docs for
    /// when it reaches the image.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), UbdError> {
        if self.read_only {
            return Err(UbdError::ReadOnly { path: self.path.clone() });
        }
        self.check_range("write", offset, data.len())?;
        let mut guard = self.state();
        let st = &mut *guard;
        let now = Instant::now();
        let end = offset + data.len() as u64;
        let mut pos = offset;
        while pos < end {
            let index = pos / self.page;
            let start = index * self.page;
            let within = (pos - start) as usize;
            let stop = (start + self.page).min(end);
            let n = (stop - pos) as usize;
            let src = &data[(pos - offset) as usize..][..n];
            let whole = within == 0 && stop == (start + self.page).min(self.size);
            if whole {
                st.cache.insert_dirty(index, now)[..n].copy_from_slice(src);
            } else {
                if !st.cache.contains(index) {
                    let mut old = vec![0u8; ((start + self.page).min(self.size) - start) as usize];
                    if self.clean(st, index) {
                        if let Disk::Cow(cow) = &st.disk {
                            cow.backing().read(start, &mut old);
                        }
                    } else {
                        self.read_disk(st, start, &mut old)?;
                    }
                    st.cache.insert_clean(index, &old);
                }
                let page = st.cache.dirty_mut(index, now).expect("the page was just cached");
                page[within..within + n].copy_from_slice(src);
            }
            pos = stop;
            // Inside the loop: one huge write must not pin more than the
            // limit either. A holder commits after its operation instead.
            if st.cache.dirty_bytes() > self.config.dirty_limit && !self.writeback_held() {
                self.relieve(st)?;
            }
        }
        if self.sync && !self.writeback_held() {
            let all = st.cache.all_dirty();
            self.commit_pages(st, all)?;
        }
        st.cache.evict_to(self.config.cache_limit);
        Ok(())
    }

    /// Commits the oldest dirty pages, down to half the dirty limit
    /// (memory pressure).
    fn relieve(&self, st: &mut State) -> Result<(), UbdError> {
        let mut left = st.cache.dirty_bytes();
        let target = self.config.dirty_limit / 2;
        let oldest = st.cache.oldest_dirty(|_| {
            let go = left > target;
            left = left.saturating_sub(self.page);
            go
        });
        self.commit_pages(st, oldest)?;
        st.cache.evict_to(self.config.cache_limit);
        Ok(())
    }

    /// Commits every dirty page, and makes the disk durable. When it
    /// returns Ok, everything written before it survives a crash of umvm
    /// or of the host. A filesystem holding writeback calls it between
    /// its operations.
    pub fn flush(&self) -> Result<(), UbdError> {
        if self.read_only {
            return Ok(());
        }
        let mut guard = self.state();
        let st = &mut *guard;
        let all = st.cache.all_dirty();
        if all.is_empty() {
            // Raw writes of others (a block device opened elsewhere) are
            // not ours to sync; ours are all committed.
            return self.sync_disk(st);
        }
        self.commit_pages(st, all)
    }

    /// The writeback timer's work, to call every second or so: commits the
    /// pages dirty for longer than [`UbdConfig::dirty_expire`] at `now`.
    /// Returns the bytes written back. Nothing while writeback is held
    /// (the holder has a timer of its own).
    pub fn writeback_tick(&self, now: Instant) -> Result<u64, UbdError> {
        if self.writeback_held() {
            return Ok(0);
        }
        let mut guard = self.state();
        let st = &mut *guard;
        let expire = self.config.dirty_expire;
        let old = st.cache.oldest_dirty(|since| now.saturating_duration_since(since) >= expire);
        if old.is_empty() {
            return Ok(0);
        }
        let bytes = old.len() as u64 * self.page;
        self.commit_pages(st, old)?;
        Ok(bytes)
    }

    /// Counts an open of its block device (`open` true) or a close.
    pub fn count_open(&self, open: bool) {
        use std::sync::atomic::Ordering;
        if open {
            self.opens.fetch_add(1, Ordering::Relaxed);
        } else {
            self.opens.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether its block device is open (see [`Ubd::count_open`]).
    pub fn is_open(&self) -> bool {
        self.opens.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    /// Runs [`Ubd::writeback_tick`] every `interval` on a thread of its
    /// own, until the disk is dropped (for callers without a timer of
    /// their own). Failures are logged; the pages stay dirty for the next
    /// tick or flush.
    pub fn start_writeback_thread(self: &Arc<Self>, interval: Duration) -> std::io::Result<()> {
        writeback::spawn_timer(Arc::downgrade(self), self.stop.clone(), interval, format!("ubd{}-wb", self.unit))
    }

    /// Writes everything back, makes it durable, and closes the disk.
    pub fn close(self) -> Result<(), UbdError> {
        let r = self.flush();
        let mut st = self.state();
        st.closed = r.is_ok();
        r.and_then(|()| self.remove_log(&mut st))
    }

    /// Ends the disk's use while others may still hold it (the kernel's
    /// threads outlive the VM): writes everything back, makes it durable,
    /// stops the writeback thread and releases the image's lock, so that
    /// `umvm cow merge`, uml_moo or another VM may open it as soon as umvm
    /// exits, whatever guest process is still dying with a copy of its
    /// descriptor.
    pub fn shutdown(&self) -> Result<(), UbdError> {
        let r = if self.read_only { Ok(()) } else { self.flush() };
        let (stop, wake) = &*self.stop;
        *stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        let mut st = self.state();
        st.closed = r.is_ok();
        let r = r.and_then(|()| if st.closed { self.remove_log(&mut st) } else { Ok(()) });
        let unlocked = match &st.disk {
            Disk::Plain(dev, _) => dev.unlock().map_err(|source| UbdError::Block { path: self.path.clone(), source }),
            Disk::Cow(cow) => cow.unlock().map_err(|source| UbdError::Cow { source }),
        };
        r.and(unlocked)
    }

    /// Removes the (empty) log once everything is committed at close: a
    /// disk closed cleanly leaves no log beside it.
    fn remove_log(&self, st: &mut State) -> Result<(), UbdError> {
        st.log.remove().map_err(|source| UbdError::Cow { source })
    }

    /// Whether page `index` can come from the backing mapping: a COW disk's
    /// page none of whose sectors is in the COW file.
    fn clean(&self, st: &State, index: u64) -> bool {
        let Disk::Cow(cow) = &st.disk else { return false };
        let first = index * self.page / 512;
        let end = ((index + 1) * self.page).min(self.size).div_ceil(512);
        cow.bitmap().run_end(first, end, false) == end
    }

    /// Reads the image (O_DIRECT where the host allows), bypassing the cache.
    fn read_disk(&self, st: &mut State, offset: u64, dst: &mut [u8]) -> Result<(), UbdError> {
        match &st.disk {
            Disk::Plain(dev, id) => batch::read_batch(dev, *id, &mut st.engine, offset, dst)
                .map_err(|source| UbdError::Block { path: self.path.clone(), source }),
            Disk::Cow(cow) => cow.read(&mut st.engine, offset, dst).map_err(|source| UbdError::Cow { source }),
        }
    }

    /// Commits `pages` (dirty): writes them to the log and makes it
    /// durable, then to the image in one batch, makes that durable, marks
    /// them clean and empties the log. On failure they all stay dirty
    /// (writing again is harmless).
    fn commit_pages(&self, st: &mut State, mut pages: Vec<u64>) -> Result<(), UbdError> {
        if pages.is_empty() {
            return Ok(());
        }
        pages.sort_unstable();
        // Runs of adjacent pages, each at most MAX_EXTENT, as one buffer.
        let mut extents: Vec<(u64, Vec<u8>)> = Vec::new();
        for &index in &pages {
            let start = index * self.page;
            let len = ((start + self.page).min(self.size) - start) as usize;
            let data = &st.cache.peek(index).expect("dirty pages are cached")[..len];
            match extents.last_mut() {
                Some((off, buf)) if *off + buf.len() as u64 == start && buf.len() + len <= MAX_EXTENT => {
                    buf.extend_from_slice(data)
                }
                _ => extents.push((start, data.to_vec())),
            }
        }
        let refs: Vec<(u64, &[u8])> = extents.iter().map(|(o, d)| (*o, d.as_slice())).collect();
        st.log.write(self.size, &refs).map_err(|source| UbdError::Cow { source })?;
        match &mut st.disk {
            Disk::Plain(dev, id) => batch::write_batch(dev, *id, &mut st.engine, &refs)
                .map_err(|source| UbdError::Block { path: self.path.clone(), source })?,
            Disk::Cow(cow) => cow.write_blocks(&mut st.engine, &refs).map_err(|source| UbdError::Cow { source })?,
        }
        // The log holds it all: data and COW bitmap need no order between
        // them, one fdatasync makes both durable.
        match &mut st.disk {
            Disk::Plain(dev, id) => {
                dev.flush(&mut st.engine, *id).map_err(|source| UbdError::Block { path: self.path.clone(), source })?
            }
            Disk::Cow(cow) => cow.flush_logged(&mut st.engine).map_err(|source| UbdError::Cow { source })?,
        }
        for index in pages {
            st.cache.mark_clean(index);
        }
        st.log.clear().map_err(|source| UbdError::Cow { source })
    }

    /// Makes what was written to the image durable.
    fn sync_disk(&self, st: &mut State) -> Result<(), UbdError> {
        match &mut st.disk {
            Disk::Plain(dev, id) => {
                dev.flush(&mut st.engine, *id).map_err(|source| UbdError::Block { path: self.path.clone(), source })
            }
            Disk::Cow(cow) => cow.flush(&mut st.engine).map_err(|source| UbdError::Cow { source }),
        }
    }
}

impl Drop for Ubd {
    fn drop(&mut self) {
        let (stop, wake) = &*self.stop;
        *stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        let closed = self.state.get_mut().unwrap_or_else(|e| e.into_inner()).closed;
        if !closed && !self.read_only {
            match self.flush() {
                Ok(()) => {
                    let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
                    if let Err(e) = st.log.remove() {
                        tracing::warn!("ubd{}: {e}", self.unit);
                    }
                }
                Err(e) => tracing::error!("ubd{}: writing back at close: {e}", self.unit),
            }
        }
        // Now, not when the last copy of the descriptor goes: a child
        // forked meanwhile (umvm forks guests) would keep the image locked.
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let unlocked = match &st.disk {
            Disk::Plain(dev, _) => dev.unlock().map_err(|source| UbdError::Block { path: self.path.clone(), source }),
            Disk::Cow(cow) => cow.unlock().map_err(|source| UbdError::Cow { source }),
        };
        if let Err(e) = unlocked {
            tracing::warn!("ubd{}: releasing the lock: {e}", self.unit);
        }
    }
}
