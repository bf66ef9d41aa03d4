//! `umvm bench`: runs workloads on the host and in a umvm guest in one
//! run, alternating, several rounds, and reports the medians and the
//! ratios (guest time / host time) as a table, JSON or an SVG chart.

mod json;
mod programs;
mod report;
mod runner;
mod svg;
mod uml;
mod workloads;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use report::{median, Cell, Outcome, Report, Row};
use workloads::{Metric, Size, Workload};

/// `umvm bench`'s arguments.
#[derive(clap::Args)]
#[command(after_help = BENCH_HELP)]
pub struct BenchArgs {
    /// The workloads to run (default: all of them, in the order below).
    #[arg(value_name = "WORKLOAD")]
    workloads: Vec<String>,

    /// Rounds (each runs the host, then the guest); the figures are the
    /// medians. Default: 1 for tiny, 3 for small, 5 for full.
    #[arg(long, value_name = "N")]
    rounds: Option<usize>,

    /// How much work each workload does.
    #[arg(long, value_enum, default_value = "small")]
    size: Size,

    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,

    /// Also write a bar chart of the ratios to FILE (SVG).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,

    /// The UML kernel of the UML column (default: /usr/bin/linux, Debian's
    /// user-mode-linux, when installed).
    #[arg(long, value_name = "PATH")]
    uml: Option<PathBuf>,

    /// No UML column even when UML is installed.
    #[arg(long, conflicts_with = "uml")]
    no_uml: bool,
}

const BENCH_HELP: &str = "\
Workloads:
  syscall      getppid round trips (a raw syscall instruction in a loop)
  fork-exec    fork, exec of a static `true`, wait
  pipe         one-byte ping-pong between two processes through two pipes
  files-tmpfs  create, stat and unlink of small files in a tmpfs directory
  files-ext2   the same on the guest's ext2 disk (ubd, COW over an image)
  disk-seq     sequential 1 MiB writes then fsync, then reading back, on ubd
  disk-rand    random 4 KiB preads of a file on ubd
  untar        busybox tar x of a tarball of small files onto ubd
  tcp          TCP stream and 1-byte round trips between two umvm guests on
               one multicast group (in a network namespace: unshare --net);
               the host figure is the same pair over loopback (also: net)
