//! How many pmap items this process has done and holds, told to the kernel as
//! `KUBERNEL_ITEMS done in_flight` lines (at most about 4 a second, and once at the end of
//! each call), so that the job's table can show items per worker. In a notebook cell it is a
//! progress bar instead.

use crate::protocol;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static DONE: AtomicU64 = AtomicU64::new(0);
static HELD: AtomicU64 = AtomicU64::new(0);
/// When a line was last written, in ms since [`epoch`] (so threads can race for the next one).
static LAST: AtomicU64 = AtomicU64::new(0);
/// Done when the current call began, and its length: the notebook's bar is per call.
static CALL_START: AtomicU64 = AtomicU64::new(0);
static CALL_LEN: AtomicU64 = AtomicU64::new(0);

const EVERY: Duration = Duration::from_millis(250);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A call of `len` items (this process may do any share of them) begins.
pub fn begin(len: usize) {
    CALL_START.store(DONE.load(Relaxed), Relaxed);
    CALL_LEN.store(len as u64, Relaxed);
}

/// This process has taken `n` items to compute.
pub fn hold(n: usize) {
    HELD.fetch_add(n as u64, Relaxed);
    tick();
}

/// One held item is computed.
pub fn done_one() {
    DONE.fetch_add(1, Relaxed);
    let _ = HELD.fetch_update(Relaxed, Relaxed, |h| h.checked_sub(1));
    tick();
}

/// Held items given up (a panic, an over call): no longer in flight.
pub fn drop_held(n: usize) {
    let _ = HELD.fetch_update(Relaxed, Relaxed, |h| Some(h.saturating_sub(n as u64)));
}

/// Writes a line if none was written for a while.
pub fn tick() {
    let now = epoch().elapsed().as_millis() as u64 + EVERY.as_millis() as u64;
    let last = LAST.load(Relaxed);
    if now >= last + EVERY.as_millis() as u64 && LAST.compare_exchange(last, now, Relaxed, Relaxed).is_ok() {
        write();
    }
}

/// Writes a line now (the end of a call).
pub fn end() {
    LAST.store(epoch().elapsed().as_millis() as u64 + EVERY.as_millis() as u64, Relaxed);
    write();
}

fn write() {
    let (done, held) = (DONE.load(Relaxed), HELD.load(Relaxed));
    if crate::in_cluster() || super::serving() {
        println!("{}", protocol::items_line(done, held));
    } else {
        let len = CALL_LEN.load(Relaxed).max(1);
        let fraction = (done.saturating_sub(CALL_START.load(Relaxed)) as f64 / len as f64).min(1.0);
        crate::display::progress_bar(fraction);
    }
}
