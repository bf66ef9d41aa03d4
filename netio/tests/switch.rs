//! Daemon ports on netio's switch and on Debian's real uml_switch, and a
//! TAP device, each inside a network namespace.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use umvm_netio::daemon::Daemon;
use umvm_netio::switch::protocol::request_v3;
use umvm_netio::switch::Switch;
use umvm_netio::unix_addr::{bind_dgram, recv_from, send_to, UnixAddr};
use umvm_netio::{Mac, Port};

/// A switch serving on a thread until the returned guard drops.
struct Running {
    stop: Option<OwnedFd>,
    thread: Option<std::thread::JoinHandle<umvm_netio::switch::SwitchStats>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stop.take());
        let _ = self.thread.take().map(|t| t.join());
    }
}

impl Running {
    fn stop(mut self) -> umvm_netio::switch::SwitchStats {
        drop(self.stop.take());
        self.thread.take().unwrap().join().unwrap()
    }
}

fn serve(ctl: &Path, hub: bool) -> Running {
    let mut sw = Switch::bind(ctl, hub).unwrap();
    let mut fds = [0; 2];
    // SAFETY: a valid two-int array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just made both.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let thread = std::thread::spawn(move || {
        sw.run(Some(r.as_raw_fd())).unwrap();
        sw.stats()
    });
    Running { stop: Some(w), thread: Some(thread) }
}

fn ctl_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("umvm-netio-{}-{name}", std::process::id()));
    let _ = std::fs::create_dir(&dir);
    dir.join("ctl")
}

fn daemon_port(ctl: &Path, n: u8) -> Port {
    Port::new(Box::new(Daemon::connect(ctl).unwrap()), mac(n))
}

/// Learning, flooding and a vanishing port, on any switch at `ctl`.
fn check_learning(ctl: &Path) {
    let a = daemon_port(ctl, 1);
    let b = daemon_port(ctl, 2);
    let c = daemon_port(ctl, 3);
    // Unknown destination: flooded to b and c, never back to a.
    let f1 = eth(mac(2), a.mac(), 0x88b5, b"to b, not yet learned");
    a.send(&f1).unwrap();
    expect_frame(&b, &f1, "flood to b");
    expect_frame(&c, &f1, "flood to c");
    assert_quiet(&a, "a's own frame");
    // b answers: a is learned, so only a gets it.
    let f2 = eth(a.mac(), b.mac(), 0x88b5, b"to a");
    b.send(&f2).unwrap();
    expect_frame(&a, &f2, "unicast to a");
    assert_quiet(&c, "c must not see b's unicast to a");
    // Now b is learned too.
    let f3 = eth(b.mac(), a.mac(), 0x88b5, b"to b, learned");
    a.send(&f3).unwrap();
    expect_frame(&b, &f3, "unicast to b");
    assert_quiet(&c, "c must not see a's unicast to b");
    // Broadcast reaches everyone else.
    let f4 = eth(Mac::BROADCAST, c.mac(), 0x0806, &[0; 28]);
    c.send(&f4).unwrap();
    expect_frame(&a, &f4, "broadcast to a");
    expect_frame(&b, &f4, "broadcast to b");
    assert!(b.link().carrier);
}

#[test]
fn learning_switch_forwards_to_learned_ports() {
    in_netns("learning_switch_forwards_to_learned_ports", || {
        let ctl = ctl_path("learn");
        let sw = serve(&ctl, false);
        check_learning(&ctl);
        let stats = sw.stop();
        assert_eq!(stats.joined, 3, "{stats:?}");
        assert!(!ctl.exists(), "the switch removes its control socket");
    });
}

#[test]
fn hub_floods_everything() {
    in_netns("hub_floods_everything", || {
        let ctl = ctl_path("hub");
        let _sw = serve(&ctl, true);
        let a = daemon_port(&ctl, 1);
        let b = daemon_port(&ctl, 2);
        let c = daemon_port(&ctl, 3);
        let f = eth(b.mac(), a.mac(), 0x88b5, b"x");
        a.send(&f).unwrap();
        let g = eth(a.mac(), b.mac(), 0x88b5, b"y");
        b.send(&g).unwrap();
        a.send(&f).unwrap();
        expect_frame(&b, &f, "hub to b");
        expect_frame(&a, &g, "hub to a");
        expect_frame(&c, &f, "hub to c (first)");
        expect_frame(&c, &g, "hub to c, a unicast a learning switch would not send");
        expect_frame(&c, &f, "hub to c (second)");
    });
}

