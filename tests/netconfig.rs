//! Interface configuration from inside a guest: busybox `ifconfig`, `ip` and `route` (SIOC* ioctls,
//! NETLINK_ROUTE, /proc/net/route and /proc/net/if_inet6), and getifaddrs(3), if_nametoindex(3) and a
//! raw NETLINK_ROUTE socket (tests/guest/netconfig.c), on `lo` and on an `eth0=mcast` card.
//!
//! Each script also runs natively in a fresh network namespace (lo brought up, as the guest's is at
//! boot) when the host lets the test make one, and the guest must print what Linux prints. The one
//! differences allowed are lo's MTU (Linux's is 65536, the guest stack's 65535, the largest IPv4
//! packet) and Linux's "tentative" on a new IPv6 address still in duplicate address detection. Without namespaces the literal expectations below still hold. (One more Linux quirk
//! is kept out of the scripts: a route `route add` makes through a gateway on lo's network has
//! scope link there.) /proc/net/if_inet6 is
//! sorted before comparing: Linux lists it in the order of a hash salted per namespace.

mod common;

use common::*;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// Linux's output for `script` (run by the host's busybox sh in a new network namespace whose lo is
/// up), with lo's MTU as the guest's; None when no namespace can be made.
fn linux(script: &str) -> Option<String> {
    let mut cmd = Command::new("unshare");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        cmd.args(["--user", "--map-root-user"]);
    }
    let out = cmd
        .args(["--net", HOST_BUSYBOX, "sh", "-c"])
        .arg(format!("busybox ip link set lo up || exit 99\n{script}"))
        .output()
        .ok()?;
    if out.status.code() == Some(99) || String::from_utf8_lossy(&out.stderr).starts_with("unshare:") {
        eprintln!("no network namespace for the native run: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // An IPv6 address Linux has not finished duplicate address detection on shows as "tentative" for a
    // moment, depending on timing; the guest stack does no DAD.
    Some(text.replace("MTU:65536", "MTU:65535").replace("mtu 65536", "mtu 65535").replace(" tentative ", " "))
}

/// Runs `script` in the guest in every configuration: each run must print `want`, and so must Linux.
fn check(root: &Rootfs, script: &str, want: &str) {
    if let Some(native) = linux(script) {
        assert_eq!(native, want, "Linux prints something else for:\n{script}");
    }
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &["/bin/sh", "-c", script], b"", RUN_TIMEOUT);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), want, "stdout; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
    }
}

const LO_IFCONFIG: &str = "\
lo        Link encap:Local Loopback  
          inet addr:127.0.0.1  Mask:255.0.0.0
          inet6 addr: ::1/128 Scope:Host
          UP LOOPBACK RUNNING  MTU:65535  Metric:1
          RX packets:0 errors:0 dropped:0 overruns:0 frame:0
          TX packets:0 errors:0 dropped:0 overruns:0 carrier:0
          collisions:0 txqueuelen:1000 
          RX bytes:0 (0.0 B)  TX bytes:0 (0.0 B)

";

const LO_IP_ADDR: &str = "\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65535 qdisc noqueue qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
    inet6 ::1/128 scope host 
       valid_lft forever preferred_lft forever
";

