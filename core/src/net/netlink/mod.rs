//! NETLINK_ROUTE (Linux's net/core/rtnetlink.c and the link, address and route families): the
//! requests `ip`, iproute2 and getifaddrs(3) send, answered from the guest's [`Stack`].
//!
//! [`process`] takes one datagram a guest socket sent to the kernel and returns what the socket's
//! receive queue gets: one datagram per answer or acknowledgement, and dumps as lists of messages
//! that the socket packs into datagrams as the guest reads them (Linux fills each dump datagram when
//! the previous one is read, so a dump larger than the reader's buffer continues over several
//! reads). The syscall side is `syscall::netlink`.

pub mod addr;
pub mod link;
pub mod notify;
pub mod route;
pub mod socket;
pub mod wire;

use crate::errno::Errno;
use crate::net::stack::Stack;
use wire::{Message, MessageBuilder};

/// `NETLINK_ROUTE`, the only netlink protocol served.
pub const NETLINK_ROUTE: i32 = 0;

/// Control message types (`NLMSG_*`).
pub const NLMSG_NOOP: u16 = 1;
/// See [`NLMSG_NOOP`].
pub const NLMSG_ERROR: u16 = 2;
/// See [`NLMSG_NOOP`].
pub const NLMSG_DONE: u16 = 3;
/// The first type a protocol may use (NLMSG_MIN_TYPE).
pub const NLMSG_MIN_TYPE: u16 = 0x10;

/// Message flags (`NLM_F_*`).
pub const NLM_F_REQUEST: u16 = 0x1;
/// See [`NLM_F_REQUEST`].
pub const NLM_F_MULTI: u16 = 0x2;
/// See [`NLM_F_REQUEST`].
pub const NLM_F_ACK: u16 = 0x4;
/// GET: dump everything (NLM_F_ROOT | NLM_F_MATCH).
pub const NLM_F_DUMP: u16 = 0x300;
/// NEW: replace an existing object.
pub const NLM_F_REPLACE: u16 = 0x100;
/// NEW: fail if it exists.
pub const NLM_F_EXCL: u16 = 0x200;
/// NEW: create if missing.
pub const NLM_F_CREATE: u16 = 0x400;
/// ACK: the request's payload is not quoted.
pub const NLM_F_CAPPED: u16 = 0x100;

/// rtnetlink message types (`RTM_*`).
pub const RTM_NEWLINK: u16 = 16;
/// See [`RTM_NEWLINK`].
pub const RTM_DELLINK: u16 = 17;
/// See [`RTM_NEWLINK`].
pub const RTM_GETLINK: u16 = 18;
/// See [`RTM_NEWLINK`].
pub const RTM_SETLINK: u16 = 19;
/// See [`RTM_NEWLINK`].
pub const RTM_NEWADDR: u16 = 20;
/// See [`RTM_NEWLINK`].
pub const RTM_DELADDR: u16 = 21;
/// See [`RTM_NEWLINK`].
pub const RTM_GETADDR: u16 = 22;
/// See [`RTM_NEWLINK`].
pub const RTM_NEWROUTE: u16 = 24;
/// See [`RTM_NEWLINK`].
pub const RTM_DELROUTE: u16 = 25;
/// See [`RTM_NEWLINK`].
pub const RTM_GETROUTE: u16 = 26;

/// Who sent a request.
#[derive(Clone, Copy, Debug)]
pub struct Sender {
    /// The sending socket's port id: replies carry it in `nlmsg_pid`.
    pub portid: u32,
    /// Whether the sender has CAP_NET_ADMIN (every change needs it).
    pub net_admin: bool,
    /// NETLINK_CAP_ACK: error acks do not quote the request's payload.
    pub cap_ack: bool,
}

/// What one request puts on the sender's receive queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// One datagram: an answer or an acknowledgement.
    Datagram(Vec<u8>),
    /// A dump: its messages, NLMSG_DONE last, packed into datagrams as they are read.
    Dump(Vec<Vec<u8>>),
}

/// What a request's handler produced, before acknowledgement.
pub(crate) enum Outcome {
    /// Done; acknowledged when NLM_F_ACK asks.
    Done,
    /// One answer (then an acknowledgement when NLM_F_ACK asks).
    Answer(Vec<u8>),
    /// A dump's messages, without NLMSG_DONE.
    Dump(Vec<Vec<u8>>),
}

