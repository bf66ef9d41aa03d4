//! A pool of page-aligned I/O buffers carved from one anonymous mapping.
//!
//! One mapping, cut into equal slots, so that the io_uring engine can
//! register every slot once as a fixed buffer (slot i is fixed buffer i) and
//! the kernel need not pin and unpin pages per request. Page alignment meets
//! O_DIRECT's memory requirement on every filesystem we accept.
//!
//! A `Buffer` owns its slot: while a request is in flight the engine holds
//! the `Buffer`, so no caller can touch or free memory the kernel is using;
//! the completion hands it back. Dropping a `Buffer` returns the slot.

use std::io;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use crate::align::PAGE;

/// The x86-64 transparent huge page (PMD) size.
const HUGE_PAGE: usize = 2 << 20;

/// The pool; cheap to clone (all clones share the slots).
#[derive(Clone)]
pub struct BufferPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    base: NonNull<u8>,
    /// Bytes mapped at `base`: the slots, rounded up to whole huge pages
    /// for a huge-page pool.
    map_len: usize,
    buf_size: usize,
    count: usize,
    /// Free slot indices. A mutex, not a RefCell, so that a pool (and an
    /// engine holding one) can be built on one thread and moved to the
    /// per-CPU loop that uses it; it is never contended there.
    free: Mutex<Vec<u32>>,
}

// SAFETY: the mapping is plain memory; each slot is reached only through the
// one `Buffer` that owns it (the free list hands a slot out once), and the
// free list is behind a mutex.
unsafe impl Send for PoolInner {}
// SAFETY: as above; shared references only read `base`, `buf_size`, `count`.
unsafe impl Sync for PoolInner {}

impl BufferPool {
    /// Maps `count` buffers of `buf_size` bytes each (rounded up to a page),
    /// populated up front so that the first I/O pays no page faults.
    ///
    /// A pool of 1 MiB or more is mapped in whole, aligned 2 MiB units and
    /// asks for transparent huge pages (`MADV_HUGEPAGE`, honoured unless
    /// THP is `never`), so that a large buffer is physically contiguous and
    /// a request on it is one scatter-gather segment instead of one per
    /// 4 KiB page. On virtio-blk without indirect descriptors a 1 MiB
    /// request of 4 KiB pages fills the whole virtqueue (and is split in
    /// two at its 254-segment limit), so only one such request is ever at
    /// the device, whatever the queue depth. Where huge pages cannot be had
    /// the pool is of 4 KiB pages, as before.
    pub fn new(buf_size: usize, count: usize) -> io::Result<BufferPool> {
        let buf_size = buf_size.max(1).next_multiple_of(PAGE as usize);
        let count = count.max(1);
        let too_large = || io::Error::other("buffer pool too large");
        let total = buf_size.checked_mul(count).ok_or_else(too_large)?;
        let huge = total >= HUGE_PAGE / 2;
        let map_len = if huge { total.checked_next_multiple_of(HUGE_PAGE).ok_or_else(too_large)? } else { total };
        // Room to slide the start to a huge-page boundary.
        let reserve = if huge { map_len.checked_add(HUGE_PAGE).ok_or_else(too_large)? } else { map_len };
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choosing affects no existing memory.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserve,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | if huge { 0 } else { libc::MAP_POPULATE },
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map: *mut u8 = map.cast();
        let base = if huge {
            let lead = (map as usize).next_multiple_of(HUGE_PAGE) - map as usize;
            let tail = reserve - lead - map_len;
            // SAFETY: both ranges lie inside the mapping just made and
            // outside [map + lead, map + lead + map_len), the part we keep.
            unsafe {
                if lead > 0 {
                    libc::munmap(map.cast(), lead);
                }
                if tail > 0 {
                    libc::munmap(map.add(lead + map_len).cast(), tail);
                }
            }
            // SAFETY: `lead` < HUGE_PAGE lies within the mapping.
            let base = unsafe { map.add(lead) };
            if let Err(e) = populate_huge(base, map_len) {
                // SAFETY: the part we kept, unmapped once, on failure only.
                unsafe { libc::munmap(base.cast(), map_len) };
                return Err(e);
            }
            base
        } else {
            map
        };
        let base = NonNull::new(base).expect("mmap never returns null on success");
        let free = (0..count as u32).rev().collect();
        Ok(BufferPool { inner: Arc::new(PoolInner { base, map_len, buf_size, count, free: Mutex::new(free) }) })
    }

    /// Takes a free buffer, or `None` when all are in use.
    pub fn alloc(&self) -> Option<Buffer> {
        let index = self.inner.free.lock().expect("pool lock").pop()?;
        Some(Buffer { pool: self.inner.clone(), index })
    }

