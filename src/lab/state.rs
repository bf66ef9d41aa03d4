//! DIR/state.json: what a started lab is made of (pids and paths), so that
//! `umvm lab status|exec|stop` find its processes; and whether one of them
//! still runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::file::Lab;

/// A started lab.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct State {
    /// `[lab] name`.
    pub lab: String,
    /// The lab file it was started from.
    pub file: PathBuf,
    /// Seconds from the first guest's start until every guest was ready
    /// (0 while starting).
    pub startup_secs: f64,
    /// The switches the lab started.
    pub switches: Vec<SwitchState>,
    /// The guests.
    pub guests: Vec<GuestState>,
}

/// A running `umvm switch`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SwitchState {
    /// The lab network it serves.
    pub network: String,
    /// Its pid.
    pub pid: i32,
    /// Its control socket.
    pub ctl: PathBuf,
    /// Its standard output and error.
    pub log: PathBuf,
}

/// A running guest (an `umvm run`).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct GuestState {
    /// Its name.
    pub name: String,
    /// The pid of its umvm.
    pub pid: i32,
    /// Its COW file.
    pub cow: PathBuf,
    /// Its console log.
    pub console: PathBuf,
    /// Its control directory (the guest's /lab).
    pub control: PathBuf,
    /// Its addresses, `ADDR/PREFIX` per card (eth0 first).
    pub addresses: Vec<String>,
}

impl GuestState {
    /// Whether its umvm still runs.
    pub fn alive(&self) -> bool {
        alive(self.pid, &self.cow)
    }

    /// Whether its boot script said it is ready.
    pub fn ready(&self) -> bool {
        ready_file(&self.control).exists()
    }
}

impl SwitchState {
    /// Whether the switch still runs.
    pub fn alive(&self) -> bool {
        alive(self.pid, &self.ctl)
    }
}

/// The file a guest's boot script creates in its control directory when
/// it is ready.
pub fn ready_file(control: &Path) -> PathBuf {
    control.join("ready")
}

/// Where `lab`'s state is.
pub fn path(lab: &Lab) -> PathBuf {
    lab.dir.join("state.json")
}

/// The state of `lab`, which must have been started.
pub fn read(lab: &Lab) -> Result<State> {
    let p = path(lab);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("lab {} is not running (no {}): start it with umvm lab start", lab.name, p.display())
        }
        Err(e) => return Err(e).with_context(|| p.display().to_string()),
    };
    serde_json::from_str(&text).with_context(|| format!("{}: not a lab state file", p.display()))
}

/// Writes `state` for `lab` (whole or not at all: a new file renamed over
/// the old one).
pub fn write(lab: &Lab, state: &State) -> Result<()> {
    let p = path(lab);
    let tmp = p.with_extension("json.new");
    let text = serde_json::to_string_pretty(state).context("state.json")?;
    std::fs::write(&tmp, text + "\n").with_context(|| tmp.display().to_string())?;
    std::fs::rename(&tmp, &p).with_context(|| p.display().to_string())
}

/// Removes `lab`'s state (it is stopped).
pub fn remove(lab: &Lab) -> Result<()> {
    match std::fs::remove_file(path(lab)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).context(path(lab).display().to_string()),
        _ => Ok(()),
    }
}

/// Whether process `pid` exists and is not a zombie: it has not yet
/// closed its files.
pub fn running(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name's closing parenthesis.
    !stat.rsplit_once(')').is_some_and(|(_, rest)| matches!(rest.trim_start().chars().next(), Some('Z' | 'X')))
}

/// Whether process `pid` runs (not a zombie) with `marker` (a path the
/// lab gave it) on its command line: a pid reused since by another
/// program is not ours. (An exiting process's command line reads empty
/// before it closes its files: see [`running`].)
pub fn alive(pid: i32, marker: &Path) -> bool {
    if !running(pid) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let marker = marker.as_os_str().as_encoded_bytes();
    cmdline.windows(marker.len()).any(|w| w == marker)
}
