//! Two umvm guests on one network, each a separate umvm process, as a virtual lab runs them: on a UML
//! multicast group and on an `umvm switch`. They ping each other both ways, move 100 MB over TCP with
//! busybox nc (the receiver's sha256 is compared with the sender's stream), echo UDP datagrams, and
//! hold 50 TCP connections open at once (tests/guest/netpeer.c). Also: a guest on a TAP device talks
//! TCP to a host process, bad frames on the group are dropped and counted while the guest goes on, and
//! bad network switches are one-line errors. Every test runs in a network namespace of its own.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::netns::in_netns;
use common::*;

const GUEST_TIMEOUT: Duration = Duration::from_secs(240);
/// The TCP transfer the issue asks for.
const BYTES: u64 = 100_000_000;
const SEED: u64 = 7;

/// A busybox root with netpeer in /bin.
fn lab_root() -> Rootfs {
    let root = Rootfs::system();
    root.install("netpeer");
    root
}

/// The sha256 of netpeer's stream, computed on the host.
fn expected_sha256() -> String {
    let cmd = format!("{} gen {BYTES} {SEED} | sha256sum", guest_program("netpeer").display());
    let out = Command::new("sh").args(["-c", &cmd]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// Waits until `peer` answers a ping (it boots at its own pace), then pings it three times.
fn ping_script(peer: &str) -> String {
    format!(
        "i=0; until ping -c 1 -W 1 {peer} > /dev/null 2>&1; do i=$((i+1)); \
         if [ $i -gt 60 ]; then echo NO-ANSWER-FROM-{peer}; exit 1; fi; done; \
         ping -c 3 {peer} && echo PING-OK-{peer}; "
    )
}

/// Guest A, 10.0.0.1: the servers, and a ping of B.
fn script_a() -> String {
    format!(
        "netpeer udp-echo 7000 20 & netpeer tcp-serve 6000 50 & nc -l -p 5000 -e sha256sum & {} wait; \
         echo A-DONE; cat /proc/net/dev",
        ping_script("10.0.0.2")
    )
}

/// Guest B, 10.0.0.2: a ping of A, then the clients (retrying until A's servers listen).
fn script_b() -> String {
    format!(
        "{} i=0; until netpeer gen {BYTES} {SEED} | nc 10.0.0.1 5000 > /tmp/sum && [ -s /tmp/sum ]; do \
         i=$((i+1)); if [ $i -gt 50 ]; then echo NC-FAILED; exit 1; fi; sleep 0.2; done; \
         echo \"TCP-SHA256 $(cat /tmp/sum)\"; \
         netpeer udp-ping 10.0.0.1 7000 20 && netpeer tcp-parallel 10.0.0.1 6000 50 && echo B-DONE; \
         cat /proc/net/dev",
        ping_script("10.0.0.1")
    )
}

/// Runs guests A and B with their `eth0=` switches at once; returns their runs.
fn two_guests(cfg: Config, eth_a: &str, eth_b: &str) -> (Run, Run) {
    let root = lab_root();
    let path = root.path().to_path_buf();
    let (pa, ea) = (path.clone(), eth_a.to_string());
    let a = std::thread::spawn(move || {
        run_umvm_words(cfg, &pa, &[&ea, "ip=10.0.0.1/24", "--", "/bin/sh", "-c", &script_a()], b"", GUEST_TIMEOUT)
    });
    let b =
        run_umvm_words(cfg, &path, &[eth_b, "ip=10.0.0.2/24", "--", "/bin/sh", "-c", &script_b()], b"", GUEST_TIMEOUT);
    let a = a.join().unwrap();
    (a, b)
}

/// What both guests must have printed.
fn check_lab(a: &Run, b: &Run) {
    let (ao, bo) = (a.out(), b.out());
    assert_eq!(b.code(), 0, "guest B failed\n{b}\nguest A:\n{a}");
    assert_eq!(a.code(), 0, "guest A failed\n{a}\nguest B:\n{b}");
    assert!(ao.contains("PING-OK-10.0.0.2") && ao.contains("3 packets received"), "A's ping\n{a}");
    assert!(bo.contains("PING-OK-10.0.0.1") && bo.contains("3 packets received"), "B's ping\n{b}");
    assert!(bo.contains(&format!("TCP-SHA256 {}  -", expected_sha256())), "100 MB over nc\n{b}\nA:\n{a}");
    assert!(bo.contains("udp-ping: 20 echoes") && ao.contains("udp-echo: echoed 20"), "UDP echo\n{b}\nA:\n{a}");
    assert!(bo.contains("tcp-parallel: 50 connections") && ao.contains("tcp-serve: served 50"), "50 TCP\n{b}\n{a}");
    assert!(ao.contains("A-DONE") && bo.contains("B-DONE"));
    // Both cards moved the 100 MB (and their counters show it).
    for (who, out) in [("A", &ao), ("B", &bo)] {
        let line = out.lines().find(|l| l.trim_start().starts_with("eth0:")).unwrap_or_else(|| panic!("{who}: {out}"));
        let f: Vec<u64> = line.split(':').nth(1).unwrap().split_whitespace().map(|n| n.parse().unwrap()).collect();
        let (rx, tx) = (f[0], f[8]);
        assert!(rx.max(tx) > BYTES, "{who}'s eth0 counters do not show the transfer: {line}");
        assert_eq!((f[2], f[10]), (0, 0), "{who}'s eth0 shows errors: {line}");
    }
}

#[test]
fn two_guests_on_a_multicast_group() {
    in_netns("two_guests_on_a_multicast_group", || {
        let cfg = configs()[0];
        // UML's defaults (239.192.168.1:1102, TTL 1) spelled out for one guest and left out for the other.
        let (a, b) =
            two_guests(cfg, "eth0=mcast,fe:fd:0a:00:00:01", "eth0=mcast,fe:fd:0a:00:00:02,239.192.168.1,1102,1");
        check_lab(&a, &b);
    });
}

/// Starts `umvm switch` (a hub with `hub`) on a control socket in `dir`; killed on drop.
struct Switch {
    child: std::process::Child,
    ctl: std::path::PathBuf,
}

impl Switch {
    fn start(dir: &std::path::Path, hub: bool) -> Switch {
        let ctl = dir.join("switch.ctl");
        let mut cmd = Command::new(umvm());
        cmd.arg("switch");
        if hub {
            cmd.arg("--hub");
        }
        let child = cmd.arg("--unix").arg(&ctl).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let sw = Switch { child, ctl };
        for _ in 0..200 {
            if sw.ctl.exists() {
                return sw;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("umvm switch made no control socket {}", sw.ctl.display());
    }

    fn eth(&self, mac: &str) -> String {
        format!("eth0=daemon,{mac},unix,{}", self.ctl.display())
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_guests_on_umvm_switch() {
    in_netns("two_guests_on_umvm_switch", || {
        let dir = TempDir::new("switch");
        let sw = Switch::start(dir.path(), false);
        // The other trap mode than the multicast test's.
        let cfg = Config { trap: *traps().last().unwrap(), strace: false };
        let (a, b) = two_guests(cfg, &sw.eth("fe:fd:0a:00:00:01"), &sw.eth("fe:fd:0a:00:00:02"));
        check_lab(&a, &b);
    });
}

#[test]
fn a_guest_on_a_tap_device_talks_tcp_to_a_host_process() {
    in_netns("a_guest_on_a_tap_device_talks_tcp_to_a_host_process", || {
        common::netns::sh(
            "ip tuntap add dev umvmtap0 mode tap && ip addr add 10.1.0.1/24 dev umvmtap0 && ip link set umvmtap0 up",
        );
        let listener = std::net::TcpListener::bind("10.1.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let host = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut c, peer) = listener.accept().unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            c.write_all(format!("host saw {} bytes from {}\n", got.len(), peer.ip()).as_bytes()).unwrap();
            got
        });
        let root = lab_root();
        let script = format!(
            "ping -c 2 10.1.0.1 && echo GUEST-PING-OK; netpeer gen 1000000 3 | nc 10.1.0.1 {port}; cat /proc/net/dev"
        );
        let run = run_umvm_words(
            configs()[0],
            root.path(),
            &["eth0=tuntap,umvmtap0,fe:fd:0a:01:00:02", "ip=10.1.0.2/24", "--", "/bin/sh", "-c", &script],
            b"",
            GUEST_TIMEOUT,
        );
        let got = host.join().unwrap();
        assert_eq!(run.code(), 0, "{run}");
        let out = run.out();
        assert!(out.contains("GUEST-PING-OK"), "{run}");
        assert!(out.contains("host saw 1000000 bytes from 10.1.0.2"), "{run}");
        let want = Command::new(guest_program("netpeer")).args(["gen", "1000000", "3"]).output().unwrap().stdout;
        assert!(got == want, "the host received other bytes than the guest sent");
    });
}

/// An Ethernet frame from a made-up sender to everyone.
fn frame(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0xfe, 0xfd, 0xde, 0xad, 0xbe, 0xef]);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn bad_frames_on_the_group_are_dropped_and_counted() {
    in_netns("bad_frames_on_the_group_are_dropped_and_counted", || {
        let root = lab_root();
        root.write("/share/.keep", "", 0o644);
        let (ready, go) = (root.host_path("/share/ready"), root.host_path("/share/go"));
        // A answers pings; B waits until the bad frames are in, then pings A.
        let wait_go = "touch /share/ready-$(hostname); while [ ! -e /share/go ]; do sleep 0.1; done";
        let a_script = format!("{wait_go}; sleep 5; cat /proc/net/dev");
        let b_script = format!("{wait_go}; ping -c 2 10.0.0.1 && echo PING-AFTER-BAD-FRAMES; cat /proc/net/dev");
        let path = root.path().to_path_buf();
        let a = std::thread::spawn(move || {
            let words =
                ["eth0=mcast,fe:fd:0a:00:00:01", "ip=10.0.0.1/24", "hostname=a", "--", "/bin/sh", "-c", &a_script];
            run_umvm_words(configs()[0], &path, &words, b"", GUEST_TIMEOUT)
        });
        let path = root.path().to_path_buf();
        let b = std::thread::spawn(move || {
            let words =
                ["eth0=mcast,fe:fd:0a:00:00:02", "ip=10.0.0.2/24", "hostname=b", "--", "/bin/sh", "-c", &b_script];
            run_umvm_words(configs()[0], &path, &words, b"", GUEST_TIMEOUT)
        });
        let t0 = std::time::Instant::now();
        while !(ready.with_file_name("ready-a").exists() && ready.with_file_name("ready-b").exists()) {
            for g in [&a, &b] {
                assert!(!g.is_finished(), "a guest ended early: {}", g.is_finished());
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "the guests did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let group = "239.192.168.1:1102";
        let mut ipv4_bad_checksum = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 17, 0xde, 0xad];
        ipv4_bad_checksum.extend_from_slice(&[10, 0, 0, 9, 10, 0, 0, 1]);
        ipv4_bad_checksum.resize(46, 0);
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("runt", vec![0xff; 9]),
            ("runt", frame(0x0800, &[])[..13].to_vec()),
            ("oversized", frame(0x0800, &[0; 1600])),
            ("oversized", frame(0x0800, &[0; 3000])),
            ("wrong ethertype", frame(0x88cc, &[0; 46])),
            ("wrong ethertype", frame(0x9000, &[1; 46])),
            ("garbage IPv4", frame(0x0800, &ipv4_bad_checksum)),
            ("garbage ARP", frame(0x0806, &[7; 5])),
        ];
        for (_, f) in &bad {
            s.send_to(f, group).unwrap();
        }
        // And noise: 500 datagrams of random bytes and lengths.
        let mut x: u64 = 0x2545F4914F6CDD1D;
        for _ in 0..500 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 1600) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (x >> (i % 57)) as u8).collect();
            s.send_to(&bytes, group).unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&go, b"").unwrap();
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!(b.code(), 0, "{b}\nA:\n{a}");
        assert!(b.out().contains("PING-AFTER-BAD-FRAMES"), "{b}");
        for run in [&a, &b] {
            let out = run.out();
            let line = out.lines().find(|l| l.trim_start().starts_with("eth0:")).unwrap_or_else(|| panic!("{run}"));
            let f: Vec<u64> = line.split(':').nth(1).unwrap().split_whitespace().map(|n| n.parse().unwrap()).collect();
            let (errs, drop, frame_errs) = (f[2], f[3], f[5]);
            assert!(errs >= 6, "runts, oversized and malformed frames are counted as errors: {line}\n{run}");
            assert!(frame_errs >= 4, "runts and oversized frames are counted as frame errors: {line}\n{run}");
            assert!(drop >= 2, "frames of unknown ethertypes are counted as dropped: {line}\n{run}");
        }
    });
}

#[test]
fn bad_network_switches_are_one_line_errors() {
    in_netns("bad_network_switches_are_one_line_errors", || {
        let root = lab_root();
        let cases: &[(&[&str], &str)] = &[
            (&["eth0=carrier-pigeon"], "eth0=carrier-pigeon: "),
            (&["eth0=daemon,,unix,/nonexistent/switch.ctl"], "/nonexistent/switch.ctl"),
            (&["eth0=mcast", "ip=10.0.0.1/33"], "ip=10.0.0.1/33: the prefix length is out of range"),
            (&["ip=10.0.0.1/24"], "ip=10.0.0.1/24: no network card eth0 (give eth0=...)"),
            (&["eth0=mcast", "ip=dhcp"], "ip=dhcp: automatic configuration (DHCP, BOOTP, RARP) is not supported"),
            (&["eth0=mcast", "ip=10.0.0.1/24,10.9.9.9"], "the gateway 10.9.9.9 is not on 10.0.0.1/24"),
        ];
        for (switches, want) in cases {
            let words: Vec<&str> = switches.iter().copied().chain(["--", "/bin/true"]).collect();
            let run = run_umvm_words(configs()[0], root.path(), &words, b"", Duration::from_secs(30));
            assert_eq!(run.code(), 1, "{run}");
            let err = run.err();
            assert!(err.starts_with("umvm: ") && err.lines().count() == 1 && err.contains(want), "{want}: {run}");
        }
    });
}

#[test]
fn ip_configures_eth0_at_boot() {
    in_netns("ip_configures_eth0_at_boot", || {
        let root = lab_root();
        let show = "ip addr show eth0; ip route; hostname";
        let run = |ip: &str| {
            let words = ["eth0=mcast,fe:fd:0a:00:00:07", ip, "--", "/bin/sh", "-c", show];
            let r = run_umvm_words(configs()[0], root.path(), &words, b"", Duration::from_secs(60));
            assert_eq!(r.code(), 0, "{r}");
            r.out()
        };
        let out = run("ip=10.0.0.7/24,10.0.0.1");
        assert!(out.contains("<BROADCAST,MULTICAST,UP,LOWER_UP>"), "{out}");
        assert!(out.contains("link/ether fe:fd:0a:00:00:07"), "{out}");
        assert!(out.contains("inet 10.0.0.7/24 brd 10.0.0.255 "), "{out}");
        assert!(out.contains("default via 10.0.0.1 dev eth0"), "{out}");
        assert!(out.contains("10.0.0.0/24 dev eth0"), "{out}");
        // Linux's own form, with a host name.
        let out = run("ip=10.0.0.8::10.0.0.1:255.255.0.0:labhost:eth0:off");
        assert!(out.contains("inet 10.0.0.8/16 "), "{out}");
        assert!(out.contains("default via 10.0.0.1 dev eth0"), "{out}");
        assert!(out.trim_end().ends_with("labhost"), "{out}");
    });
}