/// /proc/net/route's header: Linux pads every line to 127 columns.
fn route_header() -> String {
    format!("{:<127}\n", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT")
}

const ROUTE_N_HEADER: &str = "\
Kernel IP routing table
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface
";

#[test]
fn lo_shows_as_on_linux() {
    let root = Rootfs::system();
    let script = "busybox ifconfig; echo ==; busybox ifconfig lo; echo ==; busybox ip addr show; echo ==; \
                  busybox ip link show; echo ==; busybox ip -6 addr; echo ==; busybox ip route; echo ==; \
                  busybox route -n; echo ==; cat /proc/net/route; echo ==; cat /proc/net/if_inet6";
    let want = [
        LO_IFCONFIG,
        "==\n",
        LO_IFCONFIG,
        "==\n",
        LO_IP_ADDR,
        "==\n",
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65535 qdisc noqueue qlen 1000\n",
        "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n",
        "==\n",
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65535 qlen 1000\n",
        "    inet6 ::1/128 scope host \n",
        "       valid_lft forever preferred_lft forever\n",
        "==\n",
        // lo's routes live in the local table: main is empty.
        "==\n",
        ROUTE_N_HEADER,
        "==\n",
        &route_header(),
        "==\n",
        "00000000000000000000000000000001 01 80 10 80       lo\n",
    ]
    .concat();
    check(&root, script, &want);
}

#[test]
fn lo_changes_as_on_linux() {
    let root = Rootfs::system();
    let script = "\
busybox ip addr add 10.9.8.7/24 dev lo; echo \"add: $?\"
busybox ip addr add 10.9.8.7/24 dev lo 2>&1; echo \"add again: $?\"
busybox ip addr show dev lo
busybox ip route add default via 10.9.8.1; echo \"gw: $?\"
busybox ip route; busybox route -n; cat /proc/net/route
busybox ip route add default via 10.9.8.2 2>&1; echo \"second gw: $?\"
busybox ip route del default; echo \"del gw: $?\"
busybox ip route del default 2>&1; echo \"del gw again: $?\"
busybox route add default gw 10.9.8.1; echo \"route add: $?\"
busybox route -n
busybox route del default; echo \"route del: $?\"
busybox route -n
busybox ip route add default via 10.77.0.1 2>&1; echo \"unreachable gw: $?\"
busybox ip route add 172.16.0.0/12 via 10.9.8.1; echo \"net via: $?\"
busybox ip route
busybox route add -net 192.168.0.0 netmask 255.255.0.0 gw 10.9.8.1; echo \"route add -net: $?\"
busybox route add -net 192.168.0.0 netmask 255.255.0.0 gw 10.9.8.1 2>&1; echo \"again: $?\"
busybox route -n; cat /proc/net/route
busybox ip route del 172.16.0.0/12; echo \"del net: $?\"
busybox route del -net 192.168.0.0 netmask 255.255.0.0; echo \"route del -net: $?\"
busybox route del -net 192.168.0.0 netmask 255.255.0.0 2>&1; echo \"again: $?\"
busybox ip route
busybox ifconfig lo:1 10.1.2.3 netmask 255.255.0.0; echo \"alias: $?\"
busybox ifconfig
busybox ip addr show lo
busybox ifconfig lo:1 down; echo \"alias down: $?\"
busybox ip addr del 10.9.8.7/24 dev lo; echo \"del: $?\"
busybox ip addr del 10.9.8.7/24 dev lo 2>&1; echo \"del again: $?\"
busybox ip addr show lo
busybox ip -6 addr add fd00::2/128 dev lo; echo \"add6: $?\"
busybox ip -6 addr; busybox sort /proc/net/if_inet6
busybox ip -6 addr del fd00::2/128 dev lo; echo \"del6: $?\"
busybox ifconfig lo 127.0.0.2; echo \"replace: $?\"
busybox ifconfig lo
busybox ifconfig lo 127.0.0.1
busybox ip link set lo down; echo \"down: $?\"
busybox ip addr; busybox ifconfig; echo ==; busybox ifconfig -a
busybox ip link set lo up; echo \"up: $?\"
busybox ip addr
";
    let want_lines = [
        "add: 0\n",
        "ip: RTNETLINK answers: File exists\nadd again: 2\n",
        "    inet 10.9.8.7/24 scope global lo\n",
        "gw: 0\ndefault via 10.9.8.1 dev lo \n",
        "0.0.0.0         10.9.8.1        0.0.0.0         UG    0      0        0 lo\n",
        &format!("{:<127}\n", "lo\t00000000\t0108090A\t0003\t0\t0\t0\t00000000\t0\t0\t0"),
        "ip: RTNETLINK answers: File exists\nsecond gw: 2\n",
        "del gw: 0\nip: RTNETLINK answers: No such process\ndel gw again: 2\n",
        "route add: 0\n",
        &format!("route del: 0\n{ROUTE_N_HEADER}ip: RTNETLINK answers: Network is unreachable\nunreachable gw: 2\n"),
        "net via: 0\n172.16.0.0/12 via 10.9.8.1 dev lo \nroute add -net: 0\nroute: SIOCADDRT: File exists\nagain: 1\n",
        "172.16.0.0      10.9.8.1        255.240.0.0     UG    0      0        0 lo\n",
        &format!("{:<127}\n", "lo\t0000A8C0\t0108090A\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0"),
        "del net: 0\nroute del -net: 0\n",
        "lo:1      Link encap:Local Loopback  \n          inet addr:10.1.2.3  Mask:255.255.0.0\n",
        "    inet 10.1.2.3/16 scope global lo:1\n",
        "alias down: 0\ndel: 0\nip: RTNETLINK answers: Cannot assign requested address\ndel again: 2\n",
        "    inet6 fd00::2/128 scope global \n       valid_lft forever preferred_lft forever\n    inet6 ::1/128 scope host \n",
        "00000000000000000000000000000001 01 80 10 80       lo\nfd000000000000000000000000000002 01 80 00 80       lo\n",
        "del6: 0\nreplace: 0\n",
        "          inet addr:127.0.0.2  Mask:255.0.0.0\n",
        "down: 0\n1: lo: <LOOPBACK> mtu 65535 qdisc noqueue qlen 1000\n",
        // ifconfig lists only interfaces that are up; -a all.
        "==\nlo        Link encap:Local Loopback  \n          inet addr:127.0.0.1  Mask:255.0.0.0\n          LOOPBACK  MTU:65535",
        &format!("up: 0\n{LO_IP_ADDR}"),
    ];
    let native = linux(script);
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &["/bin/sh", "-c", script], b"", RUN_TIMEOUT);
        let out = run.out();
        let what = format!("{cfg}\n{run}");
        for w in want_lines {
            assert!(out.contains(w), "missing {w:?}; {what}");
        }
        if let Some(n) = &native {
            assert_eq!(&out, n, "Linux prints something else; {what}");
        }
        assert_eq!(run.code(), 0, "exit status; {what}");
    }
}

