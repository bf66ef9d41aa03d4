//! A process's file descriptor table.

use std::sync::Arc;

use super::file::OpenFile;
use crate::errno::Errno;

#[derive(Clone)]
struct Slot {
    file: Arc<OpenFile>,
    cloexec: bool,
}

/// Guest fd number -> open file description, plus the close-on-exec bit.
#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
}

impl FdTable {
    /// An empty table.
    pub fn new() -> FdTable {
        FdTable::default()
    }

    fn slot(&self, fd: i32) -> Result<&Slot, Errno> {
        usize::try_from(fd).ok().and_then(|i| self.slots.get(i)).and_then(|s| s.as_ref()).ok_or(Errno::EBADF)
    }

    /// The file behind `fd`, or EBADF.
    pub fn get(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        self.slot(fd).map(|s| s.file.clone())
    }

    /// Whether `fd` is close-on-exec.
    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.slot(fd).map(|s| s.cloexec)
    }

    /// Sets or clears close-on-exec on `fd`.
    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), Errno> {
        self.slot(fd)?;
        if let Some(Some(s)) = self.slots.get_mut(fd as usize) {
            s.cloexec = on;
        }
        Ok(())
    }

    /// Installs `file` at the lowest free fd >= `min`, below `limit`
    /// (RLIMIT_NOFILE); EMFILE when there is none.
    pub fn insert(&mut self, file: Arc<OpenFile>, cloexec: bool, min: i32, limit: u64) -> Result<i32, Errno> {
        let min = usize::try_from(min).map_err(|_| Errno::EINVAL)?;
        let free = (min..).find(|&i| self.slots.get(i).is_none_or(|s| s.is_none())).expect("unbounded range");
        if free as u64 >= limit {
            return Err(Errno::EMFILE);
        }
        self.put(free, file, cloexec);
        Ok(free as i32)
    }

    /// Installs `file` at exactly `fd` (dup2), returning what was there.
    pub fn insert_at(
        &mut self,
        fd: i32,
        file: Arc<OpenFile>,
        cloexec: bool,
        limit: u64,
    ) -> Result<Option<Arc<OpenFile>>, Errno> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        if i as u64 >= limit {
            return Err(Errno::EBADF);
        }
        let old = self.slots.get_mut(i).and_then(|s| s.take()).map(|s| s.file);
        self.put(i, file, cloexec);
        Ok(old)
    }

    fn put(&mut self, i: usize, file: Arc<OpenFile>, cloexec: bool) {
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(Slot { file, cloexec });
    }

    /// The open fd numbers, ascending.
    pub fn fds(&self) -> Vec<i32> {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(i, _)| i as i32).collect()
    }

    /// Closes every close-on-exec fd (execve).
    pub fn close_on_exec(&mut self) {
        for s in &mut self.slots {
            if s.as_ref().is_some_and(|s| s.cloexec) {
                *s = None;
            }
        }
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
    }

    /// Removes `fd`, returning its file, or EBADF.
    pub fn remove(&mut self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        self.slot(fd)?;
        let s = self.slots[fd as usize].take().expect("checked above");
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(s.file)
    }
}
