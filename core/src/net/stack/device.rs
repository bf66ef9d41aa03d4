//! A guest NIC's wire: smoltcp's `phy::Device` over a frame link that a host backend fills and drains.
//!
//! A backend (a TAP device, a multicast group, a switch connection: crate netio) implements
//! [`FrameLink`]; the stack never sees sockets or file descriptors. Every received frame is untrusted:
//! [`FrameDevice`] checks its length, ethertype and L3 header before smoltcp sees it, and counts what it
//! drops the way Linux's /proc/net/dev does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::{ArpPacket, EthernetFrame, EthernetProtocol, Ipv4Packet, Ipv6Packet};

/// The length of an Ethernet header (no FCS, no VLAN tag).
pub const ETHERNET_HEADER_LEN: usize = 14;

/// One end of a frame wire: whole Ethernet frames (no FCS) out and in.
///
/// Both methods must not block: `send` queues or drops (a full link loses frames, as a wire does),
/// `recv` returns `None` when nothing is waiting.
pub trait FrameLink: Send + Sync {
    /// Hands one outgoing frame to the host side.
    fn send(&self, frame: &[u8]);
    /// The next incoming frame, if any.
    fn recv(&self) -> Option<Vec<u8>>;
    /// Tells the host side the guest brought the NIC up or down (`ifconfig eth0 down`): a link that
    /// is down drops what arrives, as a NIC that is down does.
    fn set_up(&self, _up: bool) {}
    /// Whether the far side is there (a switch connection can lose its switch): Linux's carrier.
    fn carrier(&self) -> bool {
        true
    }
    /// What the host side dropped or failed to send before the stack saw a frame (bad frames a
    /// backend already refused, a full host queue): added to the NIC's own counters.
    fn host_counters(&self) -> LinkCounters {
        LinkCounters::default()
    }
}

/// The wire of an unplugged NIC: nothing comes in, what goes out is lost, no carrier.
pub(crate) struct UnpluggedLink;

impl FrameLink for UnpluggedLink {
    fn send(&self, _frame: &[u8]) {}

    fn recv(&self) -> Option<Vec<u8>> {
        None
    }

    fn carrier(&self) -> bool {
        false
    }
}

/// Counters a [`FrameLink`]'s host side keeps (see [`FrameLink::host_counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames refused as malformed before the stack saw them.
    pub rx_errors: u64,
    /// Good frames dropped (the NIC was down, or the host side was full).
    pub rx_dropped: u64,
    /// Of `rx_errors`: runts and oversized frames.
    pub rx_length_errors: u64,
    /// Frames the host failed to send.
    pub tx_errors: u64,
    /// Frames dropped because the host's queue was full.
    pub tx_dropped: u64,
}

/// One direction of an in-memory wire: a bounded frame queue.
#[derive(Debug, Default)]
struct FrameQueue {
    frames: Mutex<VecDeque<Vec<u8>>>,
}

/// How many frames an in-memory wire holds before it drops (a NIC ring's size).
pub const MEMORY_LINK_CAPACITY: usize = 4096;

impl FrameQueue {
    fn push(&self, frame: &[u8]) {
        let mut q = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() < MEMORY_LINK_CAPACITY {
            q.push_back(frame.to_vec());
        }
    }

    fn pop(&self) -> Option<Vec<u8>> {
        self.frames.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }

    fn len(&self) -> usize {
        self.frames.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// One end of an in-memory point-to-point wire (see [`memory_link_pair`]): what one end sends the other
/// receives. Joins two guests' stacks in one process, and lets tests inject frames.
#[derive(Debug, Clone)]
pub struct MemoryLink {
    tx: Arc<FrameQueue>,
    rx: Arc<FrameQueue>,
}

/// Two joined ends of an in-memory wire.
pub fn memory_link_pair() -> (MemoryLink, MemoryLink) {
    let a = Arc::new(FrameQueue::default());
    let b = Arc::new(FrameQueue::default());
    (MemoryLink { tx: a.clone(), rx: b.clone() }, MemoryLink { tx: b, rx: a })
}

impl MemoryLink {
    /// Frames waiting to be received at this end.
    pub fn pending(&self) -> usize {
        self.rx.len()
    }
}

impl FrameLink for MemoryLink {
    fn send(&self, frame: &[u8]) {
        self.tx.push(frame);
    }

    fn recv(&self) -> Option<Vec<u8>> {
        self.rx.pop()
    }
}

/// A NIC's counters, named as Linux's `struct rtnl_link_stats64` fields that /proc/net/dev prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevCounters {
    /// Bytes received (frames handed to the stack).
    pub rx_bytes: u64,
    /// Frames received and handed to the stack.
    pub rx_packets: u64,
    /// Frames received in error (runt, oversized, malformed headers).
    pub rx_errors: u64,
    /// Frames dropped for a protocol the stack does not handle (Linux's rx_nohandler lands here).
    pub rx_dropped: u64,
    /// Frames with a bad length (the "frame" column).
    pub rx_length_errors: u64,
    /// Frames received to a multicast or broadcast address.
    pub multicast: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Frames the host failed to send.
    pub tx_errors: u64,
    /// Frames dropped on the way out (the host's queue was full).
    pub tx_dropped: u64,
}

/// Why a received frame was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameVerdict {
    /// Good: hand it to smoltcp.
    Accept,
    /// Shorter than a header, or longer than the MTU allows.
    BadLength,
    /// Headers that do not parse or checksum.
    Malformed,
    /// An ethertype the stack does not speak.
    UnknownProtocol,
}

