//! Real UML guests on the network transports umvm speaks (issue 8): two
//! guests of Debian's UML kernel (/usr/bin/linux) ping each other both ways
//! and move a file over TCP with busybox nc, its sha256 checked against the
//! host's, on
//! - `umvm switch` (learning switch and `--hub`): a real UML guest joins
//!   umvm's switch with `eth0=daemon,MAC,unix,CTL`;
//! - one multicast group (`eth0=mcast,...`) and Debian's `uml_switch`: the
//!   same checks where umvm plays no part, which validates the harness and
//!   is the baseline the umvm cases must match.
//!
//! Then the same checks between a real UML guest and an umvm guest (booted
//! from the same image and init, eth0 configured by `ip=`) on a multicast
//! group, on uml_switch and on umvm switch, and between two umvm guests on
//! a multicast group and on umvm switch.
//!
//! Each test runs in a network namespace of its own (a re-run of this test
//! binary under `unshare --net`, with multicast on `lo`). The guests boot
//! one busybox ext2 image, made once per run of this binary and shared
//! read-only (each guest has a COW file over it), with tests/common/uml.rs
//! NET_INIT as init; the test's script and the file to send reach the guest
//! through its hostfs share.

mod common;

use common::disk::*;
use common::netns::*;
use common::tools::*;
use common::uml::*;
use common::*;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a guest's whole script may take.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The size of the file moved over TCP.
const FILE_BYTES: usize = 8 << 20;

/// The environment variable that hands the shared image to the test's
/// re-run inside its namespace.
const IMAGE_ENV: &str = "UMVM_UML_NET_IMAGE";

/// The guests' addresses: 10.0.8.N/24 for guest N.
fn addr(n: u8) -> String {
    format!("10.0.8.{n}")
}

/// The shared image: made once per run of this binary (in the outer run;
/// a re-run inside a namespace is handed its path), in a directory removed
/// at exit.
fn shared_image() -> PathBuf {
    if let Some(p) = std::env::var_os(IMAGE_ENV) {
        return PathBuf::from(p);
    }
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let dir = TempDir::new("uml-net-image");
            let tree = dir.path().join("tree");
            disk_tree(&tree);
            net_guest_tree(&tree).unwrap();
            let img = dir.path().join("root.img");
            mke2fs(&tree, &img, 32, &[]);
            // The directory lives as long as the process: remove it at exit.
            static DIR: OnceLock<PathBuf> = OnceLock::new();
            DIR.set(dir.path().to_path_buf()).unwrap();
            std::mem::forget(dir);
            extern "C" fn remove_image() {
                if let Some(d) = DIR.get() {
                    let _ = std::fs::remove_dir_all(d);
                }
            }
            // SAFETY: registers a plain extern "C" function.
            unsafe { libc::atexit(remove_image) };
            img
        })
        .clone()
}

/// Runs `body` in a network namespace of its own (see in_netns_with), the
/// shared image made beforehand and handed over.
fn in_netns_uml(name: &str, body: impl FnOnce(&Path, &Path)) {
    let Some(linux) = uml_kernel(name) else { return };
    if !inside_netns() && require_tool(name, "unshare", "util-linux").is_none() {
        return;
    }
    let image = shared_image();
    in_netns_with(name, &[(IMAGE_ENV, image.clone().into())], || body(&linux, &image));
}

