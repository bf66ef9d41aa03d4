//! AF_UNIX sockets between guest processes (tests/guest/unix_sockets.c):
//! stream echo over a path and an abstract name, socketpair, datagrams and
//! MSG_TRUNC, seqpacket records, SCM_RIGHTS passing a pipe's read end to
//! another process, SCM_CREDENTIALS and SO_PEERCRED with virtual ids after
//! setuid, EAGAIN, poll readiness, EOF, EPIPE, ECONNREFUSED, EADDRINUSE.
//!
//! The program runs natively first (chrooted, as pid 1 of a new pid
//! namespace) so that the expected report is Linux's own; the credentials
//! part needs a setuid the native user namespace cannot map, so it runs
//! in the guest only.

mod common;

use common::*;
use std::time::Duration;

const PROGRAM_TIMEOUT: Duration = Duration::from_secs(60);

/// The report before the credentials part.
const SHARED: &[&str] = &[
    "path: bind ok, listen ok, rebind EADDRINUSE\n",
    "path: socket file yes\n",
    "accepted: ok, peer name length 2\n",
    "server end name matches: yes\n",
    "client got: Ping 0\n",
    "client got: Ping 1\n",
    "client got: Ping 2\n",
    "server: EOF 0\n",
    "abstract: bind ok, listen ok, rebind EADDRINUSE\n",
    "accepted: ok, peer name length 2\n",
    "server end name matches: yes\n",
    "client got: Ping 0\n",
    "client got: Ping 1\n",
    "client got: Ping 2\n",
    "server: EOF 0\n",
    "socketpair: ok\n",
    "peek 3 then read 3: abc\n",
    "empty non-blocking: EAGAIN\n",
    "poll idle: in 0 out 1\n",
    "fill: EAGAIN after more than 64K yes\n",
    "full: out 0\n",
    "after SHUT_WR: in 1 rdhup 1 hup 0\n",
    "after drain: read 0\n",
    "send to closed peer, MSG_NOSIGNAL: EPIPE\n",
    "write to closed peer: EPIPE\n",
    "connect to missing path: ENOENT\n",
    "connect to missing abstract: ECONNREFUSED\n",
    "connect stream to dgram: EPROTOTYPE\n",
    "connect after close: ECONNREFUSED\n",
    "unknown family: EAFNOSUPPORT\n",
    "getpeername on a pipe: ENOTSOCK\n",
    "dgram short read: 5 hello\n",
    "dgram MSG_TRUNC: 6 flags trunc 1\n",
    "next datagram: 11 hello world\n",
    "empty: EAGAIN\n",
    "sendto: ok\n",
    "recvfrom: 9 from client\n",
    "dgram queue full after some: EAGAIN\n",
    "sendto closed: ECONNREFUSED\n",
    "seqpacket records: 3 4\n",
    "seqpacket truncated: 2, rest gone: EAGAIN\n",
    "seqpacket EOF: 0\n",
    "sendmsg SCM_RIGHTS: ok\n",
    "child read through passed fd: through the pipe, cloexec 1\n",
    "child sees EOF: 0\n",
    "no control room: 1 ctrunc 1\n",
    "writer of the dropped fd: EPIPE\n",
    "bad fd in SCM_RIGHTS: EBADF\n",
];

/// The credentials part (guest only).
const CREDS: &[&str] = &[
    "claim uid 0 unprivileged: EPERM\n",
    "claim own ids: ok\n",
    "SCM_CREDENTIALS: 1 bytes, pid is child yes, uid 100 gid 200\n",
    "SO_PEERCRED: pid is child yes, uid 100 gid 200\n",
    "SO_TYPE stream 1, SO_ACCEPTCONN 1, SO_DOMAIN unix 1\n",
    "SO_ERROR: 0\n",
    "fstat S_IFSOCK 1, fd link socket:[ino] yes\n",
];

/// The report after the credentials part.
const TAIL: &[&str] = &["accept none pending: EAGAIN\n", "poll listener: 1 in 1\n", "MSG_WAITALL until EOF: 4 late\n"];

#[test]
fn unix_sockets_behave_as_linux_in_every_configuration() {
    let root = Rootfs::system();
    let prog = root.install("unix_sockets");
    let native = run_native_root(root.path(), &[prog.as_str(), "native"], b"", PROGRAM_TIMEOUT);
    let want_native: String = SHARED.iter().chain(TAIL).copied().collect();
    assert_eq!(native.out(), want_native, "native stdout is not what the test expects\n{native}");
    assert_eq!(native.code, 0, "native exit status\n{native}");
    let want: String = SHARED.iter().chain(CREDS).chain(TAIL).copied().collect();
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &[prog.as_str()], b"", PROGRAM_TIMEOUT);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), want, "stdout; {what}");
        assert_eq!(run.err(), "", "stderr; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
    }
}
