//! The bench's results: one row per metric with the host's and the
//! guest's median time per operation and their ratio, and the table
//! `umvm bench` prints.

use std::fmt::Write as _;

use super::workloads::{Metric, Params, Size};

/// How a row ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Medians of the rounds' figures, in seconds per operation.
    Measured { host: f64, guest: f64, rounds: usize },
    /// Not run here, and why (a missing tool, no namespace).
    Skipped(String),
    /// A run failed: the first error.
    Failed(String),
}

/// A comparison kernel's result for one metric (UML, gVisor).
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// The median, in seconds per operation.
    Time(f64),
    /// Not measured with this kernel, and why.
    Skipped(String),
    /// Its run failed: the first error.
    Failed(String),
}

/// One metric's result.
#[derive(Clone, Debug)]
pub struct Row {
    pub metric: Metric,
    pub outcome: Outcome,
    /// One cell per [`Report::columns`].
    pub extra: Vec<Cell>,
}

impl Row {
    /// Guest time / host time: 2.0 means the guest takes twice as long.
    pub fn ratio(&self) -> Option<f64> {
        match self.outcome {
            Outcome::Measured { host, guest, .. } => Some(guest / host),
            _ => None,
        }
    }

    /// The `i`th comparison kernel's time / host time.
    pub fn extra_ratio(&self, i: usize) -> Option<f64> {
        match (&self.outcome, self.extra.get(i)) {
            (Outcome::Measured { host, .. }, Some(Cell::Time(t))) => Some(t / host),
            _ => None,
        }
    }
}

/// Everything one `umvm bench` run found.
#[derive(Clone, Debug)]
pub struct Report {
    pub size: Size,
    pub params: Params,
    pub rows: Vec<Row>,
    /// The comparison kernels measured in the same rounds ("UML",
    /// "gVisor"), each a column of times and one of ratios to the host.
    pub columns: Vec<&'static str>,
    /// Lines about what was not compared (no UML, no runsc).
    pub notes: Vec<String>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.rows.iter().filter(|r| matches!(r.outcome, Outcome::Failed(_))).count()
    }
}

/// The median of `v` (not empty).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// A time per operation with a unit that keeps it readable: "812 ns".
pub fn human_time(secs: f64) -> String {
    let (v, unit) = if secs < 1e-6 {
        (secs * 1e9, "ns")
    } else if secs < 1e-3 {
        (secs * 1e6, "us")
    } else if secs < 1.0 {
        (secs * 1e3, "ms")
    } else {
        (secs, "s")
    };
    let digits = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.digits$} {unit}")
}

