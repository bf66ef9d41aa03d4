//! The writeback timer thread, for callers without a timer of their own.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use super::Ubd;

/// Starts a thread calling `writeback_tick` every `interval` until `stop`
/// is set (by the disk's drop) or the disk is gone. It holds the disk only
/// during a tick; if the last other reference goes meanwhile, the disk is
/// dropped (and written back) on this thread, which then ends.
pub(crate) fn spawn_timer(
    ubd: Weak<Ubd>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    interval: Duration,
    name: String,
) -> std::io::Result<()> {
    std::thread::Builder::new().name(name).spawn(move || loop {
        {
            let (flag, wake) = &*stop;
            let guard = flag.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) =
                wake.wait_timeout_while(guard, interval, |stopped| !*stopped).unwrap_or_else(|e| e.into_inner());
            if *guard {
                return;
            }
        }
        let Some(ubd) = ubd.upgrade() else { return };
        if let Err(e) = ubd.writeback_tick(Instant::now()) {
            tracing::warn!("ubd{}: writeback: {e}", ubd.unit());
        }
    })?;
    Ok(())
}
