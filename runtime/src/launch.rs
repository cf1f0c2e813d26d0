//! The launcher of `--procs P`: the process first started in a pod runs P copies of its own
//! program (local ranks 0..P), each with its own result folder and its share of the pod's CPUs,
//! relays their output line by line as `KUBERNEL_FROM i <line>`, and hands over their values as
//! one JSON array in local-rank order (the kernel knows P and flattens it). A copy that fails
//! makes the launcher fail with its exit code, once the others are done.

use crate::protocol::{self, LOCAL_RANK_ENV, RESULT_DIR_ENV, RESULT_FILE};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

pub fn run<T>() {
    let procs = crate::procs();
    let dir = protocol::result_dir();
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(format!("cannot find this program to start its copies: {e}")));
    let threads = crate::threads().to_string();
    let mut children = Vec::with_capacity(procs);
    let mut relays = Vec::new();
    for i in 0..procs {
        let own = dir.join(format!("local-{i}"));
        let _ = std::fs::remove_file(own.join(RESULT_FILE));
        let spawned = Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .env(LOCAL_RANK_ENV, i.to_string())
            .env(RESULT_DIR_ENV, &own)
            .env("RAYON_NUM_THREADS", &threads)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                for c in &mut children {
                    let _ = std::process::Child::kill(c);
                }
                fail(format!("cannot start process {i} of {procs}: {e}"))
            }
        };
        let (out, err) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
        relays.push(std::thread::spawn(move || relay(i, out, std::io::stdout())));
        relays.push(std::thread::spawn(move || relay(i, err, std::io::stderr())));
        children.push(child);
    }
    let statuses: Vec<_> = children.iter_mut().map(|c| c.wait()).collect();
    for r in relays {
        let _ = r.join();
    }
    // In a connected job the master's value is the job's: a worker beside it that failed
    // cost only its items in flight, which the master gave to others.
    let master_pod = crate::connected() && crate::pod_index() == 0;
    for (i, status) in statuses.iter().enumerate() {
        let code = match status {
            Ok(s) if s.success() => continue,
            Ok(s) => s.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(s).unwrap_or(0)),
            Err(_) => 1,
        };
        eprintln!("kubernel: process {i} of {procs} in this pod failed (exit code {code})");
        if !(master_pod && i > 0) {
            std::process::exit(code);
        }
    }
    if crate::connected() && crate::pod_index() != 0 {
        // As in a single process: only pod 0 hands a value over.
        return;
    }
    let mut array = b"[".to_vec();
    for i in 0..procs {
        let file = dir.join(format!("local-{i}")).join(RESULT_FILE);
        let value = match std::fs::read(&file) {
            Ok(value) => value,
            // A worker of a connected job that its master let go early (or that failed) has no
            // value; it needs none.
            Err(_) if crate::connected() && i > 0 => b"null".to_vec(),
            Err(e) => fail(format!("process {i} left no result in {}: {e}", file.display())),
        };
        if i > 0 {
            array.push(b',');
        }
        array.extend_from_slice(&value);
    }
    array.push(b']');
    crate::hand_over::keep(&dir, &array);
    crate::hand_over::announce(&dir, array.len(), std::any::type_name::<T>());
}

/// Copies a child's lines to `to`, each marked with its local rank.
fn relay(local_rank: usize, from: impl Read, mut to: impl Write) {
    let mut from = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match from.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            line.pop();
        }
        let marked = protocol::from_line(local_rank, &String::from_utf8_lossy(&line));
        // One write per line, so lines of different children do not mix.
        let _ = to.write_all(format!("{marked}\n").as_bytes());
        let _ = to.flush();
    }
}

fn fail(why: String) -> ! {
    eprintln!("kubernel: {why}");
    std::process::exit(2)
}
