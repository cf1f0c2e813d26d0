//! Gives memory back to the system after a cell with a lot of output.
//!
//! Output passes through the kernel as many short-lived pieces (the lines evcxr reads, batches,
//! JSON messages, encoded frames), allocated and freed on several threads. glibc keeps what they
//! freed in its arenas: pages in the middle of an arena cannot be returned while anything lives
//! above them, so the kernel stayed tens of megabytes larger after printing a lot, for good.
//! `malloc_trim(0)` returns every wholly free page of every arena; it costs a few milliseconds,
//! so it runs only after a cell whose output was large.

use std::time::Duration;

/// Output (sent or left out) from which a cell is worth trimming after.
pub const LARGE_OUTPUT: u64 = 4_000_000;

/// Trims once the messages of the cell have left: they are still queued for iopub when the cell
/// ends, so a trim at once would miss what they hold.
pub fn give_back_soon() {
    let spawned = std::thread::Builder::new().name("trim".into()).spawn(|| {
        std::thread::sleep(Duration::from_millis(500));
        trim();
    });
    if spawned.is_err() {
        trim();
    }
}

fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own state, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
