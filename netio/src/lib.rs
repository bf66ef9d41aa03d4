//! umvm-netio: the host side of umvm's network. Raw Ethernet frames go in
//! and out through UML's transports (`mcast`, `ucast`, `daemon`,
//! `tuntap`), each a non-blocking [`Port`] with a pollable fd, counters
//! and a link state; [`switch`] is the hub or learning switch behind
//! `umvm switch`, speaking uml_switch's protocol. Nothing here knows
//! about guests: the guest kernel owns a `Port` and moves frames.

pub mod daemon;
mod error;
pub mod frame;
pub mod mac;
pub mod mcast;
mod port;
pub mod spec;
mod stats;
pub mod switch;
pub mod tuntap;
pub mod ucast;
pub mod unix_addr;

pub use error::NetError;
pub use frame::{EthHeader, FrameError, FRAME_BUF, MAX_FRAME};
pub use mac::Mac;
pub use port::{LinkState, Port, Received, Transport};
pub use spec::{NetSpec, ParsedSpec};
pub use stats::{Stats, StatsSnapshot};

/// Opens the transport a parsed `ethN=` switch names, with its MAC.
pub fn open(spec: &ParsedSpec) -> Result<Port, NetError> {
    let transport: Box<dyn Transport> = match &spec.spec {
        NetSpec::Mcast { group, port, ttl } => Box::new(mcast::Mcast::open(*group, *port, *ttl)?),
        NetSpec::Ucast { remote, lport, rport } => Box::new(ucast::Ucast::open(*remote, *lport, *rport)?),
        NetSpec::Daemon { ctl } => Box::new(daemon::Daemon::connect(ctl)?),
        NetSpec::Tuntap { dev, .. } => Box::new(tuntap::Tap::attach(dev)?),
    };
    Ok(Port::new(transport, spec.mac))
}
