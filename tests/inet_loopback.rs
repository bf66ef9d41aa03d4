//! AF_INET and AF_INET6 sockets over the guest's loopback (tests/guest/inet_loopback.c): TCP echo
//! between two processes, a 10 MB transfer with a checksum, UDP echo and truncation, ECONNREFUSED
//! blocking and non-blocking, a non-blocking connect finished by poll, accept4's flags, socket options,
//! getsockname/getpeername, fstat and /proc fd links, MSG_PEEK, MSG_WAITALL, epoll, and TCP over ::1.
//! The guest has no NIC: nothing reaches the host's network, so the program runs in the guest only (a
//! native run would use the host's loopback).

mod common;

use common::*;
use std::time::Duration;

const PROGRAM_TIMEOUT: Duration = Duration::from_secs(120);

const WANT: &[&str] = &[
    "AF_NETLINK audit: EPROTONOSUPPORT\n",
    "tcp listen: port ephemeral 1\n",
    "accepted: ok, peer len 16, peer 127.0.0.1 1\n",
    "server end: local port 1, peer port equals accept's 1\n",
    "client got: Ping 0\n",
    "client got: Ping 1\n",
    "client got: Ping 2\n",
    "server: EOF 0\n",
    "10 MB: received 10485760\n",
    "10 MB: receiver's checksum matches 1\n",
    "udp server got: datagram one, sender len 16\n",
    "udp client got: DATAGRAM ONE from server port 1\n",
    "udp connect: ok\n",
    "udp truncated: 4 flags trunc 1\n",
    "udp empty non-blocking: EAGAIN\n",
    "connect to closed port: ECONNREFUSED\n",
    "non-blocking connect to closed port: EINPROGRESS\n",
    "then poll err 1, SO_ERROR ECONNREFUSED\n",
    "non-blocking connect: EINPROGRESS\n",
    "poll: 1 out 1, SO_ERROR 0\n",
    "connect again: EISCONN\n",
    "listener poll: 1 revents 0x1\n",
    "accept4: ok, nonblock 1, cloexec 1\n",
    "empty read: EAGAIN\n",
    "after send: in 1, read 1\n",
    "accept none pending: EAGAIN\n",
    "SO_TYPE stream 1, SO_ACCEPTCONN 1, TCP_NODELAY ok, SO_KEEPALIVE ok, SO_RCVBUF ok, IP_TTL ok\n",
    "read back: nodelay 1 keepalive 1 reuseaddr 0, linger 0 len 8\n",
    "fstat S_IFSOCK 1, fd link socket:[ino] yes\n",
    "peer closed: in 1, read 0\n",
    "epoll: 1 in 1\n",
    "tcp peek: peek, then read: peekaboo\n",
    "MSG_WAITALL until EOF: 4 late\n",
    "udp peek 9 then recv 9: to myself\n",
    "sendmmsg: 3, recvmmsg: 3: one two three\n",
    "blocked recv, then a signal: EINTR, blocked accept: EINTR\n",
    "bind taken port: EADDRINUSE\n",
    "bind v6 address to v4 socket: EAFNOSUPPORT\n",
    "getpeername unconnected: ENOTCONN\n",
    "v6 bind: ok, listen: ok\n",
    "v6 server got: over ::1 from ::1, len 28\n",
    "dual stack: v4 client seen as ::ffff:127.0.0.1\n",
    "v6 socket to mapped v4: ok, peer ::ffff:127.0.0.1\n",
];

#[test]
fn inet_sockets_work_over_the_loopback_in_every_configuration() {
    let root = Rootfs::system();
    let prog = root.install("inet_loopback");
    let want: String = WANT.concat();
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &[prog.as_str()], b"", PROGRAM_TIMEOUT);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), want, "stdout; {what}");
        assert_eq!(run.err(), "", "stderr; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
    }
}

/// busybox's nc as server and client over 127.0.0.1, both ways: the client retries until the server
/// listens, and each side's bytes reach the other (the second client keeps its stdin open a while:
/// busybox nc may leave at its stdin's end before the server's reply arrives).
#[test]
fn busybox_nc_talks_over_the_loopback() {
    let root = Rootfs::system();
    let script = "busybox nc -l -p 1234 127.0.0.1 > /tmp/got < /dev/null & \
                  for i in 1 2 3 4 5 6 7 8 9 10; do echo hello over nc | busybox nc 127.0.0.1 1234 && break; sleep 0.2; done; \
                  wait; echo \"server got: $(cat /tmp/got)\"; \
                  echo reply from server | busybox nc -l -p 1235 127.0.0.1 & \
                  for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 | busybox nc 127.0.0.1 1235 > /tmp/back && break; sleep 0.2; done; \
                  wait; echo \"client got: $(cat /tmp/back)\"";
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &["/bin/sh", "-c", script], b"", PROGRAM_TIMEOUT);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), "server got: hello over nc\nclient got: reply from server\n", "stdout; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
    }
}
