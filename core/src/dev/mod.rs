//! Devices as the guest sees them: the console and the character devices
//! of /dev, and the ubd disks; NIC front ends arrive with later steps.

pub mod console;
pub mod devfs;
pub mod ldisc;
pub mod termios;
pub mod tty;
pub mod ubd;
