//! The learning switch's forwarding table: MAC → port, with aging.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::mac::Mac;

/// uml_switch's entry lifetime without traffic from the address.
pub const MAX_AGE: Duration = Duration::from_secs(100);
/// How often uml_switch looks for old entries.
pub const AGING_INTERVAL: Duration = Duration::from_secs(2);

/// A switch port's number.
pub type PortId = u64;

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Every port but the ingress port.
    Flood,
    /// One port.
    To(PortId),
    /// Nowhere: the destination is on the ingress port itself.
    Drop,
}

/// MAC → (port, last seen).
#[derive(Debug, Default)]
pub struct MacTable {
    entries: HashMap<Mac, (PortId, Instant)>,
}

impl MacTable {
    /// Learns from a frame's source (group addresses are never learned)
    /// and decides where it goes.
    pub fn forward(&mut self, ingress: PortId, src: Mac, dst: Mac, now: Instant) -> Forward {
        if !src.is_multicast() {
            self.entries.insert(src, (ingress, now));
        }
        if dst.is_multicast() {
            return Forward::Flood;
        }
        match self.entries.get(&dst) {
            Some(&(port, _)) if port == ingress => Forward::Drop,
            Some(&(port, _)) => Forward::To(port),
            None => Forward::Flood,
        }
    }

    /// Forgets addresses not seen for `max_age`.
    pub fn expire(&mut self, now: Instant, max_age: Duration) {
        self.entries.retain(|_, &mut (_, seen)| now.saturating_duration_since(seen) < max_age);
    }

    /// Forgets every address learned on `port` (a port that went away).
    pub fn remove_port(&mut self, port: PortId) {
        self.entries.retain(|_, &mut (p, _)| p != port);
    }

    /// The port `mac` was learned on.
    pub fn lookup(&self, mac: Mac) -> Option<PortId> {
        self.entries.get(&mac).map(|&(p, _)| p)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Mac = Mac([2, 0, 0, 0, 0, 0xa]);
    const B: Mac = Mac([2, 0, 0, 0, 0, 0xb]);

    #[test]
    fn learns_floods_and_ages() {
        let mut t = MacTable::default();
        let t0 = Instant::now();
        assert_eq!(t.forward(1, A, B, t0), Forward::Flood);
        assert_eq!(t.forward(2, B, A, t0), Forward::To(1));
        assert_eq!(t.forward(1, A, B, t0), Forward::To(2));
        assert_eq!(t.forward(1, A, Mac::BROADCAST, t0), Forward::Flood);
        // B moves to port 3.
        assert_eq!(t.forward(3, B, A, t0), Forward::To(1));
        assert_eq!(t.lookup(B), Some(3));
        // A destination on the ingress port goes nowhere.
        assert_eq!(t.forward(3, Mac([2, 0, 0, 0, 0, 0xc]), B, t0), Forward::Drop);
        // A group source is never learned.
        t.forward(1, Mac([3, 0, 0, 0, 0, 1]), A, t0);
        assert_eq!(t.lookup(Mac([3, 0, 0, 0, 0, 1])), None);
        t.expire(t0 + Duration::from_secs(99), MAX_AGE);
        assert_eq!(t.len(), 3);
        t.forward(1, A, B, t0 + Duration::from_secs(50));
        t.expire(t0 + Duration::from_secs(100), MAX_AGE);
        assert_eq!((t.lookup(A), t.lookup(B)), (Some(1), None));
    }

    #[test]
    fn removing_a_port_forgets_all_its_macs() {
        let mut t = MacTable::default();
        let now = Instant::now();
        for i in 0..5 {
            t.forward(7, Mac([2, 0, 0, 0, 1, i]), Mac::BROADCAST, now);
        }
        t.forward(8, A, Mac::BROADCAST, now);
        t.remove_port(7);
        assert_eq!(t.len(), 1);
        assert_eq!(t.forward(8, A, Mac([2, 0, 0, 0, 1, 3]), now), Forward::Flood);
    }
}