/// `ip link set lo down` cuts TCP over 127.0.0.1 (connect: Network is unreachable) and `up` restores
/// it: busybox nc as server and client.
#[test]
fn lo_down_and_up_cut_and_restore_tcp() {
    let root = Rootfs::system();
    let script = "\
exec 2>&1
busybox ip link set lo down
echo x | busybox nc 127.0.0.1 1234; echo \"nc while down: $?\"
busybox ifconfig lo up
busybox nc -l -p 1234 127.0.0.1 > /tmp/got < /dev/null &
for i in 1 2 3 4 5 6 7 8 9 10; do echo over lo | busybox nc 127.0.0.1 1234 2>/dev/null && break; sleep 0.2; done
wait; echo \"server got: $(cat /tmp/got)\"
";
    let want =
        "nc: can't connect to remote host (127.0.0.1): Network is unreachable\nnc while down: 1\nserver got: over lo\n";
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &["/bin/sh", "-c", script], b"", RUN_TIMEOUT);
        let what = format!("{cfg}\n{run}");
        let out = run.out();
        assert_eq!(out, want, "stdout; {what}");
    }
}

/// getifaddrs, if_nametoindex and friends (musl's and glibc's), SIOCGIF* on three socket families, a
/// raw NETLINK_ROUTE socket and FIONREAD on TCP and UDP sockets, as on Linux; changes by an
/// unprivileged user are EPERM.
/// rtnetlink notifications (tests/guest/nlmon.c joined to RTMGRP_LINK, RTMGRP_IPV4_IFADDR and
/// RTMGRP_IPV4_ROUTE) while `ip` adds an address and a route to lo and takes both away: what the
/// guest hears must be what Linux multicasts, the local-table routes Linux derives included (sorted,
/// since Linux's order among one change's routes follows its FIB walk). Then RTMGRP_LINK alone while
/// lo goes down and up: two RTM_NEWLINKs, in order. (Linux's route notifications around a link going
/// down are quirky, flushed routes unannounced, and are not compared.)
#[test]
fn lo_changes_are_multicast_as_on_linux() {
    let root = Rootfs::system();
    let prog = root.install("nlmon");
    let script = |nlmon: &str| {
        format!(
            "{nlmon} 81 'busybox ip addr add 10.9.8.7/24 dev lo && busybox ip route add 10.20.0.0/16 via 10.9.8.1 \
             && busybox ip route del 10.20.0.0/16 && busybox ip addr del 10.9.8.7/24 dev lo' | busybox sort\n\
             {nlmon} 1 'busybox ip link set lo down && busybox ip link set lo up'\n"
        )
    };
    let want = "\
DELADDR fam=2 10.9.8.7/24 scope=0 dev=1 label=lo
DELROUTE fam=2 10.20.0.0/16 table=254 type=1 scope=0 proto=3 dev=1 via=10.9.8.1
DELROUTE fam=2 10.9.8.0/24 table=255 type=2 scope=254 proto=2 dev=1 src=10.9.8.7
DELROUTE fam=2 10.9.8.255/32 table=255 type=3 scope=253 proto=2 dev=1 src=10.9.8.7
DELROUTE fam=2 10.9.8.7/32 table=255 type=2 scope=254 proto=2 dev=1 src=10.9.8.7
NEWADDR fam=2 10.9.8.7/24 scope=0 dev=1 label=lo
NEWROUTE fam=2 10.20.0.0/16 table=254 type=1 scope=0 proto=3 dev=1 via=10.9.8.1
NEWROUTE fam=2 10.9.8.0/24 table=255 type=2 scope=254 proto=2 dev=1 src=10.9.8.7
NEWROUTE fam=2 10.9.8.255/32 table=255 type=3 scope=253 proto=2 dev=1 src=10.9.8.7
NEWROUTE fam=2 10.9.8.7/32 table=255 type=2 scope=254 proto=2 dev=1 src=10.9.8.7
NEWLINK lo flags=0x8 mtu=65535
NEWLINK lo flags=0x10049 mtu=65535
";
    if let Some(native) = linux(&script(&guest_program("nlmon").display().to_string())) {
        assert_eq!(native.replace("mtu=65536", "mtu=65535"), want, "Linux multicasts something else");
    }
    for cfg in configs() {
        let run = run_guest_timeout(cfg, root.path(), &["/bin/sh", "-c", &script(&prog)], b"", RUN_TIMEOUT);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), want, "stdout; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
    }
}

