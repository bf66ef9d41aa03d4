//! Devices as the guest sees them: the console and the character devices
//! of /dev, and the ubd disks and their block device nodes; NIC front ends arrive with later steps.

pub mod blockdev;
pub mod console;
pub mod devfs;
pub mod ldisc;
pub mod termios;
pub mod tty;
pub mod ubd;
