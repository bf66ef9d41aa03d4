//! `umvm lab status`: each guest's state, addresses and console.

use anyhow::Result;

use super::file::Lab;
use super::state;

/// Prints one line per guest and switch; exits 0 when every guest is
/// ready, 3 when some are not (as `systemctl status` does for a unit
/// that is not running).
pub fn status(lab: &Lab) -> Result<i32> {
    let st = state::read(lab)?;
    let width = st.guests.iter().map(|g| g.name.len()).max().unwrap_or(0).max(5);
    let mut all_ready = true;
    for g in &st.guests {
        let what = match (g.alive(), g.ready()) {
            (true, true) => "ready",
            (true, false) => "booting",
            (false, _) => "dead",
        };
        all_ready &= what == "ready";
        println!("{:width$}  {what:7}  {:32}  {}", g.name, g.addresses.join(" "), g.console.display());
    }
    for s in &st.switches {
        let what = if s.alive() { "running" } else { "dead" };
        all_ready &= s.alive();
        println!("{:width$}  {what:7}  {:32}  {}", format!("switch {}", s.network), s.ctl.display(), s.log.display());
    }
    if st.startup_secs > 0.0 {
        println!("lab {}: started in {:.2} s", lab.name, st.startup_secs);
    }
    Ok(if all_ready { 0 } else { 3 })
}
