//! SIGTERM as a flag. Kubernetes sends SIGTERM to a pod it takes away (a rolling update, a
//! scale-down, a delete), then SIGKILL after the grace period. A web service that stops at once
//! drops the requests that are still on their way to it; one that sees the signal can say it is
//! no longer ready, keep answering while the endpoints catch up, and then exit.
//!
//! ```no_run
//! let shutdown = kubernel::shutdown::on_sigterm();
//! // ... serve on other threads ...
//! shutdown.wait();
//! // not ready any more: keep answering a few seconds, then exit
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static TERM: AtomicBool = AtomicBool::new(false);

/// Whether SIGTERM came; from [`on_sigterm`].
#[derive(Debug, Clone, Copy)]
pub struct Shutdown(());

/// From now on SIGTERM only sets a flag (the process no longer ends on it): look at it with
/// [`Shutdown::requested`], or block on [`Shutdown::wait`].
pub fn on_sigterm() -> Shutdown {
    install();
    Shutdown(())
}

impl Shutdown {
    pub fn requested(&self) -> bool {
        TERM.load(Ordering::SeqCst)
    }

    /// Blocks until SIGTERM comes.
    pub fn wait(&self) {
        while !self.requested() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(unix)]
fn install() {
    // Only an atomic store: the one kind of work a signal handler may do safely.
    extern "C" fn on_term(_signal: i32) {
        TERM.store(true, Ordering::SeqCst);
    }
    unsafe extern "C" {
        fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    }
    const SIGTERM: i32 = 15;
    unsafe {
        signal(SIGTERM, on_term);
    }
}

#[cfg(not(unix))]
fn install() {}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn sigterm_sets_the_flag_and_the_process_goes_on() {
        unsafe extern "C" {
            fn raise(signal: i32) -> i32;
        }
        let shutdown = on_sigterm();
        assert!(!shutdown.requested());
        assert_eq!(unsafe { raise(15) }, 0);
        shutdown.wait();
        assert!(shutdown.requested(), "the test process is still here and saw the signal");
    }
}