#[test]
fn libc_and_raw_netlink_see_lo_as_on_linux() {
    let root = Rootfs::system();
    let prog = root.install("netconfig");
    let glibc = "/bin/netconfig-glibc";
    root.write(glibc, std::fs::read(guest_program_static_pie("netconfig")).unwrap(), 0o755);
    let want = "\
lo packet flags 0x10049
lo inet flags 0x10049 addr 127.0.0.1 mask 255.0.0.0
lo inet6 flags 0x10049 addr ::1 mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
if_nametoindex(lo) 1
if_nametoindex(nope) 0 ok
if_indextoname(1) lo
if_indextoname(99) ENXIO
if_nameindex 1 lo
family 2: flags 0x49 mtu 64k index 1, SIOCGIFADDR ok = 127.0.0.1, nope0: ENODEV
family 1: flags 0x49 mtu 64k index 1, SIOCGIFADDR ENOTTY, nope0: ENODEV
family 10: flags 0x49 mtu 64k index 1, SIOCGIFADDR ENOTTY, nope0: ENODEV
bound: len 12 family 16, port is pid 1
second socket: port is pid 0, nonzero 1
bind again elsewhere: EINVAL
protocol 30: EPROTONOSUPPORT
empty, non-blocking: EAGAIN
poll after request: 1 revents 0x1
IPv4 address dump: 1 addresses, done 1, seq 1
small read: 20, MSG_TRUNC 1, from port 0 len 12
then: ok
add 10.9.8.7/24: ok
add it again: EEXIST
no IFA_LOCAL: EINVAL
no such interface: ENODEV
unknown message type: EOPNOTSUPP
listener FIONREAD: EINVAL
tcp nothing sent: 0
tcp after 5 bytes: 5
tcp after reading 2: 3
udp empty: 0
udp next datagram: 7
udp then: 3
";
    let perm = "user SIOCGIFFLAGS up 1\nuser SIOCSIFFLAGS: EPERM\nuser RTM_NEWADDR: EPERM\n";
    if let Some(native) = linux(&format!("{} ifaddrs netlink fionread", guest_program("netconfig").display())) {
        assert_eq!(native, want, "Linux prints something else");
    }
    for cfg in configs() {
        let run = run_guest_timeout(
            cfg,
            root.path(),
            &[prog.as_str(), "ifaddrs", "netlink", "fionread", "perm"],
            b"",
            RUN_TIMEOUT,
        );
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), format!("{want}{perm}"), "stdout; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
        // glibc asks NETLINK_ROUTE its own way (getifaddrs, if_nameindex) and must see the same.
        let run = run_guest_timeout(cfg, root.path(), &[glibc, "ifaddrs", "netlink", "fionread"], b"", RUN_TIMEOUT);
        let what = format!("{cfg}\n{run}");
        assert_eq!(run.out(), want, "glibc's stdout; {what}");
        assert_eq!(run.code(), 0, "exit status; {what}");
    }
}

/// A multicast port of its own for each guest run, so runs never hear each other.
fn mcast_switch() -> String {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let port = 41_000 + (std::process::id() % 2000) as u16 * 4 + NEXT.fetch_add(1, Ordering::Relaxed) % 4;
    format!("eth0=mcast,02:00:00:00:00:05,239.192.77.9,{port}")
}

