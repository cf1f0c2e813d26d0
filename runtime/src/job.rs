//! The `main` of a program made from a job cell: runs the cell's body, then hands the value of
//! its last expression to the kernel (see [`crate::protocol`]). kubernel writes the call; nobody
//! needs to.
//!
//! With `--procs P` the program first started in the pod is a launcher (see `launch`) that runs
//! P copies of itself and hands over their values as one array. In a connected job only pod 0
//! hands anything over (the other pods' pmap results are on rank 0), and rank 0 lets the
//! workers go at the end.

use crate::hand_over::{announce, hand_over, keep};
use crate::protocol::{self, HAND_OVER_ARG, LOCAL_RANK_ENV};
use serde::Serialize;
use std::io::Write;

/// Tells the kernel the CPU time this process has used so far.
fn report_cpu() {
    if let Some(seconds) = cpu_seconds() {
        println!("{}", protocol::cpu_line(seconds));
    }
}

/// User and system time of this process, all threads together, from `/proc/self/stat`
/// (fields 14 and 15, in clock ticks of 1/100 s on Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count from the parenthesis that closes it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

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
    let child = std::env::var_os(LOCAL_RANK_ENV).is_some();
    if crate::procs() > 1 && !child {
        return crate::launch::run::<T>();
    }
    if !child {
        // Libraries like rayon otherwise take every core of the node, not the pod's share
        // (the pod spec gives the request rounded up, or 0 without one).
        let set = std::env::var("RAYON_NUM_THREADS").is_ok_and(|v| !matches!(v.trim(), "" | "0"));
        if !set {
            std::env::set_var("RAYON_NUM_THREADS", crate::threads().to_string());
        }
    }
    let master = crate::connected() && crate::rank() == 0;
    if master {
        crate::pmap::prepare();
    }
    if crate::in_cluster() {
        std::thread::spawn(|| loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            report_cpu();
        });
    }
    let value = body();
    if crate::in_cluster() {
        report_cpu();
    }
    if master {
        // Workers still waiting in a pmap call may go now.
        crate::pmap::say_bye();
    }
    if crate::connected() && crate::pod_index() != 0 {
        // The kernel takes rank 0's value only: this pod's pmap results are there.
        let _ = std::io::stdout().flush();
        return;
    }
    let json = serde_json::to_vec(&value).unwrap_or_else(|e| {
        eprintln!("kubernel: the cell's value cannot be turned into JSON: {e}");
        std::process::exit(2)
    });
    let dir = &protocol::result_dir();
    keep(dir, &json);
    if child {
        // The launcher reads the file and announces the pod's result itself.
        if master {
            crate::pmap::shutdown();
        }
        return;
    }
    announce(dir, json.len(), std::any::type_name::<T>());
    if master {
        crate::pmap::shutdown();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_cpu_time_grows_with_work() {
        let before = super::cpu_seconds().expect("/proc/self/stat");
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        let used = super::cpu_seconds().unwrap() - before;
        assert!((0.15..1.0).contains(&used), "{used} s of CPU for 0.3 s of busy work");
    }
}