    /// The size of every buffer.
    pub fn buf_size(&self) -> usize {
        self.inner.buf_size
    }

    /// The number of buffers.
    pub fn count(&self) -> usize {
        self.inner.count
    }

    /// The number of buffers not handed out.
    pub fn available(&self) -> usize {
        self.inner.free.lock().expect("pool lock").len()
    }

    /// One iovec per slot, in slot order, for IORING_REGISTER_BUFFERS.
    pub(crate) fn iovecs(&self) -> Vec<libc::iovec> {
        (0..self.inner.count)
            .map(|i| libc::iovec {
                // SAFETY: slot i lies inside the mapping.
                iov_base: unsafe { self.inner.base.as_ptr().add(i * self.inner.buf_size) }.cast(),
                iov_len: self.inner.buf_size,
            })
            .collect()
    }

    /// Whether `buf` is one of this pool's, so its slot is its fixed-buffer
    /// index in an engine that registered this pool.
    pub(crate) fn owns(&self, buf: &Buffer) -> bool {
        Arc::ptr_eq(&self.inner, &buf.pool)
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `new` with this length, and no
        // `Buffer` is left (each holds an Arc to us), nor any ring that
        // registered it (the engine drops its ring before its pool).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.map_len) };
    }
}

/// Asks for huge pages on `len` bytes at `base` (a fresh, huge-page aligned
/// anonymous mapping) and faults them in. A refused hint only costs the
/// contiguity; a kernel without MADV_POPULATE_WRITE (before 5.14) gets every
/// page touched instead.
fn populate_huge(base: *mut u8, len: usize) -> io::Result<()> {
    // SAFETY: advice on our own mapping; it changes no contents.
    unsafe { libc::madvise(base.cast(), len, libc::MADV_HUGEPAGE) };
    // SAFETY: populating our own writable mapping changes no contents.
    if unsafe { libc::madvise(base.cast(), len, libc::MADV_POPULATE_WRITE) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EINVAL) {
        return Err(err);
    }
    for off in (0..len).step_by(PAGE as usize) {
        // SAFETY: `off` < `len`, inside our writable mapping, which no one
        // else references yet; writing the zero it already holds.
        unsafe { base.add(off).write_volatile(0) };
    }
    Ok(())
}

/// One page-aligned buffer of the pool, owned exclusively.
pub struct Buffer {
    pool: Arc<PoolInner>,
    index: u32,
}

impl Buffer {
    /// Its slot, which is its fixed-buffer index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Its size in bytes.
    pub fn capacity(&self) -> usize {
        self.pool.buf_size
    }

    /// Its memory, for the engine's requests.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        // SAFETY: the slot lies inside the mapping.
        unsafe { self.pool.base.as_ptr().add(self.index as usize * self.pool.buf_size) }
    }

    /// The whole buffer.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the slot is `buf_size` valid, initialised (zero-filled
        // anonymous) bytes, owned by this Buffer alone.
        unsafe {
            std::slice::from_raw_parts(
                self.pool.base.as_ptr().add(self.index as usize * self.pool.buf_size),
                self.capacity(),
            )
        }
    }

    /// The whole buffer, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.capacity();
        // SAFETY: as in `as_slice`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr(), len) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.pool.free.lock().expect("pool lock").push(self.index);
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer(#{}, {} bytes)", self.index, self.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_aligned_exclusive_and_returned() {
        let pool = BufferPool::new(5000, 3).unwrap();
        assert_eq!(pool.buf_size(), 8192);
        let mut a = pool.alloc().unwrap();
        let b = pool.alloc().unwrap();
        let c = pool.alloc().unwrap();
        assert!(pool.alloc().is_none());
        assert_eq!(a.as_mut_ptr() as usize % PAGE as usize, 0);
        a.as_mut_slice().fill(7);
        assert!(b.as_slice().iter().all(|&x| x == 0));
        assert!(pool.owns(&c));
        drop(b);
        assert_eq!(pool.available(), 1);
        assert!(pool.alloc().is_some());
    }

    #[test]
    fn large_pools_are_huge_page_aligned_and_usable() {
        let pool = BufferPool::new(1 << 20, 3).unwrap();
        let mut bufs: Vec<Buffer> = (0..3).map(|_| pool.alloc().unwrap()).collect();
        assert_eq!(bufs[0].as_mut_ptr() as usize % HUGE_PAGE, bufs[0].index() as usize % 2 * (1 << 20));
        for (i, b) in bufs.iter_mut().enumerate() {
            b.as_mut_slice().fill(i as u8 + 1);
        }
        for (i, b) in bufs.iter().enumerate() {
            assert!(b.as_slice().iter().all(|&x| x == i as u8 + 1));
        }
        assert_eq!(pool.iovecs().len(), 3);
    }
}
