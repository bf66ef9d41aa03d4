//! The mcast and ucast transports inside a network namespace.

mod common;

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use common::*;
use umvm_netio::mcast::{Mcast, DEFAULT_GROUP, DEFAULT_PORT};
use umvm_netio::ucast::Ucast;
use umvm_netio::{FrameError, Mac, Port};

fn mcast_port(n: u8) -> Port {
    Port::new(Box::new(Mcast::open(DEFAULT_GROUP, DEFAULT_PORT, 1).unwrap()), mac(n))
}

#[test]
fn two_mcast_ports_exchange_frames() {
    in_netns("two_mcast_ports_exchange_frames", || {
        let a = mcast_port(1);
        let b = mcast_port(2);
        let hello = eth(Mac::BROADCAST, a.mac(), 0x88b5, b"hello from a");
        a.send(&hello).unwrap();
        expect_frame(&b, &hello, "b gets a's broadcast");
        // a's own frame loops back to it (IP_MULTICAST_LOOP) and is dropped.
        assert_quiet(&a, "a's own frame");
        let reply = eth(a.mac(), b.mac(), 0x88b5, &[7u8; 1500]);
        b.send(&reply).unwrap();
        expect_frame(&a, &reply, "a gets b's full-size unicast");
        assert_quiet(&b, "b's own frame");
        let (sa, sb) = (a.stats(), b.stats());
        assert_eq!((sa.tx_packets, sa.tx_bytes, sa.rx_packets, sa.rx_bytes), (1, 26, 1, 1514));
        assert_eq!((sb.tx_packets, sb.rx_packets, sb.rx_errors), (1, 1, 0));
        assert!(a.link().running());
        // UML's wire format: the bare frame in one datagram from the group port.
        let sniff = UdpSocket::bind((DEFAULT_GROUP, DEFAULT_PORT)).unwrap_err();
        assert_eq!(sniff.kind(), std::io::ErrorKind::AddrInUse, "SO_REUSEADDR is needed to share the port");
    });
}

#[test]
fn uml_wire_format_on_the_group() {
    in_netns("uml_wire_format_on_the_group", || {
        let group = Ipv4Addr::new(239, 192, 168, 7);
        // A plain listener, set up like UML's socket, sees the bare frame.
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        sock.set_reuse_address(true).unwrap();
        sock.bind(&std::net::SocketAddr::from((group, 1200)).into()).unwrap();
        sock.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED).unwrap();
        let listener: UdpSocket = sock.into();
        listener.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = Port::new(Box::new(Mcast::open(group, 1200, 1).unwrap()), mac(3));
        let arp = eth(Mac::BROADCAST, port.mac(), 0x0806, &[0u8; 28]);
        port.send(&arp).unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = listener.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &arp[..], "one 42-byte frame, no header, no padding");
        assert_eq!(from.port(), 1200, "sent from the group port");
        // And a frame a UML guest sends (from any socket) reaches the port.
        let from_uml = eth(port.mac(), mac(9), 0x0800, &[1u8; 46]);
        listener.send_to(&from_uml, (group, 1200)).unwrap();
        expect_frame(&port, &from_uml, "the port gets a UML guest's frame");
    });
}

#[test]
fn bad_frames_are_dropped_and_counted() {
    in_netns("bad_frames_are_dropped_and_counted", || {
        let port = mcast_port(4);
        let inject = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = (DEFAULT_GROUP, DEFAULT_PORT);
        let src = mac(5);
        let mut multicast_src = eth(port.mac(), src, 0x0800, &[0; 46]);
        multicast_src[6] |= 1;
        let bad: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff; 13],                                 // runt
            eth(port.mac(), src, 0x0800, &[0; 1501]),       // oversized
            eth(port.mac(), src, 0x0800, &vec![0; 9000]),   // far oversized (truncated read)
            eth(port.mac(), src, 0x0050, &[0; 46]),         // an 802.3 length, not an ethertype
            multicast_src,                                  // garbage source
            eth(port.mac(), Mac([0; 6]), 0x0800, &[0; 46]), // zero source
        ];
        // Sent in small batches, drained between them, so that the
        // socket's receive buffer never overflows (that would lose them).
        let mut valid_garbage = 0;
        let mut drain = |port: &Port| {
            while recv_within(port, Duration::from_millis(50)).is_some() {
                valid_garbage += 1;
            }
        };
        for f in &bad {
            inject.send_to(f, to).unwrap();
        }
        drain(&port);
        // Random garbage too: any bytes, any length, never a panic.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let (mut garbage, mut garbage_len) = (0, 0);
        for i in 0..500 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 2000) as usize;
            let f: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
            match umvm_netio::frame::parse(&f) {
                Err(FrameError::Runt(_) | FrameError::Oversized(_)) => {
                    (garbage, garbage_len) = (garbage + 1, garbage_len + 1)
                }
                Err(_) => garbage += 1,
                Ok(_) => {}
            }
            inject.send_to(&f, to).unwrap();
            if i % 16 == 15 {
                drain(&port);
            }
        }
        drain(&port);
        let good = eth(port.mac(), src, 0x0800, &[9; 46]);
        inject.send_to(&good, to).unwrap();
        expect_frame(&port, &good, "a good frame after the bad ones");
        let s = port.stats();
        assert_eq!(s.rx_errors, bad.len() as u64 + garbage, "{s:?}");
        assert_eq!(s.rx_length_errors, 4 + garbage_len, "{s:?}");
        assert_eq!(s.rx_packets, 1 + valid_garbage, "{s:?}");
        // A bad frame handed to send is refused, not sent.
        assert!(port.send(&[1, 2, 3]).is_err());
        assert!(port.send(&eth(Mac::BROADCAST, port.mac(), 0x0800, &[0; 1501])).is_err());
        assert_eq!(port.stats().tx_errors, 2);
        assert_eq!(port.stats().tx_packets, 0);
    });
}

#[test]
fn ucast_pair_on_loopback() {
    in_netns("ucast_pair_on_loopback", || {
        let a = Port::new(Box::new(Ucast::open(Ipv4Addr::LOCALHOST, 1201, 1202).unwrap()), mac(1));
        let b = Port::new(Box::new(Ucast::open(Ipv4Addr::LOCALHOST, 1202, 1201).unwrap()), mac(2));
        let f = eth(b.mac(), a.mac(), 0x0800, &[3; 100]);
        a.send(&f).unwrap();
        expect_frame(&b, &f, "ucast a → b");
        let g = eth(a.mac(), b.mac(), 0x0806, &[4; 28]);
        b.send(&g).unwrap();
        expect_frame(&a, &g, "ucast b → a");
    });
}

#[test]
fn no_multicast_route_gives_umls_message() {
    in_netns("no_multicast_route_gives_umls_message", || {
        sh("ip route del 224.0.0.0/4 dev lo");
        let e = Mcast::open(DEFAULT_GROUP, DEFAULT_PORT, 1).err().expect("joining without a route fails");
        assert!(e.to_string().contains("multicast-capable network interface"), "{e}");
    });
}
