//! umvm-cow: UML-compatible copy-on-write disks (specs/uml-interop.md §1,
//! §2), built on umvm-blockio.
//!
//! - [`header`]: the COW header, v1/v2/v3, parsed and emitted, never
//!   panicking on any input.
//! - [`bitmap`]: the sector bitmap, kept in memory with the metadata region.
//! - [`backing`]: backing files, mapped read-only once per process and
//!   shared by every device over them.
//! - [`device`]: [`CowDevice`], reads, writes and flushes, with the bitmap
//!   persisted only after the data it covers.
//! - [`ubd`]: UML's `ubdN[flags]=cow,backing,serial` switch.
//! - [`tools`]: create, inspect and merge (uml_mkcow, uml_moo).
//! - [`wal`]: the write-ahead log that makes a commit of many pages atomic.
//! - [`Error`]: typed, one-line errors naming the files involved.

pub mod backing;
pub mod bitmap;
pub mod device;
pub mod error;
pub mod header;
pub mod image;
pub mod lock;
pub mod tools;
pub mod ubd;
pub mod wal;

pub use backing::Backing;
pub use device::{CowDevice, CowOptions};
pub use error::{Error, HeaderError, Result};
pub use header::{Geometry, Header, Version};
pub use tools::{create, inspect, merge, Info, MergeOptions, MergeStats, MergeTarget};
pub use ubd::{Disk, UbdSpec, UbdSwitch};
