//! Finds and ends this process's descendants (the evcxr child, compilers in progress), so that a
//! shutdown or restart leaves no process behind.

use std::collections::HashMap;

fn parent_map() -> HashMap<u32, Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return children };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The command name may contain spaces; fields resume after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    children
}

pub fn descendants(root: u32) -> Vec<u32> {
    let map = parent_map();
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for &child in map.get(&pid).into_iter().flatten() {
            found.push(child);
            stack.push(child);
        }
    }
    found
}

pub fn kill_descendants() {
    for pid in descendants(std::process::id()) {
        // SAFETY: kill(2) with a pid we just found among our descendants.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

/// Ends the kernel when the process that started it is gone (ipykernel's parent poller): a
/// frontend that crashed must not leave a kernel, its evcxr child and rust-analyzer running.
/// Only for kernels a Jupyter client started (it sets `JPY_PARENT_PID`); the parent is the one
/// at start-up (a wrapper script may stand between), and its going shows as a new parent.
pub fn exit_with_parent() {
    if std::env::var_os("JPY_PARENT_PID").is_none() {
        return;
    }
    // SAFETY: getppid(2) cannot fail.
    let parent = unsafe { libc::getppid() };
    if parent <= 1 {
        return;
    }
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        // SAFETY: as above.
        if unsafe { libc::getppid() } != parent {
            eprintln!("kubernel: the process that started this kernel ({parent}) is gone; exiting");
            kill_descendants();
            std::process::exit(0);
        }
    });
}
