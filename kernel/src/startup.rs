//! The start-up breakdown: with `KUBERNEL_STARTUP_LOG=1`, a line on stderr per phase of the path
//! from launch to the first reply, timed from the launch (for a kernel served by a spare, from
//! its launcher's launch, which the hand-over carries).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The launch, in microseconds since the epoch (0: this process's start, taken on first use).
static ORIGIN: AtomicU64 = AtomicU64::new(0);
static FIRST_CELL: AtomicBool = AtomicBool::new(false);

pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// The launch this process's phases are timed from.
pub fn origin() -> u64 {
    let _ = ORIGIN.compare_exchange(0, now_micros(), Ordering::SeqCst, Ordering::SeqCst);
    ORIGIN.load(Ordering::SeqCst)
}

/// Times the phases from another process's launch (the launcher's, for a spare).
pub fn set_origin(micros: u64) {
    ORIGIN.store(micros, Ordering::SeqCst);
}

fn enabled() -> bool {
    // Read each time: a spare gets its launcher's environment only at hand-over.
    std::env::var_os("KUBERNEL_STARTUP_LOG").is_some_and(|v| !v.is_empty() && v != "0")
}

/// One phase reached.
pub fn mark(phase: &str) {
    if enabled() {
        let since = now_micros().saturating_sub(origin()) as f64 / 1e6;
        eprintln!("[kubernel] start-up +{since:.3} s {phase} (pid {})", std::process::id());
    }
}

/// The end of the first cell run here, marked once.
pub fn first_cell_done() {
    if !FIRST_CELL.swap(true, Ordering::SeqCst) {
        mark("first cell done");
    }
}
