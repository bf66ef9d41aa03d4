//! `umvm lab exec`: runs a command in a guest through its control
//! directory. The request is `req/ID.sh`; the guest's boot loop (see
//! boot.rs) answers with `out/ID.out` and `out/ID.err` and then
//! `out/ID.status`.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::file::Lab;
use super::start::last_line;
use super::state;

/// How often exec looks for the answer.
const POLL: Duration = Duration::from_millis(10);

/// Runs `cmd` (words joined by spaces: shell text) in `guest` of `lab`,
/// copies its standard output and error to ours and returns its exit
/// status.
pub fn exec(lab: &Lab, guest: &str, cmd: &[String], timeout: Duration) -> Result<i32> {
    let st = state::read(lab)?;
    let g = st.guests.iter().find(|g| g.name == guest).with_context(|| {
        let names: Vec<&str> = st.guests.iter().map(|g| g.name.as_str()).collect();
        format!("lab {} has no guest {guest:?} (it has {})", lab.name, names.join(", "))
    })?;
    let dead = || {
        anyhow::anyhow!(
            "guest {guest} is not running (its umvm, pid {}, has ended{}; console {})",
            g.pid,
            last_line(&g.console),
            g.console.display()
        )
    };
    if !g.alive() {
        return Err(dead());
    }
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let id = format!("{}-{nanos}", std::process::id());
    let req = g.control.join("req").join(format!("{id}.sh"));
    let new = g.control.join("req").join(format!("{id}.new"));
    let out = g.control.join("out").join(format!("{id}.out"));
    let err = g.control.join("out").join(format!("{id}.err"));
    let status = g.control.join("out").join(format!("{id}.status"));
    let text = cmd.join(" ") + "\n";
    std::fs::write(&new, text).with_context(|| new.display().to_string())?;
    // Whole or not at all: the guest picks up only `*.sh`.
    std::fs::rename(&new, &req).with_context(|| req.display().to_string())?;
    let deadline = Instant::now() + timeout;
    let code = loop {
        match std::fs::read_to_string(&status) {
            Ok(s) => break s.trim().parse::<i32>().unwrap_or(1),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| status.display().to_string()),
        }
        if !g.alive() {
            let _ = std::fs::remove_file(&req);
            return Err(dead());
        }
        if Instant::now() > deadline {
            // Not picked up yet: it never will be. Picked up: its answer
            // is left for nobody, which is harmless.
            let _ = std::fs::remove_file(&req);
            anyhow::bail!("guest {guest}: {:?} did not finish within {} s", cmd.join(" "), timeout.as_secs_f64());
        }
        std::thread::sleep(POLL);
    };
    let output = std::fs::read(&out).with_context(|| out.display().to_string())?;
    let errors = std::fs::read(&err).with_context(|| err.display().to_string())?;
    for f in [&out, &err, &status] {
        let _ = std::fs::remove_file(f);
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&output).and_then(|()| stdout.flush()).context("stdout")?;
    let mut stderr = std::io::stderr().lock();
    stderr.write_all(&errors).and_then(|()| stderr.flush()).context("stderr")?;
    Ok(code.clamp(0, 255))
}
