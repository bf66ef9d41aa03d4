//! `umvm bench --svg FILE`: a horizontal bar chart of the ratios (guest
//! time / host time, log scale), one bar per measured row and under it one
//! per comparison kernel (UML, gVisor) that measured the row, as plain SVG
//! text that any browser shows.

use std::fmt::Write as _;

use super::report::{human_time, Cell, Outcome, Report};

/// Escapes text for an SVG text node or attribute.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const LABEL_W: f64 = 300.0;
const BAR_W: f64 = 460.0;
const ROW_H: f64 = 26.0;
const TOP: f64 = 48.0;

/// The chart. The bar's length is log10(ratio) over a scale from 1x to
/// the next power of ten above the largest ratio; a ratio under 1 (the
/// guest faster) gets a short bar of another colour.
pub fn to_svg(r: &Report) -> String {
    let measured: Vec<_> = r
        .rows
        .iter()
        .filter_map(|row| match row.outcome {
            Outcome::Measured { host, guest, .. } => Some((row, host, guest)),
            _ => None,
        })
        .collect();
    let extra_times = |row: &super::report::Row| -> Vec<(usize, f64)> {
        row.extra
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c {
                Cell::Time(t) => Some((i, *t)),
                _ => None,
            })
            .collect()
    };
    let max = measured
        .iter()
        .flat_map(|(row, h, g)| std::iter::once(g / h).chain(extra_times(row).into_iter().map(move |(_, t)| t / h)))
        .fold(10.0_f64, f64::max);
    let bars: usize = measured.iter().map(|(row, _, _)| 1 + extra_times(row).len()).sum();
    let decades = max.log10().ceil().max(1.0);
    let width = LABEL_W + BAR_W + 120.0;
    let height = TOP + ROW_H * (bars as f64 + r.rows.len().saturating_sub(measured.len()) as f64) + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"13\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">umvm bench --size {}: guest time / host time \
         (log scale, median of {} round(s))</text>",
        format!("{:?}", r.size).to_lowercase(),
        r.params.rounds
    );
    // Grid lines at 1x, 10x, 100x...
    for d in 0..=decades as u32 {
        let x = LABEL_W + BAR_W * f64::from(d) / decades;
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ccc\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#666\">{}x</text>",
            TOP - 8.0,
            height - 30.0,
            height - 14.0,
            10u64.pow(d)
        );
    }
    let mut y = TOP;
    for (row, host, guest) in &measured {
        let ratio = guest / host;
        let len = if ratio >= 1.0 { (BAR_W * ratio.log10() / decades).max(2.0) } else { 2.0 };
        let colour = if ratio >= 1.0 { "#4a7ab5" } else { "#5aa05a" };
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{LABEL_W}\" y=\"{y:.1}\" width=\"{len:.1}\" height=\"{:.1}\" fill=\"{colour}\">\
             <title>host {} / umvm {} per {}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\">{ratio:.2}x</text>",
            LABEL_W - 8.0,
            y + ROW_H * 0.65,
            escape(row.metric.label),
            ROW_H - 8.0,
            human_time(*host),
            human_time(*guest),
            escape(row.metric.unit),
            LABEL_W + len + 6.0,
            y + ROW_H * 0.65,
        );
        y += ROW_H;
        for (i, t) in extra_times(row) {
            let ratio = t / host;
            let len = if ratio >= 1.0 { (BAR_W * ratio.log10() / decades).max(2.0) } else { 2.0 };
            let name = r.columns.get(i).copied().unwrap_or("other");
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#666\">{}</text>\
                 <rect x=\"{LABEL_W}\" y=\"{y:.1}\" width=\"{len:.1}\" height=\"{:.1}\" fill=\"#d08a3a\">\
                 <title>host {} / {} {} per {}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{ratio:.2}x</text>",
                LABEL_W - 8.0,
                y + ROW_H * 0.65,
                escape(name),
                ROW_H - 8.0,
                human_time(*host),
                escape(name),
                human_time(t),
                escape(row.metric.unit),
                LABEL_W + len + 6.0,
                y + ROW_H * 0.65,
            );
            y += ROW_H;
        }
    }
    for row in &r.rows {
        let why = match &row.outcome {
            Outcome::Skipped(w) => format!("skipped: {w}"),
            Outcome::Failed(w) => format!("failed: {w}"),
            Outcome::Measured { .. } => continue,
        };
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <text x=\"{LABEL_W}\" y=\"{:.1}\" fill=\"#a33\">{}</text>",
            LABEL_W - 8.0,
            y + ROW_H * 0.65,
            escape(row.metric.label),
            y + ROW_H * 0.65,
            escape(&why.chars().take(80).collect::<String>()),
        );
        y += ROW_H;
    }
    s.push_str("</svg>\n");
    s
}
