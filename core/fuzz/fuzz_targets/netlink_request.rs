//! NETLINK_ROUTE requests as a guest sends them: any bytes as one datagram to a stack with lo and an
//! eth0, with and without CAP_NET_ADMIN. The parser must refuse what does not parse with an errno ack,
//! never panic or loop. `cargo +nightly fuzz run netlink_request` from core/.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use umvm_core::net::netlink::{process, Sender};
use umvm_core::net::stack::{memory_link_pair, Stack};

fuzz_target!(|data: &[u8]| {
    let mut st = Stack::new();
    let (ours, _wire) = memory_link_pair();
    let eth = st.add_ethernet("eth0", [0xfe, 0xfd, 10, 0, 0, 1], Arc::new(ours));
    let _ = st.add_if_addr(eth, "10.0.0.1".parse().unwrap(), 24, None, None);
    for net_admin in [false, true] {
        let sender = Sender { portid: 42, net_admin, cap_ack: false };
        let _ = process(&mut st, data, &sender, false);
    }
});
