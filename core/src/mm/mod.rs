//! Guest memory: access from the kernel, the program break, the ELF
//! loader (ARCHITECTURE §4), and the out-of-memory killer that enforces
//! `mem=`.

pub mod elf;
pub mod loader;
pub mod mem;
pub mod oom;

/// Linux's limit on one argv or envp string (MAX_ARG_STRLEN).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

pub use mem::GuestMem;
