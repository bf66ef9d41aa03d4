use std::io;
use std::path::PathBuf;

/// What can go wrong opening or using a network backend.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A socket call failed; `what` names the call and its object.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// UML's message when the group cannot be joined (no multicast route).
    #[error("There appears not to be a multicast-capable network interface on the host ({0})")]
    NoMulticast(io::Error),
    /// The switch at `ctl` did not answer the request as uml_switch does.
    #[error("switch at {ctl}: {why}")]
    Switch { ctl: PathBuf, why: String },
    /// A frame handed to `send` is not a valid Ethernet frame.
    #[error("bad frame: {0}")]
    Frame(#[from] crate::frame::FrameError),
    /// The transport cannot take the frame now (UML counts it as a TX drop).
    #[error("transmit queue full")]
    WouldBlock,
}

impl NetError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        NetError::Io { what: what.into(), source }
    }
}