/// Judges one received Ethernet frame of a NIC with the given IP MTU.
pub fn check_frame(frame: &[u8], mtu: usize) -> FrameVerdict {
    if frame.len() < ETHERNET_HEADER_LEN || frame.len() > ETHERNET_HEADER_LEN + mtu {
        return FrameVerdict::BadLength;
    }
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return FrameVerdict::BadLength;
    };
    let payload = eth.payload();
    let parses = match eth.ethertype() {
        EthernetProtocol::Arp => ArpPacket::new_checked(payload).is_ok(),
        EthernetProtocol::Ipv4 => Ipv4Packet::new_checked(payload).is_ok_and(|p| p.verify_checksum()),
        EthernetProtocol::Ipv6 => Ipv6Packet::new_checked(payload).is_ok(),
        _ => return FrameVerdict::UnknownProtocol,
    };
    if parses {
        FrameVerdict::Accept
    } else {
        FrameVerdict::Malformed
    }
}

/// How many refused frames one `receive` call skips before it gives up for this poll, so a flood of
/// garbage cannot hold the stack in one call.
const MAX_SKIPPED_PER_RECEIVE: usize = 256;

/// smoltcp's `phy::Device` over a [`FrameLink`], with checks and counters.
pub struct FrameDevice {
    link: Arc<dyn FrameLink>,
    medium: Medium,
    mtu: usize,
    counters: DevCounters,
    scratch: Vec<u8>,
    /// Set when a `receive` call stopped early on a flood of bad frames: the stack must poll again soon.
    pub(crate) starved: bool,
}

impl FrameDevice {
    /// A device over `link` for a NIC of this medium and IP MTU.
    pub fn new(link: Arc<dyn FrameLink>, medium: Medium, mtu: usize) -> Self {
        FrameDevice { link, medium, mtu, counters: DevCounters::default(), scratch: Vec::new(), starved: false }
    }

    /// The counters so far, the host side's drops and errors included.
    pub fn counters(&self) -> DevCounters {
        let mut c = self.counters;
        let h = self.link.host_counters();
        c.rx_errors += h.rx_errors;
        c.rx_dropped += h.rx_dropped;
        c.rx_length_errors += h.rx_length_errors;
        c.tx_errors += h.tx_errors;
        c.tx_dropped += h.tx_dropped;
        c
    }

    /// The link under the device.
    pub fn link(&self) -> &dyn FrameLink {
        &*self.link
    }

    /// Puts `link` under the device instead of its own (an unplugged NIC lets go of its host port).
    pub(crate) fn replace_link(&mut self, link: Arc<dyn FrameLink>) {
        self.link = link;
    }

    /// The IP MTU.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// The medium (Ethernet, or IP for loopback).
    pub fn medium(&self) -> Medium {
        self.medium
    }

    fn frame_len_limit(&self) -> usize {
        match self.medium {
            Medium::Ethernet => self.mtu + ETHERNET_HEADER_LEN,
            _ => self.mtu,
        }
    }
}

/// A received frame, owned.
pub struct FrameRxToken(Vec<u8>);

impl phy::RxToken for FrameRxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

/// A frame to send: filled in the device's scratch buffer, then handed to the link.
pub struct FrameTxToken<'a> {
    link: &'a dyn FrameLink,
    counters: &'a mut DevCounters,
    scratch: &'a mut Vec<u8>,
}

impl phy::TxToken for FrameTxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        self.scratch.clear();
        self.scratch.resize(len, 0);
        let r = f(self.scratch);
        self.link.send(self.scratch);
        self.counters.tx_packets += 1;
        self.counters.tx_bytes += len as u64;
        r
    }
}

impl phy::Device for FrameDevice {
    type RxToken<'a> = FrameRxToken;
    type TxToken<'a> = FrameTxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        for _ in 0..MAX_SKIPPED_PER_RECEIVE {
            let frame = self.link.recv()?;
            // The loopback carries only this stack's own packets, unchecksummed: nothing to judge.
            let verdict = match self.medium {
                Medium::Ethernet => check_frame(&frame, self.mtu),
                _ if frame.is_empty() || frame.len() > self.mtu => FrameVerdict::BadLength,
                _ => FrameVerdict::Accept,
            };
            match verdict {
                FrameVerdict::Accept => {
                    self.counters.rx_packets += 1;
                    self.counters.rx_bytes += frame.len() as u64;
                    if self.medium == Medium::Ethernet && frame[0] & 1 == 1 {
                        self.counters.multicast += 1;
                    }
                    let tx =
                        FrameTxToken { link: &*self.link, counters: &mut self.counters, scratch: &mut self.scratch };
                    return Some((FrameRxToken(frame), tx));
                }
                FrameVerdict::BadLength => {
                    self.counters.rx_errors += 1;
                    self.counters.rx_length_errors += 1;
                }
                FrameVerdict::Malformed => self.counters.rx_errors += 1,
                FrameVerdict::UnknownProtocol => self.counters.rx_dropped += 1,
            }
        }
        self.starved = true;
        None
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        Some(FrameTxToken { link: &*self.link, counters: &mut self.counters, scratch: &mut self.scratch })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = self.medium;
        caps.max_transmission_unit = self.frame_len_limit();
        // The loopback never leaves the process: checksums would only cost time.
        if self.medium == Medium::Ip {
            let mut c = ChecksumCapabilities::default();
            c.ipv4 = Checksum::None;
            c.tcp = Checksum::None;
            c.udp = Checksum::None;
            c.icmpv4 = Checksum::None;
            c.icmpv6 = Checksum::None;
            caps.checksum = c;
        }
        caps
    }
}