/// Deterministic pseudo-random bytes (xorshift), so that a failed transfer
/// is reproducible.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The host's sha256sum of the file `path`.
fn sha256_file(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).stdin(Stdio::null()).output().expect("sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// A guest's script: listens with busybox nc on port 5000 (before
/// anything else, so that the peer finds it), configures eth0 as `me` with
/// ifconfig (UML; umvm gets `ip=` on its command line), pings `peer` until
/// it answers (ARP and the peer's boot) and then three times, all of
/// which must come back; sends /host/data to the peer's port 5000, trying
/// again while the peer is not listening yet; then prints GOT and the
/// sha256 of what arrived.
///
/// nc's stdin (a FIFO the script holds open) must not end: on its EOF
/// busybox nc shuts down its sending half, and the sender's nc stops at
/// that EOF.
fn guest_script(me: &str, peer: &str, ifconfig: bool) -> String {
    let configure =
        if ifconfig { format!("ifconfig eth0 {me} netmask 255.255.255.0 up || exit 10\n") } else { String::new() };
    format!(
        r#"mkfifo /tmp/hold
nc -l -p 5000 < /tmp/hold > /tmp/got &
NC=$!
exec 3> /tmp/hold
{configure}echo NET-UP
i=0
until ping -c 1 -W 1 {peer} >/dev/null 2>&1; do
    i=$((i+1)); [ $i -lt 60 ] || {{ echo PING-TIMEOUT; exit 11; }}
done
ping -c 3 -W 2 {peer}
echo PING-DONE
i=0
until nc {peer} 5000 < /host/data; do
    i=$((i+1)); [ $i -lt 100 ] || {{ echo SEND-FAILED; exit 12; }}
    sleep 0.2
done
echo SENT
wait $NC || exit 13
echo "GOT $(sha256sum /tmp/got)"
"#
    )
}

/// Boots guest 1 of kernel `kinds[0]` and guest 2 of `kinds[1]`, with
/// eth0 given by `eth(mac)`; checks pings both ways and the sha256 of a
/// file each sends the other over TCP.
fn pair_test(image: &Path, dir: &Path, kinds: [&Kernel; 2], eth: impl Fn(&str) -> OsString) {
    let mut guests = Vec::new();
    let mut sums = Vec::new();
    for (i, kernel) in kinds.into_iter().enumerate() {
        let (n, peer) = (i as u8 + 1, 2 - i as u8);
        let umvm = matches!(kernel, Kernel::Umvm(_));
        let mut spec = GuestSpec::with(kernel.clone(), image, &dir.join(format!("guest{n}")))
            .unwrap()
            .switch(eth(&guest_mac(n)))
            .script(&guest_script(&addr(n), &addr(peer), !umvm))
            .unwrap();
        if umvm {
            spec = spec.switch(format!("ip={}/24", addr(n)));
        }
        let data = spec.share().join("data");
        std::fs::write(&data, pseudo_random(FILE_BYTES, 0x5eed_0800 + n as u64)).unwrap();
        sums.push(sha256_file(&data));
        guests.push((spec, kernel.name()));
    }
    let mut running: Vec<Guest> = guests.iter().map(|(spec, _)| spec.boot().unwrap()).collect();
    let start = Instant::now();
    for i in 0..running.len() {
        let who = guests[i].1;
        let console = running[i].wait_for(INIT_DONE, SCRIPT_TIMEOUT).unwrap_or_else(|e| {
            // The peer's console tells which side stalled.
            panic!("guest {} ({who}): {e}\nguest {} ({}):\n{}", i + 1, 2 - i, guests[1 - i].1, running[1 - i].console())
        });
        assert!(console.contains("INIT-DONE 0"), "{who}'s script failed:\n{console}");
        assert!(
            console.contains("3 packets transmitted, 3 packets received, 0% packet loss"),
            "{who}'s pings:\n{console}"
        );
    }
    let took = start.elapsed();
    for (i, g) in running.iter().enumerate() {
        let got = g.line("GOT ").unwrap_or_default();
        assert_eq!(
            got.split_whitespace().next(),
            Some(sums[1 - i].as_str()),
            "the sha256 of what guest {} ({}) got over TCP:\n{}",
            i + 1,
            guests[i].1,
            g.console()
        );
    }
    println!(
        "{} <-> {}: pings and {} MiB over TCP both ways in {took:.2?} after boot",
        guests[0].1,
        guests[1].1,
        FILE_BYTES >> 20
    );
}

/// A pair on `umvm switch --unix CTL` (with `--hub` if `hub`).
fn on_umvm_switch(image: &Path, kinds: [&Kernel; 2], hub: bool) {
    let dir = TempDir::new("uml-net-umvm-switch");
    let ctl = dir.path().join("switch.ctl");
    let mut sw = SwitchProcess::umvm_switch(umvm(), &ctl, hub).unwrap();
    pair_test(image, dir.path(), kinds, |mac| sw.eth(0, mac));
    assert!(sw.running(), "umvm switch died:\n{}", sw.output());
    let status = sw.stop().unwrap();
    assert_eq!(status.code(), Some(0), "umvm switch exits cleanly on SIGTERM:\n{}", sw.output());
    assert!(!ctl.exists(), "umvm switch removes its control socket");
}

/// A pair on one multicast group.
fn on_mcast(image: &Path, kinds: [&Kernel; 2]) {
    let dir = TempDir::new("uml-net-mcast");
    pair_test(image, dir.path(), kinds, |mac| format!("eth0=mcast,{mac},239.192.8.1,1108,1").into());
}

/// A pair on Debian's uml_switch (skipped without it, outside CI).
fn on_uml_switch(test: &str, image: &Path, kinds: [&Kernel; 2]) {
    let dir = TempDir::new("uml-net-uml-switch");
    let ctl = dir.path().join("uml_switch.ctl");
    let Some(sw) = SwitchProcess::uml_switch(test, &ctl, false) else { return };
    let mut sw = sw.unwrap();
    pair_test(image, dir.path(), kinds, |mac| sw.eth(0, mac));
    assert!(sw.running(), "uml_switch died:\n{}", sw.output());
}

#[test]
fn uml_guests_on_umvm_switch() {
    in_netns_uml("uml_guests_on_umvm_switch", |linux, image| {
        let uml = Kernel::Uml(linux.into());
        on_umvm_switch(image, [&uml, &uml], false)
    });
}

#[test]
fn uml_guests_on_umvm_switch_hub() {
    in_netns_uml("uml_guests_on_umvm_switch_hub", |linux, image| {
        let uml = Kernel::Uml(linux.into());
        on_umvm_switch(image, [&uml, &uml], true)
    });
}

#[test]
fn uml_guests_on_mcast() {
    in_netns_uml("uml_guests_on_mcast", |linux, image| {
        let uml = Kernel::Uml(linux.into());
        on_mcast(image, [&uml, &uml])
    });
}

#[test]
fn uml_guests_on_uml_switch() {
    in_netns_uml("uml_guests_on_uml_switch", |linux, image| {
        let uml = Kernel::Uml(linux.into());
        on_uml_switch("uml_guests_on_uml_switch", image, [&uml, &uml])
    });
}

#[test]
fn uml_and_umvm_on_mcast() {
    in_netns_uml("uml_and_umvm_on_mcast", |linux, image| {
        on_mcast(image, [&Kernel::Uml(linux.into()), &Kernel::Umvm(umvm().into())])
    });
}

#[test]
fn uml_and_umvm_on_uml_switch() {
    in_netns_uml("uml_and_umvm_on_uml_switch", |linux, image| {
        on_uml_switch("uml_and_umvm_on_uml_switch", image, [&Kernel::Umvm(umvm().into()), &Kernel::Uml(linux.into())])
    });
}

#[test]
fn uml_and_umvm_on_umvm_switch() {
    in_netns_uml("uml_and_umvm_on_umvm_switch", |linux, image| {
        on_umvm_switch(image, [&Kernel::Uml(linux.into()), &Kernel::Umvm(umvm().into())], false)
    });
}

#[test]
fn umvm_guests_on_umvm_switch() {
    in_netns_uml("umvm_guests_on_umvm_switch", |_, image| {
        let u = Kernel::Umvm(umvm().into());
        on_umvm_switch(image, [&u, &u], false)
    });
}

#[test]
fn umvm_guests_on_mcast() {
    in_netns_uml("umvm_guests_on_mcast", |_, image| {
        let u = Kernel::Umvm(umvm().into());
        on_mcast(image, [&u, &u])
    });
}
