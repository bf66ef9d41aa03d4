//! AF_UNIX sockets (Linux's net/unix): stream, datagram and seqpacket
//! sockets between guest processes, named by path or abstract name,
//! passing open files and credentials. Everything lives in the guest
//! kernel; the host sees no socket.

pub mod address;
pub mod ancillary;
pub mod dgram;
pub mod socket;
pub mod stream;

pub use address::{NameKey, Names, UnixAddr};
pub use socket::{SockType, UnixFile, UnixSocket};
