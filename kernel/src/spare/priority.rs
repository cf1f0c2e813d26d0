//! A spare warms up under SCHED_IDLE, so that it only ever takes CPU time nobody else wants (a
//! kernel running cells beside it is not slowed), and goes back to the normal policy before it
//! serves anyone.
//!
//! Linux lets an unprivileged process leave SCHED_IDLE only when RLIMIT_NICE allows its nice
//! value; where it may not, the spare keeps the normal policy throughout rather than become a
//! kernel that runs the user's code at idle priority.

use std::io;

/// True when a process in SCHED_IDLE may go back to SCHED_OTHER.
fn may_leave_idle() -> bool {
    if super::handover::my_uid() == 0 {
        return true;
    }
    // SAFETY: getrlimit(2) into a local struct.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // A nice value of 0 needs a limit of 20 (the kernel's 20 - nice).
        libc::getrlimit(libc::RLIMIT_NICE, &mut limit) == 0 && limit.rlim_cur >= 20
    }
}

fn set_policy(tid: libc::pid_t, policy: libc::c_int) -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler(2) with a thread id and a parameter on the stack.
    if unsafe { libc::sched_setscheduler(tid, policy, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts this thread (and so every thread and process it starts from now on) in SCHED_IDLE, when
/// it can be undone. Call before any other thread starts. True when done.
pub fn idle() -> bool {
    may_leave_idle() && set_policy(0, libc::SCHED_IDLE).is_ok()
}

/// Every thread of this process and of its descendants (the evcxr child) back to SCHED_OTHER.
pub fn normal() -> io::Result<()> {
    let mut pids = vec![std::process::id()];
    pids.extend(crate::process_tree::descendants(std::process::id()));
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
        for task in tasks.flatten() {
            if let Ok(tid) = task.file_name().to_string_lossy().parse::<libc::pid_t>() {
                match set_policy(tid, libc::SCHED_OTHER) {
                    // A thread or process that ended meanwhile.
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                    other => other?,
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_thread_put_to_idle_comes_back() {
        // In a thread of its own, so that the test's other threads keep their policy.
        std::thread::spawn(|| {
            if !super::idle() {
                return; // not allowed here: nothing to undo
            }
            // SAFETY: sched_getscheduler(2) of this thread.
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_IDLE);
            super::set_policy(0, libc::SCHED_OTHER).unwrap();
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
        })
        .join()
        .unwrap();
    }
}
