//! Host tools the tests and benches need but cannot build: finding them,
//! and what a missing one means (a failure under CI, a printed skip
//! elsewhere). Needs only std, so that benches can include it with
//! `#[path]`.

use std::path::PathBuf;

/// `name` on the PATH or in the sbin directories, if there.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether the CI variable is set (to anything but empty or "false"): a
/// missing tool is then a failure, never a skip.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// The tool `name` (an absolute path, or a name looked up with
/// [`find_tool`]), or None after printing that `test` is skipped because
/// `package` is not installed. Under CI a missing tool fails the test.
pub fn require_tool(test: &str, name: &str, package: &str) -> Option<PathBuf> {
    let found = if name.starts_with('/') { Some(PathBuf::from(name)).filter(|p| p.is_file()) } else { find_tool(name) };
    if found.is_some() {
        return found;
    }
    assert!(!under_ci(), "{test}: {name} is missing (scripts/deps --test installs {package})");
    let msg = format!("\n*** SKIPPED {test}: no {name} (install {package})\n\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
    None
}
