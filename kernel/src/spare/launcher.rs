//! The kernel process Jupyter starts, when a spare takes its session: it hands the session over
//! and then stands in for the spare until it ends.

use super::handover::{my_uid, peer_uid, send_with_fds, signal_frame, Reply, Request};
use crate::startup;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long a spare has to answer (it answers at once: a few checks of files).
const ANSWER: Duration = Duration::from_secs(5);

/// Hands the session of `connection_file` to the user's spare. Some(stream to it) when it took
/// it; None when there is no spare or it said no (this process then serves the session).
pub fn take(connection_file: &Path) -> Option<UnixStream> {
    if !super::enabled() {
        return None;
    }
    let dir = super::dir()?;
    let binary = super::binary_identity();
    let env: Vec<_> = std::env::vars_os().collect();
    let kind = super::kind(&binary, &super::build_env(env.iter().cloned()));
    // Nobody listening: no spare (or one still warming up).
    let stream = UnixStream::connect(dir.join(super::socket_name(&kind))).ok()?;
    if peer_uid(&stream).ok()? != my_uid() {
        startup::mark("spare refused: its socket belongs to another user");
        return None;
    }
    let cwd = std::env::current_dir().ok()?;
    let request = Request {
        launched: startup::origin(),
        connection_file: cwd.join(connection_file),
        cwd,
        binary,
        env,
    };
    stream.set_read_timeout(Some(ANSWER)).ok()?;
    stream.set_write_timeout(Some(ANSWER)).ok()?;
    // Its stdout and stderr go along: the spare's messages reach whoever reads this kernel's.
    if let Err(e) = send_with_fds(&stream, &request.encode(), &[1, 2]) {
        startup::mark(&format!("spare not reached: {e}"));
        return None;
    }
    match Reply::read(&mut &stream) {
        Ok(Reply::Taken { pid }) => {
            startup::mark(&format!("session handed to the spare (pid {pid})"));
            Some(stream)
        }
        Ok(Reply::Refused(why)) => {
            startup::mark(&format!("spare refused: {why}"));
            None
        }
        // A spare that took another launcher first closes without answering.
        Err(e) => {
            startup::mark(&format!("spare did not answer: {e}"));
            None
        }
    }
}

/// Stands in for the spare that serves the session: passes on SIGTERM, SIGINT, SIGHUP and
/// SIGQUIT, ends when the spare does, and ends the spare by ending (its socket closes) when
/// Jupyter kills this process or its own parent goes. Starts the next spare.
pub fn proxy(stream: UnixStream) -> ! {
    // Before any other thread starts, so that all of them leave these signals to sigwait.
    // SAFETY: sigset operations on a local set, then pthread_sigmask(3) for this thread.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    if let Ok(mut writer) = stream.try_clone() {
        std::thread::spawn(move || loop {
            let mut signal = 0;
            // SAFETY: sigwait(3) on the set blocked above.
            if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                return;
            }
            if writer.write_all(&signal_frame(signal)).is_err() {
                std::process::exit(128 + signal);
            }
        });
    }
    crate::process_tree::exit_with_parent();
    super::start();
    let _ = stream.set_read_timeout(None);
    let mut buf = [0u8; 256];
    // The spare says nothing more: the end of the stream is the end of the session.
    while matches!((&stream).read(&mut buf), Ok(n) if n > 0) {}
    std::process::exit(0)
}
