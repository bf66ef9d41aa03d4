//! The management console (UML's mconsole; specs/uml-interop.md §6):
//! `uml_mconsole` and `umvm mconsole` control a running machine through a
//! datagram socket at `~/.uml/UMID/mconsole`.
//!
//! [`wire`] and [`server`] are the host side and know nothing of guests;
//! [`commands`] acts on the machine ([`nic_plug`]: its network cards).

pub mod commands;
pub mod nic_plug;
pub mod server;
pub mod wire;