/// Answers every request in one datagram. `dumping`: a dump of an earlier request is still being
/// read (a second dump meanwhile is EBUSY, as Linux runs one dump per socket at a time).
pub fn process(stack: &mut Stack, datagram: &[u8], sender: &Sender, mut dumping: bool) -> Vec<Reply> {
    let mut out = Vec::new();
    for m in wire::messages(datagram) {
        // Only requests are for the kernel; replies and control messages just get their ack.
        let r = if m.flags() & NLM_F_REQUEST == 0 || m.ty() < NLMSG_MIN_TYPE {
            Ok(Outcome::Done)
        } else {
            handle(stack, &m, sender)
        };
        match r {
            Ok(Outcome::Dump(_)) if dumping => out.push(Reply::Datagram(ack(&m, sender, Errno::EBUSY))),
            Ok(Outcome::Dump(mut msgs)) => {
                msgs.push(done(&m, sender));
                out.push(Reply::Dump(msgs));
                dumping = true;
            }
            Ok(Outcome::Answer(a)) => {
                out.push(Reply::Datagram(a));
                if m.flags() & NLM_F_ACK != 0 {
                    out.push(Reply::Datagram(ack(&m, sender, Errno(0))));
                }
            }
            Ok(Outcome::Done) => {
                if m.flags() & NLM_F_ACK != 0 {
                    out.push(Reply::Datagram(ack(&m, sender, Errno(0))));
                }
            }
            Err(e) => out.push(Reply::Datagram(ack(&m, sender, e))),
        }
    }
    out
}

/// One request, by type. Anything but a GET needs CAP_NET_ADMIN (EPERM), as rtnetlink_rcv_msg checks.
fn handle(stack: &mut Stack, m: &Message<'_>, sender: &Sender) -> Result<Outcome, Errno> {
    let ty = m.ty();
    let is_get = ty & 3 == 2;
    let dump = is_get && m.flags() & NLM_F_DUMP == NLM_F_DUMP;
    if !is_get && !sender.net_admin && (RTM_NEWLINK..=RTM_GETROUTE).contains(&ty) {
        return Err(Errno::EPERM);
    }
    match ty {
        RTM_GETLINK if dump => Ok(Outcome::Dump(link::dump(stack, m, sender))),
        RTM_GETLINK => link::get(stack, m, sender).map(Outcome::Answer),
        RTM_NEWLINK | RTM_SETLINK => link::set(stack, m).map(|()| Outcome::Done),
        RTM_GETADDR if dump => Ok(Outcome::Dump(addr::dump(stack, m, sender))),
        RTM_NEWADDR => addr::add(stack, m).map(|()| Outcome::Done),
        RTM_DELADDR => addr::del(stack, m).map(|()| Outcome::Done),
        RTM_GETROUTE if dump => Ok(Outcome::Dump(route::dump(stack, m, sender))),
        RTM_GETROUTE => route::get(stack, m, sender).map(Outcome::Answer),
        RTM_NEWROUTE => route::add(stack, m).map(|()| Outcome::Done),
        RTM_DELROUTE => route::del(stack, m).map(|()| Outcome::Done),
        // Deleting lo or eth0, single-address GETs, neighbours, rules, qdiscs...: not served.
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// An NLMSG_ERROR message: `error` 0 is a plain acknowledgement. Errors quote the whole request
/// unless the socket set NETLINK_CAP_ACK; acknowledgements only its header (NLM_F_CAPPED).
pub fn ack(m: &Message<'_>, sender: &Sender, error: Errno) -> Vec<u8> {
    let capped = error.0 == 0 || sender.cap_ack;
    let flags = if capped { NLM_F_CAPPED } else { 0 };
    let quoted = if capped { m.header() } else { m.bytes() };
    let mut body = (-error.0).to_ne_bytes().to_vec();
    body.extend_from_slice(quoted);
    MessageBuilder::new(NLMSG_ERROR, flags, m.seq(), sender.portid).raw(&body).build()
}

/// The NLMSG_DONE that ends a dump.
fn done(m: &Message<'_>, sender: &Sender) -> Vec<u8> {
    MessageBuilder::new(NLMSG_DONE, NLM_F_MULTI, m.seq(), sender.portid).raw(&0i32.to_ne_bytes()).build()
}

/// The family byte a dump request starts with (`struct rtgenmsg` or the family header); AF_UNSPEC
/// when absent.
fn dump_family(m: &Message<'_>) -> u8 {
    m.payload().first().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests;
