//! `cargo bench --bench net`: TCP throughput and round-trip latency between
//! two guests on the network transports umvm speaks, in one run:
//! - two umvm guests, and two of Debian's UML guests (/usr/bin/linux, when
//!   installed), on `umvm switch` and on one multicast group;
//! - the host talking to itself over loopback: the ceiling.
//!
//! The figures are timed where the program runs, by benches/guest/netbench.c
//! (one static binary for the host and both kinds of guest): the client
//! writes MB MiB to the server's sink and waits for its close (throughput),
//! then times TRIPS one-byte TCP round trips through its echo (latency).
//! Guests boot the same busybox ext2 image (with netbench) through COW
//! files, with tests/common/uml.rs NET_INIT as init; UML configures eth0
//! with ifconfig, umvm with `ip=` on its command line. The whole bench runs
//! in a network namespace of its own (it re-runs itself under `unshare
//! --net`), with multicast on `lo`.
//!
//! Every figure is the median of ROUNDS rounds (each round runs every
//! pair in turn). Ratios: "x host" is how many times slower than host
//! loopback (throughput: host / guest; latency: guest / host); "x UML" is
//! umvm against UML on the same transport the same way.
//!
//! Env: NET_BENCH_ROUNDS (default 3), NET_BENCH_MB (default 128),
//! NET_BENCH_TRIPS (default 2000); UMVM_BENCH_SMALL=1 shrinks them (1
//! round, 16 MiB, 300 trips) for a quick check in CI. Other arguments are
//! ignored.

// Each bench uses its own part of the shared helpers.
#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "../tests/common/netns.rs"]
mod netns;
#[allow(dead_code)]
#[path = "../tests/common/tools.rs"]
mod tools;
#[allow(dead_code)]
#[path = "../tests/common/uml.rs"]
mod uml;

use common::*;
use uml::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

const GUEST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/guest");

/// How long one pair may take from boot to the client's last figure:
/// a minute, and a second more for every 2 MiB sent.
fn pair_timeout(p: &Params) -> Duration {
    Duration::from_secs(60 + p.mb / 2)
}

struct Params {
    rounds: usize,
    mb: u64,
    trips: u64,
}

fn params() -> Result<Params, String> {
    let small = std::env::var("UMVM_BENCH_SMALL").is_ok_and(|v| !v.is_empty() && v != "0");
    let get = |name: &str, big: u64, tiny: u64| -> Result<u64, String> {
        Ok(env_number(name)?.unwrap_or(if small { tiny } else { big }).max(1))
    };
    Ok(Params {
        rounds: get("NET_BENCH_ROUNDS", 3, 1)? as usize,
        mb: get("NET_BENCH_MB", 128, 16)?,
        trips: get("NET_BENCH_TRIPS", 2000, 300)?,
    })
}

/// One measurement: MiB/s and microseconds per round trip.
#[derive(Clone, Copy)]
struct Figures {
    mib_s: f64,
    rtt_us: f64,
}

/// The figures netbench's client printed.
fn parse(out: &str) -> Result<Figures, String> {
    let get = |key: &str| -> Result<f64, String> {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .ok_or_else(|| format!("no {key} in:\n{out}"))?
            .trim()
            .parse()
            .map_err(|_| format!("bad {key} in:\n{out}"))
    };
    Ok(Figures { mib_s: get("mib_s=")?, rtt_us: get("rtt_us=")? })
}

fn check(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The host over loopback: netbench's server and client as host processes.
fn host_round(netbench: &Path, p: &Params) -> Result<Figures, String> {
    let mut server = Command::new(netbench)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("netbench serve: {e}"))?;
    let out = check(Command::new(netbench).args(["client", "127.0.0.1", &p.mb.to_string(), &p.trips.to_string()]));
    let status = server.wait().map_err(|e| e.to_string())?;
    let out = out?;
    if !status.success() {
        return Err(format!("netbench serve: {status}"));
    }
    parse(&out)
}

/// The wire a pair of guests shares.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wire {
    /// `umvm switch` (learning mode).
    UmvmSwitch,
    /// One multicast group on `lo`.
    Mcast,
}