/// The table: workload, host time, guest time (each per operation) and
/// the ratio, then each comparison kernel's time and ratio to the host;
/// skipped and failed rows say why in the row, a comparison kernel's
/// failures in a line after the table; then the notes.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let p = &r.params;
    let sides: Vec<&str> = ["host", "umvm"].into_iter().chain(r.columns.iter().copied()).collect();
    let ratios: String = r.columns.iter().map(|c| format!("; {c} ratio = {c} / host")).collect();
    let _ = writeln!(
        s,
        "umvm bench --size {}: median of {} round(s), {} alternating; time per operation; \
         ratio = umvm / host{ratios}",
        format!("{:?}", r.size).to_lowercase(),
        p.rounds,
        sides.join(", "),
    );
    let _ = write!(s, "{:<34} {:>9} {:>14} {:>14} {:>9}", "workload", "per", "host", "umvm", "ratio");
    for c in &r.columns {
        let _ = write!(s, " {:>14} {:>10}", c, format!("{c} ratio"));
    }
    s.push('\n');
    let mut footnotes = Vec::new();
    for row in &r.rows {
        let m = &row.metric;
        match &row.outcome {
            Outcome::Measured { host, guest, .. } => {
                let _ = write!(
                    s,
                    "{:<34} {:>9} {:>14} {:>14} {:>8.2}x",
                    m.label,
                    m.unit,
                    human_time(*host),
                    human_time(*guest),
                    guest / host
                );
                for (i, c) in r.columns.iter().enumerate() {
                    match row.extra.get(i) {
                        Some(Cell::Time(t)) => {
                            let _ = write!(s, " {:>14} {:>9.2}x", human_time(*t), t / host);
                        }
                        Some(Cell::Failed(why)) => {
                            let _ = write!(s, " {:>14} {:>10}", "failed", "-");
                            footnotes.push(format!("{c}, {}: failed: {why}", m.label));
                        }
                        Some(Cell::Skipped(why)) => {
                            let _ = write!(s, " {:>14} {:>10}", "n/m", "-");
                            footnotes.push(format!("{c}, {}: not measured: {why}", m.label));
                        }
                        None => {
                            let _ = write!(s, " {:>14} {:>10}", "-", "-");
                        }
                    }
                }
                s.push('\n');
            }
            Outcome::Skipped(why) => {
                let _ = writeln!(s, "{:<34} {:>9} skipped: {why}", m.label, m.unit);
            }
            Outcome::Failed(why) => {
                let _ = writeln!(s, "{:<34} {:>9} FAILED: {why}", m.label, m.unit);
            }
        }
    }
    for f in &footnotes {
        let _ = writeln!(s, "({f})");
    }
    for n in &r.notes {
        let _ = writeln!(s, "({n})");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::workloads::Workload;

    #[test]
    fn medians_and_units() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(human_time(812e-9), "812 ns");
        assert_eq!(human_time(1.5e-6), "1.50 us");
        assert_eq!(human_time(0.0255), "25.5 ms");
        assert_eq!(human_time(3.0), "3.00 s");
    }

    #[test]
    fn table_has_a_row_per_metric() {
        let m = Workload::Tcp.metrics();
        let r = Report {
            size: Size::Tiny,
            params: Size::Tiny.params(),
            rows: vec![
                Row {
                    metric: m[0],
                    outcome: Outcome::Measured { host: 1e-3, guest: 3e-3, rounds: 1 },
                    extra: vec![Cell::Time(2e-3)],
                },
                Row { metric: m[1], outcome: Outcome::Skipped("no namespace".into()), extra: vec![Cell::Time(1.0)] },
            ],
            columns: vec!["UML"],
            notes: vec!["no runsc".into()],
        };
        let t = table(&r);
        assert!(t.contains("TCP stream between two guests") && t.contains("3.00x"), "{t}");
        assert!(t.contains("skipped: no namespace") && t.contains("(no runsc)"), "{t}");
        assert!(t.contains("UML ratio") && t.contains("2.00 ms") && t.contains("2.00x"), "{t}");
        assert_eq!(r.rows[0].ratio(), Some(3.0));
        assert_eq!(r.rows[0].extra_ratio(0), Some(2.0));
        assert_eq!(r.rows[1].extra_ratio(0), None);
        assert!(t.contains("host, umvm, UML alternating") && t.contains("UML ratio = UML / host"), "{t}");
    }

    #[test]
    fn a_failed_comparison_cell_is_no_figure_and_says_why() {
        let m = Workload::Syscall.metrics()[0];
        let r = Report {
            size: Size::Small,
            params: Size::Small.params(),
            rows: vec![Row {
                metric: m,
                outcome: Outcome::Measured { host: 1e-7, guest: 1e-5, rounds: 3 },
                extra: vec![Cell::Failed("UML exited (exit status: 3)".into()), Cell::Skipped("no pair".into())],
            }],
            columns: vec!["UML", "gVisor"],
            notes: vec![],
        };
        let t = table(&r);
        let line = t.lines().find(|l| l.starts_with(m.label)).unwrap();
        assert!(line.ends_with("100.00x         failed          -            n/m          -"), "{line}");
        assert!(t.contains("(UML, syscall round trip (getppid): failed: UML exited (exit status: 3))"), "{t}");
        assert!(t.contains("(gVisor, syscall round trip (getppid): not measured: no pair)"), "{t}");
        assert_eq!(r.rows[0].extra_ratio(0), None);
        // A comparison's failure is not the bench's failure.
        assert_eq!(r.failed(), 0);
        assert_eq!(r.failed(), 0);
    }
}
