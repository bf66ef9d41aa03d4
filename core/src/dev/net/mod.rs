//! Guest network cards: the guest side of UML's network driver (arch/um/drivers/net_kern.c).
//!
//! Each `ethN=` switch gives the guest's stack an Ethernet NIC whose wire is a netio [`Port`]: the host
//! side (netio, net_user.c's counterpart) owns the socket, the TAP fd or the switch connection and
//! knows nothing of guests; this side joins it to the stack ([`PortLink`]) and wakes the stack when
//! frames arrive ([`receiver`]).
//!
//! [`Port`]: umvm_netio::Port

pub mod nic_table;
pub mod port_link;
pub mod receiver;

pub use nic_table::NicTable;
pub use port_link::{PortLink, TxBell};
