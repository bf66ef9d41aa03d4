//! umvm-core: the guest kernel of umvm, a user-mode virtual machine for
//! x86-64 Linux.
//!
//! Guest programs are unmodified Linux binaries running as host processes
//! whose system calls this kernel catches with ptrace (see ARCHITECTURE.md
//! in the project's shared docs). The embedding API is [`vm::VmBuilder`].

#![warn(missing_docs)]

pub mod cmdline;
pub mod dev;
pub mod errno;
pub mod fs;
pub mod kernel;
pub mod mconsole;
pub mod mm;
pub mod net;
pub mod power;
pub mod sched;
pub mod signal;
pub mod stub;
pub mod syscall;
pub mod task;
pub mod trap;
pub mod vm;

pub use dev::console::ConsoleMode;
pub use trap::TrapMode;
pub use vm::{Ending, Vm, VmBuilder, VmError};