#[test]
fn a_full_port_gets_its_frames_later_not_dropped() {
    in_netns("a_full_port_gets_its_frames_later_not_dropped", || {
        let ctl = ctl_path("queue");
        let sw = serve(&ctl, false);
        let a = daemon_port(&ctl, 1);
        let b = daemon_port(&ctl, 2);
        // b's socket holds 10 datagrams (net.unix.max_dgram_qlen): the switch must queue the rest
        // until b reads, and a must wait for room at the switch rather than lose frames.
        let hello = eth(a.mac(), b.mac(), 0x88b5, b"learn b");
        b.send(&hello).unwrap();
        expect_frame(&a, &hello, "b learned");
        let frames: Vec<Vec<u8>> = (0..300u32).map(|i| eth(b.mac(), a.mac(), 0x88b5, &i.to_be_bytes())).collect();
        let mut sent = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        while sent < frames.len() {
            match a.try_send(&frames[sent]) {
                Ok(()) => sent += 1,
                Err(umvm_netio::NetError::WouldBlock) => {
                    let mut p = libc::pollfd { fd: a.room_fd(), events: libc::POLLOUT, revents: 0 };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut p, 1, 100) };
                }
                Err(e) => panic!("send {sent}: {e}"),
            }
            assert!(Instant::now() < deadline, "a's frames found no room at the switch");
        }
        for (i, f) in frames.iter().enumerate() {
            expect_frame(&b, f, &format!("frame {i} of 300"));
        }
        assert_quiet(&b, "b got more than was sent");
        let stats = sw.stop();
        assert_eq!(stats.dropped, 0, "{stats:?}");
    });
}

#[test]
fn a_vanished_port_takes_its_macs_along() {
    in_netns("a_vanished_port_takes_its_macs_along", || {
        let ctl = ctl_path("vanish");
        let sw = serve(&ctl, false);
        let a = daemon_port(&ctl, 1);
        let c = daemon_port(&ctl, 3);
        {
            let b = daemon_port(&ctl, 2);
            // b speaks for two MACs; both are learned on b's port.
            b.send(&eth(Mac::BROADCAST, mac(2), 0x88b5, b"b")).unwrap();
            b.send(&eth(Mac::BROADCAST, mac(22), 0x88b5, b"b2")).unwrap();
            expect_frame(&a, &eth(Mac::BROADCAST, mac(22), 0x88b5, b"b2"), "b2's broadcast");
        }
        // b is gone: frames for either of its MACs flood again (the
        // switch forgot them), instead of going to a dead port.
        std::thread::sleep(Duration::from_millis(200));
        let f = eth(mac(2), a.mac(), 0x88b5, b"to old b");
        a.send(&f).unwrap();
        expect_frame(&c, &f, "flooded after b left");
        let g = eth(mac(22), a.mac(), 0x88b5, b"to old b2");
        a.send(&g).unwrap();
        expect_frame(&c, &g, "flooded after b left (second MAC)");
        let stats = sw.stop();
        assert_eq!((stats.joined, stats.left), (3, 1), "{stats:?}");
        drop((a, c));
    });
}

#[test]
fn requests_as_uml_sends_them() {
    in_netns("requests_as_uml_sends_them", || {
        let ctl = ctl_path("req");
        let sw = serve(&ctl, false);
        // A fake UML: the request bytes built from the spec's table.
        let local = UnixAddr::uml_abstract(0x1234, 0x56789);
        let data = bind_dgram(&local).unwrap();
        let mut req = vec![
            0xce, 0xfa, 0xed, 0xfe, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x34, 0x12, 0, 0, 0x89, 0x67, 0x05, 0,
        ];
        req.resize(124, 0);
        let mut s = UnixStream::connect(&ctl).unwrap();
        s.write_all(&req).unwrap();
        let mut reply = [0u8; 110];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_exact(&mut reply).unwrap();
        assert_eq!(&reply[..3], &[1, 0, 0], "an abstract sockaddr_un");
        let switch = UnixAddr::from_wire(&reply);
        // A second port to talk to.
        let other = daemon_port(&ctl, 2);
        let f = eth(Mac::BROADCAST, mac(7), 0x0806, &[0; 28]);
        send_to(data.as_raw_fd(), &f, &switch).unwrap();
        expect_frame(&other, &f, "the fake UML's frame");
        let g = eth(mac(7), other.mac(), 0x0806, &[1; 28]);
        other.send(&g).unwrap();
        let mut buf = [0u8; 2048];
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            match recv_from(data.as_raw_fd(), &mut buf) {
                Ok((n, _)) => {
                    assert_eq!(&buf[..n], &g[..]);
                    break;
                }
                Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("the fake UML got nothing: {e}"),
            }
        }
        // Version 2 is refused: the switch closes the stream, no reply.
        let mut v2 = request_v3(&UnixAddr::uml_abstract(1, 2));
        v2[4] = 2;
        let mut s2 = UnixStream::connect(&ctl).unwrap();
        s2.write_all(&v2).unwrap();
        s2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(s2.read(&mut reply).unwrap(), 0);
        // Bytes after setup are ignored; the port stays.
        s.write_all(b"junk").unwrap();
        send_to(data.as_raw_fd(), &f, &switch).unwrap();
        expect_frame(&other, &f, "still a port after junk on its stream");
        // Garbage on the data socket from a stranger is dropped.
        let stranger = bind_dgram(&UnixAddr::uml_abstract(9, 9)).unwrap();
        send_to(stranger.as_raw_fd(), &f, &switch).unwrap();
        send_to(data.as_raw_fd(), &[1, 2, 3], &switch).unwrap();
        assert_quiet(&other, "a stranger's frame or a runt");
        drop((s, other));
        let stats = sw.stop();
        assert_eq!((stats.unknown_sender, stats.bad_frames), (1, 1), "{stats:?}");
    });
}