const ETH0_DOWN_IFCONFIG: &str = "\
eth0      Link encap:Ethernet  HWaddr 02:00:00:00:00:05  
          BROADCAST MULTICAST  MTU:1500  Metric:1
          RX packets:0 errors:0 dropped:0 overruns:0 frame:0
          TX packets:0 errors:0 dropped:0 overruns:0 carrier:0
          collisions:0 txqueuelen:1000 
          RX bytes:0 (0.0 B)  TX bytes:0 (0.0 B)

";

/// eth0 (an `eth0=mcast` card) configured by ifconfig, ip and route: up with an address, its
/// network route, a default gateway and a network through another, a secondary address, a new MAC,
/// and down again (which takes the gateways with it, as Linux).
#[test]
fn eth0_is_configured_by_ifconfig_ip_and_route() {
    netns::in_netns("eth0_is_configured_by_ifconfig_ip_and_route", || {
        let root = Rootfs::system();
        let script = "\
exec 2>&1
busybox ip link show eth0
busybox ifconfig -a eth0
busybox ifconfig eth0 10.0.0.5 netmask 255.255.255.0 up; echo \"up: $?\"
busybox ifconfig eth0 | busybox head -3
busybox ip addr show eth0
busybox ip route; busybox route -n; cat /proc/net/route
busybox route add default gw 10.0.0.1; echo \"gw: $?\"
busybox route add -net 192.168.0.0 netmask 255.255.0.0 gw 10.0.0.7; echo \"net: $?\"
busybox ip route; cat /proc/net/route
busybox ip addr add 10.0.0.6/24 dev eth0; busybox ip addr show eth0
busybox ifconfig eth0 hw ether 02:11:22:33:44:55; echo \"hw: $?\"
busybox ip link show eth0
busybox ifconfig eth0 mtu 9000; echo \"mtu: $?\"
busybox ip link set eth0 down; echo \"down: $?\"
busybox ip link show eth0; busybox ip route; busybox route -n
";
        let line = |s: &str| format!("{s:<127}\n");
        let want = [
            "2: eth0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop qlen 1000\n",
            "    link/ether 02:00:00:00:00:05 brd ff:ff:ff:ff:ff:ff\n",
            ETH0_DOWN_IFCONFIG,
            "up: 0\n",
            "eth0      Link encap:Ethernet  HWaddr 02:00:00:00:00:05  \n",
            "          inet addr:10.0.0.5  Bcast:10.0.0.255  Mask:255.255.255.0\n",
            "          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1\n",
            "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue qlen 1000\n",
            "    link/ether 02:00:00:00:00:05 brd ff:ff:ff:ff:ff:ff\n",
            "    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\n",
            "       valid_lft forever preferred_lft forever\n",
            "10.0.0.0/24 dev eth0 scope link  src 10.0.0.5 \n",
            ROUTE_N_HEADER,
            "10.0.0.0        0.0.0.0         255.255.255.0   U     0      0        0 eth0\n",
            &route_header(),
            &line("eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0"),
            "gw: 0\nnet: 0\n",
            "default via 10.0.0.1 dev eth0 \n",
            "10.0.0.0/24 dev eth0 scope link  src 10.0.0.5 \n",
            "192.168.0.0/16 via 10.0.0.7 dev eth0 \n",
            &route_header(),
            &line("eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0"),
            &line("eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0"),
            &line("eth0\t0000A8C0\t0700000A\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0"),
            "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue qlen 1000\n",
            "    link/ether 02:00:00:00:00:05 brd ff:ff:ff:ff:ff:ff\n",
            "    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\n",
            "       valid_lft forever preferred_lft forever\n",
            "    inet 10.0.0.6/24 scope global secondary eth0\n",
            "       valid_lft forever preferred_lft forever\n",
            "hw: 0\n",
            "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue qlen 1000\n",
            "    link/ether 02:11:22:33:44:55 brd ff:ff:ff:ff:ff:ff\n",
            "ifconfig: SIOCSIFMTU: Invalid argument\nmtu: 1\n",
            "down: 0\n",
            "2: eth0: <BROADCAST,MULTICAST> mtu 1500 qdisc noop qlen 1000\n",
            "    link/ether 02:11:22:33:44:55 brd ff:ff:ff:ff:ff:ff\n",
            ROUTE_N_HEADER,
        ]
        .concat();
        for cfg in configs() {
            let switch = mcast_switch();
            let run =
                run_guest_opts(cfg, root.path(), &[switch.as_str()], &["/bin/sh", "-c", script], b"", RUN_TIMEOUT);
            let what = format!("{cfg}\n{run}");
            assert_eq!(run.out(), want, "stdout; {what}");
            assert_eq!(run.code(), 0, "exit status; {what}");
        }
    });
}
