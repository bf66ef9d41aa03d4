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

/// The pool; cheap to clone (all clones share the slots).
#[derive(Clone)]
pub struct BufferPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    base: NonNull<u8>,
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
    pub fn new(buf_size: usize, count: usize) -> io::Result<BufferPool> {
        let buf_size = buf_size.max(1).next_multiple_of(PAGE as usize);
        let count = count.max(1);
        let total = buf_size.checked_mul(count).ok_or_else(|| io::Error::other("buffer pool too large"))?;
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choosing affects no existing memory.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(base.cast()).expect("mmap never returns null on success");
        let free = (0..count as u32).rev().collect();
        Ok(BufferPool { inner: Arc::new(PoolInner { base, buf_size, count, free: Mutex::new(free) }) })
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
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.buf_size * self.count) };
    }
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
}
