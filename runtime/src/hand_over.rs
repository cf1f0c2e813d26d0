//! The result's way from a finished program to the kernel: written to the result folder whole,
//! announced with one line, then written out by the same binary run with the hand-over
//! argument (an exec from the kernel), which marks it taken. Used by a job's single process and
//! by the `--procs` launcher alike.

use crate::protocol::{self, RESULT_FILE, TAKEN_FILE};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes the result where the hand-over finds it (whole, or not at all).
pub(crate) fn keep(dir: &Path, json: &[u8]) {
    let written = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(dir.join("result.part"), json))
        .and_then(|_| std::fs::rename(dir.join("result.part"), dir.join(RESULT_FILE)));
    if let Err(e) = written {
        eprintln!("kubernel: cannot keep the result in {}: {e}", dir.display());
        std::process::exit(2);
    }
}

/// Tells the kernel the result is ready, and waits until it has taken it.
pub(crate) fn announce(dir: &Path, bytes: usize, type_name: &str) {
    println!("{}", protocol::result_line(bytes, type_name));
    let _ = std::io::stdout().flush();
    // The pod stays until the kernel has taken the result (or gives up: the kernel may be gone).
    let limit = std::env::var(protocol::HAND_OVER_TIMEOUT_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    let started = Instant::now();
    while !dir.join(TAKEN_FILE).exists() {
        if started.elapsed() > Duration::from_secs(limit) {
            eprintln!("kubernel: nobody took the result within {limit} s; ending without handing it over");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn hand_over() -> std::io::Result<()> {
    let dir = &protocol::result_dir();
    let data = std::fs::read(dir.join(RESULT_FILE))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&data)?;
    out.flush()?;
    std::fs::write(dir.join(TAKEN_FILE), b"")
}