With Debian's user-mode-linux (/usr/bin/linux, or --uml PATH) the same
script also runs in a UML guest booted from the same image through a COW
file of its own, in the same rounds (host, umvm, UML alternating): columns
UML and UML ratio (UML time / host time); for tcp, a pair of UML guests on
another multicast group. With gVisor's runsc on PATH, a gVisor column
(`runsc --rootless --network=none do`, the host's files). A comparison
kernel's failures show as \"failed\" with the reason (after the table) and
do not change the exit status, which is 1 when a host or umvm run failed.
Each program times itself (CLOCK_MONOTONIC), so boot is not counted. The
host runs the same static binaries (musl-gcc -static, cached in
~/.cache/umvm/bench) with /dev/shm as its tmpfs and ~/.cache as its disk.
Needs musl-gcc (musl-tools), /bin/busybox (busybox-static) and mke2fs.";

/// Runs the bench; the exit status is 1 when a workload failed.
pub fn run(args: BenchArgs) -> Result<i32> {
    let mut chosen = Vec::new();
    for name in &args.workloads {
        let w = Workload::parse(name)?;
        if !chosen.contains(&w) {
            chosen.push(w);
        }
    }
    if chosen.is_empty() {
        chosen = Workload::ALL.to_vec();
    }
    let mut params = args.size.params();
    if let Some(n) = args.rounds {
        if n == 0 {
            bail!("--rounds 0: at least one round is needed");
        }
        params.rounds = n;
    }
    if let Some(svg) = &args.svg {
        // Fail before the rounds, not after.
        std::fs::write(svg, "").with_context(|| format!("--svg {}", svg.display()))?;
    }
    let linux = if args.no_uml { None } else { uml::kernel(args.uml.as_deref())? };
    programs::check_busybox()?;
    let cache = programs::cache_root()?;
    let bin = programs::build_programs(&cache)?;
    let work = cache.join(format!("run-{}", std::process::id()));
    let shm = PathBuf::from("/dev/shm").join(format!("umvm-bench-{}", std::process::id()));
    let result = bench(&args, &chosen, params, bin, &work, &shm, linux.as_deref());
    let _ = std::fs::remove_dir_all(&work);
    let _ = std::fs::remove_dir_all(&shm);
    let report = result?;
    if args.json {
        print!("{}", json::to_json(&report));
    } else {
        print!("{}", report::table(&report));
    }
    if let Some(svg) = &args.svg {
        std::fs::write(svg, svg::to_svg(&report)).with_context(|| format!("--svg {}", svg.display()))?;
    }
    Ok(if report.failed() > 0 { 1 } else { 0 })
}

fn bench(
    args: &BenchArgs,
    chosen: &[Workload],
    p: workloads::Params,
    bin: PathBuf,
    work: &std::path::Path,
    shm: &std::path::Path,
    linux: Option<&std::path::Path>,
) -> Result<Report> {
    for d in [work, shm] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let script = workloads::script(chosen, &p);
    let mut columns = Vec::new();
    if linux.is_some() {
        columns.push("UML");
    }
    let runsc = uml::runsc();
    if runsc.is_some() {
        columns.push("gVisor");
    }
    let tarball = programs::make_tarball(work, p.tar_files)?;
    let tree = work.join("tree");
    programs::make_tree(&tree, &bin, &tarball, &script)?;
    let image = work.join("image.img");
    programs::make_image(&tree, &image, &p)?;
    let timeout = Duration::from_secs(match args.size {
        Size::Tiny => 120,
        Size::Small => 600,
        Size::Full => 1800,
    });
    let setup = runner::Setup {
        umvm: std::env::current_exe().context("cannot find umvm's own binary")?,
        bin,
        work: work.to_path_buf(),
        shm: shm.to_path_buf(),
        tree,
        image,
        tarball,
        script,
        timeout,
    };

    let metrics: Vec<Metric> = chosen.iter().flat_map(|w| w.metrics()).collect();
    let mut host: BTreeMap<Metric, Vec<f64>> = BTreeMap::new();
    let mut guest: BTreeMap<Metric, Vec<f64>> = BTreeMap::new();
    let mut trouble: BTreeMap<Metric, Outcome> = BTreeMap::new();
    // Per comparison column: its figures and its first failures.
    let mut extra: Vec<(Figures, BTreeMap<Metric, Outcome>)> = columns.iter().map(|_| Default::default()).collect();
    let gvisor = columns.iter().position(|c| *c == "gVisor");
    for m in metrics.iter().filter(|m| m.workload == Workload::Tcp) {
        if let Some(g) = gvisor {
            extra[g].1.insert(*m, Outcome::Skipped("not measured for gVisor (one sandbox, no guest pair)".into()));
        }
    }
    let tcp_skip = if chosen.contains(&Workload::Tcp) { runner::tcp_unavailable() } else { None };
    for m in metrics.iter().filter(|m| m.workload == Workload::Tcp) {
        if let Some(why) = &tcp_skip {
            trouble.insert(*m, Outcome::Skipped(why.clone()));
        }
    }
    let in_script: Vec<&Metric> = metrics.iter().filter(|m| m.workload.in_script()).collect();
    for round in 0..p.rounds {
        if !args.json {
            eprintln!("umvm bench: round {} of {}", round + 1, p.rounds);
        }
        if !in_script.is_empty() {
            let runs = [(runner::host_round(&setup), &mut host), (runner::guest_round(&setup), &mut guest)];
            for (out, into) in runs {
                collect(out, &in_script, None, &p, into, &mut trouble);
            }
            for (i, c) in columns.iter().enumerate() {
                let out = match (*c, linux, &runsc) {
                    ("UML", Some(l), _) => uml::uml_round(&setup, l, p.disk_mib),
                    ("gVisor", _, Some(r)) => uml::runsc_round(&setup, r),
                    _ => continue,
                };
                let (into, bad) = &mut extra[i];
                collect(out, &in_script, None, &p, into, bad);
            }
        }
        if chosen.contains(&Workload::Tcp) && tcp_skip.is_none() {
            let tcp: Vec<&Metric> = metrics.iter().filter(|m| m.workload == Workload::Tcp).collect();
            let out = runner::tcp_round(&setup, &p, linux);
            // The pair's two figures come in one block per side.
            let sides = [("host", &mut host), ("guest", &mut guest)];
            for (side, into) in sides {
                collect(out.as_ref().map(String::clone).map_err(clone_err), &tcp, Some(side), &p, into, &mut trouble);
            }
            if let Some(u) = columns.iter().position(|c| *c == "UML") {
                let (into, bad) = &mut extra[u];
                collect(out.as_ref().map(String::clone).map_err(clone_err), &tcp, Some("uml"), &p, into, bad);
            }
        }
    }
    let rows = metrics
        .iter()
        .map(|m| {
            let outcome = match (trouble.get(m), host.get(m), guest.get(m)) {
                (Some(t), _, _) => t.clone(),
                (None, Some(h), Some(g)) if !h.is_empty() && !g.is_empty() => {
                    Outcome::Measured { host: median(h), guest: median(g), rounds: h.len().min(g.len()) }
                }
                _ => Outcome::Failed("no figures".into()),
            };
            let extra = extra
                .iter()
                .map(|(figures, bad)| match (bad.get(m), figures.get(m)) {
                    (Some(Outcome::Skipped(why)), _) => Cell::Skipped(why.clone()),
                    (Some(Outcome::Failed(why)), _) => Cell::Failed(why.clone()),
                    (None, Some(v)) if !v.is_empty() => Cell::Time(median(v)),
                    _ => Cell::Skipped(match &tcp_skip {
                        Some(why) if m.workload == Workload::Tcp => why.clone(),
                        _ => "no figures".into(),
                    }),
                })
                .collect();
            Row { metric: *m, outcome, extra }
        })
        .collect();
    let mut notes = Vec::new();
    match linux {
        Some(l) => notes.push(format!("UML: {} booted from the same image through its own COW file", l.display())),
        None if args.no_uml => notes.push("UML: not measured (--no-uml)".into()),
        None => notes.push(format!("UML: not installed ({} not found): no UML column", uml::UML_KERNEL)),
    }
    if runsc.is_none() {
        notes.push("gVisor: not installed (no runsc on PATH): no gVisor column".to_string());
    }
    Ok(Report { size: args.size, params: p, rows, columns, notes })
}

/// Each metric's figures, one per round.
type Figures = BTreeMap<Metric, Vec<f64>>;

fn clone_err(e: &anyhow::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}

/// Reads each metric's figure from one run's output (`side`, when not
/// empty, names the block the metrics' figures are in) into `into`; a
/// failed run or a missing figure marks the metric failed (first error
/// kept).
fn collect(
    out: Result<String>,
    metrics: &[&Metric],
    side: Option<&str>,
    p: &workloads::Params,
    into: &mut BTreeMap<Metric, Vec<f64>>,
    trouble: &mut BTreeMap<Metric, Outcome>,
) {
    for m in metrics {
        let key = side.unwrap_or(m.key);
        let figure = out
            .as_ref()
            .map_err(clone_err)
            .and_then(|o| workloads::block(o, key))
            .and_then(|b| workloads::figure(m, b, p));
        match figure {
            Ok(f) => into.entry(**m).or_default().push(f),
            Err(e) => {
                trouble.entry(**m).or_insert_with(|| Outcome::Failed(format!("{e:#}")));
            }
        }
    }
}