impl Wire {
    fn name(self) -> &'static str {
        match self {
            Wire::UmvmSwitch => "umvm switch",
            Wire::Mcast => "mcast",
        }
    }
}

/// What guest `n` (1 serves, 2 is the client) runs.
fn script(n: u8, configure: bool, p: &Params) -> String {
    let me = format!("10.0.9.{n}");
    let ifconfig =
        if configure { format!("ifconfig eth0 {me} netmask 255.255.255.0 up || exit 10\n") } else { String::new() };
    let work = if n == 1 {
        "netbench serve || exit 11\n".to_string()
    } else {
        // Resolve the server's MAC first, so that no ARP is timed.
        format!(
            "i=0\nuntil ping -c 1 -W 1 10.0.9.1 >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 60 ] || exit 12; done\n\
             echo BENCH-BEGIN\nnetbench client 10.0.9.1 {} {} || exit 13\necho BENCH-END\n",
            p.mb, p.trips
        )
    };
    format!("{ifconfig}{work}")
}

/// One pair of guests of `kernel` on `wire`: boots the server, then the
/// client, and returns what the client measured.
fn pair_round(
    kernel: &Kernel,
    wire: Wire,
    image: &Path,
    dir: &Path,
    umvm: &Path,
    p: &Params,
) -> Result<Figures, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let ctl = dir.join("switch.ctl");
    let switch = match wire {
        Wire::UmvmSwitch => Some(SwitchProcess::umvm_switch(umvm, &ctl, false)?),
        Wire::Mcast => None,
    };
    let umvm_guest = matches!(kernel, Kernel::Umvm(_));
    let spec = |n: u8| -> Result<GuestSpec, String> {
        let mac = guest_mac(n);
        let eth = match &switch {
            Some(sw) => sw.eth(0, &mac),
            None => format!("eth0=mcast,{mac},239.192.9.1,1109,1").into(),
        };
        let mut spec = GuestSpec::with(kernel.clone(), image, &dir.join(format!("guest{n}")))?
            .mem(256)
            .switch(eth)
            .script(&script(n, !umvm_guest, p))?;
        if umvm_guest {
            spec = spec.switch(format!("ip=10.0.9.{n}/24"));
        }
        Ok(spec)
    };
    let mut server = spec(1)?.boot()?;
    server.wait_for("SERVE-READY", pair_timeout(p))?;
    let mut client = spec(2)?.boot()?;
    let console =
        client.wait_for("BENCH-END", pair_timeout(p)).map_err(|e| format!("{e}\nserver:\n{}", server.console()))?;
    let figures = console
        .split_once("BENCH-BEGIN\n")
        .ok_or_else(|| format!("no BENCH-BEGIN in:\n{console}"))
        .and_then(|(_, rest)| parse(rest));
    // Both scripts end with a poweroff; the server's once the client closed.
    let _ = client.wait_exit(Duration::from_secs(30));
    let _ = server.wait_exit(Duration::from_secs(30));
    figures.map_err(|e| format!("{e}\nserver:\n{}", server.console()))
}

