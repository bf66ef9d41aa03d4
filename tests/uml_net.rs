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

/// The lines that configure eth0 as `me` and ping `peer` until it answers
/// (ARP and the peer's boot), then three pings that must all come back.
fn up_and_ping(me: &str, peer: &str) -> String {
    format!(
        r#"ifconfig eth0 {me} netmask 255.255.255.0 up || exit 10
echo NET-UP
i=0
until ping -c 1 -W 1 {peer} >/dev/null 2>&1; do
    i=$((i+1)); [ $i -lt 60 ] || {{ echo PING-TIMEOUT; exit 11; }}
done
ping -c 3 -W 2 {peer}
echo PING-DONE
"#
    )
}

/// The receiving guest: listens with busybox nc on port 5000 (before
/// pinging, so that the sender finds it), then prints GOT and the sha256
/// of what arrived. nc's stdin (a FIFO the script holds open) must not end:
/// on its EOF busybox nc shuts down its sending half, and the sender's nc
/// stops at that EOF.
fn receiver_script(me: &str, peer: &str) -> String {
    format!(
        "mkfifo /tmp/hold\nnc -l -p 5000 < /tmp/hold > /tmp/got &\nNC=$!\nexec 3> /tmp/hold\n{}wait $NC || exit 12\necho \"GOT $(sha256sum /tmp/got)\"\n",
        up_and_ping(me, peer)
    )
}

/// The sending guest: sends /host/data to the receiver's port 5000,
/// trying again while the receiver is not listening yet.
fn sender_script(me: &str, peer: &str) -> String {
    format!(
        r#"{}i=0
until nc {peer} 5000 < /host/data; do
    i=$((i+1)); [ $i -lt 100 ] || {{ echo SEND-FAILED; exit 13; }}
    sleep 0.2
done
echo SENT
"#,
        up_and_ping(me, peer)
    )
}

/// Boots two UML guests, guest 1 receiving and guest 2 sending, with eth0
/// given by `eth(n, mac)`; checks pings both ways and the file's sha256.
/// Returns how long the scripts took after boot.
fn pair_test(linux: &Path, image: &Path, dir: &Path, eth: impl Fn(u8, &str) -> OsString) -> Duration {
    let data = pseudo_random(FILE_BYTES, 0x5eed_0008);
    let spec = |n: u8, script: String| {
        UmlSpec::new(linux, image, &dir.join(format!("guest{n}")))
            .unwrap()
            .switch(eth(n, &guest_mac(n)))
            .script(&script)
            .unwrap()
    };
    let rx = spec(1, receiver_script(&addr(1), &addr(2)));
    let tx = spec(2, sender_script(&addr(2), &addr(1)));
    std::fs::write(tx.share().join("data"), &data).unwrap();
    let want = sha256_file(&tx.share().join("data"));
    let mut a = rx.boot().unwrap();
    let mut b = tx.boot().unwrap();
    let start = Instant::now();
    for (g, who) in [(&mut a, "receiver"), (&mut b, "sender")] {
        let console = g.wait_for(INIT_DONE, SCRIPT_TIMEOUT).unwrap();
        assert!(console.contains("INIT-DONE 0"), "{who}'s script failed:\n{console}");
        assert!(
            console.contains("3 packets transmitted, 3 packets received, 0% packet loss"),
            "{who}'s pings:\n{console}"
        );
    }
    let took = start.elapsed();
    let got = a.line("GOT ").unwrap_or_default();
    assert_eq!(
        got.split_whitespace().next(),
        Some(want.as_str()),
        "the sha256 of what arrived over TCP:\nreceiver:\n{}\nsender:\n{}",
        a.console(),
        b.console()
    );
    println!("{} MiB over TCP and pings both ways in {took:.2?} after boot", FILE_BYTES >> 20);
    took
}

/// The pair on `umvm switch --unix CTL` (with `--hub` if `hub`).
fn on_umvm_switch(linux: &Path, image: &Path, hub: bool) {
    let dir = TempDir::new("uml-net-umvm-switch");
    let ctl = dir.path().join("switch.ctl");
    let mut sw = SwitchProcess::umvm_switch(umvm(), &ctl, hub).unwrap();
    pair_test(linux, image, dir.path(), |_, mac| sw.eth(0, mac));
    assert!(sw.running(), "umvm switch died:\n{}", sw.output());
    let status = sw.stop().unwrap();
    assert_eq!(status.code(), Some(0), "umvm switch exits cleanly on SIGTERM:\n{}", sw.output());
    assert!(!ctl.exists(), "umvm switch removes its control socket");
}

#[test]
fn uml_guests_on_umvm_switch() {
    in_netns_uml("uml_guests_on_umvm_switch", |linux, image| on_umvm_switch(linux, image, false));
}

#[test]
fn uml_guests_on_umvm_switch_hub() {
    in_netns_uml("uml_guests_on_umvm_switch_hub", |linux, image| on_umvm_switch(linux, image, true));
}

#[test]
fn uml_guests_on_mcast() {
    in_netns_uml("uml_guests_on_mcast", |linux, image| {
        let dir = TempDir::new("uml-net-mcast");
        pair_test(linux, image, dir.path(), |_, mac| format!("eth0=mcast,{mac},239.192.8.1,1108,1").into());
    });
}

#[test]
fn uml_guests_on_uml_switch() {
    in_netns_uml("uml_guests_on_uml_switch", |linux, image| {
        let dir = TempDir::new("uml-net-uml-switch");
        let ctl = dir.path().join("uml_switch.ctl");
        let Some(sw) = SwitchProcess::uml_switch("uml_guests_on_uml_switch", &ctl, false) else { return };
        let mut sw = sw.unwrap();
        pair_test(linux, image, dir.path(), |_, mac| sw.eth(0, mac));
        assert!(sw.running(), "uml_switch died:\n{}", sw.output());
    });
}
