//! The guest kernel's networking (ARCHITECTURE §7): socket families that
//! live entirely inside the kernel. `unix` is AF_UNIX; the TCP/IP stack
//! (`stack`, over smoltcp) joins here as its own module, and the socket
//! syscalls dispatch to each family from `syscall::socket`.

pub mod inet;
pub mod ipconfig;
pub mod stack;
pub mod unix;
