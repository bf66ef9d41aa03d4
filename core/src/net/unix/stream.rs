//! Connected sockets (SOCK_STREAM, and SOCK_SEQPACKET's sending side):
//! Linux's unix_stream_sendmsg and unix_stream_read_generic. Bytes go to
//! the peer's queue as messages; a stream read joins them, but never
//! reads past a message carrying files into the next one.

use std::sync::Arc;

use super::ancillary::Ancillary;
use super::socket::{has_room, Conn, Message, SockType, UnixSocket, RCV_SHUTDOWN, SEND_SHUTDOWN};
use super::UnixAddr;
use crate::errno::Errno;
use crate::sched::wait::TaskRef;

/// What one receive took.
#[derive(Default)]
pub struct Received {
    /// The bytes for the caller's buffer.
    pub data: Vec<u8>,
    /// The message's whole length (longer than `data`: truncated).
    pub full_len: usize,
    /// The sender's name.
    pub from: Option<UnixAddr>,
    /// Files and credentials that came with the bytes.
    pub anc: Ancillary,
}

fn peer_for_send(sock: &UnixSocket) -> Result<Arc<UnixSocket>, Errno> {
    let s = sock.lock();
    if s.shutdown & SEND_SHUTDOWN != 0 {
        return Err(Errno::EPIPE);
    }
    match &s.conn {
        Conn::Connected(p) => Ok(p.clone()),
        Conn::Listening { .. } | Conn::Unconnected => Err(Errno::ENOTCONN),
    }
}

/// Sends `data` on a connected stream or seqpacket socket: the number of
/// bytes queued (a stream takes what fits, a seqpacket record all or
/// nothing). EPIPE once either side shut the direction or the peer is
/// gone, EAGAIN when the peer's queue is full (`w` then waits on it).
/// `anc` goes with the first bytes queued.
pub fn send(sock: &UnixSocket, data: &[u8], anc: &mut Option<Ancillary>, w: Option<TaskRef>) -> Result<usize, Errno> {
    let peer = peer_for_send(sock)?;
    if data.is_empty() && sock.ty == SockType::Stream {
        return Ok(0);
    }
    let from = sock.lock().addr.clone();
    if sock.ty == SockType::SeqPacket && data.len() > sock.lock().sndbuf.saturating_sub(32) {
        return Err(Errno::EMSGSIZE);
    }
    let n = {
        let mut p = peer.lock();
        if p.dead || p.shutdown & RCV_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        let n = match sock.ty {
            SockType::Stream => {
                let cap = p.rcvbuf.max(p.sndbuf);
                cap.saturating_sub(p.rx_bytes).min(data.len())
            }
            _ if has_room(sock.ty, &p, data.len()) => data.len(),
            _ => 0,
        };
        if n == 0 && !data.is_empty() {
            peer.add_waiter(w);
            return Err(Errno::EAGAIN);
        }
        p.push(Message { data: data[..n].to_vec(), off: 0, from, anc: anc.take().unwrap_or_default() });
        n
    };
    peer.wake();
    Ok(n)
}

/// Reads up to `max` bytes of a stream (`peek`: leaves them queued).
/// Zero bytes at end of file; the pending error (ECONNRESET) once; EAGAIN
/// when nothing is queued yet (`w` then waits).
pub fn recv(sock: &UnixSocket, max: usize, peek: bool, w: Option<TaskRef>) -> Result<Received, Errno> {
    let mut out = Received::default();
    {
        let mut s = sock.lock();
        if matches!(s.conn, Conn::Listening { .. }) {
            return Err(Errno::EINVAL);
        }
        if s.rx_bytes == 0 && s.rx.iter().all(|m| m.anc.files.is_empty()) {
            if let Some(e) = s.take_err() {
                return Err(e);
            }
            if s.shutdown & RCV_SHUTDOWN != 0 || max == 0 {
                return Ok(out);
            }
            sock.add_waiter(w);
            return Err(Errno::EAGAIN);
        }
        let mut i = 0;
        while out.data.len() < max && i < s.rx.len() {
            let m = &s.rx[i];
            if !out.data.is_empty() && !m.anc.files.is_empty() {
                break;
            }
            let k = m.left().len().min(max - out.data.len());
            out.data.extend_from_slice(&m.left()[..k]);
            if out.from.is_none() {
                out.from = Some(m.from.clone());
            }
            let whole = k == m.left().len();
            let carries_files = !m.anc.files.is_empty();
            if peek {
                if carries_files {
                    out.anc.files.extend(m.anc.files.iter().cloned());
                }
                out.anc.creds = out.anc.creds.or(m.anc.creds);
                i += 1;
            } else {
                let m = &mut s.rx[i];
                m.off += k;
                out.anc.creds = out.anc.creds.or(m.anc.creds);
                out.anc.files.append(&mut m.anc.files);
                s.rx_bytes -= k;
                if whole {
                    s.rx.pop_front();
                }
            }
            if carries_files || !whole {
                break;
            }
        }
        out.full_len = out.data.len();
    }
    if !peek {
        // Room for a writer waiting on this queue.
        sock.wake();
    }
    Ok(out)
}
