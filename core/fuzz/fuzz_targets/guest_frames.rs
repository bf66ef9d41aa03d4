//! Frames from the wire into a guest's stack: an up eth0 with an address, a listening TCP socket, a
//! bound UDP socket and a ping socket, fed any bytes as frames (each a little-endian u16 length, then
//! that many bytes). Whatever arrives, the stack must neither panic nor loop; what it answers is
//! drained. `cargo +nightly fuzz run guest_frames` from core/.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use umvm_core::net::stack::{memory_link_pair, FrameLink, Protocol, Stack};

fuzz_target!(|data: &[u8]| {
    let mut st = Stack::new();
    let (ours, wire) = memory_link_pair();
    let eth = st.add_ethernet("eth0", [0xfe, 0xfd, 10, 0, 0, 1], Arc::new(ours));
    let _ = st.add_if_addr(eth, "10.0.0.1".parse().unwrap(), 24, None, None);
    let _ = st.add_if_addr(eth, "fd00::1".parse().unwrap(), 64, None, None);
    let _ = st.set_if_up(eth, true);
    let tcp = st.socket(false, Protocol::Tcp);
    let _ = st.bind(tcp, "0.0.0.0:80".parse().unwrap());
    let _ = st.tcp_listen(tcp, 8);
    let udp = st.socket(true, Protocol::Udp);
    let _ = st.bind(udp, "[::]:53".parse().unwrap());
    let icmp = st.socket(false, Protocol::Icmp);
    let _ = st.bind(icmp, "0.0.0.0:7".parse().unwrap());
    let mut rest = data;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        let frame = &rest[..n.min(rest.len())];
        rest = &rest[frame.len()..];
        wire.send(frame);
    }
    for _ in 0..4 {
        let now = st.clock().now();
        st.poll(now);
        let mut buf = [0u8; 2048];
        let _ = st.udp_recv_from(udp, &mut buf);
        let _ = st.icmp_recv_from(icmp, &mut buf);
        let _ = st.tcp_accept(tcp);
        while wire.recv().is_some() {}
    }
});
