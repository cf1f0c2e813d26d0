//! `pmap(items, f)`: `f` over every item, in parallel, results in the items' order (Julia's
//! `pmap(f, items)`, arguments the other way round).
//!
//! - In a notebook cell, a job that is not connected, or a runtime built without the `net`
//!   feature: on this process's [`crate::threads`] threads.
//! - In a connected job (`--connected`, and `net`): rank 0 is the master. It serves items to
//!   every other rank (its workers) over zeromq and computes items itself on its own threads;
//!   it returns every result. **A worker's pmap returns an empty `Vec`**: the results are on
//!   rank 0 only, whose value the kernel takes. Every rank runs the same body, so the calls of
//!   pmap are numbered 1, 2, 3... in each process alike, and a worker joins the master's call
//!   of the same number. A worker that is gone (not heard from for 3 s) has its items done by
//!   the others; a panic of `f` anywhere fails the master's call with the item and the rank.
//! - [`serve`]: the body of a long-lived worker (not a job's rank), for any master.
//! - [`shutdown`]: the end of a connected job's rank 0 (the job program calls it): workers still
//!   waiting are told to go.
//!
//! Items and results cross the network (as MessagePack), hence the `Serialize +
//! DeserializeOwned` bounds, also when the map runs on threads alone.

pub(crate) mod meter;
#[cfg(feature = "net")]
mod master;
// Pure; without `net` only its batch sizes are used (by the threads).
#[cfg_attr(not(feature = "net"), allow(dead_code))]
mod schedule;
#[cfg(feature = "net")]
mod server;
mod threads;
#[cfg(feature = "net")]
mod wire;
#[cfg(feature = "net")]
mod worker;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether this runtime was built with `net` (pmap over a connected job's processes).
pub const NETWORKED: bool = cfg!(feature = "net");

/// Applies `f` to every item, in parallel; the results in the items' order (on a worker of a
/// connected job: empty, see the module's notes).
pub fn pmap<T, R, F>(items: Vec<T>, f: F) -> Vec<R>
where
    T: Serialize + DeserializeOwned + Send,
    R: Serialize + DeserializeOwned + Send,
    F: Fn(T) -> R + Sync,
{
    let call = next_call();
    match role() {
        Role::Alone => {
            let _ = call;
            threads::run(items, &f, crate::threads())
        }
        #[cfg(feature = "net")]
        Role::Master => master::run(call, items, &f),
        #[cfg(feature = "net")]
        Role::Worker => {
            // The master's items are the ones computed (they are the same on every rank).
            drop(items);
            worker::run::<T, R, F>(call, &f)
        }
    }
}

/// Serves pmap items with `f` to the master at `KUBERNEL_MASTER`, for any of its calls, and
/// then to the next master, forever: the body of a long-lived worker pod. The item and result
/// types must be those of the master's pmap calls.
pub fn serve<T, R, F>(f: F) -> !
where
    T: Serialize + DeserializeOwned + Send,
    R: Serialize + DeserializeOwned + Send,
    F: Fn(T) -> R + Sync,
{
    SERVING.store(true, Ordering::Relaxed);
    #[cfg(feature = "net")]
    {
        worker::serve::<T, R, F>(&f)
    }
    #[cfg(not(feature = "net"))]
    {
        let _ = f;
        panic!("kubernel::serve runs in `%%k8s workers NAME --master JOB`, whose programs have the networked runtime (the kubernel crate's `net` feature); this one was built without it");
    }
}

/// The end of rank 0 of a connected job: tells every worker `bye` (starting the server if no
/// pmap did, so that workers waiting for it are let go), keeps answering `bye` to any that
/// asks, and returns 5 s after the first bye. Does nothing elsewhere.
pub fn shutdown() {
    say_bye();
    #[cfg(feature = "net")]
    if role() == Role::Master {
        server::get().linger();
    }
}

/// Starts the master's server early (the job program does, before the body), so that workers
/// connect while the master prepares its items.
pub(crate) fn prepare() {
    #[cfg(feature = "net")]
    if role() == Role::Master {
        server::get();
    }
}

/// The bye of [`shutdown`] without the wait (the job program says it as soon as the body ends,
/// and waits at its very end).
pub(crate) fn say_bye() {
    #[cfg(feature = "net")]
    if role() == Role::Master {
        server::get().bye();
    }
}

static SERVING: AtomicBool = AtomicBool::new(false);

/// Whether this process is a long-lived worker (in [`serve`]).
fn serving() -> bool {
    SERVING.load(Ordering::Relaxed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Alone,
    #[cfg(feature = "net")]
    Master,
    #[cfg(feature = "net")]
    Worker,
}

fn role() -> Role {
    #[cfg(feature = "net")]
    if crate::connected() || serving() {
        return if crate::rank() == 0 && !serving() { Role::Master } else { Role::Worker };
    }
    Role::Alone
}

/// The number of this pmap call in this process: 1, 2, 3...
fn next_call() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    CALLS.fetch_add(1, Ordering::Relaxed) + 1
}

/// The text of a panic's payload.
#[cfg(feature = "net")]
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_numbered_in_order() {
        // Other tests may call pmap meanwhile: numbers only grow, and never repeat.
        let (a, b, c) = (next_call(), next_call(), next_call());
        assert!(a >= 1 && a < b && b < c);
    }

    #[test]
    fn a_notebook_cell_maps_on_threads() {
        assert_eq!(role(), Role::Alone);
        let squares = pmap((0..1000u64).collect(), |x| x * x);
        assert_eq!(squares, (0..1000u64).map(|x| x * x).collect::<Vec<_>>());
        let words = pmap(vec!["a".to_string(), "bb".to_string()], |w| (w.len(), w));
        assert_eq!(words, vec![(1, "a".to_string()), (2, "bb".to_string())]);
        shutdown(); // nothing to do outside a connected job
    }
}
