//! `umvm bench --json`: the report for machines, written by hand (the
//! format is small and fixed, and umvm has no JSON library).
//!
//! ```json
//! {"size":"tiny","rounds":1,"results":[
//!   {"workload":"syscall","metric":"syscall","label":"...","unit":"call",
//!    "status":"ok","host_s":2.1e-7,"guest_s":1.2e-6,"ratio":5.7,"reason":null,
//!    "uml_s":2.0e-6,"uml_ratio":9.5,"uml_status":"ok","uml_reason":null}],
//!  "columns":["UML"],"notes":["..."]}
//! ```
//! Times are seconds per operation; `status` is ok, skipped or failed,
//! with `reason` saying why for the last two. Each comparison kernel of
//! the run (UML, gVisor) adds `uml_s`, `uml_ratio` (its time / host time),
//! `uml_status` and `uml_reason` (`gvisor_...` for gVisor), and
//! `"columns":["UML"]` names them.

use std::fmt::Write as _;

use super::report::{Cell, Outcome, Report};

/// `s` as a JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A finite number, or null (JSON has no NaN).
fn number(x: f64) -> String {
    if x.is_finite() {
        format!("{x:e}")
    } else {
        "null".into()
    }
}

/// The report as one JSON object (one line, then a newline).
pub fn to_json(r: &Report) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\"size\":{},\"rounds\":{},\"results\":[",
        string(&format!("{:?}", r.size).to_lowercase()),
        r.params.rounds
    );
    for (i, row) in r.rows.iter().enumerate() {
        let m = &row.metric;
        let (status, host, guest, reason) = match &row.outcome {
            Outcome::Measured { host, guest, .. } => ("ok", number(*host), number(*guest), "null".to_string()),
            Outcome::Skipped(why) => ("skipped", "null".into(), "null".into(), string(why)),
            Outcome::Failed(why) => ("failed", "null".into(), "null".into(), string(why)),
        };
        let ratio = row.ratio().map(number).unwrap_or_else(|| "null".into());
        let _ = write!(
            s,
            "{}{{\"workload\":{},\"metric\":{},\"label\":{},\"unit\":{},\"status\":\"{status}\",\
             \"host_s\":{host},\"guest_s\":{guest},\"ratio\":{ratio},\"reason\":{reason}",
            if i > 0 { "," } else { "" },
            string(m.workload.name()),
            string(m.key),
            string(m.label),
            string(m.unit),
        );
        for (c, name) in r.columns.iter().enumerate() {
            let key = name.to_lowercase();
            let (status, t, reason) = match row.extra.get(c) {
                Some(Cell::Time(t)) => ("ok", number(*t), "null".to_string()),
                Some(Cell::Skipped(why)) => ("skipped", "null".into(), string(why)),
                Some(Cell::Failed(why)) => ("failed", "null".into(), string(why)),
                None => ("skipped", "null".into(), "null".into()),
            };
            let ratio = row.extra_ratio(c).map(number).unwrap_or_else(|| "null".into());
            let _ = write!(
                s,
                ",\"{key}_s\":{t},\"{key}_ratio\":{ratio},\"{key}_status\":\"{status}\",\"{key}_reason\":{reason}"
            );
        }
        s.push('}');
    }
    let notes: Vec<String> = r.notes.iter().map(|n| string(n)).collect();
    let columns: Vec<String> = r.columns.iter().map(|c| string(c)).collect();
    let _ = writeln!(s, "],\"columns\":[{}],\"notes\":[{}]}}", columns.join(","), notes.join(","));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
        assert_eq!(number(f64::NAN), "null");
        assert_eq!(number(0.5), "5e-1");
    }

    #[test]
    fn comparison_columns_are_fields_of_each_result() {
        use crate::bench::report::{Cell, Row};
        use crate::bench::workloads::{Size, Workload};
        let m = Workload::Syscall.metrics()[0];
        let r = Report {
            size: Size::Tiny,
            params: Size::Tiny.params(),
            rows: vec![Row {
                metric: m,
                outcome: Outcome::Measured { host: 1e-7, guest: 1e-5, rounds: 1 },
                extra: vec![Cell::Time(2e-5), Cell::Failed("boom \"x\"".into())],
            }],
            columns: vec!["UML", "gVisor"],
            notes: vec!["n".into()],
        };
        let v: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
        let row = &v["results"][0];
        assert_eq!(v["columns"], serde_json::json!(["UML", "gVisor"]));
        assert_eq!(row["uml_status"], "ok");
        assert!((row["uml_ratio"].as_f64().unwrap() - 200.0).abs() < 1e-9, "{row}");
        assert_eq!(row["gvisor_status"], "failed");
        assert_eq!(row["gvisor_reason"], "boom \"x\"");
        assert!(row["gvisor_s"].is_null() && row["gvisor_ratio"].is_null(), "{row}");
    }
}