#[test]
fn stale_control_socket_is_replaced() {
    in_netns("stale_control_socket_is_replaced", || {
        let ctl = ctl_path("stale");
        drop(std::os::unix::net::UnixListener::bind(&ctl).unwrap());
        assert!(ctl.exists());
        let sw = serve(&ctl, false);
        let a = daemon_port(&ctl, 1);
        // A second switch on a live socket is refused.
        let e = Switch::bind(&ctl, false).err().expect("a live socket is not stale");
        assert!(e.to_string().contains("another switch"), "{e}");
        drop(a);
        sw.stop();
        // A regular file is never unlinked.
        std::fs::write(&ctl, b"not a socket").unwrap();
        assert!(Switch::bind(&ctl, false).is_err());
        assert_eq!(std::fs::read(&ctl).unwrap(), b"not a socket");
    });
}

#[test]
fn daemon_ports_through_real_uml_switch() {
    in_netns("daemon_ports_through_real_uml_switch", || {
        let ctl = ctl_path("uml");
        let mut child = Command::new("uml_switch")
            .args(["-unix"])
            .arg(&ctl)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("uml_switch (Debian uml-utilities; scripts/deps --test installs it)");
        let end = Instant::now() + Duration::from_secs(5);
        while UnixStream::connect(&ctl).is_err() {
            assert!(Instant::now() < end, "uml_switch never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        check_learning(&ctl);
        let _ = child.kill();
        let _ = child.wait();
    });
}

#[test]
fn tap_device_carries_frames_both_ways() {
    in_netns("tap_device_carries_frames_both_ways", || {
        sh("ip tuntap add dev tap0 mode tap && ip link set tap0 up && ip addr add 10.99.0.1/24 dev tap0");
        let port = Port::new(Box::new(umvm_netio::tuntap::Tap::attach("tap0").unwrap()), mac(1));
        // The port asks who has 10.99.0.1; the namespace's kernel answers.
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
        arp.extend_from_slice(&port.mac().0);
        arp.extend_from_slice(&[10, 99, 0, 2]);
        arp.extend_from_slice(&[0; 6]);
        arp.extend_from_slice(&[10, 99, 0, 1]);
        let request = eth(Mac::BROADCAST, port.mac(), 0x0806, &arp);
        // Asked again every half second: the first may race the TAP's
        // carrier coming up when the port attached.
        let end = Instant::now() + Duration::from_secs(5);
        let reply = 'found: loop {
            assert!(Instant::now() < end, "no ARP reply from the TAP");
            port.send(&request).unwrap();
            while let Some(f) = recv_within(&port, Duration::from_millis(500)) {
                if f[12..14] == [8, 6] && f[20..22] == [0, 2] {
                    break 'found f;
                }
            }
        };
        assert_eq!(&reply[..6], &port.mac().0, "the reply is for the port");
        assert_eq!(&reply[28..32], &[10, 99, 0, 1], "from 10.99.0.1");
        assert!(port.stats().rx_packets >= 1 && port.stats().tx_packets >= 1);
        // A UDP datagram from the namespace to the port's address comes
        // through as an IPv4 frame (the kernel learned our MAC above).
        let udp = std::net::UdpSocket::bind("10.99.0.1:0").unwrap();
        udp.send_to(b"over the tap", "10.99.0.2:9").unwrap();
        let ip = loop {
            let f =
                recv_within(&port, end.saturating_duration_since(Instant::now())).expect("no IPv4 frame from the TAP");
            if f[12..14] == [8, 0] && f[23] == 17 {
                break f;
            }
        };
        assert_eq!(&ip[..6], &port.mac().0);
        assert!(ip.ends_with(b"over the tap"));
    });
}
