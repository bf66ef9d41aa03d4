//! umvm-blockio: host-side block I/O for umvm. It knows nothing about
//! guests; the guest kernel (umvm-core) and the COW layer build on it.
//!
//! - [`Engine`]: batched asynchronous I/O over io_uring (registered files,
//!   fixed buffers from a [`BufferPool`], O_DIRECT, fsync/fdatasync,
//!   ordering, cancellation, an eventfd for the event loop), with a
//!   synchronous fallback behind the same API.
//! - [`BlockDevice`]: a raw image file as a disk, with UML's ubd flags
//!   ([`UbdFlags`]), locking, discovered O_DIRECT alignment and a buffered
//!   fallback where the host filesystem refuses O_DIRECT.
//! - [`Error`]: typed errors for everything a caller may act on.

pub mod align;
pub mod buffer_pool;
pub mod device;
pub mod engine;
pub mod error;
pub mod flags;
mod sync;
mod uring;

pub use align::{AlignSource, DioAlignment};
pub use buffer_pool::{Buffer, BufferPool};
pub use device::{BlockDevice, DeviceOptions, DirectMode};
pub use engine::{Completion, Engine, EngineChoice, EngineConfig, EngineKind, FileId, Op, Order};
pub use error::{Error, OpKind, Result};
pub use flags::UbdFlags;
