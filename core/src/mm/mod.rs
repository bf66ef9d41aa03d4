//! Guest memory: access from the kernel, the program break, and the ELF
//! loader (ARCHITECTURE §4).

pub mod elf;
pub mod loader;
pub mod mem;

/// Linux's limit on one argv or envp string (MAX_ARG_STRLEN).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

pub use mem::GuestMem;
