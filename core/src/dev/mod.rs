//! Devices as the guest sees them: the console and the character devices
//! of /dev, the ubd disks and their block device nodes, and the network cards.

pub mod blockdev;
pub mod console;
pub mod devfs;
pub mod ldisc;
pub mod net;
pub mod termios;
pub mod tty;
pub mod ubd;