fn run() -> Result<(), String> {
    if let Some(code) = netns::reexec_in_netns()? {
        return if code == 0 { Ok(()) } else { Err(format!("the bench in its network namespace exited {code}")) };
    }
    let p = params()?;
    let umvm = build_umvm()?;
    let dir = scratch_dir().join(format!("umvm-net-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = bench(&p, &umvm, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// netbench, built static with musl-gcc into `dir`.
fn build_netbench(dir: &Path) -> Result<PathBuf, String> {
    let netbench = dir.join("netbench");
    check(
        Command::new("musl-gcc")
            .args(["-static", "-O2", "-Wall", "-o"])
            .arg(&netbench)
            .arg(format!("{GUEST_DIR}/netbench.c")),
    )
    .map_err(|e| format!("musl-gcc (musl-tools): {e}"))?;
    Ok(netbench)
}

fn bench(p: &Params, umvm: &Path, dir: &Path) -> Result<(), String> {
    let netbench = build_netbench(dir)?;
    let tree = dir.join("tree");
    net_guest_tree(&tree)?;
    std::fs::copy(&netbench, tree.join("bin/netbench")).map_err(|e| e.to_string())?;
    let image = dir.join("image.img");
    check(Command::new("mke2fs").args(["-q", "-F", "-t", "ext2", "-d"]).arg(&tree).arg(&image).arg("32M"))?;
    let uml = Path::new(UML_KERNEL).is_file();
    let mut kernels = vec![Kernel::Umvm(umvm.to_path_buf())];
    if uml {
        kernels.push(Kernel::Uml(UML_KERNEL.into()));
    }
    let wires = [Wire::UmvmSwitch, Wire::Mcast];

    let mut samples: BTreeMap<(Wire, &str), Vec<Figures>> = BTreeMap::new();
    // A pair that failed once is not run again: its row says so.
    let mut failed: BTreeMap<(Wire, &str), String> = BTreeMap::new();
    let mut host = Vec::new();
    for round in 0..p.rounds {
        eprintln!("net bench: round {} of {}", round + 1, p.rounds);
        host.push(host_round(&netbench, p)?);
        for wire in wires {
            for kernel in &kernels {
                let key = (wire, kernel.name());
                if failed.contains_key(&key) {
                    continue;
                }
                match pair_round(kernel, wire, &image, &dir.join("pair"), umvm, p) {
                    Ok(figures) => samples.entry(key).or_default().push(figures),
                    Err(e) => {
                        eprintln!("net bench: {} pair on {} failed: {e}", kernel.name(), wire.name());
                        failed.insert(key, e);
                    }
                }
            }
        }
    }

    let median = |v: &[Figures]| -> Figures {
        let m = |f: fn(&Figures) -> f64| stats(&v.iter().map(f).collect::<Vec<_>>()).map(|s| s.0).unwrap_or(f64::NAN);
        Figures { mib_s: m(|f| f.mib_s), rtt_us: m(|f| f.rtt_us) }
    };
    let h = median(&host);
    println!(
        "net bench: {} MiB TCP transfer, {} one-byte TCP round trips; median of {} rounds",
        p.mb, p.trips, p.rounds
    );
    println!("(x host: times slower than host loopback; x UML: umvm against UML on the same wire)");
    println!(
        "  {:<26} {:>10} {:>8} {:>8} {:>10} {:>8} {:>8}",
        "", "MiB/s", "x host", "x UML", "RTT us", "x host", "x UML"
    );
    println!("  {:<26} {:>10.1} {:>8} {:>8} {:>10.1} {:>8} {:>8}", "host loopback", h.mib_s, "", "", h.rtt_us, "", "");
    for wire in wires {
        let uml_fig = samples.get(&(wire, "UML")).map(|v| median(v));
        for kernel in &kernels {
            let label = format!("{} pair on {}", kernel.name(), wire.name());
            let Some(v) = samples.get(&(wire, kernel.name())) else {
                println!("  {label:<26} failed (see above)");
                continue;
            };
            let f = median(v);
            let vs_uml = |ours: f64, theirs: Option<f64>, slower: fn(f64, f64) -> f64| match theirs {
                Some(t) if kernel.name() == "umvm" => format!("{:.2}x", slower(ours, t)),
                _ => String::new(),
            };
            println!(
                "  {label:<26} {:>10.1} {:>7.2}x {:>8} {:>10.1} {:>7.2}x {:>8}",
                f.mib_s,
                h.mib_s / f.mib_s,
                vs_uml(f.mib_s, uml_fig.map(|u| u.mib_s), |ours, theirs| theirs / ours),
                f.rtt_us,
                f.rtt_us / h.rtt_us,
                vs_uml(f.rtt_us, uml_fig.map(|u| u.rtt_us), |ours, theirs| ours / theirs),
            );
        }
    }
    if !uml {
        println!("  (no {UML_KERNEL}: install user-mode-linux for the UML figures)");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} pair(s) failed", failed.len()))
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("net bench: {e}");
            ExitCode::FAILURE
        }
    }
}
