//! The `main` of a program made from a job cell: runs the cell's body, then hands the value of
//! its last expression to the kernel (see [`crate::protocol`]). kubernel writes the call; nobody
//! needs to.

use crate::protocol::{self, HAND_OVER_ARG, RESULT_FILE, TAKEN_FILE};
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

pub fn main<T: Serialize>(body: impl FnOnce() -> T) {
    if std::env::args().nth(1).as_deref() == Some(HAND_OVER_ARG) {
        std::process::exit(match hand_over() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("kubernel: cannot hand over the result: {e}");
                1
            }
        });
    }
    let value = body();
    let json = serde_json::to_vec(&value).unwrap_or_else(|e| {
        eprintln!("kubernel: the cell's value cannot be turned into JSON: {e}");
        std::process::exit(2)
    });
    let dir = &protocol::result_dir();
    let written = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(dir.join("result.part"), &json))
        .and_then(|_| std::fs::rename(dir.join("result.part"), dir.join(RESULT_FILE)));
    if let Err(e) = written {
        eprintln!("kubernel: cannot keep the result in {}: {e}", dir.display());
        std::process::exit(2);
    }
    println!("{}", protocol::result_line(json.len(), std::any::type_name::<T>()));
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

fn hand_over() -> std::io::Result<()> {
    let dir = &protocol::result_dir();
    let data = std::fs::read(dir.join(RESULT_FILE))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&data)?;
    out.flush()?;
    std::fs::write(dir.join(TAKEN_FILE), b"")
}
