//! `umvm lab clean`: discards what a stopped lab left in its directory —
//! each guest's COW file (its disk), console and control directory, the
//! switches' logs and sockets, the state file — as Netkit's lclean does.
//! Only the files a start makes are removed, by name, never the directory
//! wholesale: it may hold the user's own files.

use std::path::Path;

use anyhow::{Context, Result};

use super::file::{Lab, NetKind};
use super::start::plural;
use super::state;

/// Removes the stopped lab's files; refuses while any of it runs.
pub fn clean(lab: &Lab) -> Result<i32> {
    if let Ok(st) = state::read(lab) {
        if st.guests.iter().any(|g| g.alive()) || st.switches.iter().any(|s| s.alive()) {
            anyhow::bail!("lab {} is running (umvm lab stop {} first)", lab.name, lab.file.display());
        }
    }
    let mut disks = 0;
    for g in &lab.guests {
        let cow = lab.dir.join(format!("{}.cow", g.name));
        disks += usize::from(remove(&cow)?);
        // Its write-ahead log goes with it (cow/src/wal.rs).
        remove(&umvm_cow::wal::log_path(&cow))?;
        remove(&lab.dir.join(format!("{}.console", g.name)))?;
        remove_tree(&lab.dir.join(&g.name))?;
    }
    for net in &lab.networks {
        if let NetKind::Switch { .. } = net.kind {
            remove(&lab.dir.join(format!("{}.ctl", net.name)))?;
            remove(&lab.dir.join(format!("{}.switch.log", net.name)))?;
        }
    }
    remove(&state::path(lab))?;
    remove(&state::path(lab).with_extension("json.new"))?;
    // The directory itself goes when nothing else is in it.
    let _ = std::fs::remove_dir(&lab.dir);
    println!("lab {}: removed {} and the consoles", lab.name, plural(disks, "guest disk"));
    Ok(0)
}

/// Removes a file; whether there was one.
fn remove(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| path.display().to_string()),
    }
}

/// Removes a directory tree, if there is one.
fn remove_tree(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| path.display().to_string()),
        _ => Ok(()),
    }
}
