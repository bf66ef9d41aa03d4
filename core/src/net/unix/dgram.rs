//! Record sockets: SOCK_DGRAM (Linux's unix_dgram_sendmsg and
//! unix_dgram_recvmsg) and SOCK_SEQPACKET's receiving side. A read takes
//! one whole message; what does not fit the buffer is lost (MSG_TRUNC).

use std::sync::Arc;

use super::ancillary::Ancillary;
use super::socket::{has_room, Conn, Message, SockType, UnixSocket, RCV_SHUTDOWN, SEND_SHUTDOWN};
use super::stream::Received;
use crate::errno::Errno;
use crate::sched::wait::TaskRef;

/// Connects a datagram socket to `target` (its default destination and
/// the only sender it then receives from), or disconnects it (None).
pub fn connect(sock: &UnixSocket, target: Option<Arc<UnixSocket>>) -> Result<(), Errno> {
    if let Some(t) = &target {
        if t.ty != SockType::Dgram {
            return Err(Errno::EPROTOTYPE);
        }
        if t.lock().dead {
            return Err(Errno::ECONNREFUSED);
        }
    }
    sock.lock().conn = match target {
        Some(t) => Conn::Connected(t),
        None => Conn::Unconnected,
    };
    Ok(())
}

/// Sends one datagram to `to` (sendto's name) or to the connected peer.
/// ENOTCONN with neither, ECONNREFUSED when the receiver is closed, EPERM
/// when it is connected to another socket, EMSGSIZE past the send
/// buffer, EAGAIN while its queue is full (`w` then waits on it).
pub fn send(
    sock: &UnixSocket,
    to: Option<Arc<UnixSocket>>,
    data: &[u8],
    anc: &mut Option<Ancillary>,
    w: Option<TaskRef>,
) -> Result<usize, Errno> {
    let (target, from, connected) = {
        let s = sock.lock();
        if s.shutdown & SEND_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        if data.len() > s.sndbuf.saturating_sub(32) {
            return Err(Errno::EMSGSIZE);
        }
        let connected = s.peer();
        let target = to.or_else(|| connected.clone()).ok_or(Errno::ENOTCONN)?;
        (target, s.addr.clone(), connected)
    };
    if target.ty != SockType::Dgram {
        return Err(Errno::EPROTOTYPE);
    }
    {
        let mut t = target.lock();
        if t.dead {
            drop(t);
            if connected.as_ref().is_some_and(|c| Arc::ptr_eq(c, &target)) {
                sock.lock().conn = Conn::Unconnected;
            }
            return Err(Errno::ECONNREFUSED);
        }
        if let Conn::Connected(p) = &t.conn {
            if !std::ptr::eq(Arc::as_ptr(p), sock as *const UnixSocket) {
                return Err(Errno::EPERM);
            }
        }
        if t.shutdown & RCV_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        if !has_room(SockType::Dgram, &t, data.len()) {
            target.add_waiter(w);
            return Err(Errno::EAGAIN);
        }
        t.push(Message { data: data.to_vec(), off: 0, from, anc: anc.take().unwrap_or_default() });
    }
    target.wake();
    Ok(data.len())
}

/// Reads one message into a buffer of `max` bytes (`peek`: leaves it
/// queued; its files are then shared, not moved). EAGAIN when none is
/// queued (`w` then waits); zero bytes once the read side is shut.
pub fn recv(sock: &UnixSocket, max: usize, peek: bool, w: Option<TaskRef>) -> Result<Received, Errno> {
    let m = {
        let mut s = sock.lock();
        if s.rx.is_empty() {
            if let Some(e) = s.take_err() {
                return Err(e);
            }
            if sock.ty == SockType::SeqPacket {
                match s.conn {
                    Conn::Listening { .. } => return Err(Errno::EINVAL),
                    Conn::Unconnected if s.shutdown == 0 => return Err(Errno::ENOTCONN),
                    _ => {}
                }
            }
            if s.shutdown & RCV_SHUTDOWN != 0 {
                return Ok(Received::default());
            }
            sock.add_waiter(w);
            return Err(Errno::EAGAIN);
        }
        if peek {
            let m = &s.rx[0];
            let anc = Ancillary { files: m.anc.files.clone(), creds: m.anc.creds };
            Message { data: m.data.clone(), off: 0, from: m.from.clone(), anc }
        } else {
            let m = s.rx.pop_front().expect("checked non-empty");
            s.rx_bytes -= m.left().len();
            m
        }
    };
    if !peek {
        sock.wake();
    }
    let full_len = m.data.len();
    let mut data = m.data;
    data.truncate(max);
    Ok(Received { data, full_len, from: Some(m.from), anc: m.anc })
}
