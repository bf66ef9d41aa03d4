//! `umvm bench --size tiny`: the harness works end to end (not speed):
//! every workload has a row with positive host and guest times and a
//! positive ratio, and with Debian's UML installed (it must be under CI)
//! positive UML times and ratios in the same run; `--json` parses and
//! agrees with the workload list, `--svg` writes a chart with a bar per
//! measured row and kernel, a UML that fails shows "failed" with the
//! reason, and bad arguments get one line and a non-zero exit.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const UMVM: &str = env!("CARGO_BIN_EXE_umvm");

/// Each row's label, in the table's order (workloads::metrics).
const LABELS: [&str; 11] = [
    "syscall round trip (getppid)",
    "fork+exec+wait of true",
    "pipe ping-pong round trip",
    "create+stat+unlink, tmpfs",
    "create+stat+unlink, ext2 ubd",
    "seq write+fsync, ext2 ubd",
    "seq read, ext2 ubd",
    "random 4 KiB pread, ext2 ubd",
    "busybox tar x, ext2 ubd",
    "TCP stream between two guests",
    "TCP 1-byte round trip, 2 guests",
];

/// Debian's UML kernel, which the bench compares with when installed.
const UML_KERNEL: &str = "/usr/bin/linux";

/// Whether the UML column is expected: UML is installed, and under CI it
/// must be.
fn uml_expected() -> bool {
    let there = std::path::Path::new(UML_KERNEL).is_file();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(there || !ci, "{UML_KERNEL} is missing under CI (scripts/deps --test installs user-mode-linux)");
    if !there {
        eprintln!("\n*** {UML_KERNEL} not installed: the UML column is not checked\n");
    }
    there
}

fn bench(args: &[&str]) -> Output {
    Command::new(UMVM).arg("bench").args(args).stdin(Stdio::null()).output().expect("cannot run umvm")
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A time as the table prints it ("812 ns", "1.50 us") in seconds.
fn seconds(v: &str, unit: &str) -> f64 {
    let x: f64 = v.parse().unwrap_or_else(|_| panic!("bad number {v:?}"));
    x * match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        u => panic!("bad unit {u:?}"),
    }
}

