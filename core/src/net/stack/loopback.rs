//! The guest's `lo`: 127.0.0.1/8 and ::1 over a queue that feeds the stack's own packets back to it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use smoltcp::phy::Medium;
use smoltcp::time::Instant;
use smoltcp::wire::HardwareAddress;

use super::device::{FrameDevice, FrameLink};
use super::nic::Nic;

/// The loopback MTU: Linux uses 65536, but an IPv4 packet cannot exceed 65535 bytes.
pub const LOOPBACK_MTU: usize = 65535;

/// How many packets the loopback holds before it drops (smoltcp paces TCP by window, so this is only
/// reached by a UDP flood).
const LOOPBACK_CAPACITY: usize = 4096;

/// A wire whose far end is itself.
#[derive(Debug, Default)]
pub struct LoopbackLink {
    packets: Mutex<VecDeque<Vec<u8>>>,
}

impl LoopbackLink {
    /// Packets sent but not yet received back.
    pub fn pending(&self) -> usize {
        self.packets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl FrameLink for LoopbackLink {
    fn send(&self, frame: &[u8]) {
        let mut q = self.packets.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() < LOOPBACK_CAPACITY {
            q.push_back(frame.to_vec());
        }
    }

    fn recv(&self) -> Option<Vec<u8>> {
        self.packets.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }
}

/// The `lo` NIC, up, with 127.0.0.1/8 and ::1/128, and the link that shows what it has pending.
pub fn loopback_nic(now: Instant, seed: u64) -> (Nic, Arc<LoopbackLink>) {
    let link = Arc::new(LoopbackLink::default());
    let device = FrameDevice::new(link.clone(), Medium::Ip, LOOPBACK_MTU);
    let mut nic = Nic::with_device("lo", device, HardwareAddress::Ip, now, seed);
    // Fresh interface with room for 8 addresses: these cannot fail.
    let _ = nic.add_address(std::net::Ipv4Addr::LOCALHOST.into(), 8);
    let _ = nic.add_address(std::net::Ipv6Addr::LOCALHOST.into(), 128);
    nic.set_up(true);
    (nic, link)
}
