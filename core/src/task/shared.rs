//! State shared between tasks (threads share an fd table, a cwd, an
//! address space, signal handlers), locked briefly by whichever tracer
//! loop serves one of them.

use std::sync::{Arc, Mutex, MutexGuard};

/// A value shared by the tasks that were cloned with the matching
/// CLONE_* flag, and copied for those that were not.
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Shared<T> {
    /// A new, unshared value.
    pub fn new(v: T) -> Shared<T> {
        Shared(Arc::new(Mutex::new(v)))
    }

    /// Locks it. A panic while holding the lock is a kernel bug that has
    /// already been reported; the data is still the best there is.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether two handles share one value.
    pub fn same(&self, other: &Shared<T>) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T: Clone> Shared<T> {
    /// Shares the value (the CLONE_* flag was given) or copies it.
    pub fn share_or_copy(&self, share: bool) -> Shared<T> {
        if share {
            self.clone()
        } else {
            Shared::new(self.lock().clone())
        }
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}