#[test]
fn tiny_run_has_every_workload_with_positive_ratios_and_an_svg() {
    let uml = uml_expected();
    let dir = scratch("table");
    let svg = dir.join("chart.svg");
    let out = bench(&["--size", "tiny", "--svg", svg.to_str().unwrap()]);
    let what = text(&out);
    assert!(out.status.success(), "{what}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let header = stdout.lines().find(|l| l.starts_with("workload")).unwrap_or_else(|| panic!("no header\n{what}"));
    assert_eq!(header.contains("UML ratio"), uml, "{header}\n{what}");
    let mut measured = 0;
    let mut uml_bars = 0;
    for label in LABELS {
        let line = stdout.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no row {label:?}\n{what}"));
        let rest = line[label.len()..].split_whitespace().collect::<Vec<_>>();
        if rest.get(1) == Some(&"skipped:") {
            // Only TCP may be skipped (no network namespace here), with a reason.
            assert!(label.starts_with("TCP") && rest.len() > 2, "{line}\n{what}");
            continue;
        }
        // per, host value, unit, guest value, unit, ratio [, UML value, unit, ratio]
        assert_eq!(rest.len(), if uml { 9 } else { 6 }, "{line}\n{what}");
        let host = seconds(rest[1], rest[2]);
        let guest = seconds(rest[3], rest[4]);
        let ratio: f64 = rest[5].strip_suffix('x').unwrap().parse().unwrap();
        assert!(host > 0.0 && guest > 0.0 && ratio > 0.0, "{line}");
        // The ratio is the guest's time over the host's (to the table's
        // rounding of each time).
        assert!((ratio / (guest / host) - 1.0).abs() < 0.1, "{line}: ratio is not guest/host");
        if uml {
            let t = seconds(rest[6], rest[7]);
            let r: f64 = rest[8].strip_suffix('x').unwrap_or_else(|| panic!("{line}\n{what}")).parse().unwrap();
            assert!(t > 0.0 && r > 0.0, "{line}");
            assert!((r / (t / host) - 1.0).abs() < 0.1, "{line}: UML ratio is not UML/host");
            uml_bars += 1;
        }
        measured += 1;
    }
    assert!(measured >= 9, "{what}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg ") && chart.trim_end().ends_with("</svg>"), "{chart}");
    // A bar (a rect with a title) per measured row.
    assert_eq!(chart.matches("<title>").count(), measured + uml_bars, "{chart}");
    assert_eq!(chart.matches(" / UML ").count(), uml_bars, "{chart}");
    for label in LABELS {
        assert!(chart.contains(&label.replace('&', "&amp;")), "{label} not in the chart");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_parses_and_names_each_chosen_workload() {
    let uml = uml_expected();
    let out = bench(&["--size", "tiny", "--json", "--rounds", "2", "syscall", "files-ext2", "untar"]);
    let what = text(&out);
    assert!(out.status.success(), "{what}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{what}"));
    assert_eq!(v["size"], "tiny");
    assert_eq!(v["rounds"], 2);
    let results = v["results"].as_array().unwrap();
    let names: Vec<&str> = results.iter().map(|r| r["workload"].as_str().unwrap()).collect();
    assert_eq!(names, ["syscall", "files-ext2", "untar"], "{what}");
    for r in results {
        assert_eq!(r["status"], "ok", "{r}");
        let (h, g, ratio) =
            (r["host_s"].as_f64().unwrap(), r["guest_s"].as_f64().unwrap(), r["ratio"].as_f64().unwrap());
        assert!(h > 0.0 && g > 0.0 && (ratio - g / h).abs() < 1e-9 * ratio, "{r}");
        if uml {
            assert_eq!(r["uml_status"], "ok", "{r}");
            let (u, ur) = (r["uml_s"].as_f64().unwrap(), r["uml_ratio"].as_f64().unwrap());
            assert!(u > 0.0 && (ur - u / h).abs() < 1e-9 * ur, "{r}");
        }
    }
    let columns: Vec<&str> = v["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(columns.contains(&"UML"), uml, "{what}");
}

/// A UML kernel that fails (here a script that exits at once) gives the
/// UML cells "failed" with the reason, never a figure, while the host and
/// umvm columns are still measured; `--no-uml` drops the column.
#[test]
fn a_failing_uml_shows_failed_with_the_reason() {
    let dir = scratch("fake-uml");
    let fake = dir.join("linux");
    std::fs::write(&fake, "#!/bin/sh\necho 'Kernel says no' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = bench(&["--size", "tiny", "--uml", fake.to_str().unwrap(), "syscall"]);
    let what = text(&out);
    assert!(out.status.success(), "{what}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("syscall round trip")).unwrap_or_else(|| panic!("{what}"));
    let rest: Vec<&str> = line["syscall round trip (getppid)".len()..].split_whitespace().collect();
    assert_eq!(rest[6..], ["failed", "-"], "{line}\n{what}");
    assert!(stdout.contains("(UML, syscall round trip (getppid): failed: UML exited"), "{what}");
    assert!(stdout.contains("Kernel says no"), "{what}");

    let out = bench(&["--size", "tiny", "--no-uml", "--json", "syscall"]);
    let what = text(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{what}"));
    assert_eq!(v["columns"].as_array().unwrap().len(), 0, "{what}");
    assert!(v["results"][0].get("uml_s").is_none(), "{what}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bad arguments: one line on stderr, a non-zero exit, nothing run.
#[test]
fn bad_arguments_are_one_line_errors() {
    for (args, names) in [
        (&["nosuch"][..], "unknown workload \"nosuch\""),
        (&["--rounds", "0"], "--rounds 0"),
        (&["--rounds", "many"], "many"),
        (&["--size", "huge"], "huge"),
        (&["--svg", "/nonexistent-dir/x.svg", "syscall"], "/nonexistent-dir/x.svg"),
        (&["--uml", "/nonexistent/linux", "syscall"], "--uml /nonexistent/linux: no such file"),
    ] {
        let out = bench(args);
        let what = format!("{args:?}: {}", text(&out));
        assert!(!out.status.success() && out.status.code() != Some(101), "{what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(names), "{what}");
        assert_eq!(out.stdout, b"", "{what}");
        if !err.contains("Usage:") {
            // umvm's own errors (clap's have a usage line after theirs).
            assert_eq!(err.lines().count(), 1, "{what}");
            assert!(err.starts_with("umvm: "), "{what}");
        }
    }
}
